"""The network families, and their class-conditional forms."""

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


@pytest.mark.parametrize("variant", ["tutorial", "paper", "deep"])
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


@pytest.mark.parametrize("variant", ["tutorial", "paper", "deep"])
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


def test_deep_family_is_a_dcgan_with_a_third_layer_on_each_side():
    generator, discriminator = build_generator("deep", 100, 128), build_discriminator("deep", 64, IMAGE_SHAPE)
    # Counted by hand: Dense 100x6272 (no bias), ConvT 4x4 128->64 and 64->32 (no bias), Conv 3x3 32->1 + bias,
    # and three batch norms of 4 x 128, 64, 32 values.
    assert generator.count_params() == 100 * 6272 + 16 * 128 * 64 + 16 * 64 * 32 + 9 * 32 + 1 + 4 * (128 + 64 + 32)
    assert generator.count_params() == 792_225
    # Conv 4x4 1->64, 64->128, 128->256 with biases, and the head on the 4x4x256 features.
    assert discriminator.count_params() == (16 * 64 + 64) + (16 * 64 * 128 + 128) + (16 * 128 * 256 + 256) + 4097
    assert discriminator.count_params() == 660_929
    kinds = lambda model, kind: [layer for layer in model.layers if isinstance(layer, kind)]  # noqa: E731
    assert len(kinds(generator, keras.layers.BatchNormalization)) == 3 and len(kinds(generator, keras.layers.ReLU)) == 3
    assert [layer.strides for layer in kinds(generator, keras.layers.Conv2DTranspose)] == [(2, 2), (2, 2)]
    (output,) = [layer for layer in kinds(generator, keras.layers.Conv2D) if type(layer) is keras.layers.Conv2D]
    assert output.strides == (1, 1) and output.activation.__name__ == "tanh"
    convs = kinds(discriminator, keras.layers.Conv2D)
    assert [(layer.filters, layer.strides) for layer in convs] == [(64, (2, 2)), (128, (2, 2)), (256, (2, 2))]
    assert len(kinds(discriminator, keras.layers.LeakyReLU)) == 3
    assert not kinds(discriminator, (keras.layers.Dropout, keras.layers.MaxPooling2D, keras.layers.BatchNormalization))


def test_an_unknown_family_or_conditioning_names_what_is_known():
    with pytest.raises(ValueError, match="unknown network family 'huge'; known: tutorial, paper, deep"):
        build_generator("huge", 100, 128)
    with pytest.raises(ValueError, match="unknown conditioning 'concat'"):
        build_generator("tutorial", 100, 128, 10, "concat")


@pytest.mark.parametrize("variant", ["tutorial", "deep"])
def test_class_batch_norm_gives_each_batch_norm_a_gain_and_bias_per_class(variant):
    plain = build_generator(variant, 100, 32)
    generator = build_generator(variant, 100, 32, num_classes=10, conditioning="batch_norm")
    norms = [layer for layer in plain.layers if isinstance(layer, keras.layers.BatchNormalization)]
    channels = sum(layer.gamma.shape[0] for layer in norms)
    # Each batch norm loses its shared gain and bias (2C) and gains ten of each (20C); no label embedding.
    assert generator.count_params() == plain.count_params() + 18 * channels
    assert "label_embedding" not in [layer.name for layer in generator.layers]
    gains = [layer for layer in generator.layers if layer.name.endswith("_gain")]
    assert len(gains) == len(norms)
    latents = np.random.default_rng(0).normal(size=(4, 100)).astype(np.float32)
    labels = np.array([0, 1, 2, 3], np.int32)
    # At initialization (gains one, biases zero) every class draws the same image from the same latent.
    same = np.asarray(generator([latents, labels], training=False))
    np.testing.assert_allclose(same, np.asarray(generator([latents, np.zeros(4, np.int32)], training=False)))
    # The first norm's output for each image is its class's gain times the normalized value plus its bias.
    first = gains[0].name.removesuffix("_gain")
    gain, bias = generator.get_layer(f"{first}_gain"), generator.get_layer(f"{first}_bias")
    rng = np.random.default_rng(1)
    gain.embeddings.assign(rng.normal(1, 0.5, gain.embeddings.shape).astype(np.float32))
    bias.embeddings.assign(rng.normal(0, 0.5, bias.embeddings.shape).astype(np.float32))
    normalized = generator.get_layer(f"{first}_normalize")
    inputs = keras.Model(generator.inputs, [normalized.output, generator.get_layer(f"{first}_shift").output])
    x, y = (np.asarray(t) for t in inputs([latents, labels], training=False))
    weights = np.asarray(gain.embeddings)[labels], np.asarray(bias.embeddings)[labels]
    broadcast = (4,) + (1,) * (x.ndim - 2) + (x.shape[-1],)
    np.testing.assert_allclose(y, x * weights[0].reshape(broadcast) + weights[1].reshape(broadcast), rtol=1e-5,
                               atol=1e-5)  # fmt: skip
    assert not np.allclose(np.asarray(generator([latents, labels], training=False)), same)


