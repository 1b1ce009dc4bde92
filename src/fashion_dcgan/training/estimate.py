"""How long training will take here: the training step timed on this machine, and the run it implies.

The step is timed after Keras has traced it (the first call), over at least :data:`TIMED_STEPS`
steps; the per-epoch extras (the monitor, the grid, the checkpoint) are small beside an epoch's
steps and are not counted. The train stage logs the estimate after its first timed steps and
records it as MLflow tags; `fashion-dcgan doctor` measures the same before a run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras

from fashion_dcgan.training.runtime import machine_class

TIMED_STEPS = 20  # steps timed after the traced first call and the warm-up
# Steps after the traced first call that are not timed: oneDNN builds its kernels for each new shape on
# first use, and the first steps ran up to twice as long as the rest (bfloat16, 2 cores).
WARMUP_STEPS = 3
# A run expected to take longer than this names the quicker recipe.
LONG_RUN_S = 30 * 60
QUICK_RECIPE = "quick"


def duration(seconds: float) -> str:
    """``seconds`` as a person reads a wait: "40 s", "7.5 min", "1.2 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min" if seconds < 600 else f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class Estimate:
    seconds_per_step: float
    steps_per_epoch: int
    epochs: int  # the epochs still to train
    precision: str  # the Keras policy the step ran under
    reason: str  # why that precision here (runtime.precision_reason)

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds_per_step * self.steps_per_epoch

    @property
    def total_seconds(self) -> float:
        return self.seconds_per_epoch * self.epochs

    def line(self, quicker: str | None = None) -> str:
        """One line: the path, its reason, and the wait, e.g. ``float32: this CPU has no bfloat16 units;
        8 epochs: about 58 min (7.3 min an epoch)``; a long run names the ``quicker`` recipe, if any."""
        text = (
            f"{self.precision}: {self.reason}; {self.epochs} epochs: about {duration(self.total_seconds)} "
            f"({duration(self.seconds_per_epoch)} an epoch)"
        )
        if quicker and self.total_seconds > LONG_RUN_S:
            text += f"; for a shorter run: `fashion-dcgan preset {quicker}` (docs/results.md)"
        return text

    def tags(self) -> dict[str, str]:
        """The estimate as MLflow tags, beside the run's own measured epoch times."""
        return {
            "estimate.machine_class": machine_class(self.precision),
            "estimate.path": f"{self.precision}: {self.reason}",
            "estimate.seconds_per_epoch": f"{self.seconds_per_epoch:.1f}",
            "estimate.total_seconds": f"{self.total_seconds:.1f}",
        }


def quicker_recipe(params) -> str | None:
    """The quick recipe's name, unless there is none or it is what ``params`` already train."""
    from fashion_dcgan.config import parse_params
    from fashion_dcgan.config.recipes import RECIPES_DIR, merge, recipe

    if not (RECIPES_DIR / f"{QUICK_RECIPE}.yaml").is_file():
        return None
    quick = parse_params(merge(recipe(QUICK_RECIPE), {"data": {"train_limit": params.data.train_limit}}))
    return None if quick.training_hash() == params.training_hash() else QUICK_RECIPE


class StepTimer(keras.callbacks.Callback):
    """Times the training step after its first (traced) call and :data:`WARMUP_STEPS` more, until at least
    ``steps`` steps have run, then hands the seconds per step to ``report`` once. A call runs
    ``steps_per_call`` steps."""

    def __init__(self, steps_per_call: int, report: Callable[[float], None], steps: int = TIMED_STEPS):
        super().__init__()
        self.steps_per_call, self.report, self.steps = steps_per_call, report, steps
        self.started: float | None = None
        self.seen = self.counted = 0
        self.done = False

    def on_epoch_begin(self, epoch, logs=None):
        self.started, self.seen = None, 0  # the epoch's end (grids, checkpoint) is not a step

    def on_train_batch_end(self, batch, logs=None):
        if self.done:
            return
        now = time.perf_counter()
        self.seen += self.steps_per_call
        if self.started is None:
            if self.seen >= self.steps_per_call + WARMUP_STEPS:  # the traced call and the warm-up are behind
                self.started, self.counted = now, 0
            return
        self.counted += self.steps_per_call
        if self.counted >= self.steps:
            self.done = True
            self.report((now - self.started) / self.counted)

    @staticmethod
    def calls_needed(steps_per_call: int, steps: int = TIMED_STEPS) -> int:
        """Calls of ``steps_per_call`` steps that one timing takes, the traced call and the warm-up included."""
        return 1 + math.ceil(WARMUP_STEPS / steps_per_call) + math.ceil(steps / steps_per_call)
