"""The generator as an MLflow pyfunc model that anyone can call.

The model takes a small table, one request per row: ``n`` (how many images), ``seed`` (the latent
noise) and an optional ``class`` (a class name such as "sneaker", case-insensitive, or an index 0-9;
only for class-conditional generators, which otherwise cycle through the classes; asking an
unconditional generator for a class is an error). It returns uint8 images (total n, 28, 28), so
``mlflow models serve`` answers ``/invocations`` with plain pixel arrays.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from fashion_dcgan.data.fashion_mnist import IMAGE_SIZE, class_index
from fashion_dcgan.gan.networks import is_conditional
from fashion_dcgan.gan.sampling import cycled_labels, generate, latents
from fashion_dcgan.imaging import to_uint8
from fashion_dcgan.modelfiles import latent_dim

log = logging.getLogger(__name__)
# Per request, at most: about 9 s through `fashion-dcgan serve` on 2 bfloat16 cores, mostly writing JSON.
# `fashion-dcgan serve` lowers it at start-up to what the machine it runs on finishes in time (server.Limits).
MAX_IMAGES = 10_000
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


def whole_number(value: Any, low: int, high: int) -> int | None:
    """``value`` as an int from ``low`` to ``high``, or None: a bool, a fraction, a non-finite or huge
    number, or text other than ASCII digits is not a whole number of images or a seed."""
    if isinstance(value, bool | np.bool_) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"\+?[0-9]{1,19}(\.0*)?", text):
            return None
        number = int(text.split(".")[0])
    elif isinstance(value, int | np.integer):
        number = int(value)
    elif isinstance(value, float | np.floating):
        if not math.isfinite(value) or value != math.floor(value):
            return None
        number = int(value)
    else:
        return None
    return number if low <= number <= high else None


def _whole_numbers(rows: pd.DataFrame, column: str, low: int, high: int) -> list[int]:
    numbers = [whole_number(value, low, high) for value in rows[column].tolist()]
    if None in numbers:
        shown = rows[column].iloc[numbers.index(None)]
        shown = shown.item() if isinstance(shown, np.generic) else shown  # 1.5, not np.float64(1.5)
        text = repr(shown) if len(repr(shown)) <= 40 else f"{repr(shown)[:20]}… ({len(repr(shown))} characters)"
        raise BadRequest(f"`{column}` must be a whole number from {low:,} to {high:,} in every row, got {text}")
    return numbers  # type: ignore[return-value]


def parse_requests(model_input: Any, conditional: bool, max_images: int = MAX_IMAGES) -> list[ImageRequest]:
    """The rows of a request, checked before any work: at most :data:`MAX_ROWS` rows and ``max_images``
    images in all, whole numbers only, known classes, and a class only for a class-conditional
    generator. Anything else is a :class:`BadRequest` saying what is expected."""
    rows = pd.DataFrame(model_input)
    if rows.empty:
        raise BadRequest("empty request: send one row or more, each with `n` and `seed` (and `class`)")
    unknown = [str(c) for c in rows.columns if c not in COLUMNS]
    missing = [c for c in ("n", "seed") if c not in rows.columns]
    if unknown or missing:
        raise BadRequest(f"columns must be n, seed and optionally class; unknown {unknown}, missing {missing}")
    if len(rows) > MAX_ROWS:
        raise BadRequest(f"{len(rows):,} rows: at most {MAX_ROWS} per request")
    counts = _whole_numbers(rows, "n", 1, max_images)
    seeds = _whole_numbers(rows, "seed", 0, MAX_SEED)
    if sum(counts) > max_images:
        raise BadRequest(f"{sum(counts):,} images: at most {max_images:,} per request, all rows together")
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

    max_images = MAX_IMAGES  # per request; `fashion-dcgan serve` sets what this machine finishes in time
    # One generation at a time per process. Each already uses every core, so two at once are no faster,
    # and oneDNN keeps its memory pool at the peak of both for good: after a burst of maximal requests the
    # server stayed 44% above its idle RSS, against 13% with this (benchmarks/load_test.py --burst).
    # Requests still overlap where it helps: one writes its JSON while the next generates.
    generating = threading.Lock()

    def load_context(self, context) -> None:
        from fashion_dcgan.modelfiles import load_generator

        self.generator = load_generator(context.artifacts["generator"])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        from mlflow.exceptions import MlflowException

        try:
            requests = parse_requests(model_input, is_conditional(self.generator), self.max_images)
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
        with self.generating:
            images = generate(self.generator, noise, labels=labels)
        return to_uint8(images)


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


# What the served code imports beyond this package (its import closure: serving/pyfunc.py and what it
# imports); the model's environment gets exactly the versions installed here.
SERVED_REQUIREMENTS = ("tensorflow", "keras", "mlflow", "numpy", "pandas", "pillow")


def requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in SERVED_REQUIREMENTS]


def _all_but_python(folder: str, names: list[str]) -> list[str]:
    """What the model's code leaves out: data files (weights, templates) and caches."""
    kept = [name for name in names if name.endswith(".py") or Path(folder, name).is_dir()]
    return [name for name in names if name not in kept or name == "__pycache__"]


@contextlib.contextmanager
def _model_files(generator) -> Iterator[dict[str, Any]]:
    """The pyfunc model's arguments: :data:`MODEL_CODE` (MLflow's "model from code") with the
    ``.keras`` file as an artifact, its signature, an input example, pinned requirements, and this
    package's Python files as the model's code, so that it loads where the project is not installed."""
    import shutil

    package = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generator.keras"
        generator.save(path)
        code = Path(tmp) / "code" / package.name
        shutil.copytree(package, code, ignore=_all_but_python)
        yield {
            "python_model": str(MODEL_CODE),
            "artifacts": {"generator": str(path)},
            "code_paths": [str(code)],
            "signature": signature(),
            "input_example": pd.DataFrame({"n": [2], "seed": [0]}),
            "pip_requirements": requirements(),
        }


def log_generator(generator, name: str = "generator") -> None:
    """Log ``generator`` as a pyfunc model of the active MLflow run (see ``RunLogger.within``)."""
    with _model_files(generator) as files:
        mlflow.pyfunc.log_model(name=name, **files)


def save_generator(generator, directory: str | Path) -> None:
    """Save ``generator`` as the same pyfunc model in a local directory, outside any tracking store."""
    with _model_files(generator) as files:
        mlflow.pyfunc.save_model(str(directory), **files)
