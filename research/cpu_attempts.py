"""What else the CPU gives: each attempt that keeps the algorithm exactly the same, measured.

    python -m research.cpu_attempts [--repeats 5] [--seconds 8]

Every attempt runs ``benchmarks.train_speed`` at batch 32 in a fresh process (thread pools and
oneDNN are fixed when TensorFlow starts), our loop alternating with the tutorial's as always. Prints
ours' median images/s with the spread, the tutorial loop's in the same process, and ours against
the baseline attempt. The JAX attempt runs the tutorial's loop (``train_on_batch``) under Keras'
JAX backend in its own environment (``--jax-python``; our train_step is TensorFlow code), against
the same loop under TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ATTEMPTS: list[tuple[str, list[str], dict[str, str]]] = [
    ("baseline (defaults: oneDNN on, TF's thread pools, steps_per_execution 10)", [], {}),
    ("oneDNN off (TF_ENABLE_ONEDNN_OPTS=0)", [], {"TF_ENABLE_ONEDNN_OPTS": "0"}),
    ("intra-op 2, inter-op 1 threads", ["--threads", "2", "1"], {}),
    ("intra-op 1, inter-op 2 threads", ["--threads", "1", "2"], {}),
    ("steps_per_execution 1 (a Python round trip per step)", ["--steps-per-execution", "1"], {}),
    ("steps_per_execution 50", ["--steps-per-execution", "50"], {}),
    ("XLA (jit_compile true: fuses the optimizer update and elementwise ops)", ["--jit"], {}),
    # bfloat16 on the CPU's matrix units (runtime.precision: mixed_bfloat16, what auto picks here).
    ("bfloat16 (mixed_bfloat16 policy)", ["--precisions", "mixed_bfloat16"], {}),
    ("bfloat16, steps_per_execution 50", ["--precisions", "mixed_bfloat16", "--steps-per-execution", "50"], {}),
    ("bfloat16, intra-op 2, inter-op 1 threads", ["--precisions", "mixed_bfloat16", "--threads", "2", "1"], {}),
    (
        "float32 policy, oneDNN math in bfloat16 (ONEDNN_DEFAULT_FPMATH_MODE=BF16)",
        [],
        {"ONEDNN_DEFAULT_FPMATH_MODE": "BF16"},
    ),
]

# The tutorial's loop for a separate interpreter with Keras on JAX (--jax-python), where neither this
# project nor TensorFlow is installed: so its networks are spelled out here, layer for layer as the
# library's tutorial networks (tests/test_benchmarks.py checks that they agree).
JAX_LOOP = r"""
import json, os, sys, time
os.environ["KERAS_BACKEND"] = "jax"
import numpy as np, keras
batch, seconds, repeats = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
keras.utils.set_random_seed(0)
L = keras.layers
g = keras.Sequential([keras.Input((100,)), L.Dense(7 * 7 * 128), L.Reshape((7, 7, 128)), L.BatchNormalization(),
    L.Conv2DTranspose(64, 5, 2, padding="same", activation="selu"), L.BatchNormalization(),
    L.Conv2DTranspose(1, 5, 2, padding="same", activation="tanh")])
d = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(64, 5, 2, padding="same"), L.LeakyReLU(0.2),
    L.Dropout(0.3), L.Conv2D(128, 5, 2, padding="same"), L.LeakyReLU(0.2), L.Dropout(0.3), L.Flatten(),
    L.Dense(1, activation="sigmoid")])
d.compile(loss="binary_crossentropy", optimizer="adam")
d.trainable = False
gan = keras.Sequential([g, d]); gan.compile(loss="binary_crossentropy", optimizer="adam")
rng = np.random.default_rng(0)
real = rng.uniform(-1, 1, (batch, 28, 28, 1)).astype("float32")
labels = np.array([[0.0]] * batch + [[1.0]] * batch, "float32"); ones = np.ones((batch, 1), "float32")
def step():
    fakes = np.asarray(g(rng.standard_normal((batch, 100)).astype("float32")))
    d.trainable = True; d.train_on_batch(np.concatenate([fakes, real]), labels)
    d.trainable = False; gan.train_on_batch(rng.standard_normal((batch, 100)).astype("float32"), ones)
for _ in range(20): step()
steps = max(10, round(seconds * 300 / batch)); rates = []
for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(steps): step()
    rates.append(steps * batch / (time.perf_counter() - start))
print(json.dumps(rates))
"""


def measure(args: list[str], extra_env: dict[str, str], repeats: int, seconds: float) -> dict:
    env = {**os.environ, **extra_env}
    precision = [] if "--precisions" in args else ["--precisions", "float32"]
    command = [sys.executable, "-m", "benchmarks.train_speed", "--batches", "32", "--repeats", str(repeats),
               "--seconds", str(seconds), "--json", *precision, *args]  # fmt: skip
    out = subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--jax-python", help="a Python with keras and jax[cpu] installed (skipped if not given)")
    parser.add_argument("--only", nargs="+", help="run the baseline and the attempts whose names contain these")
    args = parser.parse_args()
    print("| attempt (batch 32) | ours, images/s median (min-max) | tutorial loop, same process | ours vs baseline |")
    print("|---|---|---|---|")
    baseline = None
    chosen = [a for i, a in enumerate(ATTEMPTS) if i == 0 or not args.only or any(w in a[0] for w in args.only)]
    for name, flags, extra_env in chosen:
        figures = measure(flags, extra_env, args.repeats, args.seconds)
        ours, tutorial = figures["ours"], figures["tutorial"]
        baseline = baseline or float(np.median(ours))
        print(f"| {name} | {np.median(ours):.0f} ({min(ours):.0f}-{max(ours):.0f}) | {np.median(tutorial):.0f} | "
              f"{np.median(ours) / baseline:.2f}x |", flush=True)  # fmt: skip
    if args.jax_python:
        out = subprocess.run([args.jax_python, "-c", JAX_LOOP, "32", str(args.seconds), str(args.repeats)],
                             check=True, capture_output=True, text=True).stdout  # fmt: skip
        rates = json.loads(out.strip().splitlines()[-1])
        print(f"| tutorial loop under Keras' JAX backend (CPU) | — | {np.median(rates):.0f} "
              f"({min(rates):.0f}-{max(rates):.0f}) | compare with the tutorial column |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
