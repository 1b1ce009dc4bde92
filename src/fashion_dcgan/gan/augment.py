"""Differentiable augmentation for the discriminator (DiffAugment; Zhao et al., 2020).

Real and fake batches get the same kinds of transform, each image its own random draw, and the
transforms are differentiable, so the generator learns through them. Both follow the paper's
choices: translation by up to 1/8 of the image with zero padding, and cutout of a square half the
image's side filled with zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

POLICIES = ("translation", "cutout")


class DiffAugment:
    def __init__(self, policy: Sequence[str], seed: int, translation_ratio: float = 0.125, cutout_ratio: float = 0.5):
        unknown = set(policy) - set(POLICIES)
        if unknown:
            raise ValueError(f"unknown augmentation {sorted(unknown)}; choose from {POLICIES}")
        self.policy = tuple(policy)
        self.seed = keras.random.SeedGenerator(seed)
        self.translation_ratio = translation_ratio
        self.cutout_ratio = cutout_ratio

    @property
    def variables(self) -> list:
        """The random state: part of a checkpoint, so a resumed run draws what it would have drawn."""
        return [self.seed.state]

    def __bool__(self) -> bool:
        return bool(self.policy)

    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        for name in self.policy:
            images = getattr(self, f"_{name}")(images)
        return images

    def _offsets(self, count, low: int, high: int) -> tf.Tensor:
        return keras.random.randint((count, 1), low, high + 1, dtype="int32", seed=self.seed)

    def _translation(self, images: tf.Tensor) -> tf.Tensor:
        count, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
        shift = int(height * self.translation_ratio + 0.5)
        padded = tf.pad(images, [[0, 0], [shift, shift], [shift, shift], [0, 0]])
        rows = tf.range(height)[None, :] + shift + self._offsets(count, -shift, shift)
        cols = tf.range(width)[None, :] + shift + self._offsets(count, -shift, shift)
        shifted = tf.gather(padded, rows, axis=1, batch_dims=1)
        return tf.gather(shifted, cols, axis=2, batch_dims=1)

    def _cutout(self, images: tf.Tensor) -> tf.Tensor:
        count, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
        size = int(height * self.cutout_ratio + 0.5)
        # The square's top-left corner; it may hang over the border, as in the paper.
        top = self._offsets(count, -(size // 2), height - size // 2)
        left = self._offsets(count, -(size // 2), width - size // 2)
        inside_rows = (tf.range(height)[None, :] >= top) & (tf.range(height)[None, :] < top + size)
        inside_cols = (tf.range(width)[None, :] >= left) & (tf.range(width)[None, :] < left + size)
        cut = inside_rows[:, :, None] & inside_cols[:, None, :]
        return images * tf.cast(~cut, images.dtype)[..., None]
