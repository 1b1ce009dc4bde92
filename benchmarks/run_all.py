"""All benchmarks in one run, printed as a Markdown table (the README's table comes from here).

    python -m benchmarks.run_all

Measures: training images/s of our step against the tutorial's train_on_batch loop at batch 32
(alternating epochs, medians), ours at batch 256; generator sampling images/s at batch 1,000; wall
time of the prepare stage on the full data (a fresh process, Great Expectations included); wall time
of a no-op `dvc repro` (tiny pipeline already run); peak RSS of a training process holding the full
training set. Figures vary by +-20% on a shared VM: compare ratios measured in the same run.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import yaml

from fashion_dcgan import dataset

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(dataset.MIRROR)


def env() -> dict[str, str]:
    variables = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    variables["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{variables['PATH']}"
    return variables


def training_speed() -> list[tuple[str, str]]:
    from benchmarks.train_speed import compare, images, run_ours

    theirs, mine, ratio = compare(images(3200), 32, repeats=5)
    at_256 = float(np.median(run_ours(images(12800), 256, 4)))
    return [
        ("training, tutorial loop (train_on_batch), batch 32", f"{theirs:.0f} images/s"),
        ("training, ours (compiled train_step + fit), batch 32", f"{mine:.0f} images/s ({ratio:.2f}x the tutorial)"),
        ("training, ours, batch 256", f"{at_256:.0f} images/s"),
    ]


def sampling_speed() -> list[tuple[str, str]]:
    from fashion_dcgan.models import build_generator
    from fashion_dcgan.sampling import generate

    generator = build_generator("tutorial", 100, 128)
    latents = np.random.default_rng(0).standard_normal((10_000, 100)).astype(np.float32)
    generate(generator, latents[:1000], 1000)
    start = time.perf_counter()
    generate(generator, latents, 1000)
    return [("sampling, batch 1,000", f"{len(latents) / (time.perf_counter() - start):.0f} images/s")]


def prepare_time(work: Path) -> list[tuple[str, str]]:
    shutil.copytree(MIRROR, work / "data" / "raw")
    shutil.copy(REPO / "params.yaml", work / "params.yaml")
    start = time.perf_counter()
    command = ["--raw", "data/raw", "--out", "data/processed", "--validation", "validation", "--preview", "preview.png"]
    subprocess.run([sys.executable, "-m", "fashion_dcgan.stages.prepare", *command], cwd=work, env=env(), check=True,
                   capture_output=True)  # fmt: skip
    seconds = time.perf_counter() - start
    return [("prepare stage, full data (decode, normalise, GX validation, write)", f"{seconds:.1f} s")]


def training_rss(work: Path) -> list[tuple[str, str]]:
    script = (
        "import numpy as np, resource\n"
        "from fashion_dcgan.config import parse_params\n"
        "from fashion_dcgan.data.pipeline import make_dataset\n"
        "from fashion_dcgan.training import build_gan\n"
        f"images = np.load({str(work / 'data/processed/train_images.npy')!r})\n"
        "params = parse_params({})\n"
        "gan = build_gan(params, 'float32', 5)\n"
        "gan.fit(make_dataset(images, 32, 0, 0, 1), epochs=1, steps_per_epoch=200, verbose=0)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env(), check=True, capture_output=True, text=True)
    peak_mb = int(out.stdout.split()[-1]) / 1024
    return [("peak RSS, training process with the full 60,000-image set (200 steps)", f"{peak_mb:.0f} MiB")]


def noop_repro(work: Path) -> list[tuple[str, str]]:
    repo = work / "repo"
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, repo / name)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"].update(train_limit=320, test_limit=200)
    params["train"].update(epochs=1, monitor_samples=0)
    params["classifier"].update(epochs=1)
    params["sample"].update(n_samples=200)
    params["evaluate"].update(probe_train_size=200, kid_subsets=5, kid_subset_size=50)
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    for command in (["git", "init", "-q"], ["dvc", "repro", "-q"]):
        subprocess.run(command, cwd=repo, env=env(), check=True, capture_output=True)
    start = time.perf_counter()
    out = subprocess.run(["dvc", "repro"], cwd=repo, env=env(), check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    assert "Running stage" not in out.stdout
    return [("no-op `dvc repro` (8 stages, all up to date)", f"{seconds:.1f} s")]


def main() -> None:
    import tensorflow as tf

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows += training_speed()
        rows += sampling_speed()
        rows += prepare_time(work)
        rows += training_rss(work)
        rows += noop_repro(work)
    gpus = tf.config.list_physical_devices("GPU")
    cpu = f"GPU: {', '.join(d.name for d in gpus)}" if gpus else "no GPU"
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, {cpu}; "
          f"TensorFlow {tf.__version__}, Python {platform.python_version()}")  # fmt: skip
    print()
    print("| benchmark | result |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(json.dumps({"max_rss_parent_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
