"""MLflow tracking, by what it does:

- ``tracking.store``: where runs go (``tracking_uri``), a fast reachability check, bounded HTTP calls,
  and one-line errors that say what to do about a failing store;
- ``tracking.run_logger``: one run, created or resumed, logged to in batches (``RunLogger``);
- ``tracking.provenance``: what a run records about where it came from, its page in `mlflow ui`, and
  the generator files a model URI names;
- ``tracking.names``: what things are called in the store (experiment, registered model, tags).

This package file re-exports them.
"""

from fashion_dcgan.tracking.names import CHAMPION, EPOCHS_TAG, EXPERIMENT, KEPT_EPOCH_TAG, REGISTERED_MODEL
from fashion_dcgan.tracking.provenance import (
    MLFLOW_UI,
    dataset_inputs,
    git_commit,
    is_model_uri,
    model_file,
    recorded_run_id,
    run_tags,
    run_url,
)
from fashion_dcgan.tracking.run_logger import NullRunLogger, RunLogger
from fashion_dcgan.tracking.store import (
    ATTACH_FIX,
    HTTP_LIMITS,
    bound_http_calls,
    check_reachable,
    project_root,
    sqlite_damage,
    store_hint,
    tracking_uri,
    use_store,
)

__all__ = [
    "ATTACH_FIX",
    "CHAMPION",
    "EPOCHS_TAG",
    "EXPERIMENT",
    "HTTP_LIMITS",
    "KEPT_EPOCH_TAG",
    "MLFLOW_UI",
    "REGISTERED_MODEL",
    "NullRunLogger",
    "RunLogger",
    "bound_http_calls",
    "check_reachable",
    "dataset_inputs",
    "git_commit",
    "is_model_uri",
    "model_file",
    "project_root",
    "recorded_run_id",
    "run_tags",
    "run_url",
    "sqlite_damage",
    "store_hint",
    "tracking_uri",
    "use_store",
]
