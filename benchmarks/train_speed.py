"""Training throughput: our compiled GAN step versus the tutorial's own `train_on_batch` loop.

Both train the same tutorial architecture on the same images at the same batch size, in one
process, alternating epoch by epoch; each is warmed up first (graph tracing is not timed).

    python -m benchmarks.train_speed [--images 6400] [--batch 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from fashion_dcgan.config import PRESETS, merge, parse_params
from fashion_dcgan.tracking import NullRunLogger
from fashion_dcgan.training import TrainingPaths, train

LATENT = 100
WARMUP = 20


def images(count: int = 6400, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (count, 28, 28, 1)).astype(np.float32)


def ours_params(count: int, batch: int, epochs: int, precision: str = "float32", jit: str | bool = "auto"):
    """The train stage's configuration with the tutorial's recipe, so both loops run the same algorithm."""
    overrides = {
        "data": {"train_limit": count},
        "train": {
            "batch_size": batch,
            "epochs": epochs,
            "precision": precision,
            "jit_compile": jit,
            "monitor_samples": 0,
        },
    }
    return parse_params(merge(PRESETS["tutorial"], overrides))


def run_ours(data: np.ndarray, batch: int, epochs: int, between_epochs: keras.callbacks.Callback | None = None):
    """``training.train`` (what the train stage runs): images/s of each epoch after the first (tracing)."""
    params, extra = ours_params(len(data), batch, epochs), [between_epochs] if between_epochs else []
    with tempfile.TemporaryDirectory() as tmp:
        paths = TrainingPaths.under(Path(tmp))
        result = train(params, data, paths, lambda _: NullRunLogger(), verbose=0, extra_callbacks=extra)
    return [row["images_per_second"] for row in result.epochs[1:]]


class Tutorial:
    """The tutorial's loop, re-implemented faithfully for Keras 3: Sequential models, train_on_batch."""

    def __init__(self, data: np.ndarray, batch: int):
        keras.utils.set_random_seed(0)
        self.generator = keras.Sequential(
            [
                keras.Input((LATENT,)),
                keras.layers.Dense(7 * 7 * 128),
                keras.layers.Reshape((7, 7, 128)),
                keras.layers.BatchNormalization(),
                keras.layers.Conv2DTranspose(64, 5, 2, padding="same", activation="selu"),
                keras.layers.BatchNormalization(),
                keras.layers.Conv2DTranspose(1, 5, 2, padding="same", activation="tanh"),
            ]
        )
        self.discriminator = keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                keras.layers.Conv2D(64, 5, 2, padding="same"),
                keras.layers.LeakyReLU(0.2),
                keras.layers.Dropout(0.3),
                keras.layers.Conv2D(128, 5, 2, padding="same"),
                keras.layers.LeakyReLU(0.2),
                keras.layers.Dropout(0.3),
                keras.layers.Flatten(),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        self.discriminator.compile(loss="binary_crossentropy", optimizer="adam")
        self.discriminator.trainable = False
        self.gan = keras.Sequential([self.generator, self.discriminator])
        self.gan.compile(loss="binary_crossentropy", optimizer="adam")
        self.per_epoch, self.batch = len(data) // batch, batch
        dataset = tf.data.Dataset.from_tensor_slices(data).shuffle(1000).batch(batch, drop_remainder=True)
        self.batches = iter(dataset.prefetch(1).repeat())
        for _ in range(WARMUP):
            self.step(next(self.batches))

    def step(self, real) -> None:
        batch = self.batch
        noise = tf.random.normal((batch, LATENT))
        fakes = self.generator(noise)
        both = tf.concat([fakes, real], axis=0)
        labels = tf.constant([[0.0]] * batch + [[1.0]] * batch)
        self.discriminator.trainable = True
        self.discriminator.train_on_batch(both, labels)
        noise = tf.random.normal((batch, LATENT))
        self.discriminator.trainable = False
        self.gan.train_on_batch(noise, tf.constant([[1.0]] * batch))

    def run(self) -> float:
        """Train one epoch; return images per second."""
        start = time.perf_counter()
        for _ in range(self.per_epoch):
            self.step(next(self.batches))
        return self.per_epoch * self.batch / (time.perf_counter() - start)


class TutorialEpoch(keras.callbacks.Callback):
    """Runs one epoch of the tutorial's loop after each of ours (our epoch's time is taken by then)."""

    def __init__(self, tutorial: Tutorial):
        super().__init__()
        self.tutorial = tutorial
        self.rates: list[float] = []

    def on_epoch_end(self, epoch, logs=None):
        if epoch > 0:  # our first epoch traces the step and is not counted
            self.rates.append(self.tutorial.run())


def compare(data: np.ndarray, batch: int, repeats: int) -> tuple[float, float, float]:
    """Median images/s of the tutorial loop and ours, and the median of the per-repeat ratios.

    The two alternate epoch by epoch, so a slow patch on a shared machine hits both.
    """
    tutorial = TutorialEpoch(Tutorial(data, batch))
    mine = run_ours(data, batch, repeats + 1, tutorial)
    theirs = tutorial.rates
    ratios = [m / t for m, t in zip(mine, theirs, strict=True)]
    return float(np.median(theirs)), float(np.median(mine)), float(np.median(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=6400, help="images per timed epoch")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    theirs, mine, ratio = compare(images(args.images), args.batch, args.repeats)
    print(f"device: {'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}, {os.cpu_count()} cores")
    print(f"{'loop':<40}{'batch':>6}{'images/s':>12}")
    print(f"{'tutorial (train_on_batch)':<40}{args.batch:>6}{theirs:>12.0f}")
    print(f"{'ours (training.train, tutorial preset)':<40}{args.batch:>6}{mine:>12.0f}")
    print(f"ratio ours / tutorial (median of {args.repeats} alternating epochs): {ratio:.2f}x")


if __name__ == "__main__":
    main()
