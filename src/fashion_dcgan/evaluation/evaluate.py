"""Everything the evaluate stage measures, as functions of arrays and models."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from fashion_dcgan.config import EvaluateParams
from fashion_dcgan.data.prepare import stratified_indices
from fashion_dcgan.dataset import NUM_CLASSES
from fashion_dcgan.errors import DataError
from fashion_dcgan.evaluation.classifier import FeatureExtractor
from fashion_dcgan.evaluation.metrics import (
    class_consistency,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    manifold_metrics,
    mode_coverage,
)
from fashion_dcgan.evaluation.probe import discriminator_features, linear_probe
from fashion_dcgan.files import atomic_dir, write_json


def generator_metrics(
    fake: tuple[np.ndarray, np.ndarray], real: tuple[np.ndarray, np.ndarray], cfg: EvaluateParams
) -> dict[str, Any]:
    """FID, KID, IS, precision/recall, density/coverage and mode coverage from (features, probabilities)."""
    (fake_features, fake_probabilities), (real_features, _) = fake, real
    kid, kid_se = kernel_inception_distance(
        fake_features, real_features, cfg.kid_subsets, cfg.kid_subset_size, cfg.seed
    )
    score, score_std = inception_score(fake_probabilities, cfg.is_splits)
    coverage = mode_coverage(fake_probabilities.argmax(axis=1), cfg.coverage_threshold)
    return {
        "fid": frechet_distance(fake_features, real_features),
        "kid": kid,
        "kid_stderr": kid_se,
        "inception_score": score,
        "inception_score_std": score_std,
        **manifold_metrics(real_features, fake_features, cfg.precision_recall_k, cfg.density_coverage_k),
        "classes_covered": coverage.classes_covered,
        "kl_to_uniform": coverage.kl_to_uniform,
        "mode_collapse": int(coverage.collapsed(cfg.min_classes_covered)),
        "class_histogram": coverage.histogram,
        "n_generated": len(fake_features),
    }


def conditional_metrics(
    fake: tuple[np.ndarray, np.ndarray],
    requested: np.ndarray,
    real_features: np.ndarray,
    real_labels: np.ndarray,
) -> dict[str, Any]:
    """Does a conditional generator draw what it is asked for? Class consistency (the share of
    samples the classifier assigns to the requested class), overall and per class, and per-class FID
    (each class's samples against the real images of that class); per-class lists by class index."""
    features, probabilities = fake
    overall, per_class = class_consistency(probabilities.argmax(axis=1), requested)
    fid_per_class = [
        frechet_distance(features[requested == c], real_features[real_labels == c])
        if (requested == c).sum() > 1 and (real_labels == c).sum() > 1
        else float("nan")
        for c in range(NUM_CLASSES)
    ]
    return {
        "class_consistency": overall,
        "class_consistency_per_class": per_class,
        "fid_per_class": fid_per_class,
        "fid_per_class_mean": float(np.nanmean(fid_per_class)) if not np.isnan(fid_per_class).all() else float("nan"),
    }


@dataclass(frozen=True)
class Reference:
    """What every generator is compared with, computed once per data, classifier and params (the
    reference stage): the classifier's features and probabilities of the real test images with their
    labels, and the figures that do not depend on training (the FID between real image sets, the real
    images' IS, the probe's raw-pixel and random-weight baselines)."""

    features: np.ndarray
    probabilities: np.ndarray
    labels: np.ndarray
    metrics: dict[str, Any]

    def save(self, directory: str | Path) -> None:
        with atomic_dir(directory) as tmp:
            np.savez(tmp / "features.npz", features=self.features, probabilities=self.probabilities, labels=self.labels)
            write_json(tmp / "metrics.json", self.metrics)

    @classmethod
    def load(cls, directory: str | Path) -> Reference:
        directory = Path(directory)
        try:
            with np.load(directory / "features.npz") as arrays:
                features, probabilities, labels = arrays["features"], arrays["probabilities"], arrays["labels"]
            metrics = json.loads((directory / "metrics.json").read_text())
        except (OSError, ValueError, KeyError) as error:
            raise DataError(
                f"{directory}: cannot load the evaluation reference ({error}); run the reference stage"
            ) from None
        return cls(features, probabilities, labels, metrics)


def real_reference(
    classifier: keras.Model,
    real: tuple[np.ndarray, np.ndarray],
    floor: np.ndarray,
    probe_train: tuple[np.ndarray, np.ndarray],
    untrained_discriminator: keras.Model,
    cfg: EvaluateParams,
) -> Reference:
    """The reference for ``real`` (images, labels): ``floor`` (other real images) gives the FID a
    perfect generator could expect; ``probe_train`` trains the probe's baselines, tested on ``real``."""
    extract = FeatureExtractor(classifier)
    features, probabilities = extract(real[0])
    floor_features, _ = extract(floor)
    metrics = {
        "fid_real_floor": frechet_distance(floor_features, features),
        "inception_score_real": inception_score(probabilities, cfg.is_splits)[0],
        "n_real": len(real[0]),
        "probe_accuracy_random_weights": probe_discriminator(untrained_discriminator, probe_train, real, cfg),
        "probe_accuracy_raw_pixels": probe_accuracy(
            lambda x: np.asarray(x, np.float32).reshape(len(x), -1), probe_train, real, cfg
        ),
        "probe_train_size": len(probe_train[0]),
    }
    return Reference(features, probabilities, np.asarray(real[1]), metrics)


def evaluate_generator(
    classifier: keras.Model,
    samples: dict[str, np.ndarray],
    reference: Reference,
    cfg: EvaluateParams,
    requested: np.ndarray | None = None,
) -> dict[str, Any]:
    """Metrics of each named sample set against the reference's real images, with its figures.

    The first set's metrics are top-level keys; every other set's carry its name as a prefix
    (``raw_fid``). ``requested`` (the class each sample was drawn for; conditional generators) adds
    ``conditional_metrics``.
    """
    extract = FeatureExtractor(classifier)
    real_features = (reference.features, reference.probabilities)
    out: dict[str, Any] = dict(reference.metrics)
    for i, (name, images) in enumerate(samples.items()):
        fake = extract(images)
        metrics = generator_metrics(fake, real_features, cfg)
        if requested is not None:
            metrics |= conditional_metrics(fake, np.asarray(requested), reference.features, reference.labels)
        out |= metrics if i == 0 else {f"{name}_{key}": value for key, value in metrics.items()}
    return out


def probe_accuracy(
    features: Callable[[np.ndarray], np.ndarray],
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    cfg: EvaluateParams,
) -> float:
    """The paper's linear probe: an L2-SVM on ``features`` of ``train``, its accuracy on ``test``."""
    return linear_probe(features(train[0]), train[1], features(test[0]), test[1], cfg.probe_c)


def probe_discriminator(
    discriminator: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    cfg: EvaluateParams,
) -> float:
    """The probe on a discriminator's pooled conv features (the trained one, or its random-weight twin)."""
    return probe_accuracy(lambda x: discriminator_features(discriminator, x), train, test, cfg)


def probe_train_set(images: np.ndarray, labels: np.ndarray, cfg: EvaluateParams) -> tuple[np.ndarray, np.ndarray]:
    """The probe's training images: a class-stratified ``probe_train_size`` of the training split
    (the same rows for the trained discriminator and for its baselines)."""
    rows = stratified_indices(labels, min(cfg.probe_train_size, len(labels)))
    return images[rows], labels[rows]
