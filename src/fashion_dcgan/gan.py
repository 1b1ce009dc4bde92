"""The DCGAN as one ``keras.Model`` whose compiled ``train_step`` does both updates."""

from __future__ import annotations

import keras
import tensorflow as tf

METRIC_NAMES = ("d_loss", "g_loss", "d_real", "d_fake")


class DCGAN(keras.Model):
    """Alternating discriminator and generator updates, driven by ``model.fit``.

    Reports epoch means of the discriminator loss, generator loss, D(x) and
    D(G(z)) (the last two as probabilities).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int, seed: int, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.noise_seed = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in METRIC_NAMES}
        # Both networks are built from their Input layers; nothing is left for fit to build symbolically.
        self.built = True

    def compile(self, d_optimizer, g_optimizer, label_smoothing: float = 0.0, **kwargs):  # type: ignore[override]
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.label_smoothing = label_smoothing
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def build_optimizers(self) -> None:
        """Create optimizer slots now, so a checkpoint can be restored before the first step."""
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def _latents(self, batch_size):
        # Under tf.distribute every replica draws the whole global batch from the same seed state and
        # keeps its own slice: the latents are exactly those of single-device training.
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        latents = keras.random.normal((batch_size * replicas, self.latent_dim), seed=self.noise_seed)
        if replicas == 1:
            return latents
        start = tf.cast(context.replica_id_in_sync_group, tf.int32) * batch_size
        return latents[start : start + batch_size]

    def train_step(self, real_images):
        batch_size = tf.shape(real_images)[0]

        # Discriminator: fakes from the generator in training mode, as the tutorial does.
        fakes = self.generator(self._latents(batch_size), training=True)
        images = tf.concat([tf.cast(real_images, fakes.dtype), fakes], axis=0)
        real_target = tf.fill((batch_size, 1), 1.0 - self.label_smoothing)
        targets = tf.concat([real_target, tf.zeros((batch_size, 1))], axis=0)
        with tf.GradientTape() as tape:
            logits = tf.cast(self.discriminator(images, training=True), tf.float32)
            d_loss = self.bce(targets, logits)
            scaled = self.d_optimizer.scale_loss(d_loss)
        grads = tape.gradient(scaled, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables, strict=True))

        # Generator: only its weights move; the discriminator is a fixed critic here.
        latents = self._latents(batch_size)
        with tf.GradientTape() as tape:
            fake_logits = tf.cast(self.discriminator(self.generator(latents, training=True), training=True), tf.float32)
            g_loss = self.bce(tf.ones((batch_size, 1)), fake_logits)
            scaled = self.g_optimizer.scale_loss(g_loss)
        grads = tape.gradient(scaled, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables, strict=True))

        probabilities = tf.sigmoid(logits)
        # Keras losses divide by the number of replicas (gradients are summed across them); report the mean.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        values = {
            "d_loss": d_loss * replicas,
            "g_loss": g_loss * replicas,
            "d_real": tf.reduce_mean(probabilities[:batch_size]),
            "d_fake": tf.reduce_mean(probabilities[batch_size:]),
        }
        for name, value in values.items():
            self.trackers[name].update_state(value)
        results = {name: tracker.result() for name, tracker in self.trackers.items()}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras reduces multi-worker step outputs with reduce("MEAN", axis=0), which rejects scalars.
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results

    def call(self, latents, training=False):
        return self.generator(latents, training=training)
