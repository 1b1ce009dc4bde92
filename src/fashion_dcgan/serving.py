"""The generator as an MLflow pyfunc model that anyone can call, and its place in the Model Registry.

The model takes a small table, one request per row: ``n`` (how many images), ``seed`` (the latent
noise) and an optional ``class`` (a class name such as "sneaker", case-insensitive, or an index 0-9;
only for class-conditional generators, which otherwise cycle through the classes; asking an
unconditional generator for a class is an error). It returns uint8 images (total n, 28, 28), so
``mlflow models serve`` answers ``/invocations`` with plain pixel arrays.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from fashion_dcgan.data.fashion_mnist import IMAGE_SIZE, class_index
from fashion_dcgan.errors import TrackingError
from fashion_dcgan.imaging import to_uint8
from fashion_dcgan.modelfiles import latent_dim
from fashion_dcgan.networks import is_conditional
from fashion_dcgan.sampling import cycled_labels, generate, latents
from fashion_dcgan.tracking import CHAMPION, REGISTERED_MODEL

log = logging.getLogger(__name__)
MAX_IMAGES = 10_000  # per request: about 2 s of sampling on a 2-core CPU, well inside the server's 60 s
MAX_ROWS = 100  # per request: each row is a separate latent draw and class
MAX_SEED = 2**31 - 1
COLUMNS = ("n", "seed", "class")
MODEL_CODE = Path(__file__).with_name("served_model.py")


class BadRequest(ValueError):
    """A request the generator refuses, with the reason a client should read."""


@dataclass(frozen=True)
class ImageRequest:
    n: int
    seed: int
    label: int | None  # a class index, or None (a conditional generator then cycles through the classes)


def _whole_numbers(rows: pd.DataFrame, column: str, low: int, high: int) -> list[int]:
    values = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values != np.floor(values)) | (values < low) | (values > high)
    if bad.any():
        shown = rows[column].iloc[int(np.flatnonzero(bad)[0])]
        shown = shown.item() if isinstance(shown, np.generic) else shown  # 1.5, not np.float64(1.5)
        raise BadRequest(f"`{column}` must be a whole number from {low:,} to {high:,} in every row, got {shown!r}")
    return [int(v) for v in values]


def parse_requests(model_input: Any, conditional: bool) -> list[ImageRequest]:
    """The rows of a request, checked before any work: at most :data:`MAX_ROWS` rows and
    :data:`MAX_IMAGES` images in all, whole numbers only, known classes, and a class only for a
    class-conditional generator. Anything else is a :class:`BadRequest` saying what is expected."""
    rows = pd.DataFrame(model_input)
    if rows.empty:
        raise BadRequest("empty request: send one row or more, each with `n` and `seed` (and `class`)")
    unknown = [str(c) for c in rows.columns if c not in COLUMNS]
    missing = [c for c in ("n", "seed") if c not in rows.columns]
    if unknown or missing:
        raise BadRequest(f"columns must be n, seed and optionally class; unknown {unknown}, missing {missing}")
    if len(rows) > MAX_ROWS:
        raise BadRequest(f"{len(rows):,} rows: at most {MAX_ROWS} per request")
    counts = _whole_numbers(rows, "n", 1, MAX_IMAGES)
    seeds = _whole_numbers(rows, "seed", 0, MAX_SEED)
    if sum(counts) > MAX_IMAGES:
        raise BadRequest(f"{sum(counts):,} images: at most {MAX_IMAGES:,} per request, all rows together")
    classes = rows["class"] if "class" in rows else pd.Series([None] * len(rows))
    if classes.notna().any() and not conditional:
        raise BadRequest("this generator is unconditional: leave out the `class` column")
    labels = []
    for name in classes:
        try:
            labels.append(None if pd.isna(name) else class_index(name))
        except ValueError as error:
            raise BadRequest(str(error)) from None
    return [ImageRequest(*row) for row in zip(counts, seeds, labels, strict=True)]


class GeneratorModel(mlflow.pyfunc.PythonModel):
    """The generator as a pyfunc model. It is logged as code (``served_model.py``), not as a pickle, and
    loads the ``.keras`` generator in Keras' safe mode: a model in the store cannot run code."""

    def load_context(self, context) -> None:
        from fashion_dcgan.modelfiles import load_generator

        self.generator = load_generator(context.artifacts["generator"])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        from mlflow.exceptions import MlflowException

        try:
            requests = parse_requests(model_input, is_conditional(self.generator))
        except BadRequest as error:
            # MLflow's server answers an MlflowException with its code (400) and message, no traceback.
            raise MlflowException.invalid_parameter_value(str(error)) from None
        dim = latent_dim(self.generator)
        noise = np.concatenate([latents(r.seed, r.n, dim) for r in requests])
        labels = None
        if is_conditional(self.generator):  # a row without a class cycles through them, as `fashion-dcgan sample`
            labels = np.concatenate(
                [cycled_labels(r.n) if r.label is None else np.full(r.n, r.label, np.int32) for r in requests]
            )
        return to_uint8(generate(self.generator, noise, labels=labels))


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec
    from mlflow.types.schema import AnyType

    # n and seed are whole numbers, checked by parse_requests, but declared Any: MLflow's server casts
    # each JSON value to the declared type before the model sees it, and "long" turns 1.5 into 1.
    whole = AnyType()
    inputs = Schema([ColSpec(whole, "n"), ColSpec(whole, "seed"), ColSpec("string", "class", required=False)])
    outputs = Schema([TensorSpec(np.dtype(np.uint8), (-1, *IMAGE_SIZE))])
    return ModelSignature(inputs=inputs, outputs=outputs)


