"""The GPU path: mixed precision and XLA on by default, seconds per epoch, no NaNs.

    python -m benchmarks.gpu_check [--images 60000] [--epochs 2]

With `train.precision: auto` and `train.jit_compile: auto` (the defaults) a visible GPU gets
mixed_float16 with a LossScaleOptimizer per network, and XLA. Prints seconds per epoch (the first
epoch, which includes compilation, is reported separately) at batch 32 and 256, the loss scales,
and whether every loss stayed finite. Runs on the CPU too (slowly), to check the script itself.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from fashion_dcgan.config import parse_params
from fashion_dcgan.runtime import resolve_precision
from fashion_dcgan.tracking import NullRunLogger
from fashion_dcgan.training import TrainingPaths, train


def check(images: np.ndarray, batch: int, epochs: int) -> None:
    """The train stage's entry point at the params.yaml defaults (precision and jit_compile stay "auto")."""
    params = parse_params({"data": {"train_limit": len(images)}, "train": {"batch_size": batch, "epochs": epochs,
                           "monitor_samples": 0}})  # fmt: skip
    precision = resolve_precision(params.train.precision)
    with tempfile.TemporaryDirectory() as tmp:
        result = train(params, images, TrainingPaths.under(Path(tmp)), lambda _: NullRunLogger(), verbose=0)
    gan, rows = result.gan, result.epochs
    finite = all(math.isfinite(row[k]) for row in rows for k in ("d_loss", "g_loss"))
    scales = [float(getattr(o, "dynamic_scale", 1.0)) for o in (gan.d_optimizer, gan.g_optimizer)]
    first, rest = rows[0]["epoch_seconds"], [row["epoch_seconds"] for row in rows[1:]]
    steady = f"{np.median(rest):.2f}" if rest else "n/a"
    print(f"batch {batch:>4}: precision {precision}, jit_compile={gan.jit_compile}, "
          f"first epoch {first:.2f} s (with compilation), then {steady} s/epoch, "
          f"{len(images) / np.median(rest or [first]):.0f} images/s; loss scales D {scales[0]:.0f} G {scales[1]:.0f}; "
          f"losses finite: {finite}; final d_loss {rows[-1]['d_loss']:.4f}")  # fmt: skip
    keras.mixed_precision.set_global_policy("float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=60_000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    gpus = tf.config.list_physical_devices("GPU")
    devices = [d.name for d in gpus] or "no GPU, CPU only"
    print(f"devices: {devices}; TensorFlow {tf.__version__}, Keras {keras.__version__}")
    path = "data/processed/train_images.npy"
    images = np.load(path)[: args.images] if os.path.exists(path) else \
        np.random.default_rng(0).uniform(-1, 1, (args.images, 28, 28, 1)).astype(np.float32)  # fmt: skip
    for batch in (32, 256):
        check(images, batch, args.epochs)


if __name__ == "__main__":
    main()
