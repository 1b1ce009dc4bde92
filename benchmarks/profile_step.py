"""Where one training step's time goes on this machine, layer kind by layer kind.

    python -m benchmarks.profile_step [--batch 32]

Each layer of the tutorial's networks is timed alone, forward and backward (gradients for its input
and its weights, as in training), at the batch sizes one step of the tutorial's algorithm gives it:
the generator's layers see B images forward-only (the fakes of the discriminator update) and B
forward and backward (the generator update); the discriminator's layers see 2B forward and backward
(real and fake) and B forward and backward. Each Adam update is timed alone too. The whole step is
timed through ``fit`` (the train stage's path, ``steps_per_execution`` 10); what the pieces do not
account for is the framework's own cost: the losses, the tape, tf.data, dispatch (each piece also
carries one call's dispatch, so this remainder is a lower bound). All timings are medians of compiled
``tf.function`` calls after a warm-up.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from fashion_dcgan.config import parse_params
from fashion_dcgan.config.recipes import merge, recipe
from fashion_dcgan.data.pipeline import make_dataset
from fashion_dcgan.training.loop import build_gan

KINDS = {
    "Conv2DTranspose": "transposed convolutions (G)",
    "Conv2D": "convolutions (D)",
    "Dense": "dense layers",
    "BatchNormalization": "batch norm (G)",
}


def median_seconds(fn, repeats: int = 30) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def layer_seconds(layer: keras.layers.Layer, batch: int, backward: bool, repeats: int = 30) -> float:
    shape = (batch, *layer.input.shape[1:])
    x = tf.random.normal(shape)

    @tf.function
    def run():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            total = tf.reduce_sum(tf.cast(y, tf.float32))
        if backward:
            return tape.gradient(total, [x, *layer.trainable_variables])
        return total

    return median_seconds(lambda: [np.asarray(v) for v in tf.nest.flatten(run()) if v is not None], repeats)


def optimizer_seconds(optimizer, variables, repeats: int = 30) -> float:
    grads = [tf.random.normal(v.shape) * 1e-3 for v in variables]

    @tf.function
    def run():
        optimizer.apply_gradients(zip(grads, variables, strict=True))

    return median_seconds(run, repeats)


def step_seconds(gan, batch: int, steps: int = 100) -> float:
    images = np.random.default_rng(0).uniform(-1, 1, (steps * batch, 28, 28, 1)).astype(np.float32)
    gan.fit(make_dataset(images, batch, 0, 0, 1), epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)  # trace
    start = time.perf_counter()
    gan.fit(make_dataset(images, batch, 0, 1, 2), epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    return (time.perf_counter() - start) / steps


def profile(batch: int, repeats: int = 30, steps: int = 100) -> list[tuple[str, float]]:
    """Seconds per step of each layer kind, the Adam updates, the rest, and the whole step (the last row)."""
    params = parse_params(merge(recipe("tutorial"), {"runtime": {"precision": "float32"}}))
    gan = build_gan(params, "float32", steps_per_call=10)
    totals: dict[str, float] = defaultdict(float)
    for network, passes in ((gan.generator, ((batch, False), (batch, True))),
                            (gan.discriminator, ((2 * batch, True), (batch, True)))):  # fmt: skip
        for layer in network.layers:
            kind = KINDS.get(type(layer).__name__, "activations, dropout, reshapes")
            totals[kind] += sum(layer_seconds(layer, size, backward, repeats) for size, backward in passes)
    totals["Adam updates (G and D)"] = optimizer_seconds(
        gan.g_optimizer, gan.generator.trainable_variables, repeats
    ) + optimizer_seconds(gan.d_optimizer, gan.discriminator.trainable_variables, repeats)
    step = step_seconds(gan, batch, steps)
    rows = sorted(totals.items(), key=lambda item: -item[1])
    rows.append(("the rest: losses, tape, tf.data, dispatch (step minus the above)", step - sum(totals.values())))
    rows.append(("one whole step through fit", step))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    rows = profile(args.batch)
    step = rows[-1][1]
    print(f"| where the time goes (batch {args.batch}, tutorial recipe) | ms per step | share |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds * 1e3:.2f} | {seconds / step:.0%} |")


if __name__ == "__main__":
    main()