@contextlib.contextmanager
def _model_files(generator) -> Iterator[dict[str, Any]]:
    """The pyfunc model's arguments: :data:`MODEL_CODE` (MLflow's "model from code") with the
    ``.keras`` file as an artifact, its signature, an input example and pinned requirements."""
    import keras
    import tensorflow as tf

    requirements = [f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}", f"mlflow=={mlflow.__version__}"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generator.keras"
        generator.save(path)
        yield {
            "python_model": str(MODEL_CODE),
            "artifacts": {"generator": str(path)},
            "signature": signature(),
            "input_example": pd.DataFrame({"n": [2], "seed": [0]}),
            "pip_requirements": requirements,
        }


def log_generator(generator, name: str = "generator") -> None:
    """Log ``generator`` as a pyfunc model of the active MLflow run (see ``RunLogger.within``)."""
    with _model_files(generator) as files:
        mlflow.pyfunc.log_model(name=name, **files)


def save_generator(generator, directory: str | Path) -> None:
    """Save ``generator`` as the same pyfunc model in a local directory, outside any tracking store."""
    with _model_files(generator) as files:
        mlflow.pyfunc.save_model(str(directory), **files)


def logged_generator_id(client, run_id: str, name: str = "generator") -> str:
    """The id of the generator model logged by run ``run_id`` (the last one, if it was logged twice)."""
    run = client.get_run(run_id)
    found = client.search_logged_models(
        [run.info.experiment_id],
        filter_string=f"source_run_id = '{run_id}' AND name = '{name}'",
        order_by=[{"field_name": "creation_timestamp", "ascending": False}],
        max_results=1,
    )
    if not found:
        raise TrackingError(f"MLflow run {run_id} logged no model named {name!r}; rerun the train stage")
    return found[0].model_id


def register_run(tracker, fid: float) -> str:
    """Register the tracker's run in the Model Registry (:func:`register`), tag the run with its
    version, and say what happened to the champion alias, in words."""
    version, what = tracker.with_client(lambda client: register(client, tracker.run_id, fid))
    tracker.set_tags({"registered_model": f"{REGISTERED_MODEL}/{version}"})
    return f"Model Registry, {REGISTERED_MODEL}: {what}"


def register(client, run_id: str, fid: float, name: str = REGISTERED_MODEL) -> tuple[str, str]:
    """Register the run's generator (once per run), record its FID on the version, and move the
    ``champion`` alias to it only when its FID beats the current champion's. Returns (version, what
    happened, in words).

    Everything goes through ``client`` (MLflow's fluent ``register_model`` opens its own client on
    the process-wide registry URI, which need not be this store).
    """
    from mlflow.exceptions import MlflowException

    existing = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if existing:
        version = existing[0].version
    else:
        model_id = logged_generator_id(client, run_id)
        try:
            client.create_registered_model(name)
        except MlflowException as error:
            if error.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        # The logged model's own location, not `models:/<id>`: MLflow's registry resolves such a URI
        # through the process-wide tracking URI, not this client's (in a `dvc exp run --queue` copy
        # that is another, empty store, and the registration fails).
        source = client.get_logged_model(model_id).artifact_location
        version = client.create_model_version(name, source, run_id=run_id, model_id=model_id).version
    client.set_model_version_tag(name, version, "fid", f"{fid:.6g}")
    before = _alias_version(client, name)
    champion, best = settle_champion(client, name)
    if champion == str(version):
        if before == str(version):
            return version, f"version {version} stays the champion (FID {fid:.1f})"
        was = f"version {before}" if before is not None else "none"
        return version, f"version {version} (FID {fid:.1f}) is the new champion (was {was})"
    return version, f"version {version} (FID {fid:.1f}) does not beat the champion, version {champion} (FID {best:.1f})"


def _alias_version(client, name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def settle_champion(client, name: str = REGISTERED_MODEL, rounds: int = 20) -> tuple[str, float]:
    """Point the ``champion`` alias at the version with the lowest recorded FID (the older one on a tie),
    then read again until the store agrees; return (version, FID).

    Two evaluations registering at once may each decide from a read the other has made stale; the
    one whose alias write lands last then reads again and repairs it. Every writer leaves only after
    a read, taken after its own write, that shows the alias on the best version.
    """
    for _ in range(rounds):
        scored = [
            (float(version.tags["fid"]), int(version.version))
            for version in client.search_model_versions(f"name = '{name}'")
            if "fid" in version.tags
        ]
        best_fid, best = min(scored)
        if _alias_version(client, name) == str(best):
            return str(best), best_fid
        client.set_registered_model_alias(name, CHAMPION, str(best))
    raise TrackingError(f"Model Registry {name}: the champion alias kept changing under concurrent writers; rerun")
