"""Generator and discriminator networks, by family (``model.variant``).

``tutorial`` reproduces the Keras tutorial exactly (the discriminator emits a
logit instead of a sigmoid; same parameter count). ``paper`` follows the
DCGAN paper's guidelines adapted to 28x28. ``deep`` is a larger DCGAN: a
generator with a third batch-normalized layer at full resolution and a stride-1
output convolution, and a discriminator with a third strided convolution and no
dropout. Every generator projects to 7x7 and upsamples twice, so it draws
28x28x1 images; the discriminators take the image shape they are given.

Each family is a pair of functions of the width that return the layers in order; adding a family
is two such functions and one entry in ``fashion_dcgan.catalog.FAMILIES`` (docs/extending.md).

Any pair can be made class-conditional (``conditional=True``): the generator then takes
``[latent, label]``; with ``conditioning="embedding"`` it joins a learned label embedding to the
latent vector before the same layers, with ``conditioning="batch_norm"`` every batch norm gets a
class-dependent gain and bias instead (conditional batch norm, as in SNGAN and BigGAN). The
discriminator takes ``[image, label]`` and adds a projection term, the inner product of a learned
class embedding with its last features (Miyato and Koyama, 2018), to the same head's logit. The
label is an integer class index, one per image.
"""

from __future__ import annotations

import keras
from keras import layers

from fashion_dcgan import catalog


