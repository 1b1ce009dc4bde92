"""Every metric the pipeline reports, declared once: its name, how it is computed, which way is
better, what it means, and whether it has one value per class.

The evaluate stage computes from here, and eval_metrics.json, the MLflow run, the stage's log line
and the report all read their names, formats and meanings from here. Adding a metric is one entry
in :data:`METRICS` (a test checks that every entry reaches all four).

A metric is a function of one of three inputs: a set of generated images (``generator``, computed
for the sampled and the raw generator; ``conditional`` only for a class-conditional generator), the
real data alone (``reference``, computed once by the reference stage), or the trained
discriminator (``discriminator``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np

from fashion_dcgan.data.fashion_mnist import CLASS_NAMES, NUM_CLASSES, slug
from fashion_dcgan.evaluation.metrics import (
    class_consistency,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    manifold_metrics,
    mode_coverage,
)

Source = Literal["generator", "conditional", "reference", "discriminator"]


@dataclass(frozen=True)
class Metric:
    name: str
    compute: Callable[[Any], Any]
    """A function of :class:`GeneratedSet` (generator, conditional sources) or of the input its
    source names (:class:`RealSet`, :class:`ProbedDiscriminator`)."""
    better: Literal["lower", "higher"] | None
    meaning: str
    source: Source = "generator"
    per_class: bool = False
    """One value per class, in class-index order (MLflow gets one metric per class, by name)."""
    fmt: str = ".4g"
    headline: bool = False
    """Named in the run's summary and the evaluate stage's log line."""
    spread: str | None = None
    """The metric that holds this one's standard error or deviation (shown as ± beside it)."""
    real: str | None = None
    """The figure of real data to read this metric against."""
    row: bool = True
    """A row of its own in the report's table (False: a spread, a count, or a per-class list)."""

    def format(self, value: Any) -> str:
        if isinstance(value, float) and math.isnan(value):
            return "nan"
        if self.fmt == "d" and isinstance(value, float):  # a count averaged over seeds or read back from MLflow
            return format(value, ".0f") if value.is_integer() else format(value, ".1f")
        return format(value, self.fmt)

    def format_with_spread(self, value: Any, spread: Any, spread_metric: Metric | None = None) -> str:
        """``value ± spread``, the spread to the value's own decimals: ``22.26 ± 0.71``, not ``± 0.7078``."""
        text = self.format(value)
        decimals = re.fullmatch(r"-?\d+(?:\.(\d+))?", text)
        if decimals is None or isinstance(spread, str):  # nan, or a value in scientific notation
            return f"{text} ± {(spread_metric or self).format(spread)}"
        return f"{text} ± {spread:.{len(decimals.group(1) or '')}f}"


@dataclass
class GeneratedSet:
    """Classifier features and class probabilities of generated images, with the real test images'."""

    features: np.ndarray
    probabilities: np.ndarray
    real_features: np.ndarray
    cfg: Any  # EvaluateParams
    requested: np.ndarray | None = None  # the class each sample was drawn for (conditional generators)
    real_labels: np.ndarray | None = None

    @cached_property
    def kid(self) -> tuple[float, float]:
        cfg = self.cfg
        return kernel_inception_distance(
            self.features, self.real_features, cfg.kid_subsets, cfg.kid_subset_size, cfg.seed
        )

    @cached_property
    def inception(self) -> tuple[float, float]:
        return inception_score(self.probabilities, self.cfg.is_splits)

    @cached_property
    def manifold(self) -> dict[str, float]:
        cfg = self.cfg
        return manifold_metrics(self.real_features, self.features, cfg.precision_recall_k, cfg.density_coverage_k)

    @cached_property
    def coverage(self):
        return mode_coverage(self.probabilities.argmax(axis=1), self.cfg.coverage_threshold)

    @cached_property
    def consistency(self) -> tuple[float, list[float]]:
        return class_consistency(self.probabilities.argmax(axis=1), self.requested)

    @cached_property
    def fid_per_class(self) -> list[float]:
        """Each class's samples against the real images of that class (NaN where either has < 2)."""
        requested, labels = np.asarray(self.requested), np.asarray(self.real_labels)
        return [
            frechet_distance(self.features[requested == c], self.real_features[labels == c])
            if (requested == c).sum() > 1 and (labels == c).sum() > 1
            else float("nan")
            for c in range(NUM_CLASSES)
        ]


