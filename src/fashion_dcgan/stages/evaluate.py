"""DVC stage `evaluate`: generative metrics of both generators and the discriminator linear probe.

Everything that does not depend on training (the real images' features, the real-data FID floor,
the probe's baselines) comes from the reference stage. The metrics are declared in
fashion_dcgan/evaluation/metric_registry.py.

FID, KID and the Inception Score are computed in the feature space of our own
Fashion-MNIST classifier (Inception-v3 weights cannot be downloaded here), so
they compare runs of this project, not published numbers.
"""

from __future__ import annotations

import logging

from fashion_dcgan.config import load_params
from fashion_dcgan.errors import entry_point
from fashion_dcgan.stages import parse_args

log = logging.getLogger("fashion_dcgan.stages.evaluate")
PARAMS = ("evaluate",)


@entry_point
def main(argv: list[str] | None = None) -> None:
    args = parse_args(
        __doc__, argv, "data", "reference", "samples", "samples_raw", "labels", "classifier", "discriminator",
        "train_metrics", "out", "headline",
    )  # fmt: skip
    cfg = load_params(args.params, PARAMS).evaluate

    from fashion_dcgan.tracking import RunLogger, check_reachable, recorded_run_id, tracking_uri

    check_reachable(tracking_uri())
    # The training run must still be in the store before any work: a store deleted or replaced since
    # training is one line with the fix, never a new empty store with an orphan run.
    tracker = RunLogger(tracking_uri(), recorded_run_id(args.train_metrics), reopen=False)

    from fashion_dcgan.data.prepare import load_processed
    from fashion_dcgan.evaluation.evaluate import Reference, evaluate_run, load_samples, record
    from fashion_dcgan.evaluation.metric_registry import dvc_metrics, headline
    from fashion_dcgan.files import write_json
    from fashion_dcgan.modelfiles import load_model

    samples, requested = load_samples(args.samples, args.samples_raw, args.labels)
    data = {split: load_processed(args.data, split) for split in ("train", "test")}
    metrics = evaluate_run(
        load_model(args.classifier), load_model(args.discriminator), samples, requested,
        Reference.load(args.reference), data, cfg,
    )  # fmt: skip
    write_json(args.out, metrics)
    write_json(args.headline, dvc_metrics(metrics), sort_keys=False)

    record(tracker, metrics, args.out)
    log.info(headline(metrics))


if __name__ == "__main__":
    main()
