"""Shared fixtures: tiny synthetic IDX files, a local HTTP server, the real data mirror."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from fashion_dcgan.data import fashion_mnist as dataset
from fashion_dcgan.data.download import RawFile
from fashion_dcgan.data.idx import encode_idx

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(dataset.MIRROR)


def synthetic_split(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (count, 28, 28) and balanced labels 0..9."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 28, 28), dtype=np.uint8), (np.arange(count) % 10).astype(np.uint8)


def gz_file(array: np.ndarray, name: str) -> tuple[bytes, RawFile]:
    raw = encode_idx(array)
    return gzip.compress(raw), RawFile(name, hashlib.sha256(raw).hexdigest(), len(raw))


@pytest.fixture
def synthetic_mirror(tmp_path: Path) -> tuple[Path, tuple[RawFile, ...]]:
    """A mirror directory with the four files (100 train, 50 test images) and their RawFile records."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    records = []
    for prefix, count in (("train", 100), ("t10k", 50)):
        images, labels = synthetic_split(count)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            blob, record = gz_file(array, f"{prefix}-{kind}-ubyte.gz")
            (mirror / record.name).write_bytes(blob)
            records.append(record)
    return mirror, tuple(records)


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves ``directory``; paths under /404/, /hang/, /endless/ and /drop/ misbehave on purpose."""

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        if self.path.startswith("/404/"):
            self.send_error(404, "Not Found")
        elif self.path.startswith("/hang/"):
            time.sleep(self.server.hang_s)
        elif self.path.startswith("/endless/"):
            # No Content-Length: the body goes on until the client stops reading (bounded here: 64 MiB).
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(1024):
                    self.wfile.write(b"\x1f\x8b" + bytes(65534))
            except OSError:
                pass
        elif self.path.startswith("/drop/"):
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"\x1f\x8b" + b"x" * 100)
            self.wfile.flush()
            self.connection.shutdown(2)
        else:
            self.server.hits.append(self.path)
            super().do_GET()


@pytest.fixture
def http_server(synthetic_mirror) -> Iterator[str]:
    """Base URL of a server on 127.0.0.1 serving the synthetic mirror; it records good hits."""
    mirror, _ = synthetic_mirror

    def handler(*args, **kwargs):
        return _Handler(*args, directory=str(mirror), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.hang_s = 3.0
    server.hits = []
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


requires_mirror = pytest.mark.skipif(
    not MIRROR.is_dir(), reason="needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"
)


# The tiny networks and settings every in-process training test starts from.
TINY_TRAINING = {
    "data": {"train_limit": 64},
    "model": {"latent_dim": 8, "generator_width": 16, "discriminator_width": 8},
    # Constant rates, so that raising epochs resumes (a decay is planned for the run's length).
    "train": {"batch_size": 16, "epochs": 1, "lr_schedule": {"decay": "none"}},
    "runtime": {"precision": "float32", "log_every_steps": 2, "fixed_noise_size": 4, "monitor_samples": 0,
                "steps_per_execution": 1},
}  # fmt: skip


def make_dry_run(*argv: str) -> str:
    """The command a Makefile target runs, as make expands it (last line of `make -n`).

    Run from a clean environment: under a parent make (CI's `make test`) make would otherwise
    print "Entering/Leaving directory" lines around it."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", *argv], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def tiny_params(model: dict | None = None, runtime: dict | None = None, **train):
    """:data:`TINY_TRAINING` with ``model``, ``runtime`` and ``train`` overrides, validated."""
    from fashion_dcgan.config import parse_params
    from fashion_dcgan.config.recipes import merge

    return parse_params(merge(TINY_TRAINING, {"model": model or {}, "train": train, "runtime": runtime or {}}))


# A tiny project for running the train stage as a real subprocess.
TINY = {
    "data": {"train_limit": 960},
    "model": {"latent_dim": 8, "generator_width": 16, "discriminator_width": 8},
    "train": {"batch_size": 8, "epochs": 3, "lr_schedule": {"decay": "none"}},
    "runtime": {"log_every_steps": 20, "fixed_noise_size": 4, "monitor_samples": 0},
}


@pytest.fixture
def project(tmp_path) -> Path:
    """A directory with params.yaml and processed data, as the train stage expects."""
    processed = tmp_path / "data" / "processed"
    processed.mkdir(parents=True)
    for split, count in (("train", 960), ("test", 50)):
        images, labels = synthetic_split(count)
        np.save(processed / f"{split}_images.npy", images[..., None].astype(np.float32) / 127.5 - 1)
        np.save(processed / f"{split}_labels.npy", labels)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(TINY))
    return tmp_path


