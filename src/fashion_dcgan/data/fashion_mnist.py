"""Facts about Fashion-MNIST (Xiao et al., 2017), each defined here once."""

from __future__ import annotations

import re

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


def slug(name: str) -> str:
    """A class name as an identifier: "T-shirt/top" -> "t_shirt_top", "Ankle boot" -> "ankle_boot"."""
    return "_".join("".join(ch if ch.isalnum() else " " for ch in name.lower()).split())


def class_index(text: str | int) -> int:
    """The label index of a class given as its index (0-9) or its name, case-insensitive: "sneaker",
    "Ankle boot", "ankle-boot", "t-shirt" and "top" all work. Raises ValueError listing the valid ones."""
    raw = str(text).strip()
    if re.fullmatch(r"[+-]?[0-9]+", raw):  # ASCII digits only: "²".isdigit() is true, int("²") fails
        if 0 <= int(raw) < NUM_CLASSES:
            return int(raw)
        raw = ""  # a number out of range
    key = slug(raw)
    for index, name in enumerate(CLASS_NAMES):
        if key in {slug(name), *(slug(part) for part in name.split("/"))}:
            return index
    valid = ", ".join(f"{i} {name}" for i, name in enumerate(CLASS_NAMES))
    raise ValueError(f"unknown class {text!r}; use a name (case-insensitive) or an index: {valid}")
