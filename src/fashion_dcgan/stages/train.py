"""DVC stage `train`: train (or resume) the GAN and track it in MLflow.

Writes the sampling generator (the moving average when train.ema is on, from the epoch that
train.keep chooses), the raw generator and the discriminator (last epoch), per-epoch grids, the
training history for `dvc metrics` / `dvc plots`, and the run's provenance (git commit, data
checksums, the kept epoch) for the report.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fashion_dcgan.config import load_params
from fashion_dcgan.errors import entry_point
from fashion_dcgan.stages import parse_args

log = logging.getLogger("fashion_dcgan.stages.train")
# evaluate.*: the per-epoch collapse monitor uses the evaluation's definition of a covered class.
PARAMS = (
    "data.train_limit", "model", "train", "runtime", "evaluate.coverage_threshold", "evaluate.min_classes_covered",
)  # fmt: skip


@entry_point
def main(argv: list[str] | None = None) -> None:
    args = parse_args(
        __doc__, argv, "data", "classifier", "generator", "generator_raw", "discriminator", "checkpoints",
        "epochs", "metrics", "history", "steps", "provenance",
    )  # fmt: skip
    params = load_params(args.params, PARAMS)

    from fashion_dcgan.files import ensure_writable
    from fashion_dcgan.tracking import check_reachable, tracking_uri

    outputs = (args.generator, args.generator_raw, args.discriminator, args.metrics, args.history, args.steps)
    ensure_writable(args.checkpoints, args.epochs, *{Path(path).parent for path in outputs})
    uri = tracking_uri()
    check_reachable(uri)

    from fashion_dcgan.training.runtime import make_strategy

    make_strategy(params.runtime.strategy)  # multi-worker collectives must be set up before any other TF op

    from fashion_dcgan.data.prepare import data_checksums, load_processed
    from fashion_dcgan.evaluation.monitor import CollapseMonitor
    from fashion_dcgan.files import write_csv, write_json
    from fashion_dcgan.modelfiles import load_model
    from fashion_dcgan.tracking import RunLogger, dataset_inputs, git_commit, run_tags
    from fashion_dcgan.training.loop import TrainingPaths, run_name, train

    images, labels = load_processed(args.data, "train")
    provenance = {"git_commit": git_commit(), "data_sha256": data_checksums(args.data)}
    paths = TrainingPaths(*map(Path, (args.generator, args.generator_raw, args.discriminator, args.checkpoints,
                                      args.epochs)))  # fmt: skip
    monitor = None
    if params.runtime.monitor_samples:
        monitor = CollapseMonitor.for_params(params, load_model(args.classifier), load_processed(args.data, "test")[0])
    name = run_name(params)
    result = train(params, images, paths, lambda run_id: RunLogger(uri, run_id, run_name=name), run_tags(provenance),
                   monitor, labels=labels)  # fmt: skip
    RunLogger(uri, result.run_id, reopen=False).log_datasets(dataset_inputs(args.data, provenance))

    metric_names = list(result.gan.objective.metric_names)
    kept = {"kept_epoch": result.kept_epoch, "keep": params.train.keep}
    write_json(args.provenance, {**provenance, "mlflow_run_id": result.run_id, "metric_names": metric_names, **kept,
                                 **machine(params.runtime.precision)})  # fmt: skip
    final = {k: v for k, v in result.epochs[-1].items() if k != "epoch"}
    write_json(args.metrics, {"mlflow_run_id": result.run_id, "epochs": len(result.epochs), **kept, **final})
    write_csv(args.history, result.epochs)
    write_csv(args.steps, result.steps)
    log.info("trained %d epochs (MLflow run %s, %s)", len(result.epochs), result.run_id, uri)


def machine(setting: str) -> dict[str, str]:
    """The precision training ran in, and the machine: its class, with the GPU's or the CPU's name."""
    from fashion_dcgan.training import cpu
    from fashion_dcgan.training.runtime import gpu_names, machine_class, resolve_precision

    precision = resolve_precision(setting)
    name = ", ".join(gpu_names()) if precision == "mixed_float16" else cpu.model()
    return {"precision": precision, "machine": f"{machine_class(precision)} ({name})"}


if __name__ == "__main__":
    main()
