"""Training throughput: our compiled GAN step against the tutorial's own `train_on_batch` loop, and
against the machine's limit.

Both train the same tutorial architecture with the same algorithm on the same images at the same
batch size, in one process, alternating epoch by epoch (a slow patch on a shared machine hits
both); each is warmed up first (graph tracing is not timed). For each batch size it prints the
median images/s of each over the repeats with the spread (min-max), the ratio ours/tutorial of
each repeat (median and min-max), and the achieved GFLOP/s (FLOPs of one step counted from the
layers, ``benchmarks.flops``) as a fraction of the estimated FP32 peak.

    python -m benchmarks.train_speed [--batches 32 256] [--repeats 5] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from benchmarks.timing import timed_epochs
from fashion_dcgan.config import parse_params
from fashion_dcgan.config.recipes import merge, recipe
from fashion_dcgan.data.fashion_mnist import IMAGE_SHAPE
from fashion_dcgan.gan.networks import build_discriminator, build_generator

LATENT = 100
WARMUP = 20


def images(count: int = 6400, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (count, 28, 28, 1)).astype(np.float32)


# Settings the CPU attempts vary (research.cpu_attempts); the train stage's defaults otherwise.
OURS: dict = {}


def ours_params(count: int, batch: int, epochs: int, precision: str = "float32"):
    """The train stage's configuration with the tutorial's recipe, so both loops run the same algorithm."""
    overrides = {
        "data": {"train_limit": count},
        "train": {"batch_size": batch, "epochs": epochs},
        "runtime": {"precision": precision, "monitor_samples": 0, **OURS},
    }
    return parse_params(merge(recipe("tutorial"), overrides))


def run_ours(
    data: np.ndarray,
    batch: int,
    epochs: int,
    between_epochs: keras.callbacks.Callback | None = None,
    precision: str = "float32",
):
    """``training.train`` (what the train stage runs): images/s of each epoch after the first (tracing)."""
    params = ours_params(len(data), batch, epochs, precision)
    return timed_epochs(params, data, [between_epochs] if between_epochs else [])


def tutorial_networks() -> tuple[keras.Model, keras.Model]:
    """The tutorial's generator and discriminator as the tutorial builds them: the library's networks,
    with the discriminator's logit turned into the tutorial's sigmoid output."""
    generator = build_generator("tutorial", LATENT, 128)
    discriminator = keras.Sequential(
        [build_discriminator("tutorial", 64, IMAGE_SHAPE), keras.layers.Activation("sigmoid")]
    )
    return generator, discriminator


class Tutorial:
    """The tutorial's loop, re-implemented faithfully for Keras 3: Sequential models, train_on_batch."""

    def __init__(self, data: np.ndarray, batch: int):
        keras.utils.set_random_seed(0)
        self.generator, self.discriminator = tutorial_networks()
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


@dataclass
class Comparison:
    batch: int
    tutorial: list[float]  # images/s of each timed repeat
    ours: list[float]
    flops_per_image: int
    precision: str = "float32"  # ours; the tutorial's loop is always float32

    @property
    def ratios(self) -> list[float]:
        return [m / t for m, t in zip(self.ours, self.tutorial, strict=True)]


def compare(data: np.ndarray, batch: int, repeats: int, precision: str = "float32") -> Comparison:
    """``repeats`` alternating timed epochs of the tutorial loop and ours (after a warm-up of each)."""
    from benchmarks.flops import step_flops_per_image

    tutorial = TutorialEpoch(Tutorial(data, batch))
    mine = run_ours(data, batch, repeats + 1, tutorial, precision)
    keras.mixed_precision.set_global_policy("float32")  # the tutorial's next loop is built in float32
    flops = step_flops_per_image(tutorial.tutorial.generator, tutorial.tutorial.discriminator)
    return Comparison(batch, tutorial.rates, mine, flops, precision)


def spread(values: list[float], digits: str = ".0f") -> str:
    """median (min-max)"""
    return f"{np.median(values):{digits}} ({min(values):{digits}}-{max(values):{digits}})"


def rows(comparisons: list[Comparison], peak: float, bf16: float = float("nan")) -> list[tuple[str, str]]:
    """(benchmark, result) rows: images/s, the ratio and the fraction of peak (the FP32 peak, and the
    bfloat16 one for bfloat16 runs), for each batch size and precision."""
    out = []
    for c in comparisons:
        n = len(c.ours)
        ours = f"ours (training.train, {c.precision})"
        for name, rates in (("tutorial loop (train_on_batch, float32)", c.tutorial), (ours, c.ours)):
            gflops = c.flops_per_image * float(np.median(rates)) / 1e9
            share = f"{gflops / peak:.1%} of the FP32 peak"
            if "bfloat16" in name:
                share += f", {gflops / bf16:.1%} of the BF16 peak"
            out.append((f"training, {name}, batch {c.batch}",
                        f"{spread(rates)} images/s over {n} repeats; {gflops:.1f} GFLOP/s = {share}"))  # fmt: skip
        out.append(
            (f"training, ours ({c.precision}) / tutorial, batch {c.batch}", f"{spread(c.ratios, '.2f')}x (per-repeat)")
        )
    return out


def epoch_images(batch: int, seconds: float, rate_guess: float = 300.0) -> int:
    """Images per timed epoch: about ``seconds`` of work, a whole number of batches, at least 10 steps."""
    return max(10, round(seconds * rate_guess / batch)) * batch


def main() -> None:
    from benchmarks.flops import fp32_peak

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs of each loop (alternating)")
    parser.add_argument("--seconds", type=float, default=10.0, help="about this long per timed epoch")
    parser.add_argument("--threads", type=int, nargs=2, metavar=("INTRA", "INTER"), help="TensorFlow thread pools")
    parser.add_argument("--steps-per-execution", type=int, help="ours: runtime.steps_per_execution")
    parser.add_argument("--jit", action="store_true", help="ours: runtime.jit_compile true (XLA)")
    parser.add_argument("--json", action="store_true", help="also print one JSON line of the figures")
    parser.add_argument("--precisions", nargs="+", default=None, choices=["float32", "mixed_bfloat16"],
                        help="ours (default: float32, and mixed_bfloat16 on a CPU with bfloat16 units)")  # fmt: skip
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads[0])
        tf.config.threading.set_inter_op_parallelism_threads(args.threads[1])
    if args.steps_per_execution:
        OURS["steps_per_execution"] = args.steps_per_execution
    if args.jit:
        OURS["jit_compile"] = True
    from benchmarks.flops import bf16_peak
    from fashion_dcgan.training.cpu import has_bf16_units

    precisions = args.precisions or ["float32", *(["mixed_bfloat16"] if has_bf16_units() else [])]
    peak, how = fp32_peak()
    bf16, bf16_how = bf16_peak()
    comparisons = [
        compare(images(epoch_images(b, args.seconds)), b, args.repeats, precision)
        for b in args.batches
        for precision in precisions
    ]
    print(f"device: {'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}; FP32 peak: {how}")
    print(f"BF16 peak: {bf16_how}")
    print(f"one training step: {comparisons[0].flops_per_image / 1e6:.1f} MFLOP per image (benchmarks.flops)")
    for name, value in rows(comparisons, peak, bf16):
        print(f"{name:<50} {value}")
    if args.json:
        print(json.dumps([{"batch": c.batch, "precision": c.precision, "tutorial": c.tutorial, "ours": c.ours}
                          for c in comparisons]))  # fmt: skip


if __name__ == "__main__":
    main()
