"""The DCGAN paper's linear probe of discriminator features.

Every conv block's activations are max-pooled to a 4x4 grid, flattened and
concatenated; a linear L2-SVM trained on them measures how much class
information the discriminator learned without labels.
"""

from __future__ import annotations

import logging

import keras
import numpy as np
from sklearn.preprocessing import StandardScaler

from fashion_dcgan.gan.networks import discriminator_conv_layers

log = logging.getLogger(__name__)
GRID = 4
# Newton stops at this share of the starting gradient norm. On the 10,000 x 3,072 pooled features of
# a trained discriminator (2-core CPU; research/probe_solver.py, results/probe_solver.md): 13.5-18.6 s,
# test accuracy 0.8783 against 0.8785 at the exact optimum (tolerance 1e-8, 40-48 s): one image in
# 5,000, far inside the 0.33% standard error of an accuracy on 10,000 test images. liblinear
# (LinearSVC one-vs-rest on both cores), as this probe ran before, took 56-62 s for 0.8780 at its 1e-2.
PROBE_TOL = 1e-3


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
        maps = extractor.predict_on_batch(np.asarray(images[i : i + batch_size], np.float32))  # compiled graph
        maps = maps if isinstance(maps, (list, tuple)) else [maps]
        chunks.append(
            np.concatenate([adaptive_max_pool(np.asarray(m, np.float32)).reshape(len(m), -1) for m in maps], axis=1)
        )
    return np.concatenate(chunks)


def fit_linear_svm(
    features: np.ndarray, labels: np.ndarray, c: float, tol: float = PROBE_TOL, max_iter: int = 1000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-vs-rest linear L2-SVM, liblinear's primal problem solved for all classes at once.

    For each class k, with y = +1 on its images and -1 elsewhere, minimise
    ``0.5 |w_k|^2 + 0.5 b_k^2 + c * sum_i max(0, 1 - y_i (w_k . x_i + b_k))^2``: the objective of
    scikit-learn's ``LinearSVC`` (squared hinge, L2 penalty, intercept as a penalised constant
    feature). The problem is strictly convex, so it has one minimiser whatever the solver. The ten
    problems are independent; stacking their weights as columns turns every gradient and
    Hessian-vector product into two matrix products over all classes (BLAS, every core), where
    liblinear walks the rows of one class at a time on one core. Newton's method with conjugate
    gradients on the generalised Hessian, as in liblinear's primal solver (a trust region there, a
    backtracking line search here), stops when the gradient's norm is ``tol`` times its norm at zero.
    Returns (weights (d, K), biases (K,), classes).
    """
    classes = np.unique(labels)
    x = np.hstack([np.asarray(features, np.float64), np.ones((len(features), 1))])  # intercept column
    # Newton directions need not be exact: the conjugate-gradient products run in float32 (half the
    # memory traffic of these matrix-times-ten-columns products, which dominate); gradients and the
    # objective, which decide the stopping point, stay in float64.
    x32 = x.astype(np.float32)
    squares = x32 * x32
    y = np.where(labels[:, None] == classes[None, :], 1.0, -1.0)
    w = np.zeros((x.shape[1], len(classes)))

    def gradient(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        slack = 1.0 - y * (x @ w)
        active = slack > 0
        return w - 2.0 * c * (x.T @ (y * np.where(active, slack, 0.0))), active

    g, active = gradient(w)
    stop = tol * np.linalg.norm(g)
    for _ in range(max_iter):
        if np.linalg.norm(g) <= stop:
            break
        step = _newton_step(x32, squares, active.astype(np.float32), g, c)
        # Backtracking on the objective keeps each step a descent step (the generalised Hessian is
        # only piecewise constant).
        w = _line_search(x, y, w, step, g, c)
        g, active = gradient(w)
    else:
        log.warning("linear probe: %d Newton steps without reaching tolerance %g; the probe may be off", max_iter, tol)
    return w[:-1], w[-1], classes


def _objective(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float) -> float:
    slack = np.maximum(1.0 - y * (x @ w), 0.0)
    return 0.5 * float((w * w).sum()) + c * float((slack * slack).sum())


def _newton_step(
    x: np.ndarray, squares: np.ndarray, active: np.ndarray, g: np.ndarray, c: float, cg_tol: float = 0.1
) -> np.ndarray:
    """Solve H d = -g by preconditioned conjugate gradients, one column per class.

    H v = v + 2c X^T D X v, with D the rows inside the margin; the preconditioner is H's diagonal.
    """

    def hessian_times(v: np.ndarray) -> np.ndarray:
        return v + 2.0 * c * (x.T @ (active * (x @ v.astype(np.float32)))).astype(np.float64)

    diagonal = 1.0 + 2.0 * c * (squares.T @ active).astype(np.float64)
    d = np.zeros_like(g)
    r = -g
    z = r / diagonal
    p = z.copy()
    rz = (r * z).sum(axis=0)
    limit = cg_tol * np.linalg.norm(r, axis=0)
    for _ in range(x.shape[1]):
        todo = np.linalg.norm(r, axis=0) > limit
        if not todo.any():
            break
        hp = hessian_times(p)
        alpha = np.where(todo, rz / np.maximum((p * hp).sum(axis=0), 1e-300), 0.0)
        d += alpha * p
        r -= alpha * hp
        z = r / diagonal
        rz_new = (r * z).sum(axis=0)
        p = np.where(todo, z + rz_new / np.maximum(rz, 1e-300) * p, p)
        rz = rz_new
    return d


def _line_search(x, y, w, step, g, c) -> np.ndarray:
    start = _objective(x, y, w, c)
    slope = float((g * step).sum())
    size = 1.0
    for _ in range(30):
        candidate = w + size * step
        if _objective(x, y, candidate, c) <= start + 0.01 * size * slope:
            return candidate
        size *= 0.5
    return candidate


def linear_probe(
    train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray, test_labels: np.ndarray, c: float
) -> float:
    """Test accuracy of a standardised one-vs-rest linear L2-SVM (``fit_linear_svm``)."""
    scaler = StandardScaler().fit(train_features)
    weights, biases, classes = fit_linear_svm(scaler.transform(train_features), np.asarray(train_labels), c)
    predicted = classes[(scaler.transform(test_features) @ weights + biases).argmax(axis=1)]
    return float((predicted == test_labels).mean())
