"""DVC stage `train`: train (or resume) the DCGAN and track it in MLflow.

Writes models/generator.keras and models/discriminator.keras, per-epoch grids
in reports/epochs/, and metrics for `dvc metrics` / `dvc plots`.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from fashion_dcgan.config import load_params
from fashion_dcgan.errors import entry_point

log = logging.getLogger("fashion_dcgan.stages.train")


def data_checksums(processed: Path) -> dict[str, str]:
    from fashion_dcgan.files import file_sha256

    return {f"data.sha256.{p.stem}": file_sha256(p) for p in sorted(processed.glob("train_*.npy"))}


@entry_point
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default="data/processed")
    parser.add_argument("--models", default="models")
    parser.add_argument("--checkpoints", default="models/checkpoints")
    parser.add_argument("--reports", default="reports")
    args = parser.parse_args(argv)
    params = load_params(args.params)

    from fashion_dcgan.tracking import check_reachable, git_commit, tracking_uri

    uri = tracking_uri()
    check_reachable(uri)

    from fashion_dcgan.data.prepare import load_processed
    from fashion_dcgan.files import write_csv, write_json
    from fashion_dcgan.tracking import RunLogger
    from fashion_dcgan.training import TrainingPaths, train

    images, _ = load_processed(args.data, "train")
    tags = {"git_commit": git_commit(), **data_checksums(Path(args.data))}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_experiment"] = os.environ["DVC_EXP_NAME"]
    reports = Path(args.reports)
    paths = TrainingPaths(Path(args.models), Path(args.checkpoints), reports / "epochs")
    result = train(params, images, paths, lambda run_id: RunLogger(uri, run_id), tags)

    final = result.epochs[-1]
    write_json(
        reports / "train_metrics.json",
        {"mlflow_run_id": result.run_id, "epochs": len(result.epochs), **{k: v for k, v in final.items() if k != "epoch"}},
    )
    write_csv(reports / "train_history.csv", result.epochs)
    write_csv(reports / "train_steps.csv", result.steps)
    log.info("trained %d epochs (MLflow run %s, %s)", len(result.epochs), result.run_id, uri)


if __name__ == "__main__":
    main()
