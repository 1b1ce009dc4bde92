"""Generator and discriminator networks.

``tutorial`` reproduces the Keras tutorial exactly (the discriminator emits a
logit instead of a sigmoid; same parameter count). ``paper`` follows the
DCGAN paper's guidelines adapted to 28x28. Both generators project to 7x7 and
upsample twice, so they draw 28x28x1 images; the discriminators take the image
shape they are given.
"""

from __future__ import annotations

import keras
from keras import layers


def _tutorial_generator(latent_dim: int, width: int) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((latent_dim,)),
            layers.Dense(7 * 7 * width),
            layers.Reshape((7, 7, width)),
            layers.BatchNormalization(),
            layers.Conv2DTranspose(width // 2, 5, strides=2, padding="same", activation="selu"),
            layers.BatchNormalization(),
            # float32 output keeps images exact under mixed precision.
            layers.Conv2DTranspose(1, 5, strides=2, padding="same", activation="tanh", dtype="float32"),
        ],
        name="generator",
    )


def _tutorial_discriminator(width: int, image_shape: tuple[int, int, int]) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(image_shape),
            layers.Conv2D(width, 5, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Dropout(0.3),
            layers.Conv2D(width * 2, 5, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(1, dtype="float32"),
        ],
        name="discriminator",
    )


def _paper_generator(latent_dim: int, width: int) -> keras.Model:
    init = keras.initializers.RandomNormal(0.0, 0.02)
    return keras.Sequential(
        [
            keras.Input((latent_dim,)),
            # The paper's "project and reshape": a matrix multiply, no bias before BN.
            layers.Dense(7 * 7 * width, use_bias=False, kernel_initializer=init),
            layers.Reshape((7, 7, width)),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2DTranspose(width // 2, 5, strides=2, padding="same", use_bias=False, kernel_initializer=init),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2DTranspose(
                1, 5, strides=2, padding="same", activation="tanh", kernel_initializer=init, dtype="float32"
            ),
        ],
        name="generator",
    )


def _paper_discriminator(width: int, image_shape: tuple[int, int, int]) -> keras.Model:
    init = keras.initializers.RandomNormal(0.0, 0.02)
    return keras.Sequential(
        [
            keras.Input(image_shape),
            # No batch norm on the discriminator's input layer (paper, section 3).
            layers.Conv2D(width, 5, strides=2, padding="same", kernel_initializer=init),
            layers.LeakyReLU(0.2),
            layers.Conv2D(width * 2, 5, strides=2, padding="same", use_bias=False, kernel_initializer=init),
            layers.BatchNormalization(),
            layers.LeakyReLU(0.2),
            layers.Flatten(),
            layers.Dense(1, kernel_initializer=init, dtype="float32"),
        ],
        name="discriminator",
    )


def build_generator(variant: str, latent_dim: int, width: int) -> keras.Model:
    builders = {"tutorial": _tutorial_generator, "paper": _paper_generator}
    return builders[variant](latent_dim, width)


def build_discriminator(variant: str, width: int, image_shape: tuple[int, int, int]) -> keras.Model:
    builders = {"tutorial": _tutorial_discriminator, "paper": _paper_discriminator}
    return builders[variant](width, image_shape)


def discriminator_conv_layers(discriminator: keras.Model) -> list[keras.layers.Layer]:
    """The activations after each conv block, as the DCGAN paper's feature probe uses them."""
    return [layer for layer in discriminator.layers if isinstance(layer, layers.LeakyReLU)]
