"""Facts about Fashion-MNIST (Xiao et al., 2017), each defined here once."""

from __future__ import annotations

NUM_CLASSES = 10
# As in the dataset's documentation, by label index.
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
IMAGE_SHAPE = (28, 28, 1)  # height, width, channels: grey-scale
IMAGE_SIZE = IMAGE_SHAPE[:2]
SPLIT_SIZES = {"train": 60_000, "test": 10_000}
# Debian's dataset-fashion-mnist package installs the files here; the download stage uses it as a mirror.
MIRROR = "/usr/share/datasets/fashion-mnist"
UPSTREAM = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets",
)
