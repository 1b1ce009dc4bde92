"""Wasserstein loss with a gradient penalty (Gulrajani et al., 2017, "Improved Training of Wasserstein GANs").

The critic estimates the Wasserstein-1 distance, mean D(real) - mean D(fake), and is kept close to
1-Lipschitz by penalising weight * (||grad D(x_hat)|| - 1)^2 at random points x_hat on the lines
between real and fake images. The paper trains the critic 5 times per generator step with Adam
(1e-4, 0.0, 0.9); here both networks take one step each, with those Adam settings.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from fashion_dcgan.gan.objective import (
    Objective,
    joined_logits,
    replica_mean,
    squared_gradient_norms,
)


class WassersteinGP(Objective):
    metric_names = ("d_loss", "g_loss", "wasserstein", "gradient_penalty")

    def __init__(self, weight: float, seed: int):
        self.weight = weight
        self.seed = keras.random.SeedGenerator(seed)

    @classmethod
    def from_settings(cls, settings: Any, seed: int) -> WassersteinGP:
        return cls(settings.weight, seed)

    @property
    def variables(self) -> list:
        return [self.seed.state]

    def discriminator_loss(self, critic, real, fake, step):
        real_logits, fake_logits = joined_logits(critic, real, fake)
        share = keras.random.uniform((tf.shape(real)[0], 1, 1, 1), seed=self.seed, dtype=real.dtype)
        between = share * real + (1 - share) * fake
        norms = squared_gradient_norms(critic, between)
        # The small constant keeps the norm's gradient finite where the critic's gradient vanishes.
        penalty = self.weight * tf.square(tf.sqrt(norms + 1e-12) - 1.0)
        distance = tf.reduce_mean(real_logits) - tf.reduce_mean(fake_logits)
        return {
            "d_loss": replica_mean(fake_logits) - replica_mean(real_logits) + replica_mean(penalty),
            "wasserstein": distance,
            "gradient_penalty": tf.reduce_mean(penalty),
        }

    def generator_loss(self, fake_logits):
        return -replica_mean(fake_logits)
