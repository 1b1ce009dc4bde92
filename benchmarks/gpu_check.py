"""The GPU path: mixed precision and XLA on by default, throughput against the counted FLOPs, no NaNs.

    python -m benchmarks.gpu_check [--images 60000] [--epochs 2] [--batches 64 256] [--no-pipeline]

With `train.precision: auto` and `train.jit_compile: auto` (the defaults) a visible GPU gets
mixed_float16 with a LossScaleOptimizer per network, and XLA. For each batch size it prints seconds
per epoch (the first epoch, which includes compilation, separately), images/s and GFLOP/s (the FLOPs
of the tutorial algorithm's step, ``benchmarks.flops``; the default r1 objective's gradient penalty
does more work than that, so for it the figure is a lower bound), the loss scales, and whether every
loss stayed finite. Then it times the evaluate stage's computations (``--eval-samples`` generated
images against the test set, and the discriminator probe), and runs the real pipeline (`dvc repro`) on
a one-epoch slice in a temporary copy of the repository (:data:`SLICE`), which needs the raw files:
data/raw (carried to a machine without the network) or the Debian mirror. Uses data/processed when
it is there, else random images of the same shape. Runs on the CPU too (slowly), to check the script
itself. About 3 minutes on one H100 is the aim (the first GPU run will tell).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from benchmarks.flops import step_flops_per_image
from fashion_dcgan.config import parse_params
from fashion_dcgan.tracking import NullRunLogger
from fashion_dcgan.training.loop import TrainingPaths, train
from fashion_dcgan.training.runtime import resolve_precision


def check(images: np.ndarray, batch: int, epochs: int):
    """The train stage's entry point at the params.yaml defaults (precision and jit_compile stay "auto")."""
    params = parse_params({"data": {"train_limit": len(images)}, "train": {"batch_size": batch, "epochs": epochs},
                           "runtime": {"monitor_samples": 0}})  # fmt: skip
    precision = resolve_precision(params.runtime.precision)
    with tempfile.TemporaryDirectory() as tmp:
        result = train(params, images, TrainingPaths.under(Path(tmp)), lambda _: NullRunLogger(), verbose=0)
    gan, rows = result.gan, result.epochs
    finite = all(math.isfinite(row[k]) for row in rows for k in ("d_loss", "g_loss"))
    scales = [float(getattr(o, "dynamic_scale", 1.0)) for o in (gan.d_optimizer, gan.g_optimizer)]
    first, rest = rows[0]["epoch_seconds"], [row["epoch_seconds"] for row in rows[1:]]
    steady = f"{np.median(rest):.2f}" if rest else "n/a"
    rate = (len(images) // batch * batch) / float(np.median(rest or [first]))
    gflops = rate * step_flops_per_image(gan.generator, gan.discriminator) / 1e9
    print(f"batch {batch:>4}: precision {precision}, jit_compile={gan.jit_compile}, "
          f"first epoch {first:.2f} s (with compilation), then {steady} s/epoch, {rate:.0f} images/s, "
          f"{gflops:.0f} GFLOP/s (tutorial-step count); loss scales D {scales[0]:.0f} G {scales[1]:.0f}; "
          f"losses finite: {finite}; final d_loss {rows[-1]['d_loss']:.4f}", flush=True)  # fmt: skip
    keras.mixed_precision.set_global_policy("float32")
    return gan


def evaluation_time(gan, train_images: np.ndarray, samples: int) -> None:
    """The reference and evaluate stages' computations at their defaults."""
    from fashion_dcgan.config import EvaluateParams
    from fashion_dcgan.evaluation.evaluate import (
        discriminator_metrics,
        evaluate_generator,
        probe_train_set,
        real_reference,
    )
    from fashion_dcgan.evaluation.pinned import load_pinned
    from fashion_dcgan.gan.sampling import generate, latents

    labels = np.arange(len(train_images)) % 10
    classifier, _ = load_pinned()  # the classifier stage's default feature space
    cfg = EvaluateParams()
    test = (train_images[:10_000], labels[:10_000])
    probe_train = probe_train_set(train_images, labels, cfg)
    start = time.perf_counter()
    untrained = keras.models.clone_model(gan.discriminator)
    reference = real_reference(classifier, test, train_images[-10_000:], probe_train, untrained, cfg)
    middle = time.perf_counter()
    noise = latents(1, samples, gan.latent_dim)
    fakes = {"sampled": generate(gan.sampler, noise), "raw": generate(gan.generator, noise)}
    evaluate_generator(classifier, fakes, reference, cfg)
    discriminator_metrics(gan.discriminator, probe_train, test, cfg)
    end = time.perf_counter()
    print(f"reference stage's computations {middle - start:.1f} s; evaluate stage's ({samples} samples per "
          f"generator, metrics and probe) {end - middle:.1f} s", flush=True)  # fmt: skip


REPO = Path(__file__).resolve().parents[1]
# The pipeline's slice: one epoch of 6,400 images, scored on 2,000 samples against 2,000 test images.
SLICE = {
    "data": {"train_limit": 6400, "test_limit": 2000},
    "train": {"epochs": 1},
    "sample": {"n_samples": 2000},
    "evaluate": {"kid_subsets": 20, "kid_subset_size": 500, "probe_train_size": 2000},
}


def pipeline_slice(repo: Path = REPO) -> bool:
    """`dvc repro` of a one-epoch slice in a temporary copy of ``repo`` (its tracked files and data/raw);
    prints its time and whether it succeeded."""
    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "repo"
        tracked = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True)
        for name in tracked.stdout.split():
            if (repo / name).is_file():
                (copy / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(repo / name, copy / name)
        if (repo / "data" / "raw").is_dir():
            shutil.copytree(repo / "data" / "raw", copy / "data" / "raw")
        params = yaml.safe_load((copy / "params.yaml").read_text())
        for section, values in SLICE.items():
            params[section].update(values)
        (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
        began = time.perf_counter()
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        done = subprocess.run(["dvc", "repro"], cwd=copy, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - began
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        print(f"pipeline slice (dvc repro, {SLICE['data']['train_limit']} images, 1 epoch): "
              f"{'ok' if done.returncode == 0 else 'FAILED'} in {seconds:.0f} s", flush=True)  # fmt: skip
        if done.returncode:
            print("\n".join(tail), flush=True)
        return done.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=60_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--eval-samples", type=int, default=10_000)
    parser.add_argument("--no-pipeline", action="store_true", help="skip the pipeline slice")
    args = parser.parse_args()
    gpus = tf.config.list_physical_devices("GPU")
    devices = [d.name for d in gpus] or "no GPU, CPU only"
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "") if gpus else ""
    print(f"devices: {devices} {name}; TensorFlow {tf.__version__}, Keras {keras.__version__}", flush=True)
    path = "data/processed/train_images.npy"
    images = np.load(path)[: args.images] if os.path.exists(path) else \
        np.random.default_rng(0).uniform(-1, 1, (args.images, 28, 28, 1)).astype(np.float32)  # fmt: skip
    gan = None
    for batch in args.batches:
        gan = check(images, batch, args.epochs)
    evaluation_time(gan, images, args.eval_samples)
    if not args.no_pipeline and not pipeline_slice():
        raise SystemExit(1)


if __name__ == "__main__":
    main()
