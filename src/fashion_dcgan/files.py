"""Atomic writes: an interrupted stage never leaves an output that looks complete."""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fashion_dcgan.errors import DataError, OutputError, first_line

_UMASK = os.umask(0)
os.umask(_UMASK)


def ensure_writable(*directories: str | Path) -> None:
    """Create each directory if needed and check it can be written, so a long run fails before it starts."""
    for directory in directories:
        _ensure_dir(Path(directory))


def _ensure_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"{path}: cannot create output directory ({error.strerror}); make its parent writable "
            "(it is on a read-only file system or lacks permissions)"
        ) from None
    if not os.access(path, os.W_OK):
        raise OutputError(f"{path}: output directory is not writable (read-only file system or permissions)")


def write_error(target: str | Path, error: BaseException) -> OutputError:
    """One line for a failed write: the path, the reason, and what to do; the previous file is untouched."""
    if isinstance(error, OutputError):
        return error
    reason = getattr(error, "strerror", None) or first_line(error, 200)
    hints = {
        errno.ENOSPC: "free some disk space and rerun",
        errno.EDQUOT: "free some disk space and rerun",
        errno.EACCES: "fix the permissions of the folder and rerun",
        errno.EPERM: "fix the permissions of the folder and rerun",
        errno.EROFS: "the file system is read-only: write somewhere else",
    }
    code = getattr(error, "errno", None)
    if code is None and os.strerror(errno.ENOSPC) in str(error):  # TensorFlow's errors carry only the text
        code, reason = errno.ENOSPC, os.strerror(errno.ENOSPC)
    hint = hints.get(code, "check the disk and rerun")
    return OutputError(f"{target}: cannot write ({reason}); {hint}; the previous version, if any, is kept")


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    The temporary name keeps the suffix, so writers that choose a format by
    extension (Keras, Pillow) still work.
    """
    target = Path(target)
    _ensure_dir(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except OSError as error:
        raise write_error(target, error) from None
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; swap it in for ``target`` on success."""
    target = Path(target)
    _ensure_dir(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as error:
        raise write_error(target, error) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_bytes(target: str | Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | Path, text: str) -> None:
    write_bytes(target, text.encode())


def write_json(target: str | Path, payload: Any, sort_keys: bool = True) -> None:
    """``payload`` as indented JSON, atomically; ``sort_keys=False`` keeps its order (DVC shows columns in it)."""
    write_text(target, json.dumps(payload, indent=2, sort_keys=sort_keys) + "\n")


def read_json(path: str | Path, what: str) -> Any:
    """A pipeline output's JSON; a missing or garbled file is one DataError line naming it."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: cannot read {what} ({error}); run `dvc repro` to produce it") from None


def write_csv(target: str | Path, rows: list[dict[str, Any]]) -> None:
    """Columns are the union of the rows' keys in first-seen order; an empty list writes an empty file."""
    buffer = io.StringIO()
    if rows:
        fields = list(dict.fromkeys(key for row in rows for key in row))
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    write_text(target, buffer.getvalue())


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_npy_batches(path: str | Path, batches, shape: tuple[int, ...]) -> None:
    """Stream float32 ``batches`` into an .npy file of ``shape``: memory holds one batch, and the file
    appears only when complete."""
    import numpy as np

    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False, "shape": shape}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.lib.format.write_array_header_2_0(handle, header)
        for batch in batches:
            handle.write(np.ascontiguousarray(batch, "<f4").tobytes())
