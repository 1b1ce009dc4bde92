"""Train the DCGAN: precision, data pipeline, callbacks, checkpoint/resume and tracking."""

from __future__ import annotations

import functools
import logging
import math
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from fashion_dcgan.checkpoint import TrainingCheckpoint
from fashion_dcgan.config import Params
from fashion_dcgan.errors import ParamsError, TrainingDiverged
from fashion_dcgan.files import atomic_path
from fashion_dcgan.gan import DCGAN, METRIC_NAMES
from fashion_dcgan.imaging import save_png
from fashion_dcgan.models import build_discriminator, build_generator
from fashion_dcgan.sampling import fixed_noise, render_grid
from fashion_dcgan.tracking import EPOCHS_TAG, NullRunLogger, RunLogger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingPaths:
    models: Path  # generator.keras, discriminator.keras
    checkpoints: Path  # persisted between runs
    epoch_grids: Path  # epoch_0001.png, ... (persisted: a resumed run keeps earlier epochs)


@dataclass
class TrainingResult:
    run_id: str
    epochs: list[dict[str, float]]  # one row per epoch, all epochs of the run
    steps: list[dict[str, float]]  # one row per logging window
    generator: keras.Model
    discriminator: keras.Model
    resumed_from_epoch: int


Monitor = Callable[[keras.Model], tuple[dict[str, float], str | None]]


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived; like Ctrl-C, the run is recorded as KILLED and training resumes on the next run."""


def gpu_available() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def resolve_precision(setting: str) -> str:
    if setting == "auto":
        return "mixed_float16" if gpu_available() else "float32"
    return setting


@functools.cache
def make_strategy(setting: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy, created once per process (multi-worker must come before any other op)."""
    gpus = tf.config.list_physical_devices("GPU")
    if setting == "auto":
        setting = "mirrored" if len(gpus) > 1 else "default"
    if setting == "mirrored":
        return tf.distribute.MirroredStrategy()
    if setting == "multi_worker":
        # Cluster membership comes from TF_CONFIG, as tf.distribute documents.
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Only the chief writes checkpoints, models and MLflow records."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)