def stage_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    variables = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    variables.update(PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2", **extra)
    variables["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{variables.get('PATH', '')}"
    return variables


def stage_cmd(stage: str, *args: str) -> list[str]:
    """The stage's command exactly as dvc.yaml runs it (its ${vars} resolved), plus ``args``."""
    import shlex

    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    paths = pipeline["vars"][0]["paths"]
    words = shlex.split(pipeline["stages"][stage]["cmd"])
    resolved = [paths[w.removeprefix("${paths.").removesuffix("}")] if w.startswith("${") else w for w in words]
    return [sys.executable, *resolved[1:], *args]


def train_cmd(*args: str) -> list[str]:
    return stage_cmd("train", *args)


def run_train(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        train_cmd(*args), cwd=project, env=env or stage_env(project), capture_output=True, text=True, timeout=600
    )


@contextlib.contextmanager
def running_mlflow_server(backend_uri: str, artifacts: Path) -> Iterator[str]:
    """A real `mlflow server` on a free port of 127.0.0.1 over ``backend_uri``; yields its URL."""
    from tests.servers import free_port, wait_until_answering

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", backend_uri, "--artifacts-destination", str(artifacts), "--workers", "1",
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_answering(f"{url}/health", server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def state(project: Path) -> dict:
    path = project / "models" / "checkpoints" / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def pytest_collection_modifyitems(items):
    """A test that runs the train stage as a subprocess (the ``project`` fixture) is slow. A test of the
    bfloat16 path (a skip whose reason names bfloat16, as ``needs_bf16_units`` and ``runs_bf16_kernels`` do, or
    the ``bf16_cpu`` fixture) is ``cpu_class``: CI runs those once more without the oneDNN cap (.ci/run).

    The end-to-end tests go first, in their file's order: under `make test`'s two workers the longest file
    then starts at once instead of last."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "project" in fixtures:
            item.add_marker(pytest.mark.slow)
        if "bf16_cpu" in fixtures or any("bfloat16" in m.kwargs.get("reason", "") for m in item.iter_markers("skipif")):
            item.add_marker(pytest.mark.cpu_class)


CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium package; .ci/run installs it


@pytest.fixture(scope="session")
def browser():
    """A real headless Chromium driven by Playwright; skipped where Debian's chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"]  # fmt: skip
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=flags)
        yield chromium
        chromium.close()


def watched_page(browser):
    """A new page that records console errors and failed loads of its documents, scripts, styles, images
    and fonts in ``page.problems`` (a streaming fetch that the page closes on purpose is not one)."""
    page = browser.new_page()
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    loads = ("document", "script", "stylesheet", "image", "font")
    page.on("requestfailed", lambda r: r.resource_type in loads and page.problems.append(f"failed: {r.url}"))
    return page


def _bf16_units() -> bool:
    from fashion_dcgan.training.cpu import has_bf16_units

    return has_bf16_units()


def _bf16_kernels_abort() -> bool:
    from fashion_dcgan.training import cpu

    capped = "ONEDNN_MAX_CPU_ISA" in (cpu.bf16_units_unused() or "")
    return capped and any(flag in cpu.flags() for flag in cpu.BF16_FLAGS)


# A test that runs bfloat16 kernels on whatever CPU this is (a real float32-only CPU runs them, slowly).
# Under ONEDNN_MAX_CPU_ISA=AVX2 on a CPU that has bfloat16 units, TensorFlow still picks oneDNN's bfloat16
# kernels by the CPU's flags, and oneDNN, capped, aborts the process: an artefact of the emulation.
runs_bf16_kernels = pytest.mark.skipif(
    _bf16_kernels_abort(),
    reason="ONEDNN_MAX_CPU_ISA caps oneDNN below the bfloat16 units this CPU has, and its bfloat16 kernels abort "
    "there; the run without the cap covers this test",
)

# A test of the bfloat16 path itself; every such test has a float32 twin that runs on any CPU.
needs_bf16_units = pytest.mark.skipif(
    not _bf16_units(),
    reason="no bfloat16 units in use here (no avx512_bf16/amx_bf16, or ONEDNN_MAX_CPU_ISA caps oneDNN below them); "
    "the float32 case runs instead",
)
