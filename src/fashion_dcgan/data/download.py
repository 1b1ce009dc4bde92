"""Fetch the four Fashion-MNIST files from local mirrors or HTTP, verified by checksum.

Mirrors re-compress the files, so a file is identified by the SHA-256 of its
*decompressed* bytes, not of the gzip stream.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from fashion_dcgan.errors import DataError
from fashion_dcgan.files import write_bytes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawFile:
    name: str
    sha256: str
    size: int  # decompressed bytes

    @property
    def max_compressed_size(self) -> int:
        """A generous bound on any valid gzip copy: deflate adds at most ~0.03% plus headers to stored data."""
        return self.size + self.size // 100 + (1 << 16)


RAW_FILES = (
    RawFile(
        "train-images-idx3-ubyte.gz", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47_040_016
    ),
    RawFile("train-labels-idx1-ubyte.gz", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60_008),
    RawFile("t10k-images-idx3-ubyte.gz", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7_840_016),
    RawFile("t10k-labels-idx1-ubyte.gz", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10_008),
)
_CHUNK = 1 << 16


def decompress(blob: bytes, origin: str, limit: int) -> bytes:
    """The gzip stream's content (all members), stopping as soon as it passes ``limit`` bytes.

    A stream that inflates to far more (a corrupt or hostile file) never holds more than
    ``limit`` bytes plus one chunk in memory.
    """
    if not blob:
        raise DataError(f"{origin}: file is empty")
    out = bytearray()
    data = blob
    try:
        while data:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            pending = data
            while pending and not inflater.eof:
                out += inflater.decompress(pending, min(_CHUNK, limit + 1 - len(out)))
                if len(out) > limit:
                    raise DataError(f"{origin}: decompressed size exceeds {limit:,} bytes, the expected size")
                pending = inflater.unconsumed_tail
            if not inflater.eof:
                raise DataError(f"{origin}: not a valid gzip file (the stream is truncated)")
            data = inflater.unused_data.lstrip(b"\x00")  # gzip allows zero padding between members
    except zlib.error as error:
        raise DataError(f"{origin}: not a valid gzip file ({error})") from None
    return bytes(out)


def verify(blob: bytes, expected: RawFile, origin: str) -> bytes:
    """Return the decompressed bytes of ``blob`` or raise naming ``origin``."""
    raw = decompress(blob, origin, expected.size)
    if len(raw) != expected.size:
        raise DataError(f"{origin}: decompressed size {len(raw):,} bytes, expected {expected.size:,}")
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected.sha256:
        raise DataError(f"{origin}: SHA-256 of decompressed bytes is {digest}, expected {expected.sha256}")
    return raw


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


class TooLarge(DataError):
    """A body or file larger than any valid copy: not worth retrying."""


def _http_get(url: str, timeout_s: float, limit: int) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        total = response.length
        if total is not None and total > limit:
            raise TooLarge(f"{url}: body of {total:,} bytes is larger than any valid copy ({limit:,})")
        chunks, size = [], 0
        with tqdm(
            total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], disable=None, leave=False
        ) as bar:
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"{url}: body passed {limit:,} bytes, larger than any valid copy; stopped reading")
                chunks.append(chunk)
                bar.update(len(chunk))
        body = b"".join(chunks)
        if total is not None and len(body) != total:
            raise http.client.IncompleteRead(body, total - len(body))
        return body


def fetch_http(url: str, timeout_s: float, retries: int, limit: int) -> bytes:
    """GET ``url`` with a per-read timeout and at most ``limit`` bytes; retry transient failures with backoff."""
    last = ""
    for attempt in range(1, retries + 1):
        try:
            return _http_get(url, timeout_s, limit)
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code} {error.reason}"
            if error.code < 500:
                break
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException, OSError) as error:
            reason = getattr(error, "reason", error)
            last = f"{type(error).__name__}: {reason}" if str(reason) else type(error).__name__
        if attempt < retries:
            time.sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
    raise DataError(f"{url}: {last} (after {attempt} attempt{'s' if attempt > 1 else ''})")


def fetch_from(source: str, item: RawFile, timeout_s: float, retries: int) -> bytes:
    """Read ``item`` from one source (directory or base URL) and verify it."""
    if is_url(source):
        location = f"{source.rstrip('/')}/{item.name}"
        blob = fetch_http(location, timeout_s, retries, item.max_compressed_size)
    else:
        directory = Path(source)
        if not directory.is_dir():
            raise DataError(f"{directory}: mirror directory does not exist")
        location = str(directory / item.name)
        blob = read_bounded(directory / item.name, item)
    verify(blob, item, location)
    return blob


def read_bounded(path: Path, item: RawFile) -> bytes:
    """The file's bytes, refused up front when it is larger than any valid copy of ``item``."""
    try:
        size = path.stat().st_size
        if size > item.max_compressed_size:
            raise DataError(f"{path}: {size:,} bytes is larger than any valid copy ({item.max_compressed_size:,})")
        return path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None


def ensure_file(item: RawFile, dest_dir: Path, sources: list[str], timeout_s: float, retries: int) -> str:
    """Make ``dest_dir/item.name`` a verified copy; return where it came from."""
    dest = dest_dir / item.name
    if dest.exists():
        try:
            verify(read_bounded(dest, item), item, str(dest))
        except DataError as error:
            raise DataError(f"{error}. The local copy is corrupt: delete it and rerun to fetch it again") from None
        return "already present"
    failures = []
    for source in sources:
        try:
            blob = fetch_from(source, item, timeout_s, retries)
        except DataError as error:
            failures.append(str(error))
            log.info("source failed: %s", error)
            continue
        write_bytes(dest, blob)
        return source
    tried = "\n  ".join(failures)
    raise DataError(f"could not fetch {item.name} from any source; tried:\n  {tried}")


def download_all(
    dest_dir: str | Path,
    sources: list[str],
    timeout_s: float = 30.0,
    retries: int = 3,
    files: tuple[RawFile, ...] = RAW_FILES,
) -> dict[str, str]:
    """Fetch every raw file that is missing; return file name -> source used."""
    dest_dir = Path(dest_dir)
    return {item.name: ensure_file(item, dest_dir, sources, timeout_s, retries) for item in files}
