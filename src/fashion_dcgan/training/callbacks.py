"""What happens around the training step, as Keras callbacks.

At the end of every epoch, *producers* (the step metrics' history, the collapse monitor, the
fixed-noise grid) each make their part of the epoch's record, and *consumers* (the checkpoint, the
MLflow logger) ask the producers they were given for that epoch's parts. A consumer placed before a
producer it reads gets an error naming both, never a record with a part missing or left over from
the epoch before. One order is real and tested: the checkpoint is written before MLflow is told, so
a kill in between is repaired on resume (:func:`log_unrecorded_epochs`).
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
import tensorflow as tf
from PIL import Image

from fashion_dcgan.errors import TrainingDiverged
from fashion_dcgan.gan.networks import frozen_copy
from fashion_dcgan.gan.sampling import render_grid
from fashion_dcgan.imaging import save_png
from fashion_dcgan.training.checkpoint import TrainingCheckpoint
from fashion_dcgan.training.runtime import raise_if_terminated

log = logging.getLogger(__name__)

Monitor = Callable[[keras.Model], tuple[dict[str, float], str | None]]


@dataclass
class TrainingState:
    """What a checkpoint records besides the variables: the run so far."""

    params_hash: str
    epoch: int = 0  # last completed epoch
    mlflow_run_id: str | None = None
    epochs: list[dict[str, float]] = field(default_factory=list)  # one row per completed epoch
    steps: list[dict[str, float]] = field(default_factory=list)  # one row per logging window

    RECORDED = ("params_hash", "epoch", "mlflow_run_id", "epochs", "steps")

    def record(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.RECORDED}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TrainingState:
        return cls(**{key: record[key] for key in cls.RECORDED})


@dataclass
class EpochPart:
    """One producer's part of an epoch's record."""

    metrics: dict[str, float] = field(default_factory=dict)  # columns of the epoch's row
    windows: list[dict[str, float]] = field(default_factory=list)  # per-step rows
    grid: np.ndarray | None = None  # the fixed-noise picture


class EpochProducer(keras.callbacks.Callback):
    """A callback that makes part of each epoch's record; consumers read it with :meth:`part`."""

    def __init__(self):
        super().__init__()
        self._made: tuple[int, EpochPart] | None = None

    def produce(self, epoch: int, part: EpochPart) -> None:
        self._made = (epoch, part)

    def part(self, epoch: int, reader: str) -> EpochPart:
        if self._made is None or self._made[0] != epoch:
            raise RuntimeError(
                f"{reader} read epoch {epoch + 1} before {type(self).__name__} made it: "
                f"put {type(self).__name__} earlier in the callback list"
            )
        return self._made[1]


def collect(producers: Sequence[EpochProducer], epoch: int, reader: str) -> EpochPart:
    """The epoch's record from all ``producers``, in their order."""
    record = EpochPart()
    for producer in producers:
        part = producer.part(epoch, reader)
        record.metrics |= part.metrics
        record.windows += part.windows
        record.grid = part.grid if part.grid is not None else record.grid
    return record


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


class EpochOfData(keras.callbacks.Callback):
    """Sets the epoch whose shuffle the next epoch's iterator draws (data.pipeline.epoch_dataset)."""

    def __init__(self, epoch: tf.Variable):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch.assign(epoch)


class Progress(keras.callbacks.ProgbarLogger):
    """Keras' progress bar, counting an epoch's shorter last call as the steps it ran (not 940 of 937)."""

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(min(batch, self.target - 1) if self.target else batch, logs)


class StopOnSignal(keras.callbacks.Callback):
    """Ends training at the next batch when a SIGTERM's exception was swallowed (see ``runtime``)."""

    def on_train_batch_end(self, batch, logs=None):
        raise_if_terminated()

    def on_epoch_end(self, epoch, logs=None):
        raise_if_terminated()


class MetricHistory(EpochProducer):
    """Per-step window means of the objective's metrics, and the epoch's row of them."""

    def __init__(self, names: Sequence[str], steps_per_epoch: int, every: int, batch: int):
        super().__init__()
        self.names = tuple(names)
        self.steps_per_epoch = steps_per_epoch
        self.every = every
        self.batch = batch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.started = time.perf_counter()
        self.last = (0, dict.fromkeys(self.names, 0.0))
        self.windows: list[dict[str, float]] = []

    def on_train_batch_end(self, batch, logs=None):
        done = min(batch + 1, self.steps_per_epoch)  # an epoch's last call may run fewer steps than the others
        count, sums = self.last
        # With several steps per call this runs every Nth step only: log once `every` steps have passed.
        if done - count < self.every and done != self.steps_per_epoch:
            return
        # The logs hold running epoch means; recover the mean over the steps since the last row.
        totals = {name: float(logs[name]) * done for name in self.names}
        row = {name: (totals[name] - sums[name]) / (done - count) for name in self.names}
        self.windows.append({"step": self.epoch * self.steps_per_epoch + done, **row})
        self.last = (done, totals)

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        metrics = {name: float(logs[name]) for name in self.names}
        metrics.update(epoch_seconds=seconds, images_per_second=self.steps_per_epoch * self.batch / seconds)
        for name in ("d_optimizer", "g_optimizer"):
            scale = getattr(getattr(self.model, name), "dynamic_scale", None)
            if scale is not None:
                metrics[f"{name[0]}_loss_scale"] = float(scale)
        self.produce(epoch, EpochPart(metrics, self.windows))


