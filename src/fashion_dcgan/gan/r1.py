"""Non-saturating loss with an R1 gradient penalty on real images (Mescheder et al., 2018).

R1 = gamma / 2 * E_x ||grad_x D(x)||^2 over real images: it keeps the discriminator flat on the
data, which makes the game converge locally where plain GAN training oscillates.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from fashion_dcgan.gan.objective import Objective, OptimizerDefaults, discriminator_probabilities, replica_mean


class NonSaturatingR1(Objective):
    name = "r1"
    metric_names = ("d_loss", "g_loss", "d_real", "d_fake", "r1_penalty")
    optimizer_defaults = OptimizerDefaults(learning_rate=2e-4, beta_1=0.5)
    needs_real_gradient = True

    def __init__(self, gamma: float = 1.0):
        self.gamma = gamma

    @classmethod
    def from_settings(cls, settings: Any) -> NonSaturatingR1:
        return cls(settings.model.r1_gamma)

    def discriminator_loss(self, real_logits, fake_logits, real_gradient=None):
        # softplus(-l) = -log sigmoid(l) and softplus(l) = -log(1 - sigmoid(l)): BCE on logits.
        bce = replica_mean(tf.nn.softplus(-real_logits)) + replica_mean(tf.nn.softplus(fake_logits))
        squared_norms = tf.reduce_sum(tf.square(tf.cast(real_gradient, tf.float32)), axis=[1, 2, 3])
        penalty = 0.5 * self.gamma * squared_norms
        return {
            "d_loss": bce + replica_mean(penalty),
            **discriminator_probabilities(real_logits, fake_logits),
            "r1_penalty": tf.reduce_mean(penalty),
        }

    def generator_loss(self, fake_logits):
        return replica_mean(tf.nn.softplus(-fake_logits))
