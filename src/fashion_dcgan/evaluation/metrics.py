"""Generative metrics on feature vectors and class probabilities (pure NumPy/SciPy).

Inception-v3 weights cannot be downloaded here, so the features come from our
own Fashion-MNIST classifier's penultimate layer: the numbers are comparable
between runs of this project, not with published FID/KID/IS values.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from fashion_dcgan.data.fashion_mnist import NUM_CLASSES


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID: ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two feature sets."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():
        # A singular product is handled below; SciPy's warning would only alarm the user.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():
        # Near-singular product: regularise both covariances slightly.
        eps = np.eye(len(cov_a)) * 1e-6
        covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    covmean = np.real(covmean)
    value = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean)
    return float(max(value, 0.0))


def _polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3."""
    d = x.shape[1]
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    m, n = len(x), len(y)
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def kernel_inception_distance(
    features_a: np.ndarray, features_b: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID (mean of unbiased MMD^2 over random subsets) and its standard error."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    size = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            _polynomial_mmd2(a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)])
            for _ in range(subsets)
        ]
    )
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(subsets)) if subsets > 1 else 0.0


def inception_score(probabilities: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))), mean and standard deviation over ``splits`` chunks."""
    p = np.clip(np.asarray(probabilities, np.float64), 1e-12, 1.0)
    scores = []
    for chunk in np.array_split(p, splits):
        marginal = chunk.mean(axis=0, keepdims=True)
        scores.append(np.exp(np.mean(np.sum(chunk * (np.log(chunk) - np.log(marginal)), axis=1))))
    return float(np.mean(scores)), float(np.std(scores))


@dataclass(frozen=True)
class ModeCoverage:
    histogram: list[float]  # share of samples predicted as each class
    classes_covered: int  # classes with at least `threshold` of the samples
    kl_to_uniform: float  # 0 when every class is equally frequent; log(10) = 2.30 for a single class

    def collapsed(self, min_classes: int) -> bool:
        return self.classes_covered < min_classes


def mode_coverage(predicted: np.ndarray, threshold: float = 0.05) -> ModeCoverage:
    counts = np.bincount(np.asarray(predicted, np.int64), minlength=NUM_CLASSES)[:NUM_CLASSES]
    share = counts / max(counts.sum(), 1)
    nonzero = share[share > 0]
    kl = float(np.sum(nonzero * np.log(nonzero * NUM_CLASSES)))
    return ModeCoverage([float(s) for s in share], int((share >= threshold).sum()), kl)


def class_consistency(predicted: np.ndarray, requested: np.ndarray) -> tuple[float, list[float]]:
    """Share of samples whose predicted class is the requested one: overall, and per requested class
    (NaN for a class never requested)."""
    predicted, requested = np.asarray(predicted), np.asarray(requested)
    hits = predicted == requested
    per_class = [
        float(hits[requested == c].mean()) if (requested == c).any() else float("nan") for c in range(NUM_CLASSES)
    ]
    return float(hits.mean()) if len(hits) else float("nan"), per_class


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)


# Rows of a distance block per chunk, so that a block (float64, with the copies that partitioning and
# comparisons make) stays within about 256 MiB however many points there are: at 1,024 rows fixed, one
# chunk of 1,000,000 samples needed about 17 GB.
CHUNK_BYTES = 256 * 2**20


def chunk_rows(columns: int, at_most: int = 1024) -> int:
    return max(1, min(at_most, CHUNK_BYTES // (3 * 8 * max(columns, 1))))


def _kth_neighbour_radii(points: np.ndarray, ks: tuple[int, ...]) -> list[np.ndarray]:
    """For each k, the squared distance from each point to its k-th nearest neighbour among the others."""
    chunk = chunk_rows(len(points))
    radii = [np.empty(len(points)) for _ in ks]
    for start in range(0, len(points), chunk):
        # Position 0 of each sorted row is the point itself (distance 0).
        block = np.partition(_squared_distances(points[start : start + chunk], points), ks, axis=1)
        for out, k in zip(radii, ks, strict=True):
            out[start : start + chunk] = block[:, k]
    return radii


def manifold_metrics(real: np.ndarray, fake: np.ndarray, k_precision_recall: int = 3, k_density_coverage: int = 5):
    """Fidelity and diversity, separately, from k-nearest-neighbour balls in feature space.

    Improved precision and recall (Kynkäänniemi et al., 2019): the share of fakes inside the real
    manifold (the union of each real point's k-NN ball) and of reals inside the fake one. Density
    and coverage (Naeem et al., 2020): the mean number of real k-NN balls holding a fake, over k
    (about 1 for a perfect generator, robust to real outliers), and the share of real balls that hold
    at least one fake.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    k_pr = min(k_precision_recall, len(real) - 1, len(fake) - 1)
    k_dc = min(k_density_coverage, len(real) - 1)
    real_pr, real_dc = _kth_neighbour_radii(real, (k_pr, k_dc))
    (fake_pr,) = _kth_neighbour_radii(fake, (k_pr,))
    fake_in_real_manifold = np.zeros(len(fake), bool)
    real_in_fake_manifold = np.zeros(len(real), bool)
    fakes_per_real_ball = np.zeros(len(real), np.int64)
    chunk = chunk_rows(len(real))
    for start in range(0, len(fake), chunk):
        distances = _squared_distances(fake[start : start + chunk], real)  # (fakes in chunk, reals)
        fake_in_real_manifold[start : start + chunk] = (distances <= real_pr[None, :]).any(axis=1)
        real_in_fake_manifold |= (distances <= fake_pr[start : start + chunk, None]).any(axis=0)
        fakes_per_real_ball += (distances <= real_dc[None, :]).sum(axis=0)
    return {
        "precision": float(fake_in_real_manifold.mean()),
        "recall": float(real_in_fake_manifold.mean()),
        "density": float(fakes_per_real_ball.sum() / (k_dc * len(fake))),
        "coverage": float((fakes_per_real_ball > 0).mean()),
    }
