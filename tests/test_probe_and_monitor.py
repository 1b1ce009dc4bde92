"""The probe on a real Keras discriminator, and the per-epoch collapse monitor."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fashion_dcgan.data.fashion_mnist import IMAGE_SHAPE
from fashion_dcgan.evaluation.classifier import FeatureExtractor, build_classifier
from fashion_dcgan.evaluation.monitor import CollapseMonitor
from fashion_dcgan.evaluation.probe import discriminator_features, linear_probe
from fashion_dcgan.gan.networks import build_discriminator


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Ten classes, each a bright square at its own position."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.normal(-0.8, 0.1, (n, 28, 28, 1)).astype(np.float32)
    for i, label in enumerate(labels):
        r, c = divmod(int(label), 5)
        images[i, 4 + 10 * r : 12 + 10 * r, 2 + 5 * c : 6 + 5 * c] = 0.9
    return images, labels


def test_probe_on_discriminator_features_beats_chance():
    keras.utils.set_random_seed(0)
    discriminator = build_discriminator("tutorial", 8, IMAGE_SHAPE)
    train, test = blobs(200, 0), blobs(100, 1)
    features = discriminator_features(discriminator, train[0])
    assert features.shape == (200, 4 * 4 * 8 + 4 * 4 * 16)
    accuracy = linear_probe(features, train[1], discriminator_features(discriminator, test[0]), test[1], c=0.1)
    assert accuracy > 0.3  # chance is 0.1


class _OneClassGenerator:
    """A planted collapsed generator: every sample is the same class-0 image."""

    def __init__(self, image):
        self.image = image

    def __call__(self, latents, training=False):
        return np.repeat(self.image[None], len(latents), axis=0)


@pytest.fixture(scope="module")
def blob_classifier() -> keras.Model:
    """A classifier that tells every one of the 300 blob images' classes apart."""
    keras.utils.set_random_seed(0)
    classifier = build_classifier()
    images, labels = blobs(300, 0)
    classifier.compile("adam", "sparse_categorical_crossentropy")
    classifier.fit(images, labels, epochs=60, batch_size=32, verbose=0)
    assert (classifier.predict(images, verbose=0).argmax(axis=1) == labels).all()
    return classifier


def test_monitor_warns_on_a_collapsed_generator(blob_classifier):
    images, _ = blobs(300, 0)
    monitor = CollapseMonitor(FeatureExtractor(blob_classifier), images, 100, 4, seed=0, threshold=0.05, min_classes=8)
    metrics, warning = monitor(_OneClassGenerator(images[0]))
    assert metrics["monitor_classes_covered"] == 1
    assert warning is not None and "mode collapse" in warning
    # A "generator" that returns real images of every class covers them all.
    spread = iter(np.array_split(images[:100], 1))

    class _Real:
        def __call__(self, latents, training=False):
            return next(spread)

    metrics, warning = monitor(_Real())
    assert metrics["monitor_classes_covered"] >= 8 and warning is None


class _ConditionalBlobs:
    """A planted conditional generator: draws a blob of the requested class, or ignores the request."""

    inputs = ("latents", "labels")

    def __init__(self, obey: bool):
        self.obey = obey

    def __call__(self, inputs, training=False):
        _, labels = inputs
        labels = labels if self.obey else np.zeros_like(labels)
        images, blob_labels = blobs(300, 0)  # the images the test's classifier learned
        return np.stack([images[np.flatnonzero(blob_labels == label)[0]] for label in labels])


def test_monitor_reports_class_consistency_for_a_conditional_generator(blob_classifier):
    from fashion_dcgan.config import EvaluateParams
    from fashion_dcgan.evaluation.metric_registry import GeneratedSet, compute

    images, labels = blobs(300, 0)
    extractor = FeatureExtractor(blob_classifier)
    monitor = CollapseMonitor(extractor, images, 100, 4, seed=0, threshold=0.05, min_classes=8)
    obeying, _ = monitor(_ConditionalBlobs(obey=True))
    ignoring, _ = monitor(_ConditionalBlobs(obey=False))
    assert obeying["monitor_class_consistency"] == 1.0
    assert ignoring["monitor_class_consistency"] == 0.1  # only the class-0 requests are met
    # The evaluation's per-class view: class 0 is met by both, the others only by the obeying one.
    from fashion_dcgan.gan.sampling import cycled_labels, generate

    requested, real = cycled_labels(100), extractor(images)
    fake = extractor(generate(_ConditionalBlobs(False), np.zeros((100, 4))))
    ignored = compute("conditional", GeneratedSet(*fake, real[0], EvaluateParams(), requested, labels))
    assert ignored["class_consistency_per_class"] == [1.0] + [0.0] * 9
    assert ignored["fid_per_class"][0] < min(ignored["fid_per_class"][1:])


def test_reference_holds_what_evaluate_compares_with(blob_classifier, tmp_path):
    from fashion_dcgan.config import EvaluateParams
    from fashion_dcgan.errors import DataError
    from fashion_dcgan.evaluation.evaluate import Reference, evaluate_generator, real_reference

    cfg = EvaluateParams(kid_subsets=3, kid_subset_size=50, probe_train_size=200, is_splits=2)
    real, floor, train = blobs(100, 1), blobs(100, 2)[0], blobs(200, 0)
    keras.utils.set_random_seed(0)
    untrained = build_discriminator("tutorial", 8, IMAGE_SHAPE)
    reference = real_reference(blob_classifier, real, floor, train, untrained, cfg)
    reference.save(tmp_path / "reference")
    loaded = Reference.load(tmp_path / "reference")
    assert loaded.metrics == reference.metrics and np.array_equal(loaded.features, reference.features)
    assert np.array_equal(loaded.labels, real[1])
    assert reference.metrics["probe_accuracy_raw_pixels"] > 0.9  # blobs are linearly separable
    assert reference.metrics["fid_real_floor"] < 1.0 and reference.metrics["n_real"] == 100
    # The real images themselves, as "samples": FID zero, and the reference's figures carried over.
    metrics = evaluate_generator(blob_classifier, {"sampled": real[0]}, loaded, cfg)
    assert metrics["fid"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["probe_accuracy_random_weights"] == reference.metrics["probe_accuracy_random_weights"]
    with pytest.raises(DataError, match="run the reference stage"):
        Reference.load(tmp_path / "missing")
