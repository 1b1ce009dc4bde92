"""The GAN as one ``keras.Model`` whose compiled ``train_step`` does both updates."""

from __future__ import annotations

import keras
import tensorflow as tf

from fashion_dcgan.gan.augment import DiffAugment
from fashion_dcgan.gan.ema import GeneratorAverage
from fashion_dcgan.gan.networks import is_conditional
from fashion_dcgan.gan.objective import Objective


class DCGAN(keras.Model):
    """Alternating discriminator and generator updates, driven by ``model.fit``.

    What varies is injected: the ``objective`` (losses and the metrics it reports), an optional
    ``augment`` applied to every image the discriminator sees, and an optional moving average of
    the generator (``ema_decay`` > 0), which then is the generator used for sampling.

    Each step draws the discriminator's fakes from fresh latents, and then, as the tutorial does,
    fresh latents again for the generator's update. With ``reuse_fakes`` the generator's update
    scores the same fakes against the updated discriminator instead (PyTorch's DCGAN example): one
    generator forward pass per step instead of two.

    With class-conditional networks (``models.is_conditional``) ``fit`` feeds ``(images, labels)``;
    the fakes of each step are drawn for the real batch's labels, so both networks see the data's
    class balance, and the discriminator judges every image with its label.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        latent_dim: int,
        seed: int,
        objective: Objective,
        augment: DiffAugment | None = None,
        ema_decay: float = 0.0,
        reuse_fakes: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.objective = objective
        self.augment = augment if augment else None
        self.noise_seed = keras.random.SeedGenerator(seed)
        self.average = GeneratorAverage(generator, ema_decay) if ema_decay > 0 else None
        self.reuse_fakes = reuse_fakes
        self.conditional = is_conditional(generator)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in objective.metric_names}
        # Both networks are built from their Input layers; nothing is left for fit to build symbolically.
        self.built = True

    def compile(self, d_optimizer, g_optimizer, **kwargs):  # type: ignore[override]
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def sampler(self) -> keras.Model:
        """The generator to draw images from: the moving average when there is one."""
        return self.average.generator if self.average is not None else self.generator

    @property
    def training_variables(self) -> list:
        """Everything a checkpoint must hold to resume exactly, in a deterministic order."""
        parts = [part for part in (self.average, self.augment) if part is not None]
        extra = [variable for part in parts for variable in part.variables] + self.objective.variables
        return [*self.variables, *extra, *self.d_optimizer.variables, *self.g_optimizer.variables]

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

    def _critic(self, labels):
        """The discriminator as a function of images, for a batch of any multiple of ``labels``."""

        def critic(images):
            images = self.augment(images) if self.augment else images
            if self.conditional:
                repeats = tf.shape(images)[0] // tf.shape(labels)[0]
                images = [images, tf.tile(labels, [repeats] + [1] * (labels.shape.rank - 1))]
            return tf.cast(self.discriminator(images, training=True), tf.float32)

        return critic

    def _generate(self, latents, labels):
        return self.generator([latents, labels] if self.conditional else latents, training=True)

    def _discriminator_update(self, critic, real_images, fakes) -> dict:
        """One discriminator step; the objective computes its losses and any penalty from the critic
        and both batches. Returns the objective's values (``d_loss`` and its metrics)."""
        real_images = tf.cast(real_images, fakes.dtype)
        with tf.GradientTape() as tape:
            values = self.objective.discriminator_loss(critic, real_images, fakes, self.d_optimizer.iterations)
            scaled = self.d_optimizer.scale_loss(values["d_loss"])
        grads = tape.gradient(scaled, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables, strict=True))
        return values

    def _generator_loss(self, fake_logits):
        g_loss = self.objective.generator_loss(fake_logits)
        return g_loss, self.g_optimizer.scale_loss(g_loss)

    def train_step(self, data):
        real_images, labels = data if self.conditional else (data, None)
        batch_size = tf.shape(real_images)[0]
        critic = self._critic(labels)

        if self.reuse_fakes:
            # One generator pass: its tape records it, pauses over the discriminator's update, and
            # resumes to score the same fakes against the updated discriminator.
            with tf.GradientTape() as tape:
                fakes = self._generate(self._latents(batch_size), labels)
                with tape.stop_recording():
                    values = self._discriminator_update(critic, real_images, fakes)
                g_loss, scaled = self._generator_loss(critic(fakes))
        else:
            # The discriminator's fakes come from the generator in training mode, as the tutorial does.
            values = self._discriminator_update(critic, real_images, self._generate(self._latents(batch_size), labels))
            latents = self._latents(batch_size)
            with tf.GradientTape() as tape:
                g_loss, scaled = self._generator_loss(critic(self._generate(latents, labels)))
        # Generator: only its weights move; the discriminator is a fixed critic here.
        grads = tape.gradient(scaled, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables, strict=True))
        if self.average is not None:
            self.average.update()

        values["g_loss"] = g_loss
        # Keras losses divide by the number of replicas (gradients are summed across them); report the mean.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        for name in ("d_loss", "g_loss"):
            values[name] = values[name] * replicas
        for name, tracker in self.trackers.items():
            tracker.update_state(values[name])
        results = {name: tracker.result() for name, tracker in self.trackers.items()}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras reduces multi-worker step outputs with reduce("MEAN", axis=0), which rejects scalars.
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results

    def call(self, inputs, training=False):
        """Images from the sampling generator: ``latents``, or ``[latents, labels]`` when conditional."""
        return self.sampler(inputs, training=training)
