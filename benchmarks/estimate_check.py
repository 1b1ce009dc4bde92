"""Does `fashion-dcgan doctor` tell the truth? Its estimate for a params file, then that training itself,
timed, on the same machine and path.

    python -m benchmarks.estimate_check [--train-limit 19648] [--epochs 2] [--params params.yaml]
    ONEDNN_MAX_CPU_ISA=AVX2 python -m benchmarks.estimate_check   # the float32 path on a bfloat16 CPU

Trains what the train stage trains (``training.train`` with the per-epoch collapse monitor, on
data/processed, nothing recorded) on the first ``--train-limit`` images for ``--epochs`` epochs, and
prints the doctor's estimate, the measured time (from the first step to the last epoch's end,
tracing and the per-epoch checks included, as a user waits for them) and their ratio. Needs
`dvc repro classifier` first.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    # 307 steps of 64, a prime: one step per call, as the full data's 937 steps give.
    parser.add_argument("--train-limit", type=int, default=19_648)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data", default="data/processed")
    parser.add_argument("--classifier", default="models/classifier.keras")
    args = parser.parse_args(argv)

    from fashion_dcgan.config import parse_params, read_yaml
    from fashion_dcgan.config.recipes import merge
    from fashion_dcgan.data.prepare import load_processed
    from fashion_dcgan.evaluation.monitor import CollapseMonitor
    from fashion_dcgan.modelfiles import load_model
    from fashion_dcgan.tracking import NullRunLogger
    from fashion_dcgan.training.doctor import diagnose
    from fashion_dcgan.training.loop import TrainingPaths, train

    overrides = {"data": {"train_limit": args.train_limit}, "train": {"epochs": args.epochs}}
    params = parse_params(merge(read_yaml(args.params), overrides))
    diagnosis = diagnose(params)
    images, labels = load_processed(args.data, "train")
    images, labels = images[: args.train_limit], labels[: args.train_limit]
    monitor = None
    if params.runtime.monitor_samples:
        monitor = CollapseMonitor.for_params(params, load_model(args.classifier), load_processed(args.data, "test")[0])
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        train(params, images, TrainingPaths.under(Path(tmp)), lambda _: NullRunLogger(), monitor=monitor, verbose=0,
              labels=labels)  # fmt: skip
        measured = time.perf_counter() - began
    estimate = diagnosis.estimate.total_seconds
    print(diagnosis.text())
    print(f"measured: {measured:.0f} s for {args.epochs} epochs of {args.train_limit:,} images; the estimate "
          f"{estimate:.0f} s is {estimate / measured:.2f} of it")  # fmt: skip


if __name__ == "__main__":
    main()
