"""What this machine will do with the params: its class, the path training takes, and the run's length,
measured by timing the real training step on random images (:data:`~estimate.TIMED_STEPS` steps after
the traced first call and a short warm-up; well under a minute for the default on 2 cores)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fashion_dcgan.config import Params
from fashion_dcgan.data.fashion_mnist import IMAGE_SHAPE, NUM_CLASSES, SPLIT_SIZES
from fashion_dcgan.data.pipeline import epoch_steps, make_dataset
from fashion_dcgan.training import cpu
from fashion_dcgan.training.cpu import SPEED_FLAGS
from fashion_dcgan.training.estimate import TIMED_STEPS, Estimate, StepTimer, quicker_recipe
from fashion_dcgan.training.runtime import (
    cpu_threads,
    gpu_names,
    machine_class,
    precision_reason,
    resolve_precision,
    uses_xla,
)


@dataclass(frozen=True)
class Diagnosis:
    fields: list[tuple[str, str]]  # (what, value), in the order printed
    estimate: Estimate

    def text(self) -> str:
        width = max(len(name) for name, _ in self.fields)
        return "\n".join(f"{name + ':':<{width + 1}} {value}" for name, value in self.fields)


def time_step(params: Params, precision: str, steps_per_call: int, timed_steps: int = TIMED_STEPS) -> float:
    """Seconds per training step of ``params``' GAN under ``precision``, on random images."""
    from fashion_dcgan.training.loop import build_gan

    steps = StepTimer.calls_needed(steps_per_call, timed_steps) * steps_per_call
    batch = params.train.batch_size
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (steps * batch, *IMAGE_SHAPE)).astype(np.float32)
    labels = rng.integers(0, NUM_CLASSES, len(images)).astype(np.int32) if params.model.conditional else None
    gan = build_gan(params, precision, steps_per_call, steps)
    measured: list[float] = []
    timer = StepTimer(steps_per_call, measured.append, steps=timed_steps)
    gan.fit(make_dataset(images, batch, params.train.seed, 0, 1, labels), epochs=1, steps_per_epoch=steps,
            shuffle=False, callbacks=[timer], verbose=0)  # fmt: skip
    return measured[0]


def diagnose(params: Params) -> Diagnosis:
    """The machine, the runtime path and the measured estimate for ``params``."""
    precision = resolve_precision(params.runtime.precision)
    reason = precision_reason(precision, params.runtime.precision)
    images = params.data.train_limit or SPLIT_SIZES["train"]
    steps_per_epoch, steps_per_call = epoch_steps(images, params.train.batch_size, params.runtime.steps_per_execution)
    estimate = Estimate(time_step(params, precision, steps_per_call), steps_per_epoch, params.train.epochs,
                        precision, reason)  # fmt: skip
    flags = cpu.flags()
    cores, intra, inter = cpu_threads()
    threads = f"intra-op {intra or cores}, inter-op {inter or cores}"
    xla = params.runtime.jit_compile
    batch = params.train.batch_size
    fields = [
        ("machine class", machine_class(precision)),
        ("CPU", f"{cpu.model()}, {cores} cores"),
        ("CPU flags", ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in SPEED_FLAGS)),
        ("GPU", ", ".join(gpu_names()) or "none"),
        ("precision", f"{precision} ({reason})"),
        ("XLA", f"{'on' if uses_xla(xla) else 'off'} (runtime.jit_compile: {str(xla).lower()})"),
        ("threads", threads + ("" if intra or inter else " (TensorFlow's default: one per core)")),
        ("steps", f"{steps_per_epoch} an epoch ({images:,} images at batch {batch}), {steps_per_call} per call"),
        ("step", f"{estimate.seconds_per_step * 1000:.0f} ms, {batch / estimate.seconds_per_step:.0f} images/s "
                 f"(timed over {TIMED_STEPS} steps)"),
        ("estimate", estimate.line(quicker_recipe(params))),
    ]  # fmt: skip
    return Diagnosis(fields, estimate)
