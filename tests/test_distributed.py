"""tf.distribute on the CPU split into two logical devices (a fresh process: the split must come first)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # fresh processes: two logical devices, two workers

SCRIPT = r"""
import json, sys, tempfile
from pathlib import Path
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from fashion_dcgan.config import parse_params
from fashion_dcgan.tracking import NullRunLogger
from fashion_dcgan.training.runtime import make_strategy
from fashion_dcgan.training.loop import TrainingPaths, train

images = np.random.default_rng(0).uniform(-1, 1, (128, 28, 28, 1)).astype("float32")
out = {}
for strategy in ("default", "mirrored"):
    params = parse_params({
        "data": {"train_limit": 128},
        "model": {"latent_dim": 8, "generator_width": 16, "discriminator_width": 8},
        "train": {"batch_size": 16, "epochs": 3, "ema": {"decay": 0.9}},
        "runtime": {"precision": "float32", "strategy": strategy, "monitor_samples": 0, "fixed_noise_size": 4,
                    "steps_per_execution": 1},
    })
    root = Path(tempfile.mkdtemp())
    result = train(params, images, TrainingPaths.under(root), lambda run_id: NullRunLogger(), verbose=0)
    ema = [np.asarray(w) for w in result.gan.sampler.weights]
    raw = [np.asarray(w) for w in result.gan.generator.weights]
    out[strategy] = {"replicas": make_strategy(strategy).num_replicas_in_sync, "epochs": result.epochs,
                     "saved": (root / "models" / "generator.keras").is_file(),
                     "ema_moved": any(not np.array_equal(a, b) for a, b in zip(ema, raw)),
                     "ema_updates": int(np.asarray(result.gan.average.updates.value))}
print("RESULT" + json.dumps(out))
"""

TOLERANCE = 0.05  # absolute, on epoch-mean losses and D outputs


def test_mirrored_strategy_matches_single_device_training():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT", 1)[1])
    assert result["default"]["replicas"] == 1 and result["mirrored"]["replicas"] == 2
    assert result["mirrored"]["saved"]
    # The generator's moving average is updated once per step under both strategies (3 epochs of 8 steps).
    for strategy in ("default", "mirrored"):
        assert result[strategy]["ema_moved"] and result[strategy]["ema_updates"] == 24
    # Same data, same latents (each replica takes its slice of the global draw); the generator's batch
    # norm sees per-replica statistics and dropout masks repeat across replicas, hence a tolerance.
    for single, mirrored in zip(result["default"]["epochs"], result["mirrored"]["epochs"], strict=True):
        for key in ("d_loss", "g_loss", "d_real", "d_fake"):
            assert abs(single[key] - mirrored[key]) < TOLERANCE, (key, single[key], mirrored[key])


WORKER = r"""
import json, sys
from pathlib import Path
from fashion_dcgan.training.runtime import make_strategy
strategy = make_strategy("multi_worker")  # before any other TensorFlow op
import numpy as np
from fashion_dcgan.config import parse_params
from fashion_dcgan.tracking import RunLogger
from fashion_dcgan.training.runtime import is_chief
from fashion_dcgan.training.loop import TrainingPaths, train
root = Path(sys.argv[1])
images = np.random.default_rng(0).uniform(-1, 1, (128, 28, 28, 1)).astype("float32")
params = parse_params({
    "data": {"train_limit": 128},
    "model": {"latent_dim": 8, "generator_width": 16, "discriminator_width": 8},
    "train": {"batch_size": 16, "epochs": 2},
    "runtime": {"precision": "float32", "strategy": "multi_worker", "monitor_samples": 0, "fixed_noise_size": 4,
                "steps_per_execution": 1},
})
uri = f"sqlite:///{root / 'mlflow.db'}"
result = train(params, images, TrainingPaths.under(root), lambda run_id: RunLogger(uri, run_id), verbose=0)
print("RESULT" + json.dumps({"chief": is_chief(strategy), "replicas": strategy.num_replicas_in_sync,
                             "epochs": [row["d_loss"] for row in result.epochs], "run_id": result.run_id}))
"""


def test_multi_worker_strategy_with_two_local_workers(tmp_path):
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    for index in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        env = {**os.environ, "TF_CONFIG": config, "TF_CPP_MIN_LOG_LEVEL": "2"}
        workers.append(subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path)], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))  # fmt: skip
    results = []
    try:
        for worker in workers:
            out, err = worker.communicate(timeout=300)
            assert worker.returncode == 0, err[-3000:]
            results.append(json.loads(out.split("RESULT", 1)[1]))
    finally:
        for worker in workers:
            worker.kill()
    chief, other = results
    assert chief["chief"] and not other["chief"] and chief["replicas"] == 2
    assert chief["epochs"] == other["epochs"] and len(chief["epochs"]) == 2  # one synchronised training
    # Only the chief wrote checkpoints, models and the MLflow run.
    assert json.loads((tmp_path / "models" / "checkpoints" / "state.json").read_text())["epoch"] == 2
    assert (tmp_path / "models" / "generator.keras").is_file()
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("fashion-dcgan").experiment_id])
    assert run.info.run_id == chief["run_id"] and other["run_id"] == ""
    assert run.info.status == "FINISHED" and run.data.params["runtime.replicas"] == "2"
