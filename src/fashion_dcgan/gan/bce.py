"""The tutorial's objective: binary cross-entropy, non-saturating for the generator (Goodfellow et al., 2014)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from fashion_dcgan.gan.objective import Objective, discriminator_probabilities, joined_logits


class NonSaturatingBCE(Objective):
    metric_names = ("d_loss", "g_loss", "d_real", "d_fake")

    def __init__(self, label_smoothing: float):
        self.label_smoothing = label_smoothing  # one-sided: real targets become 1 - label_smoothing
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @classmethod
    def from_settings(cls, settings: Any, seed: int) -> NonSaturatingBCE:
        return cls(settings.label_smoothing)

    def discriminator_loss(self, critic, real, fake, step):
        real_logits, fake_logits = joined_logits(critic, real, fake)
        # One loss over the joined batch, exactly as the tutorial computes it.
        batch = tf.shape(real_logits)[0]
        targets = tf.concat([tf.fill((batch, 1), 1.0 - self.label_smoothing), tf.zeros((batch, 1))], axis=0)
        d_loss = self.bce(targets, tf.concat([real_logits, fake_logits], axis=0))
        return {"d_loss": d_loss, **discriminator_probabilities(real_logits, fake_logits)}

    def generator_loss(self, fake_logits):
        # Non-saturating: maximise log D(G(z)) rather than minimise log(1 - D(G(z))).
        return self.bce(tf.ones_like(fake_logits), fake_logits)
