"""DVC stage `evaluate`: generative metrics of both generators and the discriminator linear probe.

Everything that does not depend on training (the real images' features, the real-data FID floor,
the probe's baselines) comes from the reference stage.

FID, KID and the Inception Score are computed in the feature space of our own
Fashion-MNIST classifier (Inception-v3 weights cannot be downloaded here), so
they compare runs of this project, not published numbers.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from fashion_dcgan.config import load_params
from fashion_dcgan.errors import DataError, entry_point
from fashion_dcgan.stages import parse_args

log = logging.getLogger("fashion_dcgan.stages.evaluate")
PARAMS = ("evaluate",)


@entry_point
def main(argv: list[str] | None = None) -> None:
    args = parse_args(
        __doc__, argv, "data", "reference", "samples", "samples_raw", "labels", "classifier", "discriminator",
        "train_metrics", "out",
    )  # fmt: skip
    cfg = load_params(args.params, PARAMS).evaluate

    from fashion_dcgan.tracking import check_reachable, tracking_uri

    check_reachable(tracking_uri())

    import numpy as np

    from fashion_dcgan.data.prepare import load_processed
    from fashion_dcgan.dataset import CLASS_NAMES, slug
    from fashion_dcgan.evaluation.evaluate import Reference, evaluate_generator, probe_discriminator, probe_train_set
    from fashion_dcgan.files import write_json
    from fashion_dcgan.modelfiles import load_model
    from fashion_dcgan.serving import REGISTERED_MODEL, register
    from fashion_dcgan.tracking import RunLogger

    reference = Reference.load(args.reference)
    train_images, train_labels = load_processed(args.data, "train")
    test_images, test_labels = load_processed(args.data, "test")
    if not np.array_equal(test_labels, reference.labels):
        raise DataError(f"{args.reference}: made from other test data than {args.data}; rerun the reference stage")
    samples = {}
    for name, path in (("sampled", args.samples), ("raw", args.samples_raw)):
        try:
            samples[name] = np.load(path)
        except (OSError, ValueError) as error:
            raise DataError(f"{path}: cannot load generated samples ({error}); run the sample stage") from None

    requested = np.load(args.labels)  # empty for an unconditional generator
    if requested.size and len(requested) != len(samples["sampled"]):
        raise DataError(
            f"{args.labels}: {len(requested)} labels for {len(samples['sampled'])} samples; rerun the sample stage"
        )
    metrics = evaluate_generator(
        load_model(args.classifier), samples, reference, cfg, requested if requested.size else None
    )
    metrics["probe_accuracy"] = probe_discriminator(
        load_model(args.discriminator),
        probe_train_set(train_images, train_labels, cfg),
        (test_images, test_labels),
        cfg,
    )
    write_json(args.out, metrics)

    run_id = json.loads(Path(args.train_metrics).read_text())["mlflow_run_id"]
    tracker = RunLogger(tracking_uri(), run_id, reopen=False)
    scalar = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    for key in ("class_consistency_per_class", "fid_per_class"):
        # One MLflow metric per class, named: eval/fid_per_class/sneaker.
        scalar |= {f"{key}/{slug(name)}": value for name, value in zip(CLASS_NAMES, metrics.get(key, []), strict=False)}
    tracker.log_metrics((f"eval/{k}", v, 0) for k, v in scalar.items())
    tracker.log_artifact(args.out, "evaluation")
    version, what = tracker.with_client(lambda client: register(client, run_id, metrics["fid"]))
    tracker.set_tags({"registered_model": f"{REGISTERED_MODEL}/{version}"})
    log.info("Model Registry, %s: %s", REGISTERED_MODEL, what)
    if "class_consistency" in metrics:
        log.info(
            "class consistency %.3f, mean per-class FID %.3f",
            metrics["class_consistency"],
            metrics["fid_per_class_mean"],
        )
    log.info(
        "FID %.3f (raw generator %.3f, real floor %.3f), precision %.3f, recall %.3f, classes covered %d",
        metrics["fid"],
        metrics["raw_fid"],
        metrics["fid_real_floor"],
        metrics["precision"],
        metrics["recall"],
        metrics["classes_covered"],
    )


if __name__ == "__main__":
    main()
