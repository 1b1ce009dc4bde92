"""Saving Keras models atomically and loading them safely, with errors a user can act on."""

from __future__ import annotations

import zipfile
from pathlib import Path

from fashion_dcgan.dataset import IMAGE_SHAPE
from fashion_dcgan.errors import ModelFileError, first_line
from fashion_dcgan.files import atomic_path


def save_model(model, path: str | Path) -> None:
    """Write a ``.keras`` file under a temporary name and rename it: a kill never leaves half a model."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def load_model(path: str | Path):
    """Load a ``.keras`` file with ``safe_mode=True``: a model file cannot run arbitrary code."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found; run `dvc repro train` or pass --model")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a Keras .keras archive (corrupt or truncated?)")
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad archive
        raise ModelFileError(f"{path}: cannot load model ({first_line(error)})") from None


def load_generator(path: str | Path):
    """A generator mapping (N, latent_dim) to (N, 28, 28, 1)."""
    model = load_model(path)
    inputs, outputs = tuple(model.input_shape), tuple(model.output_shape)
    if len(inputs) != 2 or inputs[1] is None or outputs[1:] != IMAGE_SHAPE:
        raise ModelFileError(
            f"{path}: not a generator: maps {inputs} to {outputs}, expected (None, latent_dim) to (None, 28, 28, 1)"
        )
    return model


def latent_dim(generator) -> int:
    return int(generator.input_shape[1])
