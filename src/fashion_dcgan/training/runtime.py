"""Where training runs: devices, precision, the tf.distribute strategy, and signals."""

from __future__ import annotations

import contextlib
import functools
import signal
from collections.abc import Iterator

import tensorflow as tf

from fashion_dcgan.errors import ParamsError


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived; like Ctrl-C, the run is recorded as KILLED and training resumes on the next run."""


def gpu_available() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


# CPU features with which oneDNN runs bfloat16 matrix products in hardware (AMX tiles, AVX-512 BF16).
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them in /proc/cpuinfo (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bf16() -> bool:
    return any(flag in cpu_flags() for flag in BF16_FLAGS)


def resolve_precision(setting: str) -> str:
    """The Keras dtype policy for ``runtime.precision``: float16 on a GPU, bfloat16 on a CPU with
    bfloat16 units, float32 otherwise; ``mixed_bfloat16`` asked for by name needs one or the other."""
    if setting == "auto":
        if gpu_available():
            return "mixed_float16"
        return "mixed_bfloat16" if cpu_has_bf16() else "float32"
    if setting == "mixed_bfloat16" and not (gpu_available() or cpu_has_bf16()):
        raise ParamsError(
            "runtime.precision: mixed_bfloat16 needs a GPU or a CPU with bfloat16 units "
            f"({' or '.join(BF16_FLAGS)} in /proc/cpuinfo), and this machine has neither; use auto or float32"
        )
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
