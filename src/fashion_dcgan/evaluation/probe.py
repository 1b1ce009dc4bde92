"""The DCGAN paper's linear probe of discriminator features.

Every conv block's activations are max-pooled to a 4x4 grid, flattened and
concatenated; a linear L2-SVM trained on them measures how much class
information the discriminator learned without labels.
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.preprocessing import StandardScaler

from fashion_dcgan.models import discriminator_conv_layers

GRID = 4


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

    The problem is scikit-learn's ``LinearSVC(C=c)`` (liblinear's primal, bias regularised with
    intercept_scaling 1); :func:`fit_squared_hinge_ovr` solves it for all classes at once.
    """
    scaler = StandardScaler().fit(train_features)
    weights, bias, classes = fit_squared_hinge_ovr(scaler.transform(train_features), train_labels, c)
    predicted = classes[(scaler.transform(test_features) @ weights + bias).argmax(axis=1)]
    return float((predicted == test_labels).mean())


def fit_squared_hinge_ovr(
    x: np.ndarray, labels: np.ndarray, c: float, tol: float = 1e-4, max_newton: int = 100, max_cg: int = 250
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-vs-rest L2-regularised squared-hinge linear SVMs, every class in one pass.

    Minimises, for each class k with targets y = +1 (class k) or -1 (the others),
    ``0.5 |w|^2 + c * sum_i max(0, 1 - y_i w.[x_i, 1])^2``: liblinear's primal problem as
    ``LinearSVC`` poses it, the bias being a weight on a constant feature. Newton's method with
    the generalised Hessian ``I + 2c X_A^T X_A`` (A: the examples inside the margin), each step
    solved by conjugate gradients in which one matrix product serves every class (liblinear solves
    the classes one after another, single-threaded), then a backtracking line search per class.
    Stops when each class's gradient norm is below ``tol`` times its value at w = 0, liblinear's own
    criterion. The problem is strictly convex, so this is the same minimiser. Returns (weights
    (d, classes), bias (classes,), class labels).
    """
    x = np.asarray(x, np.float64)
    xb = np.hstack([x, np.ones((len(x), 1))])
    classes = np.unique(labels)
    y = np.where(np.asarray(labels)[:, None] == classes[None, :], 1.0, -1.0)
    w = np.zeros((xb.shape[1], len(classes)))

    def evaluate(w: np.ndarray):
        slack = np.maximum(1.0 - y * (xb @ w), 0.0)
        value = 0.5 * (w * w).sum(0) + c * (slack * slack).sum(0)
        return value, w - 2.0 * c * (xb.T @ (slack * y)), slack > 0

    value, grad, inside = evaluate(w)
    stop = tol * np.linalg.norm(grad, axis=0)
    for _ in range(max_newton):
        norms = np.linalg.norm(grad, axis=0)
        todo = norms > stop
        if not todo.any():
            break
        step = _newton_direction(xb, inside, grad * todo, c, np.minimum(0.5, np.sqrt(norms)) * norms, max_cg)
        scale, slope = np.ones(len(classes)), (grad * step).sum(0)
        for _ in range(40):  # Armijo backtracking, per class
            new_value, new_grad, new_inside = evaluate(w + scale * step)
            accepted = (new_value <= value + 0.01 * scale * slope) | ~todo
            if accepted.all():
                break
            scale = np.where(accepted, scale, scale / 2)
        w = w + scale * step
        value, grad, inside = new_value, new_grad, new_inside
    return w[:-1], w[-1], classes


def _newton_direction(xb, inside, grad, c, tolerance, max_cg) -> np.ndarray:
    """Conjugate gradients on (I + 2c X_A^T X_A) p = -grad, column by column in lockstep."""
    step = np.zeros_like(grad)
    residual = -grad
    direction = residual.copy()
    rr = (residual * residual).sum(0)
    for _ in range(max_cg):
        live = np.sqrt(rr) > tolerance
        if not live.any():
            break
        product = direction + 2.0 * c * (xb.T @ (inside * (xb @ direction)))
        curvature = (direction * product).sum(0)
        alpha = np.where(live, rr / np.where(live, curvature, 1.0), 0.0)
        step += alpha * direction
        residual -= alpha * product
        rr_new = (residual * residual).sum(0)
        direction = residual + np.where(live, rr_new / np.where(live, rr, 1.0), 0.0) * direction
        rr = rr_new
    return step
