"""DVC stage `reference`: what evaluate compares every generator with, computed once.

The classifier's features of the real test images, the FID between two real image sets (the best a
generator could expect), the real images' Inception Score, and the linear probe's two baselines (raw
pixels; the discriminator's architecture with random weights). None of it depends on training, so
DVC reruns this stage only when the data, the classifier or these params change, and the evaluate
stage after each training run extracts features only of the generated images and probes only the
trained discriminator.
"""

from __future__ import annotations

import logging

from fashion_dcgan.config import load_params
from fashion_dcgan.errors import entry_point
from fashion_dcgan.stages import parse_args

log = logging.getLogger("fashion_dcgan.stages.reference")
PARAMS = (
    "evaluate.seed", "evaluate.is_splits", "evaluate.probe_train_size", "evaluate.probe_c",
    "model.variant", "model.discriminator_width", "model.conditional",
)  # fmt: skip


@entry_point
def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__, argv, "data", "classifier", "out")
    params = load_params(args.params, PARAMS)
    cfg, model = params.evaluate, params.model

    import keras

    from fashion_dcgan.data.fashion_mnist import IMAGE_SHAPE, NUM_CLASSES
    from fashion_dcgan.data.prepare import load_processed, stratified_indices
    from fashion_dcgan.evaluation.evaluate import probe_train_set, real_reference
    from fashion_dcgan.gan.networks import build_discriminator
    from fashion_dcgan.modelfiles import load_model

    train_images, train_labels = load_processed(args.data, "train")
    test_images, test_labels = load_processed(args.data, "test")
    floor = train_images[stratified_indices(train_labels, min(len(test_images), len(train_images)))]
    keras.utils.set_random_seed(cfg.seed)
    untrained = build_discriminator(
        model.variant, model.discriminator_width, IMAGE_SHAPE, NUM_CLASSES if model.conditional else None
    )
    reference = real_reference(
        load_model(args.classifier), (test_images, test_labels), floor,
        probe_train_set(train_images, train_labels, cfg), untrained, cfg,
    )  # fmt: skip
    reference.save(args.out)
    figures = reference.metrics
    log.info(
        "real-data FID floor %.3f, real IS %.3f; probe baselines: raw pixels %.4f, random weights %.4f",
        figures["fid_real_floor"],
        figures["inception_score_real"],
        figures["probe_accuracy_raw_pixels"],
        figures["probe_accuracy_random_weights"],
    )


if __name__ == "__main__":
    main()
