"""Training throughput: our compiled GAN step versus the tutorial's own `train_on_batch` loop.

Both train the same tutorial architecture on the same images at the same batch size, in one
process, one after the other; each is warmed up first (graph tracing is not timed).

    python -m benchmarks.train_speed [--steps 300] [--batch 32]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from fashion_dcgan.config import parse_params
from fashion_dcgan.training import build_gan, make_dataset

LATENT = 100
WARMUP = 20


def images(count: int = 6400, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (count, 28, 28, 1)).astype(np.float32)


def ours(data: np.ndarray, batch: int, steps: int, precision: str = "float32", jit: str | bool = "auto") -> float:
    """Images per second of DCGAN.fit (compiled train_step, tf.data pipeline)."""
    params = parse_params({"train": {"batch_size": batch, "precision": precision, "jit_compile": jit}})
    gan = build_gan(params, precision)
    epochs = -(-(WARMUP + steps) * batch // len(data)) + 1
    dataset = make_dataset(data, batch, 0, 0, epochs)
    gan.fit(dataset.take(WARMUP), epochs=1, verbose=0)
    timed = dataset.skip(WARMUP).take(steps)
    start = time.perf_counter()
    gan.fit(timed, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    keras.mixed_precision.set_global_policy("float32")
    return steps * batch / seconds


def tutorial(data: np.ndarray, batch: int, steps: int) -> float:
    """Images per second of the tutorial's loop, re-implemented faithfully for Keras 3."""
    keras.utils.set_random_seed(0)
    generator = keras.Sequential(
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
    discriminator = keras.Sequential(
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
    discriminator.compile(loss="binary_crossentropy", optimizer="adam")
    discriminator.trainable = False
    gan = keras.Sequential([generator, discriminator])
    gan.compile(loss="binary_crossentropy", optimizer="adam")
    dataset = tf.data.Dataset.from_tensor_slices(data).shuffle(1000).batch(batch, drop_remainder=True).prefetch(1)

    def step(real):
        noise = tf.random.normal((batch, LATENT))
        fakes = generator(noise)
        both = tf.concat([fakes, real], axis=0)
        labels = tf.constant([[0.0]] * batch + [[1.0]] * batch)
        discriminator.trainable = True
        discriminator.train_on_batch(both, labels)
        noise = tf.random.normal((batch, LATENT))
        discriminator.trainable = False
        gan.train_on_batch(noise, tf.constant([[1.0]] * batch))

    batches = iter(dataset.repeat())
    for _ in range(WARMUP):
        step(next(batches))
    start = time.perf_counter()
    for _ in range(steps):
        step(next(batches))
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    data = images()
    theirs = tutorial(data, args.batch, args.steps)
    mine = ours(data, args.batch, args.steps)
    print(f"device: {'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}, {os.cpu_count()} cores")
    print(f"{'loop':<34}{'batch':>6}{'images/s':>12}")
    print(f"{'tutorial (train_on_batch)':<34}{args.batch:>6}{theirs:>12.0f}")
    print(f"{'ours (compiled train_step + fit)':<34}{args.batch:>6}{mine:>12.0f}")
    print(f"ratio ours / tutorial: {mine / theirs:.2f}x")


if __name__ == "__main__":
    main()
