"""Everything the evaluate stage measures, as functions of arrays and models."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from fashion_dcgan.config import EvaluateParams
from fashion_dcgan.dataset import NUM_CLASSES
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


def evaluate_generator(
    classifier: keras.Model,
    samples: dict[str, np.ndarray],
    real: np.ndarray,
    floor: np.ndarray,
    cfg: EvaluateParams,
    requested: np.ndarray | None = None,
    real_labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """Metrics of each named sample set against ``real``, plus the real-data scales they compare with.

    The first set's metrics are top-level keys; every other set's carry its name as a prefix
    (``raw_fid``). ``floor`` (other real images) gives the FID a perfect generator could expect.
    ``requested`` (the class each sample was drawn for; conditional generators) and ``real_labels``
    add ``conditional_metrics``.
    """
    if requested is not None and real_labels is None:
        raise ValueError("class-conditional samples need the real images' labels")
    extract = FeatureExtractor(classifier)
    real_features = extract(real)
    floor_features, _ = extract(floor)
    out: dict[str, Any] = {
        "fid_real_floor": frechet_distance(floor_features, real_features[0]),
        "inception_score_real": inception_score(real_features[1], cfg.is_splits)[0],
        "n_real": len(real),
    }
    for i, (name, images) in enumerate(samples.items()):
        fake = extract(images)
        metrics = generator_metrics(fake, real_features, cfg)
        if requested is not None:
            metrics |= conditional_metrics(fake, np.asarray(requested), real_features[0], np.asarray(real_labels))
        out |= metrics if i == 0 else {f"{name}_{key}": value for key, value in metrics.items()}
    return out


def probe_discriminator(
    discriminator: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    cfg: EvaluateParams,
) -> dict[str, float]:
    """The paper's linear probe on the trained discriminator, beside raw pixels and random weights."""
    keras.utils.set_random_seed(cfg.seed)
    untrained = keras.models.clone_model(discriminator)  # same architecture, fresh initial weights

    def accuracy(features) -> float:
        return linear_probe(features(train[0]), train[1], features(test[0]), test[1], cfg.probe_c)

    return {
        "probe_accuracy": accuracy(lambda x: discriminator_features(discriminator, x)),
        "probe_accuracy_random_weights": accuracy(lambda x: discriminator_features(untrained, x)),
        "probe_accuracy_raw_pixels": accuracy(lambda x: np.asarray(x, np.float32).reshape(len(x), -1)),
        "probe_train_size": len(train[0]),
    }
