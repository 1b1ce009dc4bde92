"""Train the GAN: build it from params, restore the last checkpoint, and ``fit`` it with callbacks."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from fashion_dcgan.config import Params
from fashion_dcgan.data.fashion_mnist import IMAGE_SHAPE, NUM_CLASSES
from fashion_dcgan.data.pipeline import epoch_dataset, epoch_steps
from fashion_dcgan.errors import ParamsError
from fashion_dcgan.gan.augment import DiffAugment
from fashion_dcgan.gan.dcgan import DCGAN
from fashion_dcgan.gan.networks import build_discriminator, build_generator
from fashion_dcgan.gan.objective import build_objective
from fashion_dcgan.gan.sampling import fixed_noise
from fashion_dcgan.modelfiles import save_model
from fashion_dcgan.tracking import EPOCHS_TAG, KEPT_EPOCH_TAG, NullRunLogger, RunLogger
from fashion_dcgan.training import callbacks as cb
from fashion_dcgan.training.checkpoint import TrainingCheckpoint
from fashion_dcgan.training.estimate import Estimate, StepTimer, quicker_recipe
from fashion_dcgan.training.runtime import (
    gpu_available,
    is_chief,
    make_strategy,
    precision_reason,
    resolve_precision,
    sigterm_as_interrupt,
)
from fashion_dcgan.training.schedule import ConstantThenDecay

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingPaths:
    generator: Path  # the generator to sample from (the moving average when train.ema is on)
    generator_raw: Path  # the generator as trained, beside it
    discriminator: Path
    checkpoints: Path  # persisted between runs
    epoch_grids: Path  # epoch_0001.png, ... (persisted: a resumed run keeps earlier epochs)

    @classmethod
    def under(cls, root: Path) -> TrainingPaths:
        """The layout of ``dvc.yaml`` below one directory (tests, benchmarks, non-chief workers)."""
        models = root / "models"
        return cls(
            models / "generator.keras",
            models / "generator_raw.keras",
            models / "discriminator.keras",
            models / "checkpoints",
            root / "epochs",
        )


@dataclass
class TrainingResult:
    run_id: str
    epochs: list[dict[str, float]]  # one row per epoch, all epochs of the run
    steps: list[dict[str, float]]  # one row per logging window
    gan: DCGAN
    resumed_from_epoch: int
    kept_epoch: int  # the epoch whose sampled generator was written (train.keep)
    sampler: keras.Model  # that generator


def build_gan(params: Params, precision: str, steps_per_call: int = 1, steps_per_epoch: int = 1) -> DCGAN:
    """The compiled GAN; ``steps_per_epoch`` sets the length of the learning-rate schedule."""
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(params.train.seed)
    model, cfg = params.model, params.train
    classes = NUM_CLASSES if model.conditional else None
    generator = build_generator(model.variant, model.latent_dim, model.generator_width, classes, model.conditioning)
    discriminator = build_discriminator(
        model.variant, model.discriminator_width, IMAGE_SHAPE, classes, spectral_norm=model.spectral_norm
    )
    objective = build_objective(model.objective, cfg.seed)
    augment = DiffAugment(cfg.augment, seed=cfg.seed) if cfg.augment else None
    gan = DCGAN(
        generator, discriminator, model.latent_dim, cfg.seed, objective, augment, cfg.ema.decay, cfg.reuse_fakes
    )
    rate_d, rate_g, beta_1, beta_2 = params.adam()

    schedule = cfg.lr_schedule

    def adam(learning_rate: float) -> keras.optimizers.Optimizer:
        if schedule.decays:
            total = cfg.epochs * steps_per_epoch
            learning_rate = ConstantThenDecay(learning_rate, total, schedule.decay, schedule.start)
        optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2)
        # Each of the two optimizers scales its own loss; compile's auto_scale_loss would wrap neither.
        return keras.optimizers.LossScaleOptimizer(optimizer) if precision == "mixed_float16" else optimizer

    gan.compile(adam(rate_d), adam(rate_g), jit_compile=params.runtime.jit_compile, steps_per_execution=steps_per_call)
    gan.build_optimizers()
    return gan


def run_name(params: Params) -> str:
    """A readable MLflow run name from the levers of the recipe: the networks when not the tutorial's, the
    objective, conditioning, spectral norm, moving average, augmentation, learning-rate decay, batch size,
    epochs and seed.

    The default trains ``deep-r1-ema0.999-b64-e9-s42``, the tutorial recipe ``bce-b32-e10-s42``.
    """
    model, cfg = params.model, params.train
    parts = [] if model.variant == "tutorial" else [model.variant]
    parts += [model.objective.name, *(["conditional"] if model.conditional else [])]
    parts += ["cbn"] if model.conditional and model.conditioning == "batch_norm" else []
    parts += ["sn"] if model.spectral_norm else []
    parts += [f"ema{cfg.ema.decay:g}"] if cfg.ema.decay else []
    parts += ["+".join(cfg.augment)] if cfg.augment else []
    parts += [f"{cfg.lr_schedule.decay}{cfg.lr_schedule.start:g}"] if cfg.lr_schedule.decays else []
    return "-".join([*parts, f"b{cfg.batch_size}", f"e{cfg.epochs}", f"s{cfg.seed}"])


def train(
    params: Params,
    images: np.ndarray,
    paths: TrainingPaths,
    tracker_factory: Callable[[str | None], RunLogger],
    run_tags: dict[str, Any] | None = None,
    monitor: cb.Monitor | None = None,
    verbose: int | str = "auto",
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    labels: np.ndarray | None = None,
    epoch_end_seconds: dict[str, list[float]] | None = None,
) -> TrainingResult:
    """Train (or resume) and return the trained GAN and the full history.

    ``tracker_factory(run_id)`` opens the MLflow run: a new one for ``None``, else the run to
    continue. ``monitor(generator)``, when given, runs after every epoch and returns extra metrics
    and an optional warning. ``extra_callbacks`` run after the pipeline's own (benchmarks use them).
    ``labels`` (one class index per image) are required for a class-conditional model.
    ``epoch_end_seconds``, when given, gets the seconds each of the pipeline's callbacks spent at each
    epoch's end, under the callback's class name (what an epoch's bookkeeping costs).
    """
    cfg = params.train
    class_labels = labels if params.model.conditional else None
    if params.model.conditional and (labels is None or len(labels) != len(images)):
        raise ParamsError("model.conditional is true: training needs one class label per image")
    if cfg.keep == "best_fid" and monitor is None:
        raise ParamsError("train.keep: best_fid picks the epoch by the monitor's FID, and this run has no monitor")
    strategy, steps_per_epoch, steps_per_call = _plan(params, len(images))
    with strategy.scope():
        gan = build_gan(params, resolve_precision(params.runtime.precision), steps_per_call, steps_per_epoch)
        best = cb.BestSampler(gan.sampler)
    checkpoint, paths, tracker_factory = _chief_or_worker(strategy, gan, best, paths, tracker_factory)
    tracker, state = _resume_or_start(params, checkpoint, tracker_factory, paths.epoch_grids)
    resumed_from = state.epoch
    cb.log_unrecorded_epochs(tracker, state, steps_per_epoch, paths.epoch_grids)
    if not tracker.resumed:
        tracker.log_params(params.flat() | _resolved(params, gan, strategy, steps_per_epoch, steps_per_call))
        tracker.set_tags(run_tags or {})
    with tracker.recording(), sigterm_as_interrupt():
        if state.epoch < cfg.epochs:
            with tf.device("/cpu:0"):  # read by the input pipeline, on the host
                data_epoch = tf.Variable(state.epoch, dtype=tf.int64, trainable=False)
            gan.fit(
                # One epoch's batches per iterator, so that an epoch's last call runs only the steps left.
                epoch_dataset(images, cfg.batch_size, cfg.seed, data_epoch, class_labels),
                epochs=cfg.epochs,
                initial_epoch=state.epoch,
                shuffle=False,  # the dataset already shuffles, reproducibly per epoch
                callbacks=[
                    cb.EpochOfData(data_epoch),
                    *cb.timed_epoch_ends(
                        _callbacks(
                            params, gan, state, checkpoint, tracker, paths, steps_per_epoch, monitor, verbose, best
                        ),
                        epoch_end_seconds,
                    ),
                    _announce_estimate(params, gan, tracker, steps_per_epoch, steps_per_call, state.epoch),
                    *extra_callbacks,
                ],
                verbose=verbose,
            )
        kept, sampler = state.epoch, gan.sampler
        best_epoch = int(best.epoch.numpy())
        if cfg.keep == "best_fid" and 0 < best_epoch < state.epoch:
            kept, sampler = best_epoch, best.generator
            log.info("keeping the sampled generator of epoch %d: the lowest monitored FID (%.2f)",
                     kept, float(best.fid.numpy()))  # fmt: skip
        for model, path in ((sampler, paths.generator), (gan.generator, paths.generator_raw)):
            save_model(model, path)
        save_model(gan.discriminator, paths.discriminator)
        # Params are immutable in MLflow; a run extended by resuming records its real length here.
        tracker.set_tags({EPOCHS_TAG: cfg.epochs, KEPT_EPOCH_TAG: kept})
    return TrainingResult(tracker.run_id, state.epochs, state.steps, gan, resumed_from, kept, sampler)


def _announce_estimate(
    params: Params, gan: DCGAN, tracker, steps_per_epoch: int, steps_per_call: int, done_epochs: int
) -> StepTimer:
    """A timer of the first steps that logs how long the run will take, on which path, and tags the run with it."""
    precision = gan.dtype_policy.name

    def report(seconds_per_step: float) -> None:
        estimate = Estimate(seconds_per_step, steps_per_epoch, params.train.epochs - done_epochs, precision,
                            precision_reason(precision, params.runtime.precision))  # fmt: skip
        log.info("%s", estimate.line(quicker_recipe(params)))
        tracker.set_tags(estimate.tags())

    return StepTimer(steps_per_call, report)


def _plan(params: Params, count: int) -> tuple[tf.distribute.Strategy, int, int]:
    """The strategy, the steps per epoch and the steps per compiled call."""
    cfg = params.train
    if not gpu_available():
        tf.config.experimental.enable_op_determinism()
    strategy = make_strategy(params.runtime.strategy)
    if cfg.batch_size % strategy.num_replicas_in_sync:
        raise ParamsError(
            f"train.batch_size ({cfg.batch_size}) must be a multiple of the {strategy.num_replicas_in_sync} "
            f"replicas of runtime.strategy={params.runtime.strategy}"
        )
    return strategy, *epoch_steps(count, cfg.batch_size, params.runtime.steps_per_execution)


def _resolved(params: Params, gan: DCGAN, strategy, steps_per_epoch: int, steps_per_call: int) -> dict[str, Any]:
    """Settings that ``auto`` or ``null`` in params.yaml resolved to, logged beside the params."""
    rate_d, rate_g, beta_1, beta_2 = params.adam()
    return {
        "runtime.precision_resolved": gan.dtype_policy.name,
        "train.steps_per_epoch": steps_per_epoch,
        "runtime.steps_per_execution_resolved": steps_per_call,
        "runtime.replicas": strategy.num_replicas_in_sync,
        "train.learning_rate_d_resolved": rate_d,
        "train.learning_rate_g_resolved": rate_g,
        "train.beta_1_resolved": beta_1,
        "train.beta_2_resolved": beta_2,
    }


def _callbacks(params, gan, state, checkpoint, tracker, paths, steps_per_epoch, monitor, verbose, best=None) -> list:
    cfg, runtime = params.train, params.runtime
    noise = fixed_noise(cfg.seed, runtime.fixed_noise_size, params.model.latent_dim)
    history = cb.MetricHistory(gan.objective.metric_names, steps_per_epoch, runtime.log_every_steps, cfg.batch_size)
    check = cb.CollapseCheck(monitor, tracker) if monitor is not None else None
    producers = [history, *([check] if check else []), cb.FixedNoiseGrid(noise, paths.epoch_grids)]
    # Whatever train.keep says, the best epoch is tracked (when monitored), so that keep can change later.
    keep_best = [cb.KeepBest(best, check)] if check and best else []
    # The progress bar ends its line before the epoch's own log lines (the monitor's warning) appear.
    progress_bar = [cb.Progress()] if verbose else []
    return [
        cb.StopOnSignal(),
        cb.DivergenceGuard(),
        history,
        *progress_bar,
        *producers[1:],
        *keep_best,
        cb.SaveCheckpoint(state, checkpoint, producers),
        cb.MlflowLogger(state, tracker, producers),
    ]


def _chief_or_worker(strategy, gan: DCGAN, best: cb.BestSampler, paths: TrainingPaths, tracker_factory):
    """The chief writes checkpoints, models and MLflow records; another worker writes to scratch.

    A non-chief multi-worker replica resumes from the chief's checkpoint but must still take part in
    every save (variables synchronised on read are all-reduced).
    """
    variables = [*gan.training_variables, *best.variables]
    if is_chief(strategy):
        return TrainingCheckpoint(paths.checkpoints, variables), paths, tracker_factory
    scratch = TrainingPaths.under(Path(tempfile.mkdtemp(prefix="fashion-dcgan-worker-")))
    checkpoint = TrainingCheckpoint(paths.checkpoints, variables, write_directory=scratch.checkpoints)
    return checkpoint, scratch, lambda run_id: NullRunLogger()


def _resume_or_start(params: Params, checkpoint: TrainingCheckpoint, tracker_factory, grids: Path):
    """The MLflow run and the training state: restored from the newest good checkpoint, or fresh.

    Nothing is deleted before the tracking store has been opened: if that fails, the checkpoint stays.
    """
    params_hash = params.training_hash()
    opened = checkpoint.opened_run()
    decaying = params.train.lr_schedule.decays
    why = " (train.lr_schedule decays over the run's length, so train.epochs is part of the recipe)" if decaying else ""
    saved, superseded = checkpoint.restore_newest(params_hash, params.train.epochs, why)
    tracker = tracker_factory(saved["mlflow_run_id"] if saved else None)
    for run_id in superseded:
        tracker.supersede(run_id)
    if opened is not None and opened != tracker.run_id and opened not in superseded:
        tracker.supersede(opened, "it ended before its first checkpoint")
    if saved is None:
        checkpoint.clear()
        _drop_grids_after(grids, 0)
        state = cb.TrainingState(params_hash)
    else:
        _drop_grids_after(grids, saved["epoch"])
        log.info("resuming from the checkpoint after epoch %d", saved["epoch"])
        state = cb.TrainingState.from_record(saved)
    state.mlflow_run_id = tracker.run_id
    if tracker.run_id:  # a non-chief worker's stand-in has none
        checkpoint.note_opened(tracker.run_id)
    return tracker, state


def _drop_grids_after(directory: Path, epoch: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("epoch_*.png"):
        if int(path.stem.split("_")[1]) > epoch:
            path.unlink()
