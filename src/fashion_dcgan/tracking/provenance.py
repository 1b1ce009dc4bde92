"""What a run records about where it came from (git commit, data hashes, the DVC experiment), its page
in `mlflow ui`, and the generator files a model URI names."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from fashion_dcgan.errors import TrackingError, first_line
from fashion_dcgan.files import read_json
from fashion_dcgan.tracking.store import use_store


def recorded_run_id(path: str | Path) -> str:
    """The MLflow run id the train stage recorded in ``path`` (its metrics or its provenance file)."""
    record = read_json(path, "the train stage's record")
    if not isinstance(record, dict) or not isinstance(record.get("mlflow_run_id"), str):
        raise TrackingError(f"{path}: names no MLflow run; rerun the train stage")
    return record["mlflow_run_id"]


def run_tags(provenance: dict[str, Any]) -> dict[str, str]:
    """The run's tags: its provenance, and the DVC experiment that ran it (``dvc exp run``)."""
    tags = {"git_commit": provenance["git_commit"]}
    tags |= {f"data.sha256.{name}": digest for name, digest in provenance["data_sha256"].items()}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_experiment"] = os.environ["DVC_EXP_NAME"]
    return tags


def dataset_inputs(processed: str | Path, provenance: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """The run's MLflow dataset inputs (:meth:`RunLogger.log_datasets`): the training and test images."""
    data = Path(processed).resolve()
    return {
        f"fashion-mnist-{split}": (provenance["data_sha256"][f"{split}_images"], str(data / f"{split}_images.npy"), use)
        for split, use in (("train", "training"), ("test", "evaluation"))
    }


def git_commit(root: str | Path = ".") -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


MLFLOW_UI = "http://127.0.0.1:5000"  # `make ui`


def run_url(experiment_id: str, run_id: str, ui: str = MLFLOW_UI) -> str:
    """The run's page in `mlflow ui`."""
    return f"{ui}/#/experiments/{experiment_id}/runs/{run_id}"


def is_model_uri(model: str) -> bool:
    """Whether ``model`` names a model in the tracking store (``models:/...``, ``runs:/...``), not a path."""
    return model.startswith(("models:/", "runs:/"))


def model_file(model: str) -> Path:
    """A local .keras file for ``model``: a path, or an MLflow URI (``models:/NAME@champion``, ``runs:/ID/NAME``)."""
    if not is_model_uri(model):
        return Path(model)
    import mlflow

    from fashion_dcgan.errors import ModelFileError

    uri = use_store()
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model))
    except Exception as error:  # MLflow raises several types for an unknown name, alias or run
        raise ModelFileError(f"{model}: cannot fetch it from {uri} ({first_line(error)})") from None
    files = sorted(local.rglob("*.keras"))
    if not files:
        raise ModelFileError(f"{model}: no .keras generator in the model's files")
    return files[0]
