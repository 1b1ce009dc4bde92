"""A real `mlflow server` on 127.0.0.1 (sqlite backend, local artifact root), used over HTTP by training."""

from __future__ import annotations

import json
import subprocess

import pytest
from mlflow import MlflowClient

from tests.conftest import run_train, running_mlflow_server, stage_cmd, stage_env, state

pytestmark = pytest.mark.slow  # a real tracking server and the train stage as subprocesses


@pytest.fixture
def mlflow_server(tmp_path):
    with running_mlflow_server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "artifacts") as url:
        yield url


def test_training_logs_everything_over_http(project, mlflow_server):
    done = run_train(project, env=stage_env(project, MLFLOW_TRACKING_URI=mlflow_server))
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(mlflow_server)
    run = client.get_run(state(project)["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.params["train.epochs"] == "3"
    assert len(client.get_metric_history(run.info.run_id, "epoch/d_loss")) == 3
    assert any("fixed_noise_grid" in a.path for a in client.list_artifacts(run.info.run_id, "images"))

    (project / "reports" / "metrics.json").write_text('{"fid": 123.0}')  # the evaluate stage's headline
    env = stage_env(project, MLFLOW_TRACKING_URI=mlflow_server)
    done = subprocess.run(stage_cmd("register"), cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((project / "reports" / "registration.json").read_text())["champion"] == "1"
    import mlflow

    mlflow.set_tracking_uri(mlflow_server)
    (model,) = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    import pandas as pd

    generator = mlflow.pyfunc.load_model(model.model_uri)  # artifacts served by the server
    assert generator.predict(pd.DataFrame({"n": [1], "seed": [0]})).shape == (1, 28, 28)
    assert not (project / "mlflow.db").exists()
