"""MLflow tracking: where runs go, a fast reachability check, and a run logger.

Everything goes through ``MlflowClient`` with an explicit run id, so no
global "active run" is left for ``atexit`` to close as FINISHED after a crash.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import json
import logging
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fashion_dcgan.errors import PipelineError, TrackingError, first_line
from fashion_dcgan.files import read_json

log = logging.getLogger(__name__)
EXPERIMENT = "fashion-dcgan"
# Every call to a remote tracking server is bounded: at most 3 tries of 10 s each with 1 s and 2 s
# between them (MLflow's own defaults are a 120 s timeout and 7 tries with backoff 2, a quarter of an
# hour against a stuck server). Set any of these in the environment to override.
HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
}
REGISTERED_MODEL = "fashion-dcgan-generator"  # the Model Registry's name for the generator (serving.register)
CHAMPION = "champion"  # its alias for the version with the lowest FID
EPOCHS_TAG = "train.epochs_completed"  # params are immutable; a resumed, extended run records its length here
KEPT_EPOCH_TAG = "kept_epoch"  # the epoch whose sampled generator was written (train.keep)
_BATCH = 1000  # MLflow's limit of metrics per log_batch call


def project_root(start: str | Path = ".") -> Path:
    """The repository root; inside a ``dvc exp run --temp`` copy, the real repository's root.

    DVC runs queued experiments in ``<repo>/.dvc/tmp/exps/<name>``; a database
    there would be thrown away with the copy.
    """
    path = Path(start).resolve()
    parts = path.parts
    for i in range(len(parts) - 2):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return path


def tracking_uri(root: str | Path = ".") -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root(root) / 'mlflow.db'}"


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


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast on an HTTP tracking server that does not answer (MLflow itself retries for minutes)."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s) as response:
            response.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise TrackingError(
            f"MLflow tracking server {uri} is not reachable ({reason}); start it, or unset "
            "MLFLOW_TRACKING_URI to use the local sqlite:///mlflow.db"
        ) from None


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """Serialise first contact with a local sqlite store across processes.

    Two runs starting at once would otherwise both create the schema (or the
    experiment) and one would fail half-way through the migration.
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    database = Path(uri.removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def git_commit(root: str | Path = ".") -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def bound_http_calls() -> None:
    """Apply :data:`HTTP_LIMITS` to MLflow's HTTP client, unless the environment already sets them."""
    for name, value in HTTP_LIMITS.items():
        os.environ.setdefault(name, value)


MLFLOW_UI = "http://127.0.0.1:5000"  # `make ui`


def run_url(experiment_id: str, run_id: str, ui: str = MLFLOW_UI) -> str:
    """The run's page in `mlflow ui`."""
    return f"{ui}/#/experiments/{experiment_id}/runs/{run_id}"


def use_store() -> str:
    """Point MLflow's fluent API (runs and the registry) at this project's store, HTTP calls bounded,
    to read from it: a SQLite store that does not exist is an error (MLflow would create an empty one)."""
    import mlflow

    bound_http_calls()
    uri = tracking_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        raise TrackingError(
            f"no MLflow store at {uri.removeprefix('sqlite:///')}: run `make repro` first (or from the project "
            "root), or set MLFLOW_TRACKING_URI"
        )
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


@contextlib.contextmanager
def _store_errors(uri: str) -> Iterator[None]:
    """Turn the tracking store's failures (MLflow, SQLAlchemy, HTTP) into one TrackingError line."""
    try:
        yield
    except TrackingError:
        raise
    except Exception as error:
        first = first_line(error)
        raise TrackingError(
            f"MLflow tracking store {uri}: {type(error).__name__}: {first}; {store_hint(uri, error)}"
        ) from None


def _chain_text(error: BaseException) -> str:
    """The messages of an exception and of those it wraps (MLflow wraps SQLAlchemy, which wraps sqlite3)."""
    texts, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        texts.append(f"{error} {getattr(error, 'strerror', '') or ''}")
        error = error.__cause__ or error.__context__
    return " ".join(texts).lower()


def sqlite_damage(path: Path) -> str | None:
    """Why the SQLite file at ``path`` is damaged (its own integrity check, read-only), or None if it is not."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as connection:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.OperationalError as error:
        return None if "locked" in str(error) else str(error)
    except sqlite3.DatabaseError as error:
        return str(error)
    return None if verdict == "ok" else verdict


def store_hint(uri: str, error: BaseException) -> str:
    """What to do about a failing tracking store, by what failed: only a damaged file is to be moved aside."""
    text = _chain_text(error)
    if "database is locked" in text or "database table is locked" in text:
        return (
            "another process is writing to it (a training, an evaluation, `mlflow ui`); wait for it to finish "
            "or close it, then rerun"
        )
    if "no space left" in text or "disk is full" in text or getattr(error, "errno", None) == errno.ENOSPC:
        return "the disk is full; free some space (the store and its artifacts folder) and rerun"
    if not uri.startswith("sqlite:///"):
        return "check the server, or unset MLFLOW_TRACKING_URI to use the local sqlite:///mlflow.db"
    path = Path(uri.removeprefix("sqlite:///"))
    damage = sqlite_damage(path) if path.is_file() else None
    if damage is not None:
        reason = first_line(RuntimeError(damage), 120)
        return f"{path} is damaged ({reason}): move it aside and rerun (a new one is created)"
    return "rerun with --debug for the full traceback"


def _bounded(method):
    """A RunLogger method whose tracking-store failures reach the user as one TrackingError line."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with _store_errors(self.uri):
            return method(self, *args, **kwargs)

    return wrapper


# What to do when a stage attaches to a training run that the store no longer has.
ATTACH_FIX = "restore the store, or retrain to make a new run: `dvc repro -f -s train`, then `dvc repro`"


def _require_store(uri: str, run_id: str | None) -> None:
    """A TrackingError unless there is a run id and, for SQLite, a store file to look for it in (checked
    before any client connects: connecting creates an empty store)."""
    if not run_id:
        raise TrackingError("no MLflow run id given: pass the id of a run in the tracking store (`make ui` lists them)")
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise TrackingError(f"MLflow run {run_id}: there is no store at {uri.removeprefix('sqlite:///')} (deleted "
                            f"or moved since the run was made); {ATTACH_FIX}")  # fmt: skip


class RunLogger:
    """One MLflow run, created or resumed, logged to in batches."""

    def __init__(self, uri: str, run_id: str | None = None, run_name: str | None = None, reopen: bool = True):
        import mlflow
        from mlflow import MlflowClient

        bound_http_calls()
        check_reachable(uri)
        self.uri = uri
        self._mlflow = mlflow
        self.resumed = False
        if not reopen:  # attach to a run that training made: never a new store or a new, empty run
            _require_store(uri, run_id)
        with _store_lock(uri), _store_errors(uri):
            # The registry URI too: without it a client takes whatever mlflow.set_registry_uri set
            # last in this process (another store's), and registers into the wrong file.
            self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            self.client.search_experiments(max_results=1)  # creates the schema of a new store
            if run_id is not None and self._exists(run_id):
                self.run_id = run_id
                if reopen:
                    self.client.update_run(run_id, status="RUNNING")
                self.resumed = True
            elif not reopen:
                raise TrackingError(f"MLflow run {run_id} is not in {uri}; {ATTACH_FIX}")
            else:
                if run_id is not None:
                    log.warning("MLflow run %s is not in %s; starting a new run", run_id, self.uri)
                run = self.client.create_run(self._experiment_id(), run_name=run_name)
                self.run_id = run.info.run_id

    def _exists(self, run_id: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_run(run_id).info.lifecycle_stage == "active"
        except MlflowException:
            return False

    def _experiment_id(self) -> str:
        from mlflow.exceptions import MlflowException

        for attempt in range(3):
            experiment = self.client.get_experiment_by_name(EXPERIMENT)
            if experiment is not None:
                return experiment.experiment_id
            try:
                return self.client.create_experiment(EXPERIMENT)
            except MlflowException:
                # Another process (e.g. on a shared server) created it at the same moment.
                time.sleep(0.2 * (attempt + 1))
        raise TrackingError(f"cannot create MLflow experiment {EXPERIMENT!r} in {self.uri}")

    @_bounded
    def run_url(self, ui: str = MLFLOW_UI) -> str:
        return run_url(self.client.get_run(self.run_id).info.experiment_id, self.run_id, ui)

    @_bounded
    def tags(self) -> dict[str, str]:
        return dict(self.client.get_run(self.run_id).data.tags)

    @_bounded
    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, "null" if v is None else str(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    @_bounded
    def set_tags(self, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    @_bounded
    def log_metrics(self, rows: Iterable[tuple[str, float, int]]) -> None:
        """Log (key, value, step) rows in as few writes as possible."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, int(step)) for key, value, step in rows]
        for i in range(0, len(metrics), _BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[i : i + _BATCH])

    @_bounded
    def logged_steps(self, key: str) -> set[int]:
        """The steps at which metric ``key`` has been logged in this run."""
        return {metric.step for metric in self.client.get_metric_history(self.run_id, key)}

    @_bounded
    def log_image(self, key: str, image: np.ndarray, step: int) -> None:
        self.client.log_image(self.run_id, image, key=key, step=step)

    @_bounded
    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    @_bounded
    def log_datasets(self, datasets: dict[str, tuple[str, str, str]]) -> None:
        """Record the run's data as MLflow dataset inputs: name -> (SHA-256, source path, context).

        The digest column holds 36 characters, so it gets the hash's first 32 hex digits and the
        profile the whole hash.
        """
        from mlflow.entities import Dataset, DatasetInput, InputTag

        inputs = [
            DatasetInput(
                Dataset(
                    name, sha256[:32], "local", json.dumps({"uri": source}), profile=json.dumps({"sha256": sha256})
                ),
                [InputTag("mlflow.data.context", context)],
            )
            for name, (sha256, source, context) in datasets.items()
        ]
        self.client.log_inputs(self.run_id, datasets=inputs)

    @_bounded
    def within(self, action):
        """Run ``action()`` with this run active in MLflow's fluent API (model logging and registering)."""
        self._mlflow.set_tracking_uri(self.uri)
        self._mlflow.set_registry_uri(self.uri)
        with self._mlflow.start_run(run_id=self.run_id):
            return action()

    @_bounded
    def with_client(self, action):
        """``action(client)``, with the store's failures reported as one line (Model Registry calls)."""
        return action(self.client)

    @_bounded
    def end(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)

    @_bounded
    def supersede(self, run_id: str, why: str = "the configuration changed") -> None:
        """Record that this run replaces ``run_id`` (whose checkpoint is discarded); end it if still RUNNING."""
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            return  # not in this store
        self.client.set_tag(run_id, "superseded_by", self.run_id)
        if run.info.status == "RUNNING":
            self.client.set_tag(run_id, "failure_reason", f"superseded by run {self.run_id}: {why}")
            self.client.set_terminated(run_id, status="KILLED")
            log.info("ended MLflow run %s (KILLED): superseded by %s", run_id, self.run_id)

    @contextlib.contextmanager
    def recording(self) -> Iterator[RunLogger]:
        """End the run with the status its outcome deserves, the reason in the ``failure_reason`` tag.

        FINISHED when the block completes; KILLED on Ctrl-C or SIGTERM (a rerun resumes); FAILED on
        anything else, re-raised.
        """
        try:
            yield self
        except KeyboardInterrupt as error:
            self.set_tags({"failure_reason": f"interrupted: {error or 'KeyboardInterrupt'}"})
            self.end("KILLED")
            raise
        except TrackingError:
            # The store itself is failing: each further call would wait out its time limit again. The run
            # is marked when the next training resumes or supersedes it.
            raise
        except BaseException as error:
            reason = str(error) if isinstance(error, PipelineError) else f"{type(error).__name__}: {error}"
            self.set_tags({"failure_reason": reason[:5000]})
            self.end("FAILED")
            raise
        self._retire_failure_reason()
        self.end("FINISHED")

    def _retire_failure_reason(self) -> None:
        """A resumed run that finishes keeps earlier failures in ``failure_history``, not as its reason."""
        tags = self.tags()
        if "failure_reason" in tags:
            history = [tags["failure_history"]] if "failure_history" in tags else []
            self.set_tags({"failure_history": " | ".join([*history, tags["failure_reason"]])[-5000:]})
            self.client.delete_tag(self.run_id, "failure_reason")


class NullRunLogger:
    """Stands in for RunLogger on non-chief workers: only the chief records the run."""

    resumed = True  # never log params from a worker
    run_id = ""

    @contextlib.contextmanager
    def recording(self) -> Iterator[NullRunLogger]:
        yield self

    def supersede(self, run_id: str, why: str = "") -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


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
