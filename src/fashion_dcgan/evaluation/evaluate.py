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
from fashion_dcgan.errors import DataError
from fashion_dcgan.evaluation.classifier import FeatureExtractor
from fashion_dcgan.evaluation.metric_registry import (
    GeneratedSet,
    ProbedDiscriminator,
    RealSet,
    compute,
    generated_set_metrics,
    mlflow_values,
)
from fashion_dcgan.evaluation.probe import discriminator_features, linear_probe
from fashion_dcgan.files import atomic_dir, write_json


def generator_metrics(
    fake: tuple[np.ndarray, np.ndarray],
    real: tuple[np.ndarray, np.ndarray],
    cfg: EvaluateParams,
    requested: np.ndarray | None = None,
    real_labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """Every registered metric of generated images, from their (features, probabilities) and the real
    ones'. ``requested`` (the class each sample was drawn for) with the real images' ``real_labels``
    adds the conditional metrics: does the generator draw what it is asked for?"""
    requested = None if requested is None else np.asarray(requested)
    return generated_set_metrics(GeneratedSet(*fake, real[0], cfg, requested, real_labels))


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
    measured = RealSet(
        features,
        probabilities,
        floor_features=extract(floor)[0],
        probe=lambda feature_map: probe_accuracy(feature_map, probe_train, real, cfg),
        untrained_discriminator_features=lambda x: discriminator_features(untrained_discriminator, x),
        probe_train_size=len(probe_train[0]),
        cfg=cfg,
        labels=np.asarray(real[1]),
    )
    return Reference(features, probabilities, np.asarray(real[1]), compute("reference", measured))


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
        metrics = generator_metrics(extract(images), real_features, cfg, requested, reference.labels)
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


def discriminator_metrics(
    discriminator: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    cfg: EvaluateParams,
) -> dict[str, Any]:
    """The registered metrics of the trained discriminator: the probe on its pooled conv features."""
    accuracy = probe_accuracy(lambda x: discriminator_features(discriminator, x), train, test, cfg)
    return compute("discriminator", ProbedDiscriminator(accuracy))


def probe_train_set(images: np.ndarray, labels: np.ndarray, cfg: EvaluateParams) -> tuple[np.ndarray, np.ndarray]:
    """The probe's training images: a class-stratified ``probe_train_size`` of the training split
    (the same rows for the trained discriminator and for its baselines)."""
    rows = stratified_indices(labels, min(cfg.probe_train_size, len(labels)))
    return images[rows], labels[rows]


def load_samples(sampled: str | Path, raw: str | Path, labels: str | Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The sample stage's outputs: {"sampled": images, "raw": images} and the class each was drawn for
    (None for an unconditional generator); anything missing or inconsistent is a one-line DataError."""
    samples = {}
    for name, path in (("sampled", sampled), ("raw", raw)):
        try:
            samples[name] = np.load(path)
        except (OSError, ValueError) as error:
            raise DataError(f"{path}: cannot load generated samples ({error}); run the sample stage") from None
    requested = np.load(labels)  # empty for an unconditional generator
    if requested.size and len(requested) != len(samples["sampled"]):
        count = len(samples["sampled"])
        raise DataError(f"{labels}: {len(requested)} labels for {count} samples; rerun the sample stage")
    return samples, (requested if requested.size else None)


def evaluate_run(
    classifier: keras.Model,
    discriminator: keras.Model,
    samples: dict[str, np.ndarray],
    requested: np.ndarray | None,
    reference: Reference,
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    cfg: EvaluateParams,
) -> dict[str, Any]:
    """Everything the evaluate stage reports: both generators' metrics against the reference, and the
    trained discriminator's probe (trained on ``data["train"]``, tested on ``data["test"]``)."""
    test_images, test_labels = data["test"]
    if not np.array_equal(test_labels, reference.labels):
        raise DataError("the evaluation reference was made from other test data; rerun the reference stage")
    metrics = evaluate_generator(classifier, samples, reference, cfg, requested)
    probe_train = probe_train_set(*data["train"], cfg)
    return metrics | discriminator_metrics(discriminator, probe_train, (test_images, test_labels), cfg)


def record(tracker: Any, metrics: dict[str, Any], path: str | Path) -> None:
    """Log the metrics to the run as ``eval/...`` (per-class lists as one metric per class) and the file."""
    tracker.log_metrics((f"eval/{key}", value, 0) for key, value in mlflow_values(metrics).items())
    tracker.log_artifact(path, "evaluation")
