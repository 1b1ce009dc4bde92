"""The generator as an MLflow pyfunc model that anyone can call, and its place in the Model Registry.

The model takes a small table, one request per row: ``n`` (how many images), ``seed`` (the latent
noise) and an optional ``class`` (a class name such as "sneaker", case-insensitive, or an index 0-9;
only for class-conditional generators, which otherwise cycle through the classes; asking an
unconditional generator for a class is an error). It returns uint8 images (total n, 28, 28), so
``mlflow models serve`` answers ``/invocations`` with plain pixel arrays.
"""

from __future__ import annotations

import logging
import tempfile
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
from fashion_dcgan.sampling import generate, latents

log = logging.getLogger(__name__)
MAX_IMAGES = 10_000  # per request
REGISTERED_MODEL = "fashion-dcgan-generator"
CHAMPION = "champion"


class GeneratorModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from fashion_dcgan.modelfiles import load_generator

        self.generator = load_generator(context.artifacts["generator"])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        rows = pd.DataFrame(model_input)
        classes = rows["class"] if "class" in rows else pd.Series([None] * len(rows))
        conditional = is_conditional(self.generator)
        if classes.notna().any() and not conditional:
            raise ValueError("this generator is unconditional: leave out the `class` column")
        counts = rows["n"].astype(int)
        if (counts < 1).any() or counts.sum() > MAX_IMAGES:
            raise ValueError(f"each n must be at least 1 and all together at most {MAX_IMAGES:,}")
        dim = latent_dim(self.generator)
        images = []
        for n, seed, name in zip(counts, rows["seed"], classes, strict=True):
            labels = None if pd.isna(name) else np.full(int(n), class_index(name), np.int32)
            images.append(to_uint8(generate(self.generator, latents(int(seed), int(n), dim), labels=labels)))
        return np.concatenate(images)


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    inputs = Schema([ColSpec("long", "n"), ColSpec("long", "seed"), ColSpec("string", "class", required=False)])
    outputs = Schema([TensorSpec(np.dtype(np.uint8), (-1, *IMAGE_SIZE))])
    return ModelSignature(inputs=inputs, outputs=outputs)


def log_generator(generator, name: str = "generator") -> None:
    """Log ``generator`` as a pyfunc model of the active MLflow run (see ``RunLogger.within``)."""
    import keras
    import tensorflow as tf

    requirements = [f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}", f"mlflow=={mlflow.__version__}"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generator.keras"
        generator.save(path)
        mlflow.pyfunc.log_model(
            name=name,
            python_model=GeneratorModel(),
            artifacts={"generator": str(path)},
            signature=signature(),
            input_example=pd.DataFrame({"n": [2], "seed": [0]}),
            pip_requirements=requirements,
        )


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
        version = client.create_model_version(name, f"models:/{model_id}", run_id=run_id, model_id=model_id).version
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
