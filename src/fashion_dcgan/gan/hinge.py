"""Hinge loss (Lim and Ye, 2017; Miyato et al., 2018): the discriminator is a margin classifier."""

from __future__ import annotations

import tensorflow as tf

from fashion_dcgan.gan.objective import Objective, joined_logits, replica_mean


class Hinge(Objective):
    # The logits are scores, not log-odds: report their means rather than probabilities.
    metric_names = ("d_loss", "g_loss", "d_real_score", "d_fake_score")

    def discriminator_loss(self, critic, real, fake, step):
        real_logits, fake_logits = joined_logits(critic, real, fake)
        d_loss = replica_mean(tf.nn.relu(1.0 - real_logits)) + replica_mean(tf.nn.relu(1.0 + fake_logits))
        scores = {"d_real_score": tf.reduce_mean(real_logits), "d_fake_score": tf.reduce_mean(fake_logits)}
        return {"d_loss": d_loss, **scores}

    def generator_loss(self, fake_logits):
        return -replica_mean(fake_logits)
