"""The pinned feature space: the classifier weights that FID, KID, IS and the k-NN metrics are measured with.

Inception-v3's weights are pinned (one file and its checksum) so that FIDs compare across papers.
Ours are pinned for the same reason: retraining even the same recipe on other hardware gives other
weights, and the seed alone moves a generator's FID by a quarter (README, "Evaluation"). A FID is
comparable to another only when both name the same ``sha256``.

``classifier.weights.npz`` holds the arrays of ``build_classifier()`` in ``get_weights()`` order, and
``classifier.weights.json`` its SHA-256, the recipe that trained it and the test accuracy it reached.
They were written by ``fashion-dcgan pin-classifier`` from the classifier stage's output with
``classifier.weights: train`` and the default recipe, on the full training set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fashion_dcgan.errors import ModelFileError
from fashion_dcgan.files import atomic_path, file_sha256, write_json

WEIGHTS = Path(__file__).with_name("classifier.weights.npz")


def card_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def read_card(weights: Path = WEIGHTS) -> dict[str, Any]:
    try:
        return json.loads(card_path(weights).read_text())
    except (OSError, ValueError) as error:
        raise ModelFileError(f"{card_path(weights)}: cannot read the pinned classifier's card ({error})") from None


def load_pinned(weights: Path = WEIGHTS) -> tuple[Any, dict[str, Any]]:
    """The pinned classifier and its card, after checking the weights file against the card's SHA-256."""
    from fashion_dcgan.evaluation.classifier import build_classifier

    card = read_card(weights)
    restore = f"restore it (git checkout -- {weights}) or set classifier.weights: train in params.yaml"
    try:
        digest = file_sha256(weights)
    except OSError as error:
        raise ModelFileError(f"{weights}: cannot read the pinned classifier weights ({error}); {restore}") from None
    if digest != card["sha256"]:
        raise ModelFileError(
            f"{weights}: SHA-256 {digest[:12]}... is not the pinned {card['sha256'][:12]}... "
            f"(a Git LFS pointer or a damaged file?); {restore}"
        )
    model = build_classifier()
    with np.load(weights, allow_pickle=False) as arrays:
        model.set_weights([arrays[f"w{i}"] for i in range(len(arrays.files))])
    return model, card


def pin(model, recipe: dict[str, int], test_accuracy: float, train_images: int, weights: Path = WEIGHTS) -> str:
    """Write ``model``'s weights and their card (each atomically); returns the SHA-256."""
    import keras
    import tensorflow as tf

    with atomic_path(weights) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
        digest = file_sha256(tmp)
    card = {
        "sha256": digest,
        "recipe": recipe,
        "train_images": train_images,
        "test_accuracy": test_accuracy,
        "made_with": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }
    write_json(card_path(weights), card)
    return digest


def pin_trained(model: str | Path, metrics: str | Path, params: str | Path, out: Path = WEIGHTS) -> str:
    """Pin the classifier the classifier stage trained here (``model``, scored in ``metrics``) as the
    feature space (maintainers: a new one invalidates every FID). It must have been trained and scored on
    the whole data, with ``params``' classifier recipe. Returns what was done, in words."""
    from fashion_dcgan.config import load_params
    from fashion_dcgan.data.fashion_mnist import SPLIT_SIZES
    from fashion_dcgan.errors import PipelineError
    from fashion_dcgan.files import read_json
    from fashion_dcgan.modelfiles import load_model

    cfg = load_params(params, ("classifier",)).classifier
    scored = read_json(metrics, "the classifier stage's metrics")
    if cfg.weights != "train" or scored.get("weights") != "train":
        raise PipelineError(f"{model}: not trained here; set classifier.weights: train and run `dvc repro classifier`")
    if scored["train_images"] != SPLIT_SIZES["train"] or scored["test_images"] != SPLIT_SIZES["test"]:
        raise PipelineError(f"{metrics}: trained or scored on a subset; unset data.train_limit and data.test_limit")
    recipe = cfg.model_dump(exclude={"weights"})
    digest = pin(load_model(model), recipe, scored["test_accuracy"], scored["train_images"], out)
    return f"pinned {model} as {out} (sha256 {digest}); its recipe {recipe} must be ClassifierParams' defaults"
