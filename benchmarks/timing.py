"""A timed training run: the train stage's own ``training.train``, with nothing recorded, in a scratch folder."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np


def timed_epochs(
    params, data: np.ndarray, extra_callbacks: Sequence[keras.callbacks.Callback] = (), labels: np.ndarray | None = None
) -> list[float]:
    """Images per second of each epoch of ``params``' training on ``data`` after the first, which traces
    the step and is not counted. A class-conditional model trains on ``labels``, by default the classes
    in turn. The global precision policy is float32 again afterwards."""
    from fashion_dcgan.tracking import NullRunLogger
    from fashion_dcgan.training.loop import TrainingPaths, train

    if labels is None and params.model.conditional:
        labels = np.arange(len(data), dtype=np.int32) % 10
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = train(params, data, TrainingPaths.under(Path(tmp)), lambda _: NullRunLogger(), verbose=0,
                           extra_callbacks=list(extra_callbacks), labels=labels)  # fmt: skip
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return [row["images_per_second"] for row in result.epochs[1:]]
