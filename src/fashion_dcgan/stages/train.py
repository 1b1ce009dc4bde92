"""DVC stage `train`: train (or resume) the DCGAN and track it in MLflow.

Writes models/generator.keras and models/discriminator.keras, per-epoch grids
in reports/epochs/, and metrics for `dvc metrics` / `dvc plots`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fashion_dcgan.config import load_params
from fashion_dcgan.errors import entry_point
from fashion_dcgan.stages import parse_args

log = logging.getLogger("fashion_dcgan.stages.train")


def collapse_monitor(params, classifier_path: str, data: str):
    from fashion_dcgan.data.prepare import load_processed
    from fashion_dcgan.evaluation.classifier import FeatureExtractor
    from fashion_dcgan.evaluation.monitor import CollapseMonitor
    from fashion_dcgan.modelfiles import load_model

    test_images, _ = load_processed(data, "test")
    cfg = params.evaluate
    return CollapseMonitor(
        FeatureExtractor(load_model(classifier_path)),
        test_images,
        params.train.monitor_samples,
        params.model.latent_dim,
        params.evaluate.seed,
        cfg.coverage_threshold,
        cfg.min_classes_covered,
    )


@entry_point
def main(argv: list[str] | None = None) -> None:
    args = parse_args(
        __doc__,
        argv,
        data="data/processed",
        models="models",
        checkpoints="models/checkpoints",
        reports="reports",
        classifier="models/classifier.keras",
    )
    params = load_params(args.params)

    from fashion_dcgan.files import ensure_writable
    from fashion_dcgan.tracking import check_reachable, git_commit, tracking_uri

    reports = Path(args.reports)
    ensure_writable(args.models, args.checkpoints, reports, reports / "epochs")
    uri = tracking_uri()
    check_reachable(uri)

    from fashion_dcgan.training import make_strategy

    make_strategy(params.train.strategy)  # multi-worker collectives must be set up before any other TF op

    from fashion_dcgan.data.prepare import data_checksums, load_processed
    from fashion_dcgan.files import write_csv, write_json
    from fashion_dcgan.tracking import RunLogger
    from fashion_dcgan.training import TrainingPaths, train

    images, _ = load_processed(args.data, "train")
    tags = {"git_commit": git_commit(), **{f"data.sha256.{k}": v for k, v in data_checksums(args.data).items()}}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_experiment"] = os.environ["DVC_EXP_NAME"]
    paths = TrainingPaths(Path(args.models), Path(args.checkpoints), reports / "epochs")
    monitor = collapse_monitor(params, args.classifier, args.data) if params.train.monitor_samples else None
    result = train(params, images, paths, lambda run_id: RunLogger(uri, run_id), tags, monitor)

    final = result.epochs[-1]
    write_json(
        reports / "train_metrics.json",
        {
            "mlflow_run_id": result.run_id,
            "epochs": len(result.epochs),
            **{k: v for k, v in final.items() if k != "epoch"},
        },
    )
    write_csv(reports / "train_history.csv", result.epochs)
    write_csv(reports / "train_steps.csv", result.steps)
    log.info("trained %d epochs (MLflow run %s, %s)", len(result.epochs), result.run_id, uri)


if __name__ == "__main__":
    main()
