"""The GAN's named parts: objectives (closed-form loss checks), augmentation, EMA, and the registry."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from fashion_dcgan.config import parse_params
from fashion_dcgan.gan.augment import DiffAugment
from fashion_dcgan.gan.bce import NonSaturatingBCE
from fashion_dcgan.gan.ema import GeneratorAverage
from fashion_dcgan.gan.hinge import Hinge
from fashion_dcgan.gan.model import DCGAN
from fashion_dcgan.gan.r1 import NonSaturatingR1
from fashion_dcgan.gan.registry import OBJECTIVES, build_objective, objective_class

REAL = tf.constant([[2.0], [-1.0]])
FAKE = tf.constant([[0.5], [-3.0]])


def softplus(x):
    return float(np.log1p(np.exp(x)))


def test_bce_matches_its_closed_form_with_label_smoothing():
    objective = NonSaturatingBCE(label_smoothing=0.1)
    values = objective.discriminator_loss(REAL, FAKE)
    # -[t log s(l) + (1 - t) log(1 - s(l))] = t softplus(-l) + (1 - t) softplus(l)
    real_terms = [0.9 * softplus(-r) + 0.1 * softplus(r) for r in (2.0, -1.0)]
    fake_terms = [softplus(f) for f in (0.5, -3.0)]
    assert float(values["d_loss"]) == pytest.approx(np.mean(real_terms + fake_terms), rel=1e-6)
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    assert float(values["d_real"]) == pytest.approx((sigmoid(2.0) + sigmoid(-1.0)) / 2, rel=1e-6)
    assert float(objective.generator_loss(FAKE)) == pytest.approx((softplus(-0.5) + softplus(3.0)) / 2, rel=1e-6)


def test_hinge_matches_its_closed_form():
    values = Hinge().discriminator_loss(REAL, FAKE)
    # relu(1 - r): 0 and 2; relu(1 + f): 1.5 and 0.
    assert float(values["d_loss"]) == pytest.approx(1.0 + 0.75)
    assert float(values["d_real_score"]) == pytest.approx(0.5) and float(values["d_fake_score"]) == pytest.approx(-1.25)
    assert float(Hinge().generator_loss(FAKE)) == pytest.approx(1.25)


def test_r1_adds_half_gamma_times_the_mean_squared_gradient_norm():
    gradient = tf.fill((2, 28, 28, 1), 0.1)  # squared norm 784 * 0.01 = 7.84 per image
    values = NonSaturatingR1(gamma=2.0).discriminator_loss(REAL, FAKE, gradient)
    bce = np.mean([softplus(-2.0), softplus(1.0)]) + np.mean([softplus(0.5), softplus(-3.0)])
    assert float(values["r1_penalty"]) == pytest.approx(7.84, rel=1e-5)
    assert float(values["d_loss"]) == pytest.approx(bce + 7.84, rel=1e-5)


def _linear_critic(weight: float) -> keras.Model:
    """D(x) = weight * sum(x): its gradient with respect to every pixel is ``weight``."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(1, use_bias=False, kernel_initializer=keras.initializers.Constant(weight)),
        ]
    )


def test_r1_penalty_in_the_training_step_is_the_critics_real_input_gradient():
    from fashion_dcgan.models import build_generator

    keras.utils.set_random_seed(0)
    gan = DCGAN(build_generator("tutorial", 8, 16), _linear_critic(0.01), 8, 0, NonSaturatingR1(gamma=4.0))
    gan.compile(keras.optimizers.Adam(0.0), keras.optimizers.Adam(0.0))  # frozen: the penalty is exact
    logs = gan.train_step(tf.zeros((4, 28, 28, 1)))
    assert float(logs["r1_penalty"]) == pytest.approx(0.5 * 4.0 * 784 * 0.01**2, rel=1e-4)


def test_every_registered_objective_declares_its_metrics():
    assert set(OBJECTIVES) == {"bce", "hinge", "r1"}
    for name in OBJECTIVES:
        cls = objective_class(name)
        assert cls.name == name and cls.metric_names[:2] == ("d_loss", "g_loss")
    params = parse_params({"model": {"objective": "r1", "r1_gamma": 3.0}, "train": {"label_smoothing": 0.2}})
    assert build_objective("r1", params).gamma == 3.0
    assert build_objective("bce", params).label_smoothing == 0.2
    with pytest.raises(KeyError, match="registered: bce, hinge, r1"):
        objective_class("wgan")


def test_translation_moves_content_and_pads_with_zeros():
    image = np.full((1, 28, 28, 1), -1.0, np.float32)
    image[0, 14, 14, 0] = 1.0  # one bright pixel on a dark background
    augment = DiffAugment(["translation"], seed=0)
    shifted = np.stack([np.asarray(augment(tf.constant(image)))[0] for _ in range(20)])
    rows, cols = np.nonzero(shifted[..., 0] == 1.0)[1:]
    assert len(rows) == 20  # the pixel survives every shift of at most 4
    assert np.abs(rows - 14).max() <= 4 and np.abs(cols - 14).max() <= 4 and len(set(zip(rows, cols, strict=True))) > 1
    assert set(np.unique(shifted)) <= {-1.0, 0.0, 1.0}  # the border that moved in is zero padding


def test_cutout_zeroes_one_square_per_image_and_is_differentiable():
    images = tf.ones((16, 28, 28, 1))
    with tf.GradientTape() as tape:
        tape.watch(images)
        total = tf.reduce_sum(DiffAugment(["translation", "cutout"], seed=1)(images))
    gradient = tape.gradient(total, images)
    zeros = np.asarray(tf.reduce_sum(tf.cast(DiffAugment(["cutout"], seed=1)(images) == 0, tf.int32), axis=[1, 2, 3]))
    assert zeros.min() >= 7 * 7 and zeros.max() <= 14 * 14 and len(set(zeros.tolist())) > 1
    # d(sum)/d(pixel) is 1 where the pixel is kept, 0 where it was cut or shifted out.
    assert gradient is not None and 0 < float(tf.reduce_sum(gradient)) == pytest.approx(float(total))
    with pytest.raises(ValueError, match="unknown augmentation"):
        DiffAugment(["flip"], seed=0)


def test_ema_warms_up_and_copies_batch_norm_statistics():
    from fashion_dcgan.models import build_generator

    generator = build_generator("tutorial", 8, 16)
    average = GeneratorAverage(generator, decay=0.999)
    before = [w.copy() for w in average.generator.get_weights()]
    for variable in generator.weights:
        variable.assign(variable + 1.0)
    average.update()
    decay = 2.0 / 11.0  # min(0.999, (1 + n) / (10 + n)) after n = 1 update
    trainable = {id(v) for v in generator.trainable_weights}
    for old, new, live in zip(before, average.generator.get_weights(), generator.weights, strict=True):
        if id(live) in trainable:
            np.testing.assert_allclose(new, decay * old + (1 - decay) * (old + 1.0), rtol=1e-5)
        else:  # batch-norm moving statistics follow the live network
            np.testing.assert_array_equal(new, np.asarray(live))
    assert average.generator is not generator and int(average.updates) == 1
