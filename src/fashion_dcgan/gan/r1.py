"""Non-saturating loss with an R1 gradient penalty on real images (Mescheder et al., 2018).

R1 = gamma / 2 * E_x ||grad_x D(x)||^2 over real images: it keeps the discriminator flat on the
data, which makes the game converge locally where plain GAN training oscillates.

Lazy regularization (Karras et al., 2020, StyleGAN2): the penalty is computed on every k-th
discriminator step only, weighted gamma * k, so that its average weight is unchanged while the
second differentiation through the discriminator is paid once in k steps.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from fashion_dcgan.gan.objective import (
    Objective,
    discriminator_probabilities,
    joined_logits,
    replica_mean,
    squared_norms,
)


class NonSaturatingR1(Objective):
    # r1_penalty: the penalty added to d_loss on this step (gamma * k / 2 ||grad||^2 on a penalised
    # step, 0 between): its mean over steps is the every-step penalty's, whatever k is.
    metric_names = ("d_loss", "g_loss", "d_real", "d_fake", "r1_penalty")

    def __init__(self, gamma: float, every: int):
        self.gamma = gamma
        self.every = every

    @classmethod
    def from_settings(cls, settings: Any, seed: int) -> NonSaturatingR1:
        return cls(settings.gamma, settings.every)

    def discriminator_loss(self, critic, real, fake, step):
        if self.every == 1:
            return self._penalised(critic, real, fake, self.gamma)
        return tf.cond(
            tf.equal(step % self.every, 0),
            lambda: self._penalised(critic, real, fake, self.gamma * self.every),
            lambda: self._losses(*joined_logits(critic, real, fake), tf.zeros(tf.shape(real)[:1])),
        )

    def _penalised(self, critic, real, fake, weight: float) -> dict:
        # The real images' gradient comes from the same joined pass the losses use.
        with tf.GradientTape() as tape:
            tape.watch(real)
            real_logits, fake_logits = joined_logits(critic, real, fake)
            total = tf.reduce_sum(real_logits)
        penalty = 0.5 * weight * squared_norms(tape.gradient(total, real))
        return self._losses(real_logits, fake_logits, penalty)

    def _losses(self, real_logits, fake_logits, penalty) -> dict:
        # softplus(-l) = -log sigmoid(l) and softplus(l) = -log(1 - sigmoid(l)): BCE on logits.
        bce = replica_mean(tf.nn.softplus(-real_logits)) + replica_mean(tf.nn.softplus(fake_logits))
        return {
            "d_loss": bce + replica_mean(penalty),
            **discriminator_probabilities(real_logits, fake_logits),
            "r1_penalty": tf.reduce_mean(penalty),
        }

    def generator_loss(self, fake_logits):
        return replica_mean(tf.nn.softplus(-fake_logits))
