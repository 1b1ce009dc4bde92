"""Where training runs: devices, precision, the tf.distribute strategy, and signals."""

from __future__ import annotations

import contextlib
import functools
import signal
from collections.abc import Iterator

import tensorflow as tf


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
