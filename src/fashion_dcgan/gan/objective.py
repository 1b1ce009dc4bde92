"""What a GAN objective declares: its two losses, any penalty they carry and the metrics it reports.
Its name, import path and Adam settings are its entry in ``fashion_dcgan.catalog.OBJECTIVES``.

An objective sees the critic (the discriminator as a function of images, logits out in float32) and
both image batches, so a gradient penalty lives in its own module and the training step has no
objective-specific code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import tensorflow as tf

from fashion_dcgan import catalog

# The discriminator as the objective sees it: images (augmented, labelled and in the compute
# precision inside) to float32 logits of shape (batch, 1). Its batch may be any multiple of the
# real batch: a conditional critic repeats the real batch's labels.
Critic = Callable[[tf.Tensor], tf.Tensor]


class Objective:
    """Base class: subclasses set the class attributes and implement both losses.

    ``metric_names`` lists everything the training step reports for this objective, in display
    order; it always starts with ``d_loss`` and ``g_loss``. Losses follow Keras' convention under
    tf.distribute: the replica's batch mean divided by the number of replicas (``keras.losses`` and
    :func:`replica_mean` do this), so the gradients summed over replicas are those of the global
    batch mean.
    """

    metric_names: ClassVar[tuple[str, ...]]

    @classmethod
    def from_settings(cls, settings: Any, seed: int) -> Objective:
        """The objective configured from its own section of params (``model.objective``)."""
        return cls()

    @property
    def variables(self) -> list:
        """State a checkpoint must hold to resume exactly (random streams); none by default."""
        return []

    def discriminator_loss(self, critic: Critic, real: tf.Tensor, fake: tf.Tensor, step: tf.Tensor) -> dict:
        """``d_loss`` (what the discriminator minimises) and any extra metrics of this objective.

        ``step`` counts the discriminator's updates so far (for penalties applied every k-th step).
        """
        raise NotImplementedError

    def generator_loss(self, fake_logits: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError


def joined_logits(critic: Critic, real: tf.Tensor, fake: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Real and fake logits from one critic pass over the joined batch, as the tutorial computes them."""
    batch = tf.shape(real)[0]
    logits = critic(tf.concat([real, fake], axis=0))
    return logits[:batch], logits[batch:]


def discriminator_probabilities(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> dict[str, tf.Tensor]:
    """Mean D(x) and D(G(z)) as probabilities, for objectives whose logits are log-odds."""
    return {"d_real": tf.reduce_mean(tf.sigmoid(real_logits)), "d_fake": tf.reduce_mean(tf.sigmoid(fake_logits))}


def replica_mean(values: tf.Tensor) -> tf.Tensor:
    """The batch mean, divided by the number of replicas in sync as ``keras.losses`` do."""
    mean = tf.reduce_mean(values)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return mean / replicas if replicas > 1 else mean


def squared_norms(gradient: tf.Tensor) -> tf.Tensor:
    """||g||^2 of each image's gradient, in float32 whatever the compute precision."""
    return tf.reduce_sum(tf.square(tf.cast(gradient, tf.float32)), axis=[1, 2, 3])


def squared_gradient_norms(critic: Critic, images: tf.Tensor) -> tf.Tensor:
    """||d critic / d image||^2 per image; recorded by any outer tape, so a penalty on the norms
    reaches the critic's weights."""
    with tf.GradientTape() as tape:
        tape.watch(images)
        total = tf.reduce_sum(critic(images))
    return squared_norms(tape.gradient(total, images))


def objective_class(name: str) -> Any:
    """The Objective subclass that ``model.objective.name`` names (its module is imported only now)."""
    return catalog.load(catalog.objective(name).implementation)


def build_objective(settings: Any, seed: int) -> Any:
    """The objective that ``settings`` (the ``model.objective`` section) names, configured from it."""
    return objective_class(settings.name).from_settings(settings, seed)
