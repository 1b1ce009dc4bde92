"""The download stage's library: checksums, sources in order, HTTP failures, atomic writes."""

from __future__ import annotations

import gzip
import subprocess
import sys

import pytest

from fashion_dcgan.data.download import RAW_FILES, decompress, download_all, ensure_file, verify
from fashion_dcgan.errors import DataError
from tests.conftest import MIRROR, requires_mirror


def test_verify_accepts_recompressed_bytes(synthetic_mirror):
    mirror, records = synthetic_mirror
    blob = (mirror / records[0].name).read_bytes()
    recompressed = gzip.compress(gzip.decompress(blob), compresslevel=1)
    assert recompressed != blob
    assert verify(recompressed, records[0], "x") == gzip.decompress(blob)


def test_verify_rejects_other_content(synthetic_mirror):
    mirror, records = synthetic_mirror
    blob = (mirror / records[1].name).read_bytes()  # labels, checked against the images record
    with pytest.raises(DataError, match="decompressed size"):
        verify(blob, records[0], "here")
    same_size = gzip.compress(bytes(records[0].size))
    with pytest.raises(DataError, match="SHA-256 of decompressed bytes"):
        verify(same_size, records[0], "here")


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "file is empty"),
        (b"not gzip at all", "not a valid gzip"),
        # mtime=0: the header holds no clock, so every pytest worker collects the same test.
        (gzip.compress(b"x" * 1000, mtime=0)[:20], "not a valid gzip"),
    ],
    ids=["empty", "not-gzip", "truncated-gzip"],
)
def test_decompress_errors_name_the_origin(blob, message):
    with pytest.raises(DataError, match=f"origin.gz: {message}"):
        decompress(blob, "origin.gz", limit=10_000)


def _bomb(megabytes: int) -> bytes:
    """A gzip stream of ``megabytes`` MiB of zeros: many 1 MiB members, about 1 KiB compressed each."""
    return gzip.compress(bytes(1 << 20)) * megabytes


def test_decompression_stops_at_the_expected_size():
    bomb = _bomb(64)
    labels = RAW_FILES[1]  # 60,008 bytes when valid
    with pytest.raises(DataError, match=r"bomb\.gz: decompressed size exceeds 60,008 bytes"):
        verify(bomb, labels, "bomb.gz")
    assert decompress(gzip.compress(b"ab") + gzip.compress(b"cd"), "two members", 4) == b"abcd"


