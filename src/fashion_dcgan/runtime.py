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


def _raise_terminated(signum, frame):
    raise Terminated(f"received signal {signum}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` so that cleanup runs as for Ctrl-C."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
