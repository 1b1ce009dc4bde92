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
    def __init__(self, generator: keras.Model, decay: float, name: str = "generator_ema"):
        self.decay = decay
        self.source = generator
        self.generator = frozen_copy(generator, name)
        self.updates = keras.Variable(0, dtype="int64", trainable=False, name="ema_updates")

    @property
    def variables(self) -> list:
        return [*self.generator.weights, self.updates]

    def update(self, steps: int = 1) -> None:
        """Move the average one step towards the live generator (call after each generator update), or
        ``steps`` steps at once, as if those updates had all ended at the live weights (a caller that sees
        the weights only every ``steps`` updates: close to the exact average when the half-life is long)."""
        context = tf.distribute.get_replica_context()
        if context is not None and tf.distribute.has_strategy():
            # Mirrored copies are only written from cross-replica context; every replica's weights agree.
            context.merge_call(lambda strategy: self._update(steps))
        else:
            self._update(steps)

    def _update(self, steps: int) -> None:
        kept = 1.0
        for _ in range(steps):  # a Python count: unrolled in a traced step, where it is 1
            self.updates.assign_add(1)
            kept = kept * warmed_decay(self.decay, tf.cast(self.updates, "float32"))
        trainable = {id(v) for v in self.source.trainable_weights}
        for average, live in zip(self.generator.weights, self.source.weights, strict=True):
            if id(live) in trainable:
                average.assign(kept * average + (1.0 - kept) * live)
            else:
                average.assign(live)
