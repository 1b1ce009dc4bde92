"""DVC stage `classifier`: train the Fashion-MNIST classifier used as the evaluation feature space.

It plays Inception-v3's role in FID/KID/IS (whose weights cannot be
downloaded here). DVC caches it: it retrains only when data or its params change.
"""

from __future__ import annotations

import logging

from fashion_dcgan.config import load_params
from fashion_dcgan.errors import entry_point
from fashion_dcgan.stages import parse_args

log = logging.getLogger("fashion_dcgan.stages.classifier")
PARAMS = ("classifier",)


@entry_point
def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__, argv, "data", "model", "metrics")
    cfg = load_params(args.params, PARAMS).classifier

    from fashion_dcgan.data.prepare import load_processed
    from fashion_dcgan.dataset import SPLIT_SIZES
    from fashion_dcgan.evaluation.classifier import FeatureExtractor, train_classifier
    from fashion_dcgan.files import write_json
    from fashion_dcgan.modelfiles import save_model

    train_images, train_labels = load_processed(args.data, "train")
    test_images, test_labels = load_processed(args.data, "test")
    model = train_classifier(train_images, train_labels, cfg.epochs, cfg.batch_size, cfg.seed)
    _, probabilities = FeatureExtractor(model)(test_images)
    accuracy = float((probabilities.argmax(axis=1) == test_labels).mean())
    save_model(model, args.model)
    write_json(
        args.metrics, {"test_accuracy": accuracy, "train_images": len(train_images), "test_images": len(test_images)}
    )
    log.info("classifier test accuracy %.4f on %d images", accuracy, len(test_images))
    if accuracy < 0.91 and len(train_images) == SPLIT_SIZES["train"]:
        log.warning("test accuracy %.4f is below the 0.91 the feature space is meant to have", accuracy)


if __name__ == "__main__":
    main()