def test_a_class_batch_norm_generator_loads_without_custom_code(tmp_path):
    generator = build_generator("tutorial", 16, 16, num_classes=10, conditioning="batch_norm")
    generator.save(tmp_path / "g.keras")
    loaded = keras.models.load_model(tmp_path / "g.keras", compile=False)
    inputs = [np.ones((3, 16), np.float32), np.array([1, 5, 9], np.int32)]
    np.testing.assert_array_equal(np.asarray(loaded(inputs)), np.asarray(generator(inputs)))


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


TOY_FAMILY = """
import json
import numpy as np
from fashion_dcgan import catalog

# docs/extending.md, step 2: one entry in the catalog (step 1, the two layer functions: tests/toy_family.py).
catalog.FAMILIES["toy"] = catalog.Family(
    "tests.toy_family:generator", "tests.toy_family:discriminator", 1, catalog.Adam(3e-4, 0.6)
)

from fashion_dcgan.config import ParamsError, parse_params
from fashion_dcgan.data.pipeline import make_dataset
from fashion_dcgan.training.loop import build_gan
from tests.conftest import synthetic_split, tiny_params

pixels, labels = synthetic_split(32)
images = pixels[..., None].astype(np.float32) / 127.5 - 1.0
out = {"adam": list(parse_params({"model": {"variant": "toy", "objective": "bce"},
                                  "train": {"learning_rate_d": None, "learning_rate_g": None,
                                            "beta_1": None, "beta_2": None}}).adam())}
try:
    parse_params({"model": {"variant": "toy", "generator_width": 1}})
except ParamsError as error:
    out["narrow"] = str(error)
for conditional in (False, True):
    gan = build_gan(tiny_params({"variant": "toy", "conditional": conditional}), "float32", 1, 2)
    data = make_dataset(images, 16, 0, 0, 1, labels if conditional else None)
    history = gan.fit(data, epochs=1, steps_per_epoch=2, verbose=0).history
    out[str(conditional)] = {name: history[name][0] for name in gan.objective.metric_names}
print("RESULT " + json.dumps(out))
"""


def test_a_family_added_as_extending_md_says_trains_a_step():
    """A family is one catalog entry plus two layer functions: with only those, the schema takes its
    name and its Adam settings, refuses a too-narrow width by name, and it trains, plain and conditional.
    In a fresh process: the schema's allowed values are read from the catalog when config is imported."""
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    steps = (REPO / "docs" / "extending.md").read_text()
    assert "`FAMILIES` in `src/fashion_dcgan/catalog.py`" in steps and "tests/toy_family.py" in steps
    done = subprocess.run([sys.executable, "-c", TOY_FAMILY], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert result["adam"] == [3e-4, 3e-4, 0.6, 0.999]  # bce declares none: the toy family's
    assert "generator_width" in result["narrow"] and "toy" in result["narrow"]
    for conditional in ("False", "True"):
        assert result[conditional] and all(np.isfinite(value) for value in result[conditional].values())
