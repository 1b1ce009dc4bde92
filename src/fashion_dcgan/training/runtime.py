"""Where training runs: devices, precision, the tf.distribute strategy, and signals."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
from collections.abc import Iterator

import tensorflow as tf

from fashion_dcgan.errors import ParamsError
from fashion_dcgan.training import cpu
from fashion_dcgan.training.cpu import BF16_FLAGS


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived; like Ctrl-C, the run is recorded as KILLED and training resumes on the next run."""


def gpu_available() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def resolve_precision(setting: str) -> str:
    """The Keras dtype policy for ``runtime.precision``: float16 on a GPU, bfloat16 on a CPU with
    bfloat16 units, float32 otherwise; ``mixed_bfloat16`` asked for by name needs one or the other."""
    if setting == "auto":
        if gpu_available():
            return "mixed_float16"
        return "mixed_bfloat16" if cpu.has_bf16_units() else "float32"
    if setting == "mixed_bfloat16" and not (gpu_available() or cpu.has_bf16_units()):
        raise ParamsError(
            "runtime.precision: mixed_bfloat16 needs a GPU or a CPU with bfloat16 units "
            f"({' or '.join(BF16_FLAGS)} in /proc/cpuinfo), and {precision_reason('float32', 'auto')}; "
            "use auto or float32"
        )
    return setting


def precision_reason(precision: str, setting: str) -> str:
    """Why training runs in ``precision`` here, in a few words (the machine class it stands for)."""
    if setting != "auto":
        return f"runtime.precision asks for {setting}"
    if precision == "mixed_float16":
        return "a GPU computes in float16"
    flags = [flag for flag in BF16_FLAGS if flag in cpu.flags()]
    if precision == "mixed_bfloat16":
        return f"this CPU has bfloat16 units ({', '.join(flags)})"
    unused = cpu.bf16_units_unused()
    return unused if flags and unused else "this CPU has no bfloat16 units"


def machine_class(precision: str) -> str:
    """The class of machine whose speed training gets: GPU, bfloat16 CPU or float32 CPU."""
    return {"mixed_float16": "GPU", "mixed_bfloat16": "bfloat16 CPU"}.get(precision, "float32 CPU")


def gpu_names() -> list[str]:
    names = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        names.append(details.get("device_name", device.name))
    return names


def uses_xla(jit_compile: bool | str) -> bool:
    """What ``runtime.jit_compile`` resolves to: ``auto`` compiles with XLA on a GPU only."""
    return gpu_available() if jit_compile == "auto" else bool(jit_compile)


def cpu_threads() -> tuple[int, int, int]:
    """(cores this process may use, TensorFlow's intra-op and inter-op threads; 0 is its default: one per core)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threading = tf.config.threading
    return cores, threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()


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


_received: list[int] = []  # signals that arrived inside sigterm_as_interrupt()


def _raise_terminated(signum, frame):
    _received.append(signum)
    raise Terminated(f"received signal {signum}")


def raise_if_terminated() -> None:
    """Raise :class:`Terminated` for a signal whose exception was swallowed where it landed.

    Python runs the handler at whatever bytecode is current; in a garbage-collection callback
    (SQLAlchemy has some) the exception is printed and ignored. Training calls this after every
    batch and at the end, so a SIGTERM always ends the run.
    """
    if _received:
        raise Terminated(f"received signal {_received[-1]}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` so that cleanup runs as for Ctrl-C."""
    _received.clear()
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
        raise_if_terminated()
    finally:
        signal.signal(signal.SIGTERM, previous)
