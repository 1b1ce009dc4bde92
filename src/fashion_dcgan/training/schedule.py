"""Learning rates over the run: constant, then an optional decay to zero (``train.lr_schedule``)."""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fashion_dcgan")
class ConstantThenDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``rate`` until step ``start * total_steps``, then a linear or cosine fall to zero at ``total_steps``.

    A pure function of the optimizer's step counter, which the training checkpoint holds: a resumed
    run continues on exactly the same rates. ``decay="none"`` is the constant rate.
    """

    def __init__(self, rate: float, total_steps: int, decay: str = "none", start: float = 0.6):
        if decay not in ("none", "linear", "cosine"):
            raise ValueError(f"unknown learning-rate decay {decay!r}; known: none, linear, cosine")
        self.rate, self.total_steps, self.decay, self.start = float(rate), int(total_steps), decay, float(start)

    def factor(self, step):
        """The share of ``rate`` at ``step`` (1 before the decay, 0 at and after the last step)."""
        step = ops.cast(step, "float32")
        if self.decay == "none":
            return ops.ones_like(step)
        # The share of the decay still ahead: 1 until it begins, exactly 0 from the last step on.
        length = max(self.total_steps * (1.0 - self.start), 1.0)
        remaining = ops.clip((self.total_steps - step) / length, 0.0, 1.0)
        if self.decay == "linear":
            return remaining
        return 0.5 * (1.0 - ops.cos(math.pi * remaining))

    def __call__(self, step):
        return self.rate * self.factor(step)

    def get_config(self) -> dict:
        return {"rate": self.rate, "total_steps": self.total_steps, "decay": self.decay, "start": self.start}
