"""What a GAN objective declares: its two losses, its optimizer defaults and the metrics it reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import tensorflow as tf


@dataclass(frozen=True)
class OptimizerDefaults:
    """Adam settings an objective is meant to be trained with (``None``: the network variant's)."""

    learning_rate: float
    beta_1: float


class Objective:
    """Base class: subclasses set the class attributes and implement both losses.

    ``metric_names`` lists everything the training step reports for this objective, in display
    order; it always starts with ``d_loss`` and ``g_loss``. Logits arrive as float32, whatever the
    compute precision. Losses follow Keras' convention under tf.distribute: the replica's batch mean
    divided by the number of replicas (``keras.losses`` and :func:`replica_mean` do this), so the
    gradients summed over replicas are those of the global batch mean.
    """

    name: ClassVar[str]
    metric_names: ClassVar[tuple[str, ...]]
    optimizer_defaults: ClassVar[OptimizerDefaults | None] = None
    # True: the step also passes d(sum of real logits)/d(real images) to discriminator_loss.
    needs_real_gradient: ClassVar[bool] = False

    @classmethod
    def from_settings(cls, settings: Any) -> Objective:
        return cls()

    def discriminator_loss(
        self, real_logits: tf.Tensor, fake_logits: tf.Tensor, real_gradient: tf.Tensor | None = None
    ) -> dict[str, tf.Tensor]:
        """``d_loss`` (what the discriminator minimises) and any extra metrics of this objective."""
        raise NotImplementedError

    def generator_loss(self, fake_logits: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError


def discriminator_probabilities(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> dict[str, tf.Tensor]:
    """Mean D(x) and D(G(z)) as probabilities, for objectives whose logits are log-odds."""
    return {"d_real": tf.reduce_mean(tf.sigmoid(real_logits)), "d_fake": tf.reduce_mean(tf.sigmoid(fake_logits))}


def replica_mean(values: tf.Tensor) -> tf.Tensor:
    """The batch mean, divided by the number of replicas in sync as ``keras.losses`` do."""
    mean = tf.reduce_mean(values)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return mean / replicas if replicas > 1 else mean
