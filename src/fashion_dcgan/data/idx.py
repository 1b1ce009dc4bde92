"""Decode IDX files (the MNIST container format) with strict checks."""

from __future__ import annotations

import struct

import numpy as np

from fashion_dcgan.data.fashion_mnist import IMAGE_SIZE
from fashion_dcgan.errors import DataError

_UBYTE = 0x08


def decode_idx(raw: bytes, origin: str, expected_ndim: int) -> np.ndarray:
    """Decode an unsigned-byte IDX buffer with ``expected_ndim`` dimensions."""
    if len(raw) < 4:
        raise DataError(f"{origin}: truncated IDX header ({len(raw)} bytes)")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != _UBYTE or ndim != expected_ndim:
        magic = int.from_bytes(raw[:4], "big")
        want = (_UBYTE << 8) | expected_ndim
        raise DataError(f"{origin}: wrong IDX magic number 0x{magic:08x}, expected 0x{want:08x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{origin}: truncated IDX header ({len(raw)} bytes, need {header})")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    count = int(np.prod(dims))
    if len(raw) - header != count:
        raise DataError(
            f"{origin}: IDX header declares shape {dims} ({count:,} bytes) but the body has {len(raw) - header:,}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def decode_images(raw: bytes, origin: str) -> np.ndarray:
    images = decode_idx(raw, origin, expected_ndim=3)
    if images.shape[1:] != IMAGE_SIZE:
        raise DataError(f"{origin}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28")
    return images


def decode_labels(raw: bytes, origin: str) -> np.ndarray:
    return decode_idx(raw, origin, expected_ndim=1)


def encode_idx(array: np.ndarray) -> bytes:
    """Inverse of :func:`decode_idx`, for tests and fixtures."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, _UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()