def make_dataset(images: np.ndarray, batch_size: int, seed: int, first_epoch: int, last_epoch: int) -> tf.data.Dataset:
    """Batches for epochs ``first_epoch`` .. ``last_epoch - 1``, each a fresh shuffle of the whole set.

    Each epoch's order depends only on (seed, epoch), so a resumed run sees
    exactly the batches an uninterrupted one would.
    """
    count = len(images)
    used = (count // batch_size) * batch_size
    pixels = tf.constant(images)

    def epoch_batches(epoch: tf.Tensor) -> tf.data.Dataset:
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(order[:used]).batch(batch_size)

    return (
        tf.data.Dataset.range(first_epoch, last_epoch)
        .flat_map(epoch_batches)
        .map(lambda index: tf.gather(pixels, index), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def steps_per_execution(steps_per_epoch: int, requested: int) -> int:
    """The largest divisor of ``steps_per_epoch`` not above ``requested``.

    Keras runs whole groups of steps per call; a group that crossed an epoch's
    end would shift every later epoch's boundary.
    """
    return max(d for d in range(1, min(requested, steps_per_epoch) + 1) if steps_per_epoch % d == 0)


def build_gan(params: Params, precision: str, steps_per_call: int = 1) -> DCGAN:
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(params.train.seed)
    model = params.model
    generator = build_generator(model.variant, model.latent_dim, model.generator_width)
    discriminator = build_discriminator(model.variant, model.discriminator_width)
    gan = DCGAN(generator, discriminator, model.latent_dim, seed=params.train.seed)

    def adam(learning_rate: float) -> keras.optimizers.Optimizer:
        optimizer = keras.optimizers.Adam(learning_rate, beta_1=params.beta_1, beta_2=params.train.beta_2)
        # Each of the two optimizers scales its own loss; compile's auto_scale_loss would wrap neither.
        return keras.optimizers.LossScaleOptimizer(optimizer) if precision == "mixed_float16" else optimizer

    jit = params.train.jit_compile
    gan.compile(
        d_optimizer=adam(params.learning_rate_d),
        g_optimizer=adam(params.learning_rate_g),
        label_smoothing=params.train.label_smoothing,
        jit_compile=jit,
        steps_per_execution=steps_per_call,
    )
    gan.build_optimizers()
    return gan


class EpochEnd(keras.callbacks.Callback):
    """Per-step window means, epoch summaries and the divergence check; hands each epoch to ``on_epoch``."""

    def __init__(self, on_epoch: Callable[[int, dict, list[dict]], None], steps_per_epoch: int, every: int, batch: int):
        super().__init__()
        self.on_epoch = on_epoch
        self.steps_per_epoch = steps_per_epoch
        self.every = every
        self.batch = batch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.started = time.perf_counter()
        self.last = (0, dict.fromkeys(METRIC_NAMES, 0.0))
        self.steps: list[dict] = []

    def on_train_batch_end(self, batch, logs=None):
        values = {name: float(logs[name]) for name in METRIC_NAMES}
        # TerminateOnNaN only watches logs["loss"], which a GAN step does not report.
        bad = [name for name in ("d_loss", "g_loss") if not math.isfinite(values[name])]
        if bad:
            raise TrainingDiverged(f"{' and '.join(bad)} became non-finite in epoch {self.epoch + 1}, step {batch + 1}")
        done = batch + 1
        count, sums = self.last
        # With several steps per call this runs every Nth step only: log once `every` steps have passed.
        if done - count < self.every and done != self.steps_per_epoch:
            return
        # The logs hold running epoch means; recover the mean over the steps since the last row.
        totals = {name: values[name] * done for name in METRIC_NAMES}
        row = {name: (totals[name] - sums[name]) / (done - count) for name in METRIC_NAMES}
        self.steps.append({"step": self.epoch * self.steps_per_epoch + done, **row})
        self.last = (done, totals)

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        summary = {name: float(logs[name]) for name in METRIC_NAMES}
        summary.update(epoch_seconds=seconds, images_per_second=self.steps_per_epoch * self.batch / seconds)
        for name in ("d_optimizer", "g_optimizer"):
            scale = getattr(getattr(self.model, name), "dynamic_scale", None)
            if scale is not None:
                summary[f"{name[0]}_loss_scale"] = float(scale)
        self.on_epoch(epoch + 1, summary, self.steps)


def _raise_terminated(signum, frame):
    raise Terminated(f"received signal {signum}")


def train(
    params: Params,
    images: np.ndarray,
    paths: TrainingPaths,
    tracker_factory: Callable[[str | None], RunLogger],
    run_tags: dict[str, Any] | None = None,
    monitor: Monitor | None = None,
    verbose: int | str = "auto",
) -> TrainingResult:
    """Train (or resume) and return the trained models and the full history.

    ``tracker_factory(run_id)`` opens the MLflow run: a new one for ``None``,
    else the run to continue. ``monitor(generator)``, when given, runs after
    every epoch and returns extra metrics and an optional warning.
    """
    cfg = params.train
    precision = resolve_precision(cfg.precision)
    if not gpu_available():
        tf.config.experimental.enable_op_determinism()
    strategy = make_strategy(cfg.strategy)
    if cfg.batch_size % strategy.num_replicas_in_sync:
        raise ParamsError(
            f"train.batch_size ({cfg.batch_size}) must be a multiple of the {strategy.num_replicas_in_sync} "
            f"replicas of train.strategy={cfg.strategy}"
        )
    steps_per_epoch = len(images) // cfg.batch_size
    steps_per_call = steps_per_execution(steps_per_epoch, cfg.steps_per_execution)
    with strategy.scope():
        gan = build_gan(params, precision, steps_per_call)

    variables = gan.variables + gan.d_optimizer.variables + gan.g_optimizer.variables
    if is_chief(strategy):
        checkpoint = TrainingCheckpoint(paths.checkpoints, variables)
    else:
        scratch = Path(tempfile.mkdtemp(prefix="fashion-dcgan-worker-"))
        checkpoint = TrainingCheckpoint(paths.checkpoints, variables, write_directory=scratch / "checkpoints")
        paths = TrainingPaths(scratch / "models", paths.checkpoints, scratch / "epochs")
        tracker_factory = lambda run_id: NullRunLogger()  # noqa: E731
    state = _restore_or_start(checkpoint, params.training_hash(), cfg.epochs, paths.epoch_grids)
    resumed_from = state["epoch"]

    tracker = tracker_factory(state["mlflow_run_id"])
    if not tracker.resumed:
        resolved = {
            "train.precision_resolved": precision,
            "train.steps_per_epoch": steps_per_epoch,
            "train.steps_per_execution_resolved": steps_per_call,
            "train.replicas": strategy.num_replicas_in_sync,
        }
        tracker.log_params(params.flat() | resolved)
        tracker.set_tags(run_tags or {})
    state["mlflow_run_id"] = tracker.run_id
    noise = fixed_noise(cfg.seed, cfg.fixed_noise_size, params.model.latent_dim)

    def on_epoch(epoch: int, summary: dict, steps: list[dict]) -> None:
        if monitor is not None:
            extra, warning = monitor(gan.generator)
            summary.update(extra)
            if warning:
                log.warning("epoch %d: %s", epoch, warning)
                tracker.set_tags({"mode_collapse_alarm": f"epoch {epoch}: {warning}"})
        grid = render_grid(gan.generator, noise)
        save_png(paths.epoch_grids / f"epoch_{epoch:04d}.png", grid)
        state["epochs"].append({"epoch": epoch, **summary})
        state["steps"].extend(steps)
        state["epoch"] = epoch
        checkpoint.save(state)
        tracker.log_metrics(
            [(f"epoch/{k}", v, epoch) for k, v in summary.items()]
            + [(f"step/{k}", v, row["step"]) for row in steps for k, v in row.items() if k != "step"]
        )
        tracker.log_image("fixed_noise_grid", grid, step=epoch)

    callback = EpochEnd(on_epoch, steps_per_epoch, cfg.log_every_steps, cfg.batch_size)
    previous_handler = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        if resumed_from < cfg.epochs:
            dataset = make_dataset(images, cfg.batch_size, cfg.seed, resumed_from, cfg.epochs)
            gan.fit(
                dataset,
                epochs=cfg.epochs,
                initial_epoch=resumed_from,
                steps_per_epoch=steps_per_epoch,
                shuffle=False,  # make_dataset already shuffles, reproducibly per epoch
                callbacks=[callback],
                verbose=verbose,
            )
        save_model(gan.generator, paths.models / "generator.keras")
        save_model(gan.discriminator, paths.models / "discriminator.keras")
        tracker.log_keras_model(gan.generator, "generator", noise[:2])
        # Params are immutable in MLflow; a run extended by resuming records its real length here.
        tracker.set_tags({EPOCHS_TAG: cfg.epochs})
        tracker.end("FINISHED")
    except TrainingDiverged as error:
        tracker.set_tags({"failure_reason": str(error)})
        tracker.end("FAILED")
        raise
    except KeyboardInterrupt as error:
        tracker.set_tags({"failure_reason": f"interrupted: {error or 'KeyboardInterrupt'}"})
        tracker.end("KILLED")
        raise
    except BaseException as error:
        tracker.set_tags({"failure_reason": f"{type(error).__name__}: {error}"[:5000]})
        tracker.end("FAILED")
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    return TrainingResult(
        tracker.run_id, state["epochs"], state["steps"], gan.generator, gan.discriminator, resumed_from
    )


def save_model(model: keras.Model, path: Path) -> None:
    with atomic_path(path) as tmp:
        model.save(tmp)


def _restore_or_start(checkpoint: TrainingCheckpoint, params_hash: str, epochs: int, grids: Path) -> dict[str, Any]:
    """The saved training state (variables restored), or a fresh one with stale outputs cleared."""
    state = checkpoint.load_state(params_hash)
    if state is not None and state["epoch"] > epochs:
        log.info("checkpoint is at epoch %d, past train.epochs=%d; starting fresh", state["epoch"], epochs)
        state = None
    if state is None:
        checkpoint.clear()
        _drop_grids_after(grids, 0)
        return {"epoch": 0, "params_hash": params_hash, "mlflow_run_id": None, "epochs": [], "steps": []}
    checkpoint.restore(state)
    _drop_grids_after(grids, state["epoch"])
    log.info("resuming from the checkpoint after epoch %d", state["epoch"])
    return state


def _drop_grids_after(directory: Path, epoch: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("epoch_*.png"):
        if int(path.stem.split("_")[1]) > epoch:
            path.unlink()
