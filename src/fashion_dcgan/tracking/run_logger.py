"""One MLflow run, created or resumed, logged to in batches.

Everything goes through ``MlflowClient`` with an explicit run id, so no global "active run" is left for
``atexit`` to close as FINISHED after a crash."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fashion_dcgan.errors import PipelineError, TrackingError
from fashion_dcgan.tracking.names import EXPERIMENT
from fashion_dcgan.tracking.provenance import MLFLOW_UI, run_url
from fashion_dcgan.tracking.store import (
    ATTACH_FIX,
    _require_store,
    _store_errors,
    _store_lock,
    bound_http_calls,
    check_reachable,
)

log = logging.getLogger(__name__)


_BATCH = 1000  # MLflow's limit of metrics per log_batch call


def _bounded(method):
    """A RunLogger method whose tracking-store failures reach the user as one TrackingError line."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with _store_errors(self.uri):
            return method(self, *args, **kwargs)

    return wrapper


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
