"""What happens around the training step, as Keras callbacks over one shared :class:`TrainingState`.

``fit`` calls them in list order at the end of every epoch: the history summarises the epoch, the
monitor and the grid add to it, the checkpoint commits it, and the MLflow logger records it. The
divergence guard checks every step the progress bar sees.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from PIL import Image

from fashion_dcgan.checkpoint import TrainingCheckpoint
from fashion_dcgan.errors import TrainingDiverged
from fashion_dcgan.imaging import save_png
from fashion_dcgan.runtime import raise_if_terminated
from fashion_dcgan.sampling import render_grid

log = logging.getLogger(__name__)

Monitor = Callable[[keras.Model], tuple[dict[str, float], str | None]]


@dataclass
class TrainingState:
    """Everything a checkpoint records besides the variables, and the epoch being finished."""

    params_hash: str
    epoch: int = 0  # last completed epoch
    mlflow_run_id: str | None = None
    epochs: list[dict[str, float]] = field(default_factory=list)  # one row per completed epoch
    steps: list[dict[str, float]] = field(default_factory=list)  # one row per logging window
    # The epoch in progress, filled in by the callbacks and committed by SaveCheckpoint.
    summary: dict[str, float] = field(default_factory=dict, repr=False)
    window_rows: list[dict[str, float]] = field(default_factory=list, repr=False)
    grid: np.ndarray | None = field(default=None, repr=False)

    RECORDED = ("params_hash", "epoch", "mlflow_run_id", "epochs", "steps")

    def record(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.RECORDED}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TrainingState:
        return cls(**{key: record[key] for key in cls.RECORDED})


class DivergenceGuard(keras.callbacks.Callback):
    """Stop at the first non-finite loss (``TerminateOnNaN`` only watches ``logs["loss"]``)."""

    def __init__(self, names: Sequence[str] = ("d_loss", "g_loss")):
        super().__init__()
        self.names = names

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        bad = [name for name in self.names if not math.isfinite(float(logs[name]))]
        if bad:
            raise TrainingDiverged(f"{' and '.join(bad)} became non-finite in epoch {self.epoch + 1}, step {batch + 1}")


class StopOnSignal(keras.callbacks.Callback):
    """Ends training at the next batch when a SIGTERM's exception was swallowed (see ``runtime``)."""

    def on_train_batch_end(self, batch, logs=None):
        raise_if_terminated()

    def on_epoch_end(self, epoch, logs=None):
        raise_if_terminated()


class MetricHistory(keras.callbacks.Callback):
    """Per-step window means of the objective's metrics, and the epoch summary."""

    def __init__(self, state: TrainingState, names: Sequence[str], steps_per_epoch: int, every: int, batch: int):
        super().__init__()
        self.state = state
        self.names = tuple(names)
        self.steps_per_epoch = steps_per_epoch
        self.every = every
        self.batch = batch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.started = time.perf_counter()
        self.last = (0, dict.fromkeys(self.names, 0.0))
        self.state.window_rows = []

    def on_train_batch_end(self, batch, logs=None):
        done = batch + 1
        count, sums = self.last
        # With several steps per call this runs every Nth step only: log once `every` steps have passed.
        if done - count < self.every and done != self.steps_per_epoch:
            return
        # The logs hold running epoch means; recover the mean over the steps since the last row.
        totals = {name: float(logs[name]) * done for name in self.names}
        row = {name: (totals[name] - sums[name]) / (done - count) for name in self.names}
        self.state.window_rows.append({"step": self.epoch * self.steps_per_epoch + done, **row})
        self.last = (done, totals)

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        summary = {name: float(logs[name]) for name in self.names}
        summary.update(epoch_seconds=seconds, images_per_second=self.steps_per_epoch * self.batch / seconds)
        for name in ("d_optimizer", "g_optimizer"):
            scale = getattr(getattr(self.model, name), "dynamic_scale", None)
            if scale is not None:
                summary[f"{name[0]}_loss_scale"] = float(scale)
        self.state.summary = summary


class CollapseCheck(keras.callbacks.Callback):
    """Runs the collapse monitor on the sampling generator; warns in the log and tags the run."""

    def __init__(self, state: TrainingState, monitor: Monitor, tracker: Any):
        super().__init__()
        self.state = state
        self.monitor = monitor
        self.tracker = tracker

    def on_epoch_end(self, epoch, logs=None):
        metrics, warning = self.monitor(self.model.sampler)
        self.state.summary.update(metrics)
        if warning:
            log.warning("epoch %d: %s", epoch + 1, warning)
            self.tracker.set_tags({"mode_collapse_alarm": f"epoch {epoch + 1}: {warning}"})


class FixedNoiseGrid(keras.callbacks.Callback):
    """The tutorial's picture: the same latent batch after every epoch, as epoch_NNNN.png."""

    def __init__(self, state: TrainingState, noise: np.ndarray, directory: Path):
        super().__init__()
        self.state = state
        self.noise = noise
        self.directory = directory

    def on_epoch_end(self, epoch, logs=None):
        self.state.grid = render_grid(self.model.sampler, self.noise)
        save_png(self.directory / f"epoch_{epoch + 1:04d}.png", self.state.grid)


class SaveCheckpoint(keras.callbacks.Callback):
    """Commits the finished epoch to the state and writes the checkpoint."""

    def __init__(self, state: TrainingState, checkpoint: TrainingCheckpoint):
        super().__init__()
        self.state = state
        self.checkpoint = checkpoint

    def on_epoch_end(self, epoch, logs=None):
        state = self.state
        state.epochs.append({"epoch": epoch + 1, **state.summary})
        state.steps.extend(state.window_rows)
        state.epoch = epoch + 1
        self.checkpoint.save(state.record())


class MlflowLogger(keras.callbacks.Callback):
    """Logs the committed epoch: its metrics, its windows' step metrics and the fixed-noise grid."""

    def __init__(self, state: TrainingState, tracker: Any):
        super().__init__()
        self.state = state
        self.tracker = tracker

    def on_epoch_end(self, epoch, logs=None):
        state = self.state
        log_epoch(self.tracker, epoch + 1, state.summary, state.window_rows, state.grid)


def log_epoch(tracker: Any, epoch: int, summary: dict, window_rows: list[dict], grid: np.ndarray | None) -> None:
    tracker.log_metrics(
        [(f"epoch/{k}", v, epoch) for k, v in summary.items() if k != "epoch"]
        + [(f"step/{k}", v, row["step"]) for row in window_rows for k, v in row.items() if k != "step"]
    )
    if grid is not None:
        tracker.log_image("fixed_noise_grid", grid, step=epoch)


def log_unrecorded_epochs(tracker: Any, state: TrainingState, steps_per_epoch: int, grids: Path) -> None:
    """Log the epochs a restored checkpoint holds but the MLflow run lacks: a kill that lands between
    the checkpoint write and MlflowLogger leaves the run one epoch short."""
    logged = tracker.logged_steps("epoch/d_loss")
    if logged is None:  # a worker's stand-in tracker records nothing
        return
    for row in state.epochs:
        epoch = int(row["epoch"])
        if epoch in logged:
            continue
        windows = [w for w in state.steps if (epoch - 1) * steps_per_epoch < w["step"] <= epoch * steps_per_epoch]
        path = grids / f"epoch_{epoch:04d}.png"
        grid = np.asarray(Image.open(path)) if path.is_file() else None
        log.info("logging epoch %d to MLflow: the checkpoint has it, the run did not", epoch)
        log_epoch(tracker, epoch, row, windows, grid)
