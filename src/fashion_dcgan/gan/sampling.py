"""Drawing images from a generator: fixed noise, batches, grids and latent walks."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fashion_dcgan.data.fashion_mnist import IMAGE_SHAPE, NUM_CLASSES
from fashion_dcgan.gan.networks import is_conditional
from fashion_dcgan.imaging import make_grid, to_uint8
from fashion_dcgan.modelfiles import latent_dim


def latent_batches(seed: int, count: int, latent_dim: int, batch_size: int) -> Iterator[np.ndarray]:
    """The one latent-noise recipe, in batches: standard normal float32 rows drawn from ``seed``.

    The rows are the same whatever the batch size (the generator's stream is consumed in order).
    """
    rng = np.random.default_rng(seed)
    for start in range(0, count, batch_size):
        yield rng.standard_normal((min(batch_size, count - start), latent_dim)).astype(np.float32)


def latents(seed: int, count: int, latent_dim: int) -> np.ndarray:
    """(count, latent_dim) latent vectors fixed by ``seed``."""
    return next(latent_batches(seed, count, latent_dim, max(count, 1)), np.zeros((0, latent_dim), np.float32))


def fixed_noise(seed: int, count: int, latent_dim: int) -> np.ndarray:
    """The latent batch whose images are tracked across epochs (same seed, same batch)."""
    return latents(seed, count, latent_dim)


def cycled_labels(count: int) -> np.ndarray:
    """Class labels 0, 1, ..., 9, 0, 1, ...: what a conditional generator is asked for by default."""
    return (np.arange(count) % NUM_CLASSES).astype(np.int32)


def generate(generator, latents: np.ndarray, batch_size: int = 500, *, labels: np.ndarray | None = None) -> np.ndarray:
    """Images in [-1, 1], float32 (N, 28, 28, 1), in inference mode.

    A conditional generator draws image i of class ``labels[i]`` (default: ``cycled_labels``, every
    class in turn); an unconditional one takes no labels.
    """
    if not is_conditional(generator):
        if labels is not None:
            raise ValueError("this generator is unconditional: it cannot be asked for a class")
        inputs = lambda i: latents[i : i + batch_size]  # noqa: E731
    else:
        labels = cycled_labels(len(latents)) if labels is None else np.asarray(labels, np.int32)
        if len(labels) != len(latents):
            raise ValueError(f"{len(labels)} labels for {len(latents)} latent vectors")
        if len(labels) and not 0 <= labels.min() <= labels.max() < NUM_CLASSES:
            raise ValueError(f"class labels must be 0-{NUM_CLASSES - 1}, got {labels.min()}-{labels.max()}")
        inputs = lambda i: [latents[i : i + batch_size], labels[i : i + batch_size]]  # noqa: E731
    chunks = [
        np.asarray(generator(inputs(i), training=False), dtype=np.float32) for i in range(0, len(latents), batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, *IMAGE_SHAPE), np.float32)


def render_grid(generator, latents: np.ndarray, cols: int | None = None) -> np.ndarray:
    return make_grid(to_uint8(generate(generator, latents)), cols=cols or math.ceil(math.sqrt(len(latents))))


def class_grid(generator, seed: int, per_class: int) -> np.ndarray:
    """Images (10 * per_class, ...) from a conditional generator, class c in row c; row r of every
    class uses the same latents, so columns show one latent vector across classes."""
    noise = np.tile(latents(seed, per_class, latent_dim(generator)), (NUM_CLASSES, 1))
    labels = np.repeat(np.arange(NUM_CLASSES, dtype=np.int32), per_class)
    return generate(generator, noise, labels=labels)


def slerp(start: np.ndarray, end: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Spherical interpolation between two latent vectors (linear when they are parallel)."""
    start_n, end_n = start / np.linalg.norm(start), end / np.linalg.norm(end)
    omega = np.arccos(np.clip(np.dot(start_n, end_n), -1.0, 1.0))
    t = np.asarray(fractions, np.float64)[:, None]
    if np.sin(omega) < 1e-6:
        return ((1 - t) * start + t * end).astype(np.float32)
    return ((np.sin((1 - t) * omega) * start + np.sin(t * omega) * end) / np.sin(omega)).astype(np.float32)


def latent_walk(seed: int, rows: int, steps: int, latent_dim: int) -> np.ndarray:
    """(rows * steps, latent_dim): each row walks from one random latent point to the next."""
    anchors = latents(seed, rows + 1, latent_dim).astype(np.float64)
    fractions = np.linspace(0.0, 1.0, steps)
    return np.concatenate([slerp(anchors[r], anchors[r + 1], fractions) for r in range(rows)])


SAMPLE_BATCH = 1000  # images generated (and held) at a time when sampling to a file


def generated_batches(generator, seed: int, count: int, label: int | None = None) -> Iterator[np.ndarray]:
    """``count`` images in batches of :data:`SAMPLE_BATCH`, with a progress bar; all of class ``label``
    when given (conditional generators), else a conditional generator cycles through the classes."""
    from tqdm import tqdm

    batch_size = SAMPLE_BATCH
    with tqdm(total=count, unit="image", disable=None, leave=False) as bar:
        for batch in latent_batches(seed, count, latent_dim(generator), batch_size):
            labels = None if label is None else np.full(len(batch), label, np.int32)
            images = generate(generator, batch, batch_size, labels=labels)
            bar.update(len(images))
            yield images


def write_samples(generator, out: Path, count: int, seed: int, label: int | None = None, cols: int | None = None):
    """``count`` samples to ``out``: an .npy array of float32 images in [-1, 1], streamed (memory holds one
    batch), or a .png grid (a conditional generator without ``label``: one column per class). The file
    appears only when complete."""
    from fashion_dcgan.files import write_npy_batches
    from fashion_dcgan.imaging import save_png

    batches = generated_batches(generator, seed, count, label)
    if out.suffix == ".npy":
        write_npy_batches(out, batches, (count, *IMAGE_SHAPE))
        return
    images = np.concatenate([to_uint8(batch) for batch in batches])
    cycling = is_conditional(generator) and label is None
    save_png(out, make_grid(images, cols=cols or (NUM_CLASSES if cycling else math.ceil(math.sqrt(count)))))
