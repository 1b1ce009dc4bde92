"""The two network variants."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fashion_dcgan.data.fashion_mnist import IMAGE_SHAPE
from fashion_dcgan.gan.networks import build_discriminator, build_generator


def test_tutorial_parameter_counts_match_the_tutorial():
    assert build_generator("tutorial", 100, 128).count_params() == 840_705
    assert build_discriminator("tutorial", 64, IMAGE_SHAPE).count_params() == 212_865


def test_tutorial_layers_match_the_tutorial():
    generator = build_generator("tutorial", 100, 128)
    kinds = [type(layer).__name__ for layer in generator.layers]
    assert kinds == [
        "Dense",
        "Reshape",
        "BatchNormalization",
        "Conv2DTranspose",
        "BatchNormalization",
        "Conv2DTranspose",
    ]
    assert generator.layers[3].activation.__name__ == "selu" and generator.layers[5].activation.__name__ == "tanh"
    discriminator = build_discriminator("tutorial", 64, IMAGE_SHAPE)
    assert [layer.rate for layer in discriminator.layers if isinstance(layer, keras.layers.Dropout)] == [0.3, 0.3]
    assert [layer.negative_slope for layer in discriminator.layers if isinstance(layer, keras.layers.LeakyReLU)] == [
        0.2,
        0.2,
    ]


@pytest.mark.parametrize("variant", ["tutorial", "paper"])
def test_shapes(variant):
    generator = build_generator(variant, 16, 32)
    images = generator(np.zeros((3, 16), np.float32), training=False)
    assert images.shape == (3, 28, 28, 1)
    assert np.all(np.abs(np.asarray(images)) <= 1)
    assert build_discriminator(variant, 8, IMAGE_SHAPE)(images).shape == (3, 1)


def test_paper_variant_follows_the_guidelines():
    keras.utils.set_random_seed(0)
    generator, discriminator = build_generator("paper", 100, 128), build_discriminator("paper", 64, IMAGE_SHAPE)
    assert not any(
        isinstance(layer, (keras.layers.Dropout, keras.layers.MaxPooling2D)) for layer in discriminator.layers
    )
    assert sum(isinstance(layer, keras.layers.ReLU) for layer in generator.layers) == 2
    # No batch norm right after the discriminator's input layer, batch norm after its second conv.
    assert isinstance(discriminator.layers[1], keras.layers.LeakyReLU)
    assert isinstance(discriminator.layers[3], keras.layers.BatchNormalization)
    kernel = np.asarray(discriminator.layers[2].kernel)
    assert abs(kernel.std() - 0.02) < 0.002 and abs(kernel.mean()) < 0.002


@pytest.mark.parametrize("variant", ["tutorial", "paper"])
def test_conditional_networks_keep_the_layers_and_add_a_label_path(variant):
    from fashion_dcgan.gan.networks import LABEL_EMBEDDING, is_conditional

    plain_g, plain_d = build_generator(variant, 100, 128), build_discriminator(variant, 64, IMAGE_SHAPE)
    generator = build_generator(variant, 100, 128, num_classes=10)
    discriminator = build_discriminator(variant, 64, IMAGE_SHAPE, num_classes=10)
    assert is_conditional(generator) and is_conditional(discriminator) and not is_conditional(plain_g)
    # Generator: the embedding, and the first Dense reading latent + embedding; nothing else changes.
    dense_width = plain_g.layers[0].units
    assert generator.count_params() == plain_g.count_params() + 10 * LABEL_EMBEDDING + LABEL_EMBEDDING * dense_width
    # Discriminator: one projection vector per class, as wide as the features the head reads.
    features = plain_d.layers[-1].input.shape[-1]
    assert discriminator.count_params() == plain_d.count_params() + 10 * features
    images = generator([np.zeros((4, 100), np.float32), np.arange(4, dtype=np.int32)], training=False)
    assert images.shape == (4, *IMAGE_SHAPE)
    assert discriminator([np.asarray(images), np.arange(4, dtype=np.int32)]).shape == (4, 1)


def test_projection_discriminator_adds_the_class_embeddings_inner_product_to_the_logit():
    keras.utils.set_random_seed(0)
    discriminator = build_discriminator("tutorial", 4, IMAGE_SHAPE, num_classes=10)
    images = np.random.default_rng(0).uniform(-1, 1, (5, *IMAGE_SHAPE)).astype(np.float32)
    labels = np.array([0, 3, 3, 7, 9], np.int32)
    flatten = next(layer for layer in discriminator.layers if isinstance(layer, keras.layers.Flatten))
    (head,) = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Dense)]  # the Dense(1) head
    phi = np.asarray(keras.Model(discriminator.inputs[0], flatten.output)(images, training=False))
    kernel, bias = (np.asarray(w) for w in head.weights)
    embedding = np.asarray(discriminator.get_layer("class_projection").embeddings)
    expected = phi @ kernel + bias + (phi * embedding[labels]).sum(axis=1, keepdims=True)
    got = np.asarray(discriminator([images, labels], training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("classes", [None, 10])
def test_spectral_norm_wraps_every_kernel_of_the_discriminator_and_adds_no_trainable_weight(classes):
    plain = build_discriminator("tutorial", 64, IMAGE_SHAPE, classes)
    normalized = build_discriminator("tutorial", 64, IMAGE_SHAPE, classes, spectral_norm=True)
    wrapped = [layer for layer in normalized.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert [type(layer.layer).__name__ for layer in wrapped] == ["Conv2D", "Conv2D", "Dense"]
    trainable = lambda model: sum(int(np.prod(w.shape)) for w in model.trainable_weights)  # noqa: E731
    assert trainable(normalized) == trainable(plain)  # only the power iteration's vectors are added
    # In training, each kernel is divided by its largest singular value: about 1 after a few calls.
    images = np.random.default_rng(0).normal(size=(4, *IMAGE_SHAPE)).astype("float32")
    inputs = images if classes is None else [images, np.arange(4, dtype="int32")]
    for _ in range(20):
        normalized(inputs, training=True)
    for layer in wrapped:
        kernel = np.asarray(layer.layer.kernel).reshape(-1, layer.layer.kernel.shape[-1])
        assert abs(np.linalg.svd(kernel, compute_uv=False)[0] - 1.0) < 0.05