@dataclass
class RealSet:
    """What the reference stage measures once: the real test images' features and probabilities,
    other real images' features (the FID floor), and the probe's baselines."""

    features: np.ndarray
    probabilities: np.ndarray
    floor_features: np.ndarray
    probe: Callable[[Callable[[np.ndarray], np.ndarray]], float]  # probe accuracy of a feature map
    untrained_discriminator_features: Callable[[np.ndarray], np.ndarray]
    probe_train_size: int
    cfg: Any
    labels: np.ndarray | None = None  # the real test images' classes


@dataclass
class ProbedDiscriminator:
    """The trained discriminator's linear-probe accuracy, measured by the evaluate stage."""

    accuracy: float


def _raw_pixels(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, np.float32).reshape(len(images), -1)


def _real_consistency(real: RealSet) -> float:
    if real.labels is None:
        return float("nan")
    return class_consistency(real.probabilities.argmax(axis=1), real.labels)[0]


def _nan_mean(values: list[float]) -> float:
    return float(np.nanmean(values)) if not np.isnan(values).all() else float("nan")


METRICS: tuple[Metric, ...] = (
    Metric("fid", lambda s: frechet_distance(s.features, s.real_features), "lower",
           "Fréchet distance between generated and test-set features (lower is better).", fmt=".1f", headline=True,
           real="fid_real_floor"),
    Metric("kid", lambda s: s.kid[0], "lower",
           "Kernel Inception Distance (unbiased MMD², cubic kernel); ± its standard error over subsets.",
           spread="kid_stderr"),
    Metric("kid_stderr", lambda s: s.kid[1], None, "Standard error of the KID over its subsets.", row=False),
    Metric("precision", lambda s: s.manifold["precision"], "higher",
           "Improved precision: share of samples inside the real data's k-NN manifold (fidelity).", fmt=".3f",
           headline=True),
    Metric("recall", lambda s: s.manifold["recall"], "higher",
           "Improved recall: share of real images inside the samples' k-NN manifold (diversity).", fmt=".3f",
           headline=True),
    Metric("density", lambda s: s.manifold["density"], "higher",
           "Density: real k-NN balls holding each sample, over k (about 1 when samples match the data)."),
    Metric("coverage", lambda s: s.manifold["coverage"], "higher",
           "Coverage: share of real images whose k-NN ball holds at least one sample (diversity)."),
    Metric("inception_score", lambda s: s.inception[0], "higher",
           "exp E[KL(p(y|x) ‖ p(y))]: high when samples are confidently classified and varied (max 10).",
           spread="inception_score_std", real="inception_score_real"),
    Metric("inception_score_std", lambda s: s.inception[1], None,
           "Standard deviation of the Inception Score over its splits.", row=False),
    Metric("classes_covered", lambda s: s.coverage.classes_covered, "higher",
           "Classes predicted for at least the coverage threshold of the samples (10 = no missing mode).", fmt="d",
           headline=True),
    Metric("kl_to_uniform", lambda s: s.coverage.kl_to_uniform, "lower",
           "KL divergence of the predicted-class histogram to uniform (0 = balanced, 2.30 = one class)."),
    Metric("mode_collapse", lambda s: int(s.coverage.collapsed(s.cfg.min_classes_covered)), "lower",
           "1 when fewer classes than evaluate.min_classes_covered are covered: the mode-collapse alarm.", fmt="d"),
    Metric("class_histogram", lambda s: s.coverage.histogram, None,
           "Share of the samples the classifier assigns to each class.", per_class=True, fmt=".1%", row=False),
    Metric("n_generated", lambda s: len(s.features), None, "Generated images scored.", fmt="d"),
    Metric("class_consistency", lambda s: s.consistency[0], "higher",
           "Conditional: share of samples the classifier assigns to the class they were drawn for.",
           source="conditional", fmt=".1%", headline=True, real="class_consistency_real"),
    Metric("class_consistency_per_class", lambda s: s.consistency[1], "higher",
           "Conditional: class consistency of the samples drawn for each class.", source="conditional",
           per_class=True, fmt=".1%", row=False),
    Metric("fid_per_class", lambda s: s.fid_per_class, "lower",
           "Conditional: FID of each class's samples to that class's test images.", source="conditional",
           per_class=True, row=False),
    Metric("fid_per_class_mean", lambda s: _nan_mean(s.fid_per_class), "lower",
           "Conditional: mean over classes of the FID of each class's samples to its test images.",
           source="conditional"),
    Metric("class_consistency_real", _real_consistency, "higher",
           "The same share for the real test images (the classifier's test accuracy): what a generator "
           "drawing like the data would get.", source="reference", fmt=".1%", row=False),
    Metric("fid_real_floor", lambda r: frechet_distance(r.floor_features, r.features), "lower",
           "The same FID between training and test images: the best a perfect generator could expect.",
           source="reference", fmt=".2f"),
    Metric("inception_score_real", lambda r: inception_score(r.probabilities, r.cfg.is_splits)[0], "higher",
           "The Inception Score of the real test images.", source="reference", row=False),
    Metric("n_real", lambda r: len(r.features), None, "Real test images scored against.", source="reference",
           fmt="d"),
    Metric("probe_accuracy", lambda d: d.accuracy, "higher",
           "DCGAN paper's probe: linear L2-SVM on max-pooled (4x4) discriminator features, test accuracy.",
           source="discriminator"),
    Metric("probe_accuracy_random_weights", lambda r: r.probe(r.untrained_discriminator_features), "higher",
           "The same probe on the same discriminator architecture with random weights.", source="reference"),
    Metric("probe_accuracy_raw_pixels", lambda r: r.probe(_raw_pixels), "higher",
           "The same linear SVM on raw pixels.", source="reference"),
    Metric("probe_train_size", lambda r: r.probe_train_size, None, "Training images of the linear probe.",
           source="reference", fmt="d"),
)  # fmt: skip
BY_NAME = {metric.name: metric for metric in METRICS}
# Metrics of a set of generated images: evaluated for each generator, the raw one's prefixed "raw_".
GENERATED = ("generator", "conditional")