def tutorial_generator(width: int) -> list[layers.Layer]:
    return [
        layers.Dense(7 * 7 * width),
        layers.Reshape((7, 7, width)),
        layers.BatchNormalization(),
        layers.Conv2DTranspose(width // 2, 5, strides=2, padding="same", activation="selu"),
        layers.BatchNormalization(),
        # float32 output keeps images exact under mixed precision.
        layers.Conv2DTranspose(1, 5, strides=2, padding="same", activation="tanh", dtype="float32"),
    ]


def tutorial_discriminator(width: int) -> list[layers.Layer]:
    return [
        layers.Conv2D(width, 5, strides=2, padding="same"),
        layers.LeakyReLU(0.2),
        layers.Dropout(0.3),
        layers.Conv2D(width * 2, 5, strides=2, padding="same"),
        layers.LeakyReLU(0.2),
        layers.Dropout(0.3),
        layers.Flatten(),
        layers.Dense(1, dtype="float32"),
    ]


def _projection(width: int, init) -> list[layers.Layer]:
    # The paper's "project and reshape": a matrix multiply, no bias before BN.
    return [
        layers.Dense(7 * 7 * width, use_bias=False, kernel_initializer=init),
        layers.Reshape((7, 7, width)),
        layers.BatchNormalization(),
        layers.ReLU(),
    ]


def _upsampling(channels: int, kernel: int, init) -> list[layers.Layer]:
    return [
        layers.Conv2DTranspose(channels, kernel, strides=2, padding="same", use_bias=False, kernel_initializer=init),
        layers.BatchNormalization(),
        layers.ReLU(),
    ]


def paper_generator(width: int) -> list[layers.Layer]:
    init = keras.initializers.RandomNormal(0.0, 0.02)
    return [
        *_projection(width, init),
        *_upsampling(width // 2, 5, init),
        layers.Conv2DTranspose(
            1, 5, strides=2, padding="same", activation="tanh", kernel_initializer=init, dtype="float32"
        ),
    ]


def paper_discriminator(width: int) -> list[layers.Layer]:
    init = keras.initializers.RandomNormal(0.0, 0.02)
    return [
        # No batch norm on the discriminator's input layer (paper, section 3).
        layers.Conv2D(width, 5, strides=2, padding="same", kernel_initializer=init),
        layers.LeakyReLU(0.2),
        layers.Conv2D(width * 2, 5, strides=2, padding="same", use_bias=False, kernel_initializer=init),
        layers.BatchNormalization(),
        layers.LeakyReLU(0.2),
        layers.Flatten(),
        layers.Dense(1, kernel_initializer=init, dtype="float32"),
    ]


def deep_generator(width: int) -> list[layers.Layer]:
    init = keras.initializers.RandomNormal(0.0, 0.02)
    return [
        *_projection(width, init),
        # 4x4 kernels with stride 2: every output pixel gets the same number of taps (no checkerboard).
        *_upsampling(width // 2, 4, init),
        *_upsampling(width // 4, 4, init),
        layers.Conv2D(1, 3, padding="same", activation="tanh", kernel_initializer=init, dtype="float32"),
    ]


def deep_discriminator(width: int) -> list[layers.Layer]:
    init = keras.initializers.RandomNormal(0.0, 0.02)
    return [
        layers.Conv2D(width, 4, strides=2, padding="same", kernel_initializer=init),
        layers.LeakyReLU(0.2),
        layers.Conv2D(width * 2, 4, strides=2, padding="same", kernel_initializer=init),
        layers.LeakyReLU(0.2),
        layers.Conv2D(width * 4, 4, strides=2, padding="same", kernel_initializer=init),
        layers.LeakyReLU(0.2),
        layers.Flatten(),
        layers.Dense(1, kernel_initializer=init, dtype="float32"),
    ]


# Each family's (generator layers, discriminator layers), as functions of the width.
# Width of the generator's label embedding, joined to the latent vector (conditional models only).
LABEL_EMBEDDING = 32


def _family(variant: str) -> tuple:
    """The family's two layer functions, from the catalog of parts."""
    family = catalog.family(variant)
    return catalog.load(family.generator), catalog.load(family.discriminator)


def build_generator(
    variant: str,
    latent_dim: int,
    width: int,
    num_classes: int | None = None,
    conditioning: str = catalog.CONDITIONINGS[0],
) -> keras.Model:
    """The generator; class-conditional when ``num_classes`` is given, by ``conditioning``."""
    body = _family(variant)[0](width)
    if num_classes is None:
        return keras.Sequential([keras.Input((latent_dim,)), *body], name="generator")
    if conditioning not in catalog.CONDITIONINGS:
        raise ValueError(f"unknown conditioning {conditioning!r}; known: {', '.join(catalog.CONDITIONINGS)}")
    latent = keras.Input((latent_dim,), name="latent")
    label = keras.Input((), dtype="int32", name="label")
    if conditioning == "embedding":
        embedded = layers.Embedding(num_classes, LABEL_EMBEDDING, name="label_embedding")(label)
        x = layers.Concatenate(name="latent_and_label")([latent, embedded])
    else:
        x = latent
    norms = 0
    for layer in body:
        if conditioning == "batch_norm" and isinstance(layer, layers.BatchNormalization):
            norms += 1
            x = _class_batch_norm(x, label, num_classes, f"class_bn{norms}")
        else:
            x = layer(x)
    return keras.Model([latent, label], x, name="generator")


def _class_batch_norm(x, label, num_classes: int, name: str):
    """Batch norm whose gain and bias are looked up by class: ``gain[label] * normalized + bias[label]``,
    from standard layers only (the saved model needs no custom code). Gains start at one, biases at
    zero: at initialization it is the plain batch norm."""
    channels = x.shape[-1]
    broadcast = (1,) * (len(x.shape) - 2) + (channels,)
    normalized = layers.BatchNormalization(center=False, scale=False, name=f"{name}_normalize")(x)
    gain = layers.Embedding(num_classes, channels, embeddings_initializer="ones", name=f"{name}_gain")(label)
    bias = layers.Embedding(num_classes, channels, embeddings_initializer="zeros", name=f"{name}_bias")(label)
    scaled = layers.Multiply(name=f"{name}_scale")([normalized, layers.Reshape(broadcast)(gain)])
    return layers.Add(name=f"{name}_shift")([scaled, layers.Reshape(broadcast)(bias)])


def _spectrally_normalized(layer: layers.Layer) -> layers.Layer:
    """``layer`` with its kernel divided by its largest singular value (one power iteration per call)."""
    if not isinstance(layer, (layers.Conv2D, layers.Dense)):
        return layer
    return layers.SpectralNormalization(layer, dtype=layer.dtype_policy, name=f"sn_{layer.name}")


def build_discriminator(
    variant: str,
    width: int,
    image_shape: tuple[int, int, int],
    num_classes: int | None = None,
    spectral_norm: bool = False,
) -> keras.Model:
    """The discriminator (one logit per image); with a projection head when ``num_classes`` is given,
    and spectral normalization of its conv and dense layers (Miyato et al., 2018) when asked."""
    body = _family(variant)[1](width)
    if spectral_norm:
        body = [_spectrally_normalized(layer) for layer in body]
    if num_classes is None:
        return keras.Sequential([keras.Input(image_shape), *body], name="discriminator")
    image = keras.Input(image_shape, name="image")
    label = keras.Input((), dtype="int32", name="label")
    x = image
    for layer in body[:-1]:
        x = layer(x)
    logit = body[-1](x)  # the unconditional head, float32
    embedded = layers.Embedding(num_classes, x.shape[-1], dtype="float32", name="class_projection")(label)
    projection = layers.Dot(axes=1, dtype="float32", name="projection")([x, embedded])
    return keras.Model(
        [image, label], layers.Add(dtype="float32", name="logit")([logit, projection]), name="discriminator"
    )


def frozen_copy(model: keras.Model, name: str) -> keras.Model:
    """A non-trainable copy of ``model`` with the same weights (the moving average, the best epoch)."""
    copy = keras.models.clone_model(model)
    copy.name = name
    copy.set_weights(model.get_weights())
    copy.trainable = False
    return copy


def is_conditional(model: keras.Model) -> bool:
    """Whether a generator or discriminator takes a class label beside its latent or image input."""
    return len(getattr(model, "inputs", None) or ()) > 1


def discriminator_conv_layers(discriminator: keras.Model) -> list[keras.layers.Layer]:
    """The activations after each conv block, as the DCGAN paper's feature probe uses them."""
    return [layer for layer in discriminator.layers if isinstance(layer, layers.LeakyReLU)]
