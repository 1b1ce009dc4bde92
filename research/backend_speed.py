"""The default's networks, forward and backward, under the Keras backend this process runs (TensorFlow or
PyTorch): is another backend worth porting the training step to?

    python -m research.backend_speed                        # TensorFlow, as the pipeline runs
    KERAS_BACKEND=torch PYTHONPATH=src python -m research.backend_speed   # in an environment with torch

Times one generator forward and backward pass and one discriminator forward and backward pass on the
generator's output, at batch 64, in float32 (the step's main cost; the GAN algorithm itself is
TensorFlow code in gan/dcgan.py). TensorFlow runs the pass as a compiled ``tf.function`` (as ``fit``
does); PyTorch runs it eagerly (as Keras' torch backend trains). Only the networks' module is imported,
so it runs where the project's other dependencies are not installed. Prints one JSON line: the backend,
its version, the median milliseconds over ``--repeats`` passes after a warm-up, and the range.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from fashion_dcgan.gan.networks import build_discriminator, build_generator


def pass_function(generator: keras.Model, discriminator: keras.Model):
    """A function of a latent batch that runs both networks forward and backward (gradients of all weights)."""
    weights = [*generator.trainable_weights, *discriminator.trainable_weights]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        @tf.function
        def step(latent):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(discriminator(generator(latent, training=True), training=True))
            return tape.gradient(loss, weights)

        return step
    if keras.backend.backend() == "torch":
        import torch

        def step(latent):
            for weight in weights:
                weight.value.grad = None
            loss = torch.mean(discriminator(generator(torch.as_tensor(latent), training=True), training=True))
            loss.backward()
            return [weight.value.grad for weight in weights]

        return step
    raise SystemExit(f"backend {keras.backend.backend()} is not measured here")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    generator, discriminator = build_generator("deep", 100, 128), build_discriminator("deep", 64, (28, 28, 1))
    step = pass_function(generator, discriminator)
    latent = np.random.default_rng(0).normal(size=(args.batch, 100)).astype(np.float32)
    for _ in range(5):
        step(latent)
    seconds = []
    for _ in range(args.repeats):
        began = time.perf_counter()
        step(latent)
        seconds.append(time.perf_counter() - began)
    ms = sorted(1000 * s for s in seconds)
    version = {"tensorflow": "tensorflow", "torch": "torch"}[keras.backend.backend()]
    print(json.dumps({"backend": keras.backend.backend(), "version": __import__(version).__version__,
                      "batch": args.batch, "ms_median": round(ms[len(ms) // 2], 2), "ms_min": round(ms[0], 2),
                      "ms_max": round(ms[-1], 2)}))  # fmt: skip


if __name__ == "__main__":
    main()
