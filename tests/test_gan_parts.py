"""The GAN's named parts: objectives (closed-form loss checks), augmentation, EMA, and the registry."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from fashion_dcgan.catalog import OBJECTIVES
from fashion_dcgan.config import ModelParams, parse_params, union_members
from fashion_dcgan.gan.augment import DiffAugment
from fashion_dcgan.gan.bce import NonSaturatingBCE
from fashion_dcgan.gan.dcgan import DCGAN
from fashion_dcgan.gan.ema import GeneratorAverage
from fashion_dcgan.gan.hinge import Hinge
from fashion_dcgan.gan.objective import build_objective, objective_class
from fashion_dcgan.gan.r1 import NonSaturatingR1
from fashion_dcgan.gan.wgan_gp import WassersteinGP

REAL = tf.constant([[2.0], [-1.0]])
FAKE = tf.constant([[0.5], [-3.0]])
STEP = tf.constant(0, tf.int64)


def fixed_critic(images):
    """Answers REAL for the real half of a joined batch and FAKE for the other (closed-form checks)."""
    return tf.concat([REAL, FAKE], axis=0)


def losses(objective):
    images = tf.zeros((2, 28, 28, 1))
    return objective.discriminator_loss(fixed_critic, images, images, STEP)


def softplus(x):
    return float(np.log1p(np.exp(x)))


def test_bce_matches_its_closed_form_with_label_smoothing():
    objective = NonSaturatingBCE(label_smoothing=0.1)
    values = losses(objective)
    # -[t log s(l) + (1 - t) log(1 - s(l))] = t softplus(-l) + (1 - t) softplus(l)
    real_terms = [0.9 * softplus(-r) + 0.1 * softplus(r) for r in (2.0, -1.0)]
    fake_terms = [softplus(f) for f in (0.5, -3.0)]
    assert float(values["d_loss"]) == pytest.approx(np.mean(real_terms + fake_terms), rel=1e-6)
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    assert float(values["d_real"]) == pytest.approx((sigmoid(2.0) + sigmoid(-1.0)) / 2, rel=1e-6)
    assert float(objective.generator_loss(FAKE)) == pytest.approx((softplus(-0.5) + softplus(3.0)) / 2, rel=1e-6)


def test_hinge_matches_its_closed_form():
    values = losses(Hinge())
    # relu(1 - r): 0 and 2; relu(1 + f): 1.5 and 0.
    assert float(values["d_loss"]) == pytest.approx(1.0 + 0.75)
    assert float(values["d_real_score"]) == pytest.approx(0.5) and float(values["d_fake_score"]) == pytest.approx(-1.25)
    assert float(Hinge().generator_loss(FAKE)) == pytest.approx(1.25)


def test_r1_adds_half_gamma_times_the_mean_squared_gradient_norm():
    # D(x) = sum(x) * 0.1 has gradient 0.1 at every pixel: squared norm 784 * 0.01 = 7.84 per image.
    critic = _linear_critic(0.1)
    real, fake = tf.fill((2, 28, 28, 1), 0.01), tf.fill((2, 28, 28, 1), -0.01)
    values = NonSaturatingR1(gamma=2.0, every=1).discriminator_loss(critic, real, fake, STEP)
    real_logit, fake_logit = 0.1 * 784 * 0.01, -0.1 * 784 * 0.01
    bce = softplus(-real_logit) + softplus(fake_logit)
    assert float(values["r1_penalty"]) == pytest.approx(7.84, rel=1e-5)
    assert float(values["d_loss"]) == pytest.approx(bce + 7.84, rel=1e-5)


def test_lazy_r1_applies_k_times_the_penalty_on_every_kth_step_only():
    critic = _linear_critic(0.1)
    real, fake = tf.fill((2, 28, 28, 1), 0.01), tf.fill((2, 28, 28, 1), -0.01)
    lazy = NonSaturatingR1(gamma=2.0, every=4)
    penalties = [float(lazy.discriminator_loss(critic, real, fake, tf.constant(s, tf.int64))["r1_penalty"])
                 for s in range(8)]  # fmt: skip
    assert penalties == pytest.approx([4 * 7.84, 0, 0, 0, 4 * 7.84, 0, 0, 0], rel=1e-5)
    assert np.mean(penalties) == pytest.approx(7.84, rel=1e-5)  # the every-step penalty on average
    plain = lazy.discriminator_loss(critic, real, fake, tf.constant(1, tf.int64))
    eager = NonSaturatingR1(gamma=2.0, every=1).discriminator_loss(critic, real, fake, STEP)
    assert float(plain["d_loss"]) == pytest.approx(float(eager["d_loss"]) - 7.84, rel=1e-5)


def test_wgan_gp_penalises_the_distance_of_the_critics_gradient_norm_from_one():
    # D(x) = 0.01 * sum(x): the gradient norm is 0.01 * sqrt(784) = 0.28 at every interpolate, so the
    # penalty is 10 * (0.28 - 1)^2 = 5.184 whatever the interpolation weights.
    critic = _linear_critic(0.01)
    real, fake = tf.fill((3, 28, 28, 1), 1.0), tf.fill((3, 28, 28, 1), -1.0)
    values = WassersteinGP(weight=10.0, seed=0).discriminator_loss(critic, real, fake, STEP)
    distance = 0.01 * 784 * 1.0 - 0.01 * 784 * -1.0  # mean D(real) - mean D(fake) = 15.68
    assert float(values["gradient_penalty"]) == pytest.approx(5.184, rel=1e-4)
    assert float(values["wasserstein"]) == pytest.approx(distance, rel=1e-5)
    assert float(values["d_loss"]) == pytest.approx(-distance + 5.184, rel=1e-4)
    assert float(WassersteinGP(weight=10.0, seed=0).generator_loss(FAKE)) == pytest.approx(1.25)


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
    from fashion_dcgan.gan.networks import build_generator

    keras.utils.set_random_seed(0)
    gan = DCGAN(build_generator("tutorial", 8, 16), _linear_critic(0.01), 8, 0, NonSaturatingR1(gamma=4.0, every=1))
    gan.compile(keras.optimizers.Adam(0.0), keras.optimizers.Adam(0.0))  # frozen: the penalty is exact
    logs = gan.train_step(tf.zeros((4, 28, 28, 1)))
    assert float(logs["r1_penalty"]) == pytest.approx(0.5 * 4.0 * 784 * 0.01**2, rel=1e-4)


def test_every_registered_objective_has_settings_and_declares_its_metrics():
    settings = union_members(ModelParams.model_fields["objective"].annotation)
    assert set(OBJECTIVES) == set(settings) == {"bce", "hinge", "r1", "wgan_gp"}
    for name in OBJECTIVES:
        assert objective_class(name).metric_names[:2] == ("d_loss", "g_loss")
        assert isinstance(build_objective(settings[name](), seed=0), objective_class(name))
    r1 = parse_params({"model": {"objective": {"name": "r1", "gamma": 3.0, "every": 4}}}).model.objective
    assert (build_objective(r1, 0).gamma, build_objective(r1, 0).every) == (3.0, 4)
    bce = parse_params({"model": {"objective": {"name": "bce", "label_smoothing": 0.2}}}).model.objective
    assert build_objective(bce, 0).label_smoothing == 0.2
    with pytest.raises(KeyError, match="registered: bce, hinge, r1, wgan_gp"):
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
    from fashion_dcgan.gan.networks import build_generator

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


@pytest.mark.parametrize("reuse_fakes", [False, True])
def test_the_generator_update_scores_fresh_fakes_or_reuses_the_discriminators(reuse_fakes):
    from fashion_dcgan.gan.networks import build_generator

    keras.utils.set_random_seed(0)
    generator = build_generator("tutorial", 8, 16)
    # A critic whose update is visible: SGD at rate 1 on D(x) = w * sum(x) moves w by -dL/dw.
    critic = _linear_critic(0.01)
    gan = DCGAN(generator, critic, 8, 0, NonSaturatingBCE(label_smoothing=0.0), reuse_fakes=reuse_fakes)
    gan.compile(keras.optimizers.SGD(1.0), keras.optimizers.SGD(1.0))
    start = [np.array(w) for w in generator.trainable_weights]
    draws = keras.random.SeedGenerator(0)  # the latents the step draws, in order
    first, second = (keras.random.normal((4, 8), seed=draws) for _ in range(2))
    gan.train_step(tf.zeros((4, 28, 28, 1)))

    # The generator's gradient against the critic as the discriminator's update left it (its weight is
    # read after the step), for the latents the generator's update should have used.
    probe = build_generator("tutorial", 8, 16)
    probe.set_weights([np.array(w) for w in gan.generator.weights])
    for variable, value in zip(probe.trainable_weights, start, strict=True):
        variable.assign(value)
    with tf.GradientTape() as tape:
        logits = critic(probe(first if reuse_fakes else second, training=True))
        loss = NonSaturatingBCE(label_smoothing=0.0).generator_loss(logits)
    expected = tape.gradient(loss, probe.trainable_weights)
    for before, after, grad in zip(start, generator.trainable_weights, expected, strict=True):
        np.testing.assert_allclose(before - np.array(after), np.array(grad), rtol=1e-4, atol=1e-7)
