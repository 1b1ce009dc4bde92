"""Saving Keras models atomically and loading them safely, with errors a user can act on."""

from __future__ import annotations

import zipfile
from pathlib import Path

from fashion_dcgan.data.fashion_mnist import IMAGE_SHAPE
from fashion_dcgan.errors import ModelFileError, first_line
from fashion_dcgan.files import atomic_path


def save_model(model, path: str | Path) -> None:
    """Write a ``.keras`` file under a temporary name and rename it: a kill never leaves half a model."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def check_model_file(path: str | Path) -> Path:
    """``path`` if it is a ``.keras`` archive, else one ModelFileError line; checked without loading Keras."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found; run `dvc repro train` or pass --model")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a Keras .keras archive (corrupt or truncated?)")
    return path


def load_model(path: str | Path):
    """Load a ``.keras`` file with ``safe_mode=True``: a model file cannot run arbitrary code."""
    path = check_model_file(path)
    import keras

    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad archive
        raise ModelFileError(f"{path}: cannot load model ({first_line(error)})") from None


def load_generator(path: str | Path):
    """A generator mapping (N, latent_dim), or [(N, latent_dim), (N,) labels], to (N, 28, 28, 1)."""
    model = load_model(path)
    shapes = [tuple(tensor.shape) for tensor in model.inputs]
    outputs = tuple(model.output_shape) if not isinstance(model.output_shape, list) else None
    latent_ok = len(shapes[0]) == 2 and shapes[0][1] is not None
    label_ok = len(shapes) == 1 or (len(shapes) == 2 and len(shapes[1]) == 1)
    if not (latent_ok and label_ok) or outputs is None or outputs[1:] != IMAGE_SHAPE:
        raise ModelFileError(
            f"{path}: not a generator: maps {shapes} to {model.output_shape}, expected (None, latent_dim) "
            "(and (None,) class labels) to (None, 28, 28, 1)"
        )
    return model


def latent_dim(generator) -> int:
    return int(generator.inputs[0].shape[1])