class CollapseCheck(EpochProducer):
    """Runs the collapse monitor on the sampling generator; warns in the log and tags the run."""

    def __init__(self, monitor: Monitor, tracker: Any):
        super().__init__()
        self.monitor = monitor
        self.tracker = tracker

    def on_epoch_end(self, epoch, logs=None):
        metrics, warning = self.monitor(self.model.sampler)
        if warning:
            log.warning("epoch %d: %s", epoch + 1, warning)
            self.tracker.set_tags({"mode_collapse_alarm": f"epoch {epoch + 1}: {warning}"})
        self.produce(epoch, EpochPart(metrics))


class FixedNoiseGrid(EpochProducer):
    """The tutorial's picture: the same latent batch after every epoch, as epoch_NNNN.png."""

    def __init__(self, noise: np.ndarray, directory: Path):
        super().__init__()
        self.noise = noise
        self.directory = directory

    def on_epoch_end(self, epoch, logs=None):
        grid = render_grid(self.model.sampler, self.noise)
        save_png(self.directory / f"epoch_{epoch + 1:04d}.png", grid)
        self.produce(epoch, EpochPart(grid=grid))


class BestSampler:
    """A copy of the sampling generator from the epoch with the lowest monitored FID so far.

    Its weights, that epoch and that FID are checkpoint variables, so a resumed run keeps the same
    best, also after falling back to an older checkpoint, and ``train.keep`` can change afterwards
    without retraining.
    """

    def __init__(self, sampler: keras.Model):
        self.source = sampler
        self.generator = frozen_copy(sampler, "generator_best")
        self.epoch = keras.Variable(0, dtype="int64", trainable=False, name="best_epoch")
        self.fid = keras.Variable(math.inf, dtype="float64", trainable=False, name="best_monitor_fid")

    @property
    def variables(self) -> list:
        return [*self.generator.weights, self.epoch, self.fid]

    def offer(self, epoch: int, fid: float) -> bool:
        """Take the sampler's weights as they are now if ``fid`` beats the best so far."""
        if not math.isfinite(fid) or fid >= float(self.fid.numpy()):
            return False
        for best, live in zip(self.generator.weights, self.source.weights, strict=True):
            best.assign(live)
        self.epoch.assign(epoch)
        self.fid.assign(fid)
        return True


class KeepBest(keras.callbacks.Callback):
    """Offers each epoch's sampler to :class:`BestSampler` with the collapse monitor's FID."""

    def __init__(self, best: BestSampler, check: CollapseCheck):
        super().__init__()
        self.best = best
        self.check = check

    def on_epoch_end(self, epoch, logs=None):
        fid = self.check.part(epoch, type(self).__name__).metrics.get("monitor_fid", math.nan)
        if self.best.offer(epoch + 1, float(fid)):
            log.debug("epoch %d: lowest monitored FID so far (%.2f)", epoch + 1, fid)


class SaveCheckpoint(keras.callbacks.Callback):
    """Commits the finished epoch's record to the state and writes the checkpoint."""

    def __init__(self, state: TrainingState, checkpoint: TrainingCheckpoint, producers: Sequence[EpochProducer]):
        super().__init__()
        self.state = state
        self.checkpoint = checkpoint
        self.producers = producers

    def on_epoch_end(self, epoch, logs=None):
        record, state = collect(self.producers, epoch, type(self).__name__), self.state
        state.epochs.append({"epoch": epoch + 1, **record.metrics})
        state.steps.extend(record.windows)
        state.epoch = epoch + 1
        self.checkpoint.save(state.record())


class MlflowLogger(keras.callbacks.Callback):
    """Logs the epoch's record: its metrics, its windows' step metrics and the fixed-noise grid.

    Runs after :class:`SaveCheckpoint`, which it checks: the run may lag the checkpoint (repaired on
    resume), never lead it.
    """

    def __init__(self, state: TrainingState, tracker: Any, producers: Sequence[EpochProducer]):
        super().__init__()
        self.state = state
        self.tracker = tracker
        self.producers = producers

    def on_epoch_end(self, epoch, logs=None):
        if self.state.epoch != epoch + 1:
            raise RuntimeError(f"MlflowLogger ran before SaveCheckpoint committed epoch {epoch + 1}")
        record = collect(self.producers, epoch, type(self).__name__)
        log_epoch(self.tracker, epoch + 1, record.metrics, record.windows, record.grid)


def timed_epoch_ends(callbacks: list, into: dict[str, list[float]] | None) -> list:
    """``callbacks``, each one's ``on_epoch_end`` timed into ``into[class name]`` when ``into`` is given."""
    if into is None:
        return callbacks
    for callback in callbacks:
        name, inner = type(callback).__name__, callback.on_epoch_end

        def on_epoch_end(epoch, logs=None, name=name, inner=inner):
            began = time.perf_counter()
            inner(epoch, logs)
            into.setdefault(name, []).append(time.perf_counter() - began)

        callback.on_epoch_end = on_epoch_end
    return callbacks


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
