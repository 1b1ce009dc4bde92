"""A cheap per-epoch mode-collapse check: coverage and FID on a small fixed sample (and, for a
class-conditional generator asked for every class in turn, the share it draws as asked)."""

from __future__ import annotations

import keras
import numpy as np

from fashion_dcgan.evaluation.classifier import FeatureExtractor
from fashion_dcgan.evaluation.metrics import class_consistency, frechet_distance, mode_coverage
from fashion_dcgan.gan.networks import is_conditional
from fashion_dcgan.gan.sampling import cycled_labels, generate, latents


class CollapseMonitor:
    def __init__(
        self,
        extractor: FeatureExtractor,
        real_images: np.ndarray,
        samples: int,
        latent_dim: int,
        seed: int,
        threshold: float,
        min_classes: int,
    ):
        self.extractor = extractor
        self.real_features, _ = extractor(real_images)
        # The same latents every epoch, so the curve shows the generator changing, not the draw.
        self.latents = latents(seed, samples, latent_dim)
        self.threshold = threshold
        self.min_classes = min_classes

    @classmethod
    def for_params(cls, params, classifier: keras.Model, real_images: np.ndarray) -> CollapseMonitor:
        """The monitor the train stage runs: ``runtime.monitor_samples`` samples from the run's fixed
        seed, classes covered as the evaluation counts them (``evaluate.coverage_threshold``)."""
        cfg = params.evaluate
        return cls(
            FeatureExtractor(classifier),
            real_images,
            params.runtime.monitor_samples,
            params.model.latent_dim,
            params.train.seed,
            cfg.coverage_threshold,
            cfg.min_classes_covered,
        )

    def __call__(self, generator) -> tuple[dict[str, float], str | None]:
        """Metrics for this epoch, and a warning when coverage is below the minimum."""
        features, probabilities = self.extractor(generate(generator, self.latents))
        predicted = probabilities.argmax(axis=1)
        coverage = mode_coverage(predicted, self.threshold)
        metrics = {
            "monitor_fid": frechet_distance(features, self.real_features),
            "monitor_classes_covered": float(coverage.classes_covered),
            "monitor_kl_to_uniform": coverage.kl_to_uniform,
        }
        if is_conditional(generator):  # generate() asked for cycled_labels
            metrics["monitor_class_consistency"] = class_consistency(predicted, cycled_labels(len(predicted)))[0]
        warning = None
        if coverage.collapsed(self.min_classes):
            warning = (
                f"possible mode collapse: only {coverage.classes_covered} of 10 classes have at least "
                f"{self.threshold:.0%} of the samples (minimum {self.min_classes})"
            )
        return metrics, warning
