"""Where runs go and how the store is reached: the tracking URI, a fast reachability check, bounded HTTP
calls, and one-line errors that say what to do about a failing store."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from fashion_dcgan.errors import TrackingError, first_line

# Every call to a remote tracking server is bounded: at most 3 tries of 10 s each with 1 s and 2 s
# between them (MLflow's own defaults are a 120 s timeout and 7 tries with backoff 2, a quarter of an
# hour against a stuck server). Set any of these in the environment to override.
HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
}


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


def bound_http_calls() -> None:
    """Apply :data:`HTTP_LIMITS` to MLflow's HTTP client, unless the environment already sets them."""
    for name, value in HTTP_LIMITS.items():
        os.environ.setdefault(name, value)


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
