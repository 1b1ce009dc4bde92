"""DVC stage `register`: the trained generator as an MLflow pyfunc model, a version in the Model Registry.

Logs the sampling generator into its training run (once per run) as a model that anyone can call,
registers it with its FID, and points the alias ``champion`` at the version with the lowest FID.
Training and evaluation know nothing of serving: a change to the serving code reruns only this stage.
"""

from __future__ import annotations

import logging

from fashion_dcgan.errors import DataError, entry_point
from fashion_dcgan.stages import parse_args

log = logging.getLogger("fashion_dcgan.stages.register")
PARAMS = ()


@entry_point
def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__, argv, "generator", "train_metrics", "eval_metrics", "out")

    from fashion_dcgan.files import read_json, write_json
    from fashion_dcgan.tracking import REGISTERED_MODEL, check_reachable, recorded_run_id, tracking_uri

    uri = tracking_uri()
    check_reachable(uri)
    run_id = recorded_run_id(args.train_metrics)
    metrics = read_json(args.eval_metrics, "the evaluate stage's metrics")
    if not isinstance(metrics, dict) or not isinstance(metrics.get("fid"), int | float):
        raise DataError(f"{args.eval_metrics}: has no FID; rerun the evaluate stage (dvc repro -f -s evaluate)")
    fid = float(metrics["fid"])

    from fashion_dcgan.modelfiles import load_generator
    from fashion_dcgan.serving.model_registry import register_generator
    from fashion_dcgan.tracking import RunLogger

    tracker = RunLogger(uri, run_id, reopen=False)
    version, champion, what = register_generator(tracker, lambda: load_generator(args.generator), fid)
    write_json(args.out, {"registered_model": REGISTERED_MODEL, "version": version, "champion": champion,
                          "fid": fid, "mlflow_run_id": run_id})  # fmt: skip
    log.info("Model Registry, %s: %s", REGISTERED_MODEL, what)


if __name__ == "__main__":
    main()
