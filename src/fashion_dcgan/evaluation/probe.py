"""The DCGAN paper's linear probe of discriminator features.

Every conv block's activations are max-pooled to a 4x4 grid, flattened and
concatenated; a linear L2-SVM trained on them measures how much class
information the discriminator learned without labels.
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from fashion_dcgan.models import discriminator_conv_layers

GRID = 4
PROBE_TOL = 1e-2


def adaptive_max_pool(maps: np.ndarray, grid: int = GRID) -> np.ndarray:
    """(N, H, W, C) -> (N, grid, grid, C), each cell the max over its (near-equal) block."""
    rows = np.array_split(np.arange(maps.shape[1]), grid)
    cols = np.array_split(np.arange(maps.shape[2]), grid)
    pooled = np.empty((maps.shape[0], grid, grid, maps.shape[3]), maps.dtype)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            pooled[:, i, j] = maps[:, r[0] : r[-1] + 1, c[0] : c[-1] + 1].max(axis=(1, 2))
    return pooled


def discriminator_features(discriminator: keras.Model, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    conv_outputs = [layer.output for layer in discriminator_conv_layers(discriminator)]
    extractor = keras.Model(discriminator.inputs[0], conv_outputs)
    chunks = []
    for i in range(0, len(images), batch_size):
        maps = extractor(np.asarray(images[i : i + batch_size], np.float32), training=False)
        maps = maps if isinstance(maps, (list, tuple)) else [maps]
        chunks.append(
            np.concatenate([adaptive_max_pool(np.asarray(m, np.float32)).reshape(len(m), -1) for m in maps], axis=1)
        )
    return np.concatenate(chunks)


def linear_probe(
    train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray, test_labels: np.ndarray, c: float
) -> float:
    """Test accuracy of a standardised linear L2-SVM (squared hinge, L2 penalty, one-vs-rest).

    The same ten binary problems ``LinearSVC`` solves one after another (liblinear is single-threaded),
    spread over the cores. liblinear stops at ``PROBE_TOL`` (its gradient-norm criterion relative to the
    start): on 10,000 x 3,072 discriminator features that took 156 s against 247 s at scikit-learn's
    default 1e-4, with test accuracy 0.8589 against 0.8592, far inside the 0.35% standard error of an
    accuracy measured on 10,000 test images.
    """
    svm = make_pipeline(
        StandardScaler(), OneVsRestClassifier(LinearSVC(C=c, tol=PROBE_TOL, max_iter=5000, dual="auto"), n_jobs=-1)
    )
    svm.fit(train_features, train_labels)
    return float((svm.predict(test_features) == test_labels).mean())
