"""The training input pipeline: reproducible per-epoch shuffles, batched for ``fit``."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def make_dataset(
    images: np.ndarray,
    batch_size: int,
    seed: int,
    first_epoch: int,
    last_epoch: int,
    labels: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Batches for epochs ``first_epoch`` .. ``last_epoch - 1``, each a fresh shuffle of the whole set.

    Elements are image batches, or ``(images, labels)`` when ``labels`` are given (int32 classes).

    Each epoch's order depends only on (seed, epoch), so a resumed run sees
    exactly the batches an uninterrupted one would.
    """
    return _batches(images, labels, batch_size, seed, tf.data.Dataset.range(first_epoch, last_epoch))


def epoch_dataset(
    images: np.ndarray, batch_size: int, seed: int, epoch: tf.Variable, labels: np.ndarray | None = None
) -> tf.data.Dataset:
    """One epoch's batches, of the epoch that the int64 variable ``epoch`` holds when an iterator starts:
    ``fit`` makes one iterator per epoch, and a callback sets ``epoch`` before it (:class:`EpochOfData`
    in training.callbacks). The same batches as :func:`make_dataset` gives that epoch. Its end is the
    epoch's end, so that the last compiled call of an epoch runs only the steps that are left: any
    ``runtime.steps_per_execution`` works with any number of steps per epoch."""
    epochs = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).map(lambda _: epoch.read_value())
    steps = len(images) // batch_size
    return _batches(images, labels, batch_size, seed, epochs).apply(tf.data.experimental.assert_cardinality(steps))


def _batches(images, labels, batch_size: int, seed: int, epochs: tf.data.Dataset) -> tf.data.Dataset:
    count = len(images)
    used = (count // batch_size) * batch_size
    pixels = tf.constant(images)
    classes = None if labels is None else tf.constant(np.asarray(labels, np.int32))

    def gather(index: tf.Tensor):
        if classes is None:
            return tf.gather(pixels, index)
        return tf.gather(pixels, index), tf.gather(classes, index)

    def epoch_batches(epoch: tf.Tensor) -> tf.data.Dataset:
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(order[:used]).batch(batch_size)

    # No autotuning: the pipeline only gathers batches from memory, and the end of `fit` sometimes
    # waited 40-55 s on joining the iterator's autotune thread (py-spy; README, Benchmarks).
    options = tf.data.Options()
    options.autotune.enabled = False
    return (
        epochs.flat_map(epoch_batches)
        .map(gather, num_parallel_calls=2, deterministic=True)
        .prefetch(2)
        .with_options(options)
    )


def epoch_steps(images: int, batch_size: int, requested: int) -> tuple[int, int]:
    """(steps per epoch, steps per compiled call) for ``images`` at ``batch_size``: whole batches only, and
    the steps per call that ``runtime.steps_per_execution`` (``requested``) resolves to."""
    steps = images // batch_size
    return steps, steps_per_execution(steps, requested)


def steps_per_execution(steps_per_epoch: int, requested: int) -> int:
    """``requested``, at most an epoch's steps. An epoch's last call runs the steps that are left (the
    training loop's dataset ends with its epoch, :func:`epoch_dataset`), so 937 steps at 10 per call are
    93 calls of 10 and one of 7."""
    return max(1, min(requested, steps_per_epoch))
