"""A real `mlflow server` on 127.0.0.1 (sqlite backend, local artifact root), used over HTTP by training."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import run_train, stage_env, state

pytestmark = pytest.mark.slow  # a real tracking server and the train stage as subprocesses


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
        "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "1",
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_training_logs_everything_over_http(project, mlflow_server):
    done = run_train(project, env=stage_env(project, MLFLOW_TRACKING_URI=mlflow_server))
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(mlflow_server)
    run = client.get_run(state(project)["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.params["train.epochs"] == "3"
    assert len(client.get_metric_history(run.info.run_id, "epoch/d_loss")) == 3
    assert any("fixed_noise_grid" in a.path for a in client.list_artifacts(run.info.run_id, "images"))

    import mlflow

    mlflow.set_tracking_uri(mlflow_server)
    (model,) = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    import pandas as pd

    generator = mlflow.pyfunc.load_model(model.model_uri)  # artifacts served by the server
    assert generator.predict(pd.DataFrame({"n": [1], "seed": [0]})).shape == (1, 28, 28)
    assert not (project / "mlflow.db").exists()
