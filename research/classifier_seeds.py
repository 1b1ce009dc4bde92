"""How much the feature classifier itself moves the metrics: its seed, and its training length.

    python -m research.classifier_seeds --samples data/generated/samples.npy data/generated/samples_raw.npy \
        --runs existing 5:1 2:0 2:1 3:0 --out benchmarks/results/classifier_seeds.jsonl

Each run ``EPOCHS:SEED`` trains the classifier stage's network on the full training set (the stage's
recipe, batch 128, with that length and seed; ``existing`` loads ``--classifier`` instead), then scores
the same fixed sample sets in its feature space with the evaluate stage's metric code against the
10,000 test images. One JSON row per run is appended to ``--out`` as it finishes.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

KEYS = ("fid", "kid", "inception_score", "precision", "recall", "density", "coverage", "classes_covered")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", nargs="+", required=True, help="generated image arrays (.npy)")
    parser.add_argument("--runs", nargs="+", required=True, help="EPOCHS:SEED, or `existing`")
    parser.add_argument("--classifier", default="models/classifier.keras", help="for the run `existing`")
    parser.add_argument("--data", default="data/processed")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from fashion_dcgan.config import EvaluateParams
    from fashion_dcgan.data.prepare import load_processed
    from fashion_dcgan.evaluation.classifier import FeatureExtractor, train_classifier
    from fashion_dcgan.evaluation.evaluate import generator_metrics
    from fashion_dcgan.evaluation.metrics import frechet_distance
    from fashion_dcgan.modelfiles import load_model

    train_images, train_labels = load_processed(args.data, "train")
    test_images, test_labels = load_processed(args.data, "test")
    samples = {Path(path).stem: np.load(path) for path in args.samples}
    cfg = EvaluateParams()
    for run in args.runs:
        if run == "existing":
            model, epochs, seed, seconds = load_model(args.classifier), None, None, float("nan")
        else:
            epochs, seed = (int(part) for part in run.split(":"))
            start = time.perf_counter()
            model = train_classifier(train_images, train_labels, epochs, 128, seed, verbose=0)
            seconds = time.perf_counter() - start
        extract = FeatureExtractor(model)
        real = extract(test_images)
        row = {"run": run, "epochs": epochs, "seed": seed, "train_s": round(seconds, 1)}
        row["test_accuracy"] = float((real[1].argmax(axis=1) == test_labels).mean())
        row["fid_real_floor"] = frechet_distance(extract(train_images[:10_000])[0], real[0])
        for name, images in samples.items():
            metrics = generator_metrics(extract(images), real, cfg)
            row |= {f"{name}/{key}": metrics[key] for key in KEYS}
        print(json.dumps(row), flush=True)
        with open(args.out, "a") as handle:
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
