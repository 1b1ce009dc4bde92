"""All benchmarks in one run, printed as a Markdown table (the README's table comes from here).

    python -m benchmarks.run_all [--quick]

Measures:
- training images/s of ours against the tutorial's train_on_batch loop at batch 32 and 256 (five
  alternating repeats: median and min-max, the per-repeat ratio, GFLOP/s as a share of the
  estimated FP32 peak; ``benchmarks.train_speed``);
- the per-epoch overhead at the defaults: the collapse monitor, the fixed-noise grid, the checkpoint
  and the MLflow logging, each timed after every epoch, as a share of a full-data epoch;
- each stage's wall time for the default pipeline (``dvc repro -s`` stage by stage on the full data
  in a scratch copy of the repo, params.yaml defaults except train.epochs = 1; the 10-epoch train
  time is estimated from it), and a no-op `dvc repro`;
- generator sampling images/s at batch 1,000, and the peak RSS of a training process holding the
  full training set.
Figures vary by +-20% on a shared VM: compare ratios measured in the same run. ``--quick`` skips the
pipeline (minutes instead of a quarter of an hour).
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

from fashion_dcgan.data import fashion_mnist as dataset

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(dataset.MIRROR)


def env() -> dict[str, str]:
    variables = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    variables["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{variables['PATH']}"
    return variables


def training_speed() -> tuple[list[tuple[str, str]], str]:
    from benchmarks.flops import bf16_peak, fp32_peak
    from benchmarks.train_speed import compare, epoch_images, images, rows
    from fashion_dcgan.training.cpu import has_bf16_units

    peak, how = fp32_peak()
    precisions = ["float32", *(["mixed_bfloat16"] if has_bf16_units() else [])]
    comparisons = [
        compare(images(epoch_images(batch, 10.0)), batch, 5, precision)
        for batch in (32, 256)
        for precision in precisions
    ]
    return rows(comparisons, peak, bf16_peak()[0]), how


def epoch_overhead(images: int = 6400, epochs: int = 3) -> list[tuple[str, str]]:
    """Seconds in each end-of-epoch callback at the defaults (``training.train``'s ``epoch_end_seconds``),
    training on ``images`` random images for ``epochs``, against a full 60,000-image epoch."""
    from fashion_dcgan.config import parse_params
    from fashion_dcgan.evaluation.classifier import FeatureExtractor, build_classifier
    from fashion_dcgan.evaluation.monitor import CollapseMonitor
    from fashion_dcgan.tracking import RunLogger
    from fashion_dcgan.training import loop as training

    spent: dict[str, list[float]] = {}
    params = parse_params({"data": {"train_limit": images}, "train": {"epochs": epochs}})  # the defaults otherwise
    cfg = params.evaluate
    data = np.random.default_rng(0).uniform(-1, 1, (images, 28, 28, 1)).astype(np.float32)
    monitor = CollapseMonitor(FeatureExtractor(build_classifier()), data[:2000], params.runtime.monitor_samples,
                              params.model.latent_dim, 0, cfg.coverage_threshold, cfg.min_classes_covered)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        result = training.train(params, data, training.TrainingPaths.under(Path(tmp)),
                                lambda run_id: RunLogger(uri, run_id), monitor=monitor, verbose=0,
                                epoch_end_seconds=spent)  # fmt: skip
    full_epoch = 60_000 / float(np.median([row["images_per_second"] for row in result.epochs[1:]]))
    per_epoch = {name: float(np.median(times[1:])) for name, times in spent.items()}  # epoch 1 warms up
    shown = ("CollapseCheck", "FixedNoiseGrid", "SaveCheckpoint", "MlflowLogger")
    total = sum(per_epoch.get(name, 0.0) for name in shown)
    parts = ", ".join(f"{name} {per_epoch.get(name, 0.0):.2f} s" for name in shown)
    return [
        (
            f"per-epoch overhead at the defaults (median of epochs 2-{epochs})",
            f"{total:.2f} s = {total / full_epoch:.1%} of a full-data epoch ({full_epoch:.0f} s): {parts}",
        )
    ]


def sampling_speed() -> list[tuple[str, str]]:
    from fashion_dcgan.gan.networks import build_generator
    from fashion_dcgan.gan.sampling import generate

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


def training_rss(processed: Path) -> list[tuple[str, str]]:
    script = (
        "import numpy as np, resource\n"
        "from fashion_dcgan.config import parse_params\n"
        "from fashion_dcgan.data.pipeline import make_dataset\n"
        "from fashion_dcgan.training.loop import build_gan\n"
        f"images = np.load({str(processed / 'train_images.npy')!r})\n"
        "params = parse_params({})\n"
        "gan = build_gan(params, 'float32', 5)\n"
        "gan.fit(make_dataset(images, 32, 0, 0, 1), epochs=1, steps_per_epoch=200, verbose=0)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env(), check=True, capture_output=True, text=True)
    peak_mb = int(out.stdout.split()[-1]) / 1024
    return [("peak RSS, training process with the full 60,000-image set (200 steps)", f"{peak_mb:.0f} MiB")]


def scratch_repo(repo: Path) -> Path:
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, repo / name)
    return repo


def stage_times(work: Path) -> list[tuple[str, str]]:
    """Each stage of the default pipeline, run alone in order; train for one epoch (10 estimated)."""
    repo = scratch_repo(work / "pipeline")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["epochs"] = 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    subprocess.run(["git", "init", "-q"], cwd=repo, env=env(), check=True)
    stages = list(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"])
    seconds = {}
    for stage in stages:
        start = time.perf_counter()
        done = subprocess.run(["dvc", "repro", "-s", stage], cwd=repo, env=env(), capture_output=True, text=True)
        if done.returncode:
            kept = Path(tempfile.gettempdir()) / "run_all_failed_pipeline"  # for a post-mortem
            shutil.copytree(repo, kept, ignore=shutil.ignore_patterns("data", "cache"), dirs_exist_ok=True)
            raise SystemExit(
                f"stage {stage} failed (scratch pipeline kept in {kept}):\n{(done.stdout + done.stderr)[-3000:]}"
            )
        seconds[stage] = time.perf_counter() - start
        print(f"  stage {stage}: {seconds[stage]:.0f} s", file=sys.stderr, flush=True)
    history = json.loads((repo / "reports/train_metrics.json").read_text())
    epoch_s = history["epoch_seconds"]
    train_10 = seconds["train"] + 9 * epoch_s
    # Outside training: every other stage, and the train stage's own start-up, saving and logging.
    outside = sum(v for k, v in seconds.items() if k != "train") + seconds["train"] - epoch_s
    rows = [(f"stage `{stage}` (full data, defaults)", f"{value:.0f} s") for stage, value in seconds.items()]
    rows[stages.index("train")] = (
        "stage `train` (full data, defaults)",
        f"{seconds['train']:.0f} s for 1 epoch ({epoch_s:.0f} s training); 10 epochs ≈ {train_10 / 60:.0f} min",
    )
    rows.append(("default `dvc repro`, everything but the training epochs", f"{outside / 60:.1f} min"))
    return rows


def noop_repro(work: Path) -> list[tuple[str, str]]:
    repo = scratch_repo(work / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"].update(train_limit=320, test_limit=200)
    params["train"].update(epochs=1)
    params["runtime"].update(monitor_samples=0)
    params["sample"].update(n_samples=200)
    params["evaluate"].update(probe_train_size=200, kid_subsets=5, kid_subset_size=50)
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    for command in (["git", "init", "-q"], ["dvc", "repro", "-q"]):
        subprocess.run(command, cwd=repo, env=env(), check=True, capture_output=True)
    start = time.perf_counter()
    out = subprocess.run(["dvc", "repro"], cwd=repo, env=env(), check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    assert "Running stage" not in out.stdout
    count = len(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"])
    return [(f"no-op `dvc repro` ({count} stages, all up to date)", f"{seconds:.1f} s")]


def main() -> None:
    import argparse

    import tensorflow as tf

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the full-data pipeline's stage times")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []

    def add(new_rows: list[tuple[str, str]]) -> None:
        rows.extend(new_rows)
        for name, value in new_rows:  # as they come, so a failure later loses nothing
            print(f"| {name} | {value} |", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        speed, peak = training_speed()
        add(speed)
        add(epoch_overhead())
        add(sampling_speed())
        if not args.quick:
            add(stage_times(work))
            processed = work / "pipeline" / "data" / "processed"
        else:
            add(prepare_time(work))
            processed = work / "data" / "processed"
        add(training_rss(processed))
        add(noop_repro(work))
    gpus = tf.config.list_physical_devices("GPU")
    cpu = f"GPU: {', '.join(d.name for d in gpus)}" if gpus else "no GPU"
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, {cpu}; "
          f"TensorFlow {tf.__version__}, Python {platform.python_version()}")  # fmt: skip
    print(f"FP32 peak: {peak}")
    print()
    print("| benchmark | result |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(json.dumps({"max_rss_parent_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
