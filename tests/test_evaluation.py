"""Generative metrics, the mode-collapse alarm and the discriminator probe."""

from __future__ import annotations

import numpy as np
import pytest

from fashion_dcgan.evaluation.metrics import (
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    mode_coverage,
)
from fashion_dcgan.evaluation.probe import adaptive_max_pool, linear_probe

RNG = np.random.default_rng(0)


def features(n=2000, d=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d))


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_noise():
    a = features()
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    noisy = [
        frechet_distance(a, a + np.random.default_rng(1).normal(scale=s, size=a.shape)) for s in (0.1, 0.5, 1.0, 2.0)
    ]
    assert noisy[0] > 0 and all(np.diff(noisy) > 0)


def test_fid_matches_the_closed_form_for_shifted_gaussians():
    a = np.random.default_rng(2).normal(size=(20000, 4))
    assert frechet_distance(a, a + 3.0) == pytest.approx(4 * 9.0, rel=1e-6)


def test_kid_is_unbiased_around_zero_for_two_halves_of_one_set():
    values = []
    for seed in range(8):
        a = features(1000, 8, seed)
        values.append(kernel_inception_distance(a[:500], a[500:], subsets=20, subset_size=200, seed=seed)[0])
    values = np.array(values)
    # Unbiased: some halves come out negative, and the mean is within its own standard error of zero.
    assert (values < 0).any() and (values > 0).any()
    assert abs(values.mean()) < 3 * values.std(ddof=1) / np.sqrt(len(values))
    shifted, stderr = kernel_inception_distance(features(1000, 8, 0), features(1000, 8, 0) + 1.0, 20, 200)
    assert shifted > 10 * stderr > 0


def test_inception_score_bounds():
    uniform = np.full((100, 10), 0.1)
    assert inception_score(uniform, splits=2)[0] == pytest.approx(1.0)
    confident = np.eye(10)[np.arange(1000) % 10]
    assert inception_score(confident, splits=10)[0] == pytest.approx(10.0, rel=1e-6)
    one_class = np.eye(10)[np.zeros(1000, int)]
    assert inception_score(one_class, splits=10)[0] == pytest.approx(1.0, rel=1e-6)


def test_coverage_flags_a_collapsed_generator():
    collapsed = mode_coverage(np.full(1000, 3))
    assert collapsed.classes_covered == 1 and collapsed.collapsed(min_classes=8)
    assert collapsed.kl_to_uniform == pytest.approx(np.log(10))
    healthy = mode_coverage(np.arange(1000) % 10)
    assert healthy.classes_covered == 10 and not healthy.collapsed(8) and healthy.kl_to_uniform == pytest.approx(0)
    assert sum(healthy.histogram) == pytest.approx(1.0)


def test_adaptive_max_pool_covers_every_cell():
    maps = np.arange(7 * 7, dtype=np.float32).reshape(1, 7, 7, 1)
    pooled = adaptive_max_pool(maps)
    assert pooled.shape == (1, 4, 4, 1)
    assert pooled[0, -1, -1, 0] == 48 and pooled[0, 0, 0, 0] == maps[0, :2, :2].max()
    assert adaptive_max_pool(np.zeros((3, 14, 14, 5))).shape == (3, 4, 4, 5)


def test_linear_probe_beats_chance_on_a_tiny_set():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(10, 32)) * 3
    labels = np.arange(300) % 10
    data = centers[labels] + rng.normal(size=(300, 32))
    accuracy = linear_probe(data[:200], labels[:200], data[200:], labels[200:], c=0.1)
    assert accuracy > 0.5  # chance is 0.1


def test_precision_recall_density_coverage_separate_fidelity_from_diversity():
    from fashion_dcgan.evaluation.metrics import manifold_metrics

    rng = np.random.default_rng(0)
    real = rng.normal(size=(600, 8))
    same = manifold_metrics(real, real)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0 and same["density"] >= 1.0
    # Sharp but collapsed: every sample is (nearly) one of 5 real images.
    collapsed = manifold_metrics(real, real[rng.integers(0, 5, 600)] + 1e-6)
    # Coverage counts the real balls holding a copy: the 5 images and a few neighbours each, out of 600.
    assert collapsed["precision"] == 1.0 and collapsed["recall"] < 0.05 and collapsed["coverage"] < 0.15
    # Diverse but off the data: the same spread, shifted far away.
    shifted = manifold_metrics(real, rng.normal(size=(600, 8)) + 10.0)
    assert shifted == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    # A fresh draw from the same distribution scores high on all four.
    fresh = manifold_metrics(real, rng.normal(size=(600, 8)))
    assert min(fresh["precision"], fresh["recall"], fresh["coverage"]) > 0.6 and 0.7 < fresh["density"] < 1.3


def test_precision_counts_a_sample_inside_any_real_ball():
    from fashion_dcgan.evaluation.metrics import manifold_metrics

    real = np.array([[0.0], [1.0], [10.0], [11.0]])  # each point's nearest neighbour is 1 away
    fake = np.array([[0.5], [5.0], [10.9], [30.0]])
    metrics = manifold_metrics(real, fake, k_precision_recall=1, k_density_coverage=1)
    assert metrics["precision"] == 0.5  # 0.5 and 10.9 lie within 1 of a real point; 5 and 30 do not
    assert metrics["coverage"] == 1.0  # every real ball holds one of them
    assert metrics["density"] == 4 / 4  # 0.5 is in two balls, 10.9 in two: 4 memberships over k * 4 samples


