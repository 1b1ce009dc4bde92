"""IDX decoding, subsetting, normalisation and the real data's known facts."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from fashion_dcgan.data.idx import decode_images, decode_labels, encode_idx
from fashion_dcgan.data.prepare import load_split, normalize, stratified_indices
from fashion_dcgan.errors import DataError
from fashion_dcgan.imaging import to_uint8
from tests.conftest import MIRROR, gz_file, requires_mirror, synthetic_split


def test_idx_roundtrip():
    images, labels = synthetic_split(7)
    assert np.array_equal(decode_images(encode_idx(images), "x"), images)
    assert np.array_equal(decode_labels(encode_idx(labels), "x"), labels)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: b"\x00\x00\x08\x01" + raw[4:], "wrong IDX magic"),  # labels magic on an images file
        (lambda raw: b"\x00\x00\x0d\x03" + raw[4:], "wrong IDX magic"),  # float data type
        (lambda raw: raw[:3], "truncated IDX header"),
        (lambda raw: raw[:10], "truncated IDX header"),
        (lambda raw: raw[:-5], "body has"),  # truncated body
        (lambda raw: raw[:4] + struct.pack(">I", 8) + raw[8:], "declares shape"),  # wrong count
        (lambda raw: raw + b"\x00", "body has"),
    ],
)
def test_malformed_idx_is_rejected_with_the_file_name(mutate, message):
    images, _ = synthetic_split(7)
    with pytest.raises(DataError, match=f"train.idx: .*{message}"):
        decode_images(mutate(encode_idx(images)), "train.idx")


def test_wrong_image_size_is_rejected():
    with pytest.raises(DataError, match="expected 28x28"):
        decode_images(encode_idx(np.zeros((2, 32, 32), np.uint8)), "x")


def test_mismatched_image_and_label_counts(synthetic_mirror):
    mirror, records = synthetic_mirror
    blob, short_labels = gz_file(np.zeros(99, np.uint8), "train-labels-idx1-ubyte.gz")
    (mirror / short_labels.name).write_bytes(blob)
    files = tuple(short_labels if r.name == short_labels.name else r for r in records)
    with pytest.raises(DataError, match="100 images but 99 labels"):
        load_split(mirror, "train", files)


def test_synthetic_split_loads(synthetic_mirror):
    mirror, records = synthetic_mirror
    split = load_split(mirror, "t10k", records)
    assert split.images.shape == (50, 28, 28) and split.labels.dtype == np.uint8


def test_normalize_scales_to_unit_interval():
    images = np.array([[[0, 255], [127, 128]]], np.uint8).repeat(14, axis=1).repeat(14, axis=2)
    out = normalize(images)
    assert out.dtype == np.float32 and out.shape == (1, 28, 28, 1)
    assert out.min() == -1.0 and out.max() == 1.0
    assert np.array_equal(to_uint8(out), images)


def test_stratified_subset_is_balanced_deterministic_and_ordered():
    labels = np.random.default_rng(0).integers(0, 10, 5000)
    chosen = stratified_indices(labels, 123)
    assert len(chosen) == 123 and np.all(np.diff(chosen) > 0)
    counts = np.bincount(labels[chosen], minlength=10)
    assert counts.max() - counts.min() <= 1
    assert np.array_equal(chosen, stratified_indices(labels, 123))
    assert np.array_equal(stratified_indices(labels, None), np.arange(5000))


def test_subset_larger_than_a_class_is_an_error():
    with pytest.raises(DataError, match="class 1 has only"):
        stratified_indices(np.array([0] * 50 + [1] * 2 + list(range(2, 10)) * 10), 50)


@requires_mirror
def test_real_training_set_matches_published_facts():
    split = load_split(MIRROR, "train")
    assert split.images.shape == (60_000, 28, 28)
    assert list(split.labels[:10]) == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert np.all(np.bincount(split.labels) == 6000)
    unit = split.images / 255.0
    assert unit.mean() == pytest.approx(0.2860, abs=1e-4)
    assert unit.std() == pytest.approx(0.3530, abs=1e-4)


@requires_mirror
def test_corrupted_raw_byte_is_caught_by_checksum(tmp_path):
    blob = bytearray(gzip.decompress((MIRROR / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    blob[100] = (blob[100] + 1) % 10
    for name in ("t10k-images-idx3-ubyte.gz",):
        (tmp_path / name).write_bytes((MIRROR / name).read_bytes())
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(blob)))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: SHA-256"):
        load_split(tmp_path, "t10k")
