"""tf.distribute on the CPU split into two logical devices (a fresh process: the split must come first)."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r"""
import json, sys, tempfile
from pathlib import Path
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from fashion_dcgan.config import parse_params
from fashion_dcgan.tracking import NullRunLogger
from fashion_dcgan.training import TrainingPaths, make_strategy, train

images = np.random.default_rng(0).uniform(-1, 1, (128, 28, 28, 1)).astype("float32")
out = {}
for strategy in ("default", "mirrored"):
    params = parse_params({
        "data": {"train_limit": 128},
        "model": {"latent_dim": 8, "generator_width": 16, "discriminator_width": 8},
        "train": {"batch_size": 16, "epochs": 3, "precision": "float32", "strategy": strategy, "monitor_samples": 0,
                  "fixed_noise_size": 4, "steps_per_execution": 1},
    })
    root = Path(tempfile.mkdtemp())
    result = train(params, images, TrainingPaths(root / "m", root / "c", root / "e"), lambda run_id: NullRunLogger(),
                   verbose=0)
    out[strategy] = {"replicas": make_strategy(strategy).num_replicas_in_sync,
                     "epochs": result.epochs, "saved": (root / "m" / "generator.keras").is_file()}
print("RESULT" + json.dumps(out))
"""

TOLERANCE = 0.05  # absolute, on epoch-mean losses and D outputs


def test_mirrored_strategy_matches_single_device_training():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT", 1)[1])
    assert result["default"]["replicas"] == 1 and result["mirrored"]["replicas"] == 2
    assert result["mirrored"]["saved"]
    # Same data, same latents (each replica takes its slice of the global draw); the generator's batch
    # norm sees per-replica statistics and dropout masks repeat across replicas, hence a tolerance.
    for single, mirrored in zip(result["default"]["epochs"], result["mirrored"]["epochs"], strict=True):
        for key in ("d_loss", "g_loss", "d_real", "d_fake"):
            assert abs(single[key] - mirrored[key]) < TOLERANCE, (key, single[key], mirrored[key])