def compute(source: Source, inputs: Any) -> dict[str, Any]:
    """Every metric of ``source`` as a function of ``inputs``, by name."""
    return {metric.name: metric.compute(inputs) for metric in METRICS if metric.source == source}


def generated_set_metrics(generated: GeneratedSet) -> dict[str, Any]:
    """The generator metrics of one sample set, and the conditional ones when it has requested classes."""
    out = compute("generator", generated)
    return out | (compute("conditional", generated) if generated.requested is not None else {})


def mlflow_values(metrics: dict[str, Any]) -> dict[str, float]:
    """Every number in ``metrics`` as an MLflow metric; a per-class list becomes one metric per class,
    named by it (``fid_per_class/sneaker``), the raw generator's too."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        metric = BY_NAME.get(key.removeprefix("raw_"))
        if metric is not None and metric.per_class:
            out |= {f"{key}/{slug(name)}": float(v) for name, v in zip(CLASS_NAMES, value, strict=True)}
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(value)
    return out


# What `dvc metrics show` and `dvc exp show` lead with, in this order (the evaluate stage's reports/metrics.json);
# every metric, both generators' and the per-class lists, stays in eval_metrics.json and the MLflow run.
DVC_METRICS = ("fid", "kid", "precision", "recall", "classes_covered", "class_consistency", "probe_accuracy")


def dvc_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline metrics of an evaluation, in :data:`DVC_METRICS` order (those it has)."""
    return {name: metrics[name] for name in DVC_METRICS if name in metrics}


def headline(metrics: dict[str, Any]) -> str:
    """The headline metrics in one line: ``FID 171.3 (raw generator 180.2; real data 0.69), ...``."""
    parts = []
    for metric in METRICS:
        if not metric.headline or metric.name not in metrics:
            continue
        text = f"{metric.name.replace('_', ' ')} {metric.format(metrics[metric.name])}"
        extra = []
        if metric.real in metrics:  # a metric with a real-data figure: both generators and that figure
            raw = metrics.get(f"raw_{metric.name}")
            extra = [f"raw generator {metric.format(raw)}"] if raw is not None else []
            extra += [f"real data {BY_NAME[metric.real].format(metrics[metric.real])}"]
        parts.append(text.replace("fid", "FID") + (f" ({'; '.join(extra)})" if extra else ""))
    return ", ".join(parts)
