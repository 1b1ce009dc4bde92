"""Turn verified raw IDX files into normalised arrays: float32 in [-1, 1], (N, 28, 28, 1)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashion_dcgan.data.download import RAW_FILES, RawFile, read_bounded, verify
from fashion_dcgan.data.fashion_mnist import NUM_CLASSES
from fashion_dcgan.data.idx import decode_images, decode_labels
from fashion_dcgan.errors import DataError


@dataclass(frozen=True)
class Split:
    """Raw uint8 images (N, 28, 28) and labels (N,) of one split."""

    images: np.ndarray
    labels: np.ndarray


def _read_verified(path: Path, item: RawFile) -> bytes:
    if not path.exists():
        raise DataError(f"{path}: file not found; run the download stage first")
    return verify(read_bounded(path, item), item, str(path))


def load_split(raw_dir: str | Path, split: str, files: tuple[RawFile, ...] = RAW_FILES) -> Split:
    """Load ``train`` or ``t10k`` from ``raw_dir``, verifying checksums and IDX structure."""
    raw_dir = Path(raw_dir)
    records = {item.name: item for item in files}
    images_name, labels_name = f"{split}-images-idx3-ubyte.gz", f"{split}-labels-idx1-ubyte.gz"
    images = decode_images(_read_verified(raw_dir / images_name, records[images_name]), str(raw_dir / images_name))
    labels = decode_labels(_read_verified(raw_dir / labels_name, records[labels_name]), str(raw_dir / labels_name))
    if len(images) != len(labels):
        raise DataError(f"{raw_dir}: {split} has {len(images):,} images but {len(labels):,} labels")
    return Split(images, labels)


def stratified_indices(labels: np.ndarray, limit: int | None) -> np.ndarray:
    """Deterministic class-balanced subset: the first ``limit // 10`` of each class, in file order.

    The remainder goes one each to the lowest classes. Indices are sorted, so
    the subset keeps the original order (its first images are the file's first).
    """
    if limit is None or limit >= len(labels):
        return np.arange(len(labels))
    per_class, extra = divmod(limit, NUM_CLASSES)
    chosen = []
    for cls in range(NUM_CLASSES):
        members = np.flatnonzero(labels == cls)
        take = per_class + (1 if cls < extra else 0)
        if take > len(members):
            raise DataError(f"class {cls} has only {len(members)} examples, {take} requested")
        chosen.append(members[:take])
    return np.sort(np.concatenate(chosen))


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [-1, 1], as the generator's tanh outputs."""
    return (images.astype(np.float32) / 127.5 - 1.0)[..., np.newaxis]


def subset(split: Split, limit: int | None) -> Split:
    keep = stratified_indices(split.labels, limit)
    return Split(split.images[keep], split.labels[keep])


def load_processed(processed_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read the prepare stage's ``{split}_images.npy`` and ``{split}_labels.npy``."""
    processed_dir = Path(processed_dir)
    try:
        images = np.load(processed_dir / f"{split}_images.npy", mmap_mode="r")
        labels = np.load(processed_dir / f"{split}_labels.npy")
    except (OSError, ValueError) as error:
        raise DataError(f"{processed_dir}: cannot load {split} data ({error}); run the prepare stage") from None
    return np.asarray(images), labels


def data_checksums(processed_dir: str | Path) -> dict[str, str]:
    """SHA-256 of each processed array file, keyed by its stem (``train_images``, ...)."""
    from fashion_dcgan.files import file_sha256

    return {path.stem: file_sha256(path) for path in sorted(Path(processed_dir).glob("*.npy"))}