def test_class_consistency_overall_and_per_requested_class():
    from fashion_dcgan.evaluation.metrics import class_consistency

    requested = np.array([0, 0, 1, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 0, 2])
    overall, per_class = class_consistency(predicted, requested)
    assert overall == pytest.approx(4 / 6)
    assert per_class[:3] == pytest.approx([0.5, 2 / 3, 1.0]) and all(np.isnan(per_class[3:]))


def test_per_class_fid_compares_each_class_with_its_own_real_images():
    from fashion_dcgan.config import EvaluateParams
    from fashion_dcgan.evaluation.metric_registry import GeneratedSet, compute

    rng = np.random.default_rng(0)
    real_labels = np.repeat(np.arange(10), 300)
    real = rng.normal(size=(3000, 4)) + real_labels[:, None] * 5.0  # each class its own cluster
    requested = np.repeat(np.arange(10), 300)
    fake = real + rng.normal(scale=0.01, size=real.shape)
    fake[requested == 3] += 2.0  # class 3 drawn off by 2 in each of 4 dimensions: FID about 4 * 4
    probabilities = np.eye(10)[requested]
    metrics = compute("conditional", GeneratedSet(fake, probabilities, real, EvaluateParams(), requested, real_labels))
    fids = metrics["fid_per_class"]
    assert fids[3] == pytest.approx(16.0, rel=0.05) and max(fids[:3] + fids[4:]) < 0.1
    assert metrics["class_consistency"] == 1.0 and metrics["fid_per_class_mean"] == pytest.approx(np.mean(fids))


def _probe_data():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 1500)
    x = np.maximum(rng.normal(size=(10, 200))[labels] * 0.4 + rng.normal(size=(1500, 200)), 0)
    return x, labels


@pytest.mark.parametrize("c", [0.01, 1.0])
def test_probe_solver_finds_liblinears_optimum(c):
    """fit_linear_svm minimises LinearSVC's problem (squared hinge, L2, penalised intercept): driven
    to a tight tolerance, both land on the same weights (the problem has one minimiser)."""
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    from fashion_dcgan.evaluation.probe import fit_linear_svm

    x, labels = _probe_data()
    x = StandardScaler().fit_transform(x[:1000])
    svm = LinearSVC(C=c, tol=1e-10, max_iter=100_000, dual=False).fit(x, labels[:1000])
    weights, biases, classes = fit_linear_svm(x, labels[:1000], c, tol=1e-6)
    assert list(classes) == list(range(10))
    scale = np.abs(svm.coef_).max()
    assert np.abs(weights - svm.coef_.T).max() <= 1e-3 * scale
    assert np.abs(biases - svm.intercept_).max() <= 1e-3 * scale


def test_probe_at_its_tolerance_predicts_what_the_exact_optimum_predicts():
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    x, labels = _probe_data()
    train, test = slice(0, 1000), slice(1000, None)
    scaler = StandardScaler().fit(x[train])
    exact = LinearSVC(C=0.01, tol=1e-10, max_iter=100_000, dual=False).fit(scaler.transform(x[train]), labels[train])
    expected = float((exact.predict(scaler.transform(x[test])) == labels[test]).mean())
    # PROBE_TOL stops early; within one test image of the exact optimum here (0.2% of 500).
    assert abs(linear_probe(x[train], labels[train], x[test], labels[test], c=0.01) - expected) <= 1 / 500


def test_probe_solver_says_when_it_stops_short_of_its_tolerance(caplog):
    from fashion_dcgan.evaluation.probe import fit_linear_svm

    x, labels = _probe_data()
    with caplog.at_level("WARNING"):
        fit_linear_svm(x[:300], labels[:300], 1.0, tol=1e-12, max_iter=1)
    assert "1 Newton steps without reaching tolerance" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        fit_linear_svm(x[:300], labels[:300], 1.0)
    assert "Newton" not in caplog.text


def test_nearest_neighbour_blocks_stay_within_their_memory_budget_and_do_not_change_results(monkeypatch):
    from fashion_dcgan.evaluation import metrics

    # 1,000,000 samples: a fixed 1,024-row block needed about 17 GB; the budget keeps it at 256 MiB.
    rows = metrics.chunk_rows(1_000_000)
    assert rows >= 1 and 3 * 8 * rows * 1_000_000 <= metrics.CHUNK_BYTES
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(700, 8)), rng.normal(size=(500, 8)) + 0.3
    whole = metrics.manifold_metrics(real, fake)
    monkeypatch.setattr(metrics, "CHUNK_BYTES", 3 * 8 * 700 * 7)  # blocks of 7 rows
    assert metrics.chunk_rows(700) == 7
    assert metrics.manifold_metrics(real, fake) == whole


def test_sample_sizes_are_bounded_with_their_reason():
    from fashion_dcgan.config import parse_params
    from fashion_dcgan.errors import ParamsError

    for key, value in (("n_samples", 1_000_000), ("batch_size", 65_536)):
        reason = rf"sample\.{key}: Input should be less than or equal to \d+ \(got \d+\): [a-z]"  # and why
        with pytest.raises(ParamsError, match=reason):
            parse_params({"sample": {key: value}})
    with pytest.raises(ParamsError, match=r"evaluate\.kid_subset_size: .*three kernel matrices"):
        parse_params({"evaluate": {"kid_subset_size": 10_001}})
