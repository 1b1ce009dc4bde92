"""An exponential moving average of the generator's weights (Yazici et al., 2019; Karras et al., 2018).

The averaged generator is a copy of the network whose trainable weights follow
``avg = d * avg + (1 - d) * w`` after every generator update. ``d`` warms up as
``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so the first epochs are not dominated by
the initial weights. Batch-norm statistics are not averaged but copied from the live generator
after each update: they describe that network's activations, which the average tracks.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from fashion_dcgan.gan.networks import frozen_copy


def warmed_decay(decay: float, updates):
    """The decay used by update number ``updates`` (counted from 1), ``min(decay, (1 + n) / (10 + n))``,
    for a Python number or a float tensor."""
    ramp = (1.0 + updates) / (10.0 + updates)
    return tf.minimum(decay, ramp) if tf.is_tensor(ramp) else min(decay, ramp)


class GeneratorAverage:
    def __init__(self, generator: keras.Model, decay: float):
        self.decay = decay
        self.source = generator
        self.generator = frozen_copy(generator, "generator_ema")
        self.updates = keras.Variable(0, dtype="int64", trainable=False, name="ema_updates")

    @property
    def variables(self) -> list:
        return [*self.generator.weights, self.updates]

    def update(self) -> None:
        """Move the average one step towards the live generator (call after each generator update)."""
        context = tf.distribute.get_replica_context()
        if context is not None and tf.distribute.has_strategy():
            # Mirrored copies are only written from cross-replica context; every replica's weights agree.
            context.merge_call(lambda strategy: self._update())
        else:
            self._update()

    def _update(self) -> None:
        self.updates.assign_add(1)
        decay = warmed_decay(self.decay, tf.cast(self.updates, "float32"))
        trainable = {id(v) for v in self.source.trainable_weights}
        for average, live in zip(self.generator.weights, self.source.weights, strict=True):
            if id(live) in trainable:
                average.assign(decay * average + (1.0 - decay) * live)
            else:
                average.assign(live)
