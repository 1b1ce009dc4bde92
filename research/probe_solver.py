"""The linear probe's solver: time and test accuracy against the exact optimum and against liblinear.

    python -m research.probe_solver --discriminator models/discriminator.keras [--data data/processed]

Extracts the evaluate stage's probe features (4x4 max-pooled conv activations of the discriminator)
for its default 10,000 training and the 10,000 test images, standardises them, and fits the
one-vs-rest L2-SVM with ``probe.fit_linear_svm`` at several tolerances and with scikit-learn's
``LinearSVC`` (liblinear, one class per core) as the probe ran before. Prints, for each: seconds, test
accuracy, and the largest weight difference from the exact optimum (tolerance 1e-8) relative to the
largest weight.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--discriminator", required=True)
    parser.add_argument("--data", default="data/processed")
    parser.add_argument("--tolerances", type=float, nargs="+", default=[1e-2, 1e-3, 1e-4])
    parser.add_argument("--liblinear-tolerances", type=float, nargs="*", default=[1e-2])
    args = parser.parse_args()

    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    from fashion_dcgan.config import EvaluateParams
    from fashion_dcgan.data.prepare import load_processed
    from fashion_dcgan.evaluation.evaluate import probe_train_set
    from fashion_dcgan.evaluation.probe import discriminator_features, fit_linear_svm
    from fashion_dcgan.modelfiles import load_model

    cfg = EvaluateParams()
    train = probe_train_set(*load_processed(args.data, "train"), cfg)
    test_images, test_labels = load_processed(args.data, "test")
    discriminator = load_model(args.discriminator)
    start = time.perf_counter()
    train_x = discriminator_features(discriminator, train[0])
    test_x = discriminator_features(discriminator, test_images)
    print(f"features: {train_x.shape} train, {test_x.shape} test, {time.perf_counter() - start:.1f} s")
    scaler = StandardScaler().fit(train_x)
    train_x, test_x = scaler.transform(train_x), scaler.transform(test_x)

    def ours(tol: float) -> tuple[float, float, np.ndarray]:
        start = time.perf_counter()
        weights, biases, classes = fit_linear_svm(train_x, train[1], cfg.probe_c, tol=tol)
        seconds = time.perf_counter() - start
        return seconds, float((classes[(test_x @ weights + biases).argmax(1)] == test_labels).mean()), weights

    def liblinear(tol: float) -> tuple[float, float, np.ndarray]:
        start = time.perf_counter()
        svm = LinearSVC(C=cfg.probe_c, tol=tol, max_iter=5000, dual="auto")
        fitted = OneVsRestClassifier(svm, n_jobs=-1).fit(train_x, train[1])
        seconds = time.perf_counter() - start
        weights = np.stack([estimator.coef_[0] for estimator in fitted.estimators_], axis=1)
        return seconds, float((fitted.predict(test_x) == test_labels).mean()), weights

    exact_seconds, exact_accuracy, exact = ours(1e-8)
    print("| solver | tolerance | seconds | test accuracy | max weight error / max weight |")
    print("|---|---|---|---|---|")
    print(f"| fit_linear_svm (exact optimum) | 1e-08 | {exact_seconds:.1f} | {exact_accuracy:.4f} | 0 |", flush=True)
    runs = [("fit_linear_svm", ours, t) for t in args.tolerances]
    runs += [("LinearSVC one-vs-rest, n_jobs=-1", liblinear, t) for t in args.liblinear_tolerances]
    for name, solver, tol in runs:
        seconds, accuracy, weights = solver(tol)
        error = np.abs(weights - exact).max() / np.abs(exact).max()
        print(f"| {name} | {tol:g} | {seconds:.1f} | {accuracy:.4f} | {error:.3f} |", flush=True)


if __name__ == "__main__":
    main()
