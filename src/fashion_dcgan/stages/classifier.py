"""DVC stage `classifier`: the Fashion-MNIST classifier whose features are the evaluation's feature space.

It plays Inception-v3's role in FID/KID/IS (whose weights cannot be downloaded here). By default
(``classifier.weights: pinned``) it is the checked-in, checksummed weights, as Inception's are
pinned, so FIDs compare across machines; ``classifier.weights: train`` trains it here with the
recipe in params.yaml. Either way the stage scores it on the test set and writes a ``.keras`` file.
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

    from fashion_dcgan.data.fashion_mnist import SPLIT_SIZES
    from fashion_dcgan.data.prepare import load_processed
    from fashion_dcgan.evaluation.classifier import FeatureExtractor, train_classifier
    from fashion_dcgan.evaluation.pinned import load_pinned
    from fashion_dcgan.files import write_json
    from fashion_dcgan.modelfiles import save_model

    test_images, test_labels = load_processed(args.data, "test")
    if cfg.weights == "pinned":
        model, card = load_pinned()
        about = {"weights": "pinned", "sha256": card["sha256"], "train_images": card["train_images"]}
    else:
        train_images, train_labels = load_processed(args.data, "train")
        model = train_classifier(train_images, train_labels, cfg.epochs, cfg.batch_size, cfg.seed)
        about = {"weights": "train", "train_images": len(train_images)}
    _, probabilities = FeatureExtractor(model)(test_images)
    accuracy = float((probabilities.argmax(axis=1) == test_labels).mean())
    save_model(model, args.model)
    write_json(args.metrics, {"test_accuracy": accuracy, "test_images": len(test_images), **about})
    log.info("classifier (%s weights) test accuracy %.4f on %d images", cfg.weights, accuracy, len(test_images))
    if accuracy < 0.91 and about["train_images"] == SPLIT_SIZES["train"] and len(test_images) == SPLIT_SIZES["test"]:
        log.warning("test accuracy %.4f is below the 0.91 the feature space is meant to have", accuracy)


if __name__ == "__main__":
    main()