def test_decompressing_a_2_gib_stream_holds_only_the_expected_size():
    """Peak memory of checking a 2 GiB gzip bomb against the labels file (60 kB expected), in a fresh process."""
    script = (
        "import gzip, resource\n"
        "from fashion_dcgan.data.download import RAW_FILES, verify\n"
        "from fashion_dcgan.errors import DataError\n"
        "bomb = gzip.compress(bytes(1 << 20)) * 2048\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    verify(bomb, RAW_FILES[1], 'bomb.gz')\n"
        "except DataError as error:\n"
        "    print(error)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024, len(bomb))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    message, figures = done.stdout.strip().splitlines()
    growth_mib, compressed = (int(x) for x in figures.split())
    assert "decompressed size exceeds 60,008 bytes" in message
    assert compressed < 4 << 20 and growth_mib < 16, (growth_mib, compressed)


def test_files_larger_than_any_valid_copy_are_refused_unread(tmp_path, synthetic_mirror):
    mirror, records = synthetic_mirror
    big = tmp_path / "big"
    big.mkdir()
    (big / records[1].name).write_bytes(b"\x1f\x8b" + bytes(records[1].max_compressed_size))
    with pytest.raises(DataError, match="larger than any valid copy"):
        ensure_file(records[1], tmp_path / "raw", [str(big)], 1.0, 1)
    assert ensure_file(records[1], tmp_path / "raw", [str(big), str(mirror)], 1.0, 1) == str(mirror)


def test_mirror_directory_is_used(tmp_path, synthetic_mirror):
    mirror, records = synthetic_mirror
    used = download_all(tmp_path / "raw", [str(mirror)], files=records)
    assert set(used.values()) == {str(mirror)}
    for record in records:
        verify((tmp_path / "raw" / record.name).read_bytes(), record, record.name)


def test_rerun_with_files_present_fetches_nothing(tmp_path, synthetic_mirror):
    mirror, records = synthetic_mirror
    download_all(tmp_path / "raw", [str(mirror)], files=records)
    assert set(download_all(tmp_path / "raw", ["/nonexistent"], files=records).values()) == {"already present"}


def test_corrupt_local_copy_stops_with_clear_error(tmp_path, synthetic_mirror):
    mirror, records = synthetic_mirror
    raw = tmp_path / "raw"
    download_all(raw, [str(mirror)], files=records)
    target = raw / records[0].name
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(DataError, match=f"{records[0].name}.*delete it and rerun"):
        download_all(raw, [str(mirror)], files=records)


def test_falls_back_in_order_and_lists_every_failure(tmp_path, synthetic_mirror, http_server, closed_port_url):
    _, records = synthetic_mirror
    url, server = http_server
    sources = [str(tmp_path / "missing-mirror"), closed_port_url, f"{url}/404", url]
    used = download_all(tmp_path / "raw", sources, timeout_s=2, retries=1, files=records)
    assert set(used.values()) == {url}
    assert len(server.hits) == len(records)

    with pytest.raises(DataError) as error:
        ensure_file(records[0], tmp_path / "raw2", sources[:3], timeout_s=2, retries=1)
    message = str(error.value)
    assert "missing-mirror: mirror directory does not exist" in message
    assert closed_port_url in message and "HTTP 404" in message
    assert not (tmp_path / "raw2").exists() or not any((tmp_path / "raw2").iterdir())


@pytest.mark.parametrize("fault", ["hang", "drop"])
def test_http_faults_leave_no_partial_file_and_rerun_succeeds(tmp_path, synthetic_mirror, http_server, fault):
    _, records = synthetic_mirror
    url, _ = http_server
    raw = tmp_path / "raw"
    with pytest.raises(DataError, match=f"{url}/{fault}/{records[0].name}"):
        ensure_file(records[0], raw, [f"{url}/{fault}"], timeout_s=0.5, retries=2)
    assert not raw.exists() or list(raw.iterdir()) == []
    assert ensure_file(records[0], raw, [f"{url}/{fault}", url], timeout_s=0.5, retries=1) == url
    assert [p.name for p in raw.iterdir()] == [records[0].name]


def test_corrupt_mirror_file_is_skipped_for_the_next_source(tmp_path, synthetic_mirror, http_server):
    _, records = synthetic_mirror
    url, _ = http_server
    bad = tmp_path / "bad-mirror"
    bad.mkdir()
    (bad / records[0].name).write_bytes(b"\x1f\x8b garbage")
    assert ensure_file(records[0], tmp_path / "raw", [str(bad), url], 2, 1) == url


@requires_mirror
def test_pinned_checksums_match_the_debian_mirror(tmp_path):
    used = download_all(tmp_path / "raw", [str(MIRROR)])
    assert set(used) == {f.name for f in RAW_FILES}


def _truncated_idx(blob: bytes) -> bytes:
    return gzip.compress(gzip.decompress(blob)[:-100])


def _wrong_magic(blob: bytes) -> bytes:
    raw = bytearray(gzip.decompress(blob))
    raw[2] = 0x0D
    return gzip.compress(bytes(raw))


def _wrong_checksum(blob: bytes) -> bytes:
    raw = bytearray(gzip.decompress(blob))
    raw[-1] ^= 0xFF
    return gzip.compress(bytes(raw))


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (lambda blob: blob[: len(blob) // 2], "not a valid gzip"),  # corrupt (cut) gzip stream
        (_truncated_idx, "decompressed size"),
        (_wrong_checksum, "SHA-256"),
        (_wrong_magic, "SHA-256"),
        (lambda blob: b"", "file is empty"),
        (None, "mirror directory does not exist"),
    ],
)
def test_mirror_faults_name_file_and_source_and_heal_on_rerun(tmp_path, synthetic_mirror, fault, message):
    mirror, records = synthetic_mirror
    record = records[0]
    good = (mirror / record.name).read_bytes()
    source = tmp_path / "faulty-mirror"
    if fault is not None:
        source.mkdir()
        (source / record.name).write_bytes(fault(good))
    raw = tmp_path / "raw"
    with pytest.raises(DataError) as error:
        ensure_file(record, raw, [str(source)], timeout_s=1, retries=1)
    assert message in str(error.value) and str(source) in str(error.value)
    if fault is not None:
        assert record.name in str(error.value)
    assert not raw.exists() or list(raw.iterdir()) == []
    # The source is fixed: the rerun succeeds.
    source.mkdir(exist_ok=True)
    (source / record.name).write_bytes(good)
    assert ensure_file(record, raw, [str(source)], timeout_s=1, retries=1) == str(source)


def test_an_endless_http_body_is_cut_at_the_bound(http_server):
    from fashion_dcgan.data.download import fetch_from

    url, _ = http_server
    labels = RAW_FILES[1]
    with pytest.raises(DataError, match=r"/endless/train-labels-idx1-ubyte\.gz: body passed [\d,]+ bytes") as error:
        fetch_from(f"{url}/endless", labels, 5.0, 3)
    assert str(labels.max_compressed_size) in str(error.value).replace(",", "")
