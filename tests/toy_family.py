"""A network family added the way docs/extending.md says: two layer functions (here) and one entry in
fashion_dcgan.catalog.FAMILIES (made by the test that uses it)."""

from __future__ import annotations

from keras import layers


def generator(width: int) -> list[layers.Layer]:
    return [
        layers.Dense(7 * 7 * width),
        layers.Reshape((7, 7, width)),
        layers.Conv2DTranspose(width // 2, 4, strides=2, padding="same", activation="relu"),
        layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh", dtype="float32"),
    ]


def discriminator(width: int) -> list[layers.Layer]:
    return [
        layers.Conv2D(width, 4, strides=4, padding="same"),
        layers.LeakyReLU(0.2),
        layers.Flatten(),
        layers.Dense(1, dtype="float32"),
    ]
