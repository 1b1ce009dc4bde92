"""The benchmark tools that have no other test: the load test's client and its Locust users, the epoch
overhead of run_all, the step profile and the doctor's estimate check, each on tiny inputs."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Busy(BaseHTTPRequestHandler):
    """Answers as `fashion-dcgan serve` does: every second request to /invocations is refused with 503."""

    count = 0
    lock = threading.Lock()

    def do_GET(self):
        self._json(200, {"max_images": 5, "max_in_flight": 1, "timeout_s": 60, "seconds_per_image": 0.01})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        n = body["dataframe_split"]["data"][0][0]
        with Busy.lock:
            Busy.count += 1
            busy = Busy.count % 2 == 0
        if busy:
            self._json(503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}, [("Retry-After", "7")])
        else:
            self._json(200, {"predictions": [[[0] * 28] * 28] * n})

    def _json(self, status, document, headers=()):
        payload = json.dumps(document).encode()
        self.send_response(status)
        for name, value in [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), *headers]:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def busy_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Busy.count = 0
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_load_tests_client_reads_the_limits_and_summarises_a_burst(busy_server):
    from benchmarks.load_test import burst, burst_summary, good_request, limits

    assert limits(busy_server)["max_images"] == 5
    answers = burst(busy_server, 6, 5)
    assert sorted(answer["status"] for answer in answers) == [200, 200, 200, 503, 503, 503]
    assert all(answer["json"] for answer in answers) and {a["retry"] for a in answers} == {None, "7"}
    summary = burst_summary(answers)
    assert "| 200 | 3 |" in summary and "| 503 | 3 |" in summary and summary.splitlines()[3].endswith("| 7 |")
    assert "3 of 3 error bodies were JSON" in summary
    status, images, _ = good_request(busy_server)  # the seventh request: answered
    assert (status, images) == (200, 8)


def test_the_peak_rss_counts_a_process_and_its_children():
    pytest.importorskip("psutil")
    from benchmarks.load_test import PeakRss

    holds = "import time; block = bytearray(200 * 2**20); time.sleep(3)"  # 200 MiB, in a child of the child
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, "
                                                     f"'-c', {holds!r}])"])  # fmt: skip
    memory = PeakRss(parent.pid, every_s=0.05)
    memory.start()
    parent.wait(timeout=60)
    memory.done.set()
    memory.join()
    assert memory.peak > 200 * 2**20


def test_each_callbacks_epoch_end_is_timed_under_its_name():
    from fashion_dcgan.training.callbacks import timed_epoch_ends

    class Slow:
        def __init__(self):
            self.ends = []

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(epoch)

    callbacks, spent = [Slow(), Slow()], {}
    assert timed_epoch_ends(callbacks, None) is callbacks and "on_epoch_end" not in vars(callbacks[0])
    timed_epoch_ends(callbacks, spent)
    for epoch in range(3):
        for callback in callbacks:
            callback.on_epoch_end(epoch)
    assert callbacks[0].ends == [0, 1, 2] and len(spent["Slow"]) == 6 and min(spent["Slow"]) >= 0


@pytest.mark.slow
def test_run_all_times_the_pipelines_epoch_end_callbacks():
    from benchmarks.run_all import epoch_overhead

    [(name, value)] = epoch_overhead(images=128, epochs=2)
    assert name == "per-epoch overhead at the defaults (median of epochs 2-2)"
    assert "of a full-data epoch" in value
    for callback in ("CollapseCheck", "FixedNoiseGrid", "SaveCheckpoint", "MlflowLogger"):
        assert f"{callback} " in value and f"{callback} 0.00 s" not in value, callback


@pytest.mark.slow
def test_the_step_profile_accounts_for_each_layer_kind_and_the_whole_step():
    from benchmarks.profile_step import KINDS, profile

    rows = dict(profile(4, repeats=1, steps=2))
    assert set(KINDS.values()) | {"Adam updates (G and D)", "one whole step through fit"} <= set(rows)
    assert rows["one whole step through fit"] > 0 and all(rows[kind] > 0 for kind in KINDS.values())


@pytest.mark.slow
def test_the_estimate_check_prints_the_doctors_estimate_beside_the_measured_time(project, capsys):
    from benchmarks.estimate_check import main

    main(["--params", str(project / "params.yaml"), "--train-limit", "96", "--epochs", "2",
          "--data", str(project / "data" / "processed")])  # fmt: skip
    out = capsys.readouterr().out
    assert "measured: " in out and "s for 2 epochs of 96 images; the estimate " in out


def test_the_tools_use_the_librarys_public_names_never_a_study_and_each_has_a_test():
    import ast

    from tests.conftest import REPO

    tests = "\n".join(path.read_text() for path in (REPO / "tests").glob("test_*.py"))
    for path in sorted((REPO / "benchmarks").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("research"), f"{path.name} imports the study {node.module}"
                if node.module.startswith("fashion_dcgan"):
                    private = [alias.name for alias in node.names if alias.name.startswith("_")]
                    assert not private, f"{path.name} imports {private} from {node.module}"
            elif isinstance(node, ast.Import):
                assert not any(alias.name.startswith("research") for alias in node.names), path.name
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                # A library module's private name, read or patched (``training._callbacks``).
                assert not (
                    node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and node.value.id in {"training", "networks", "loop", "callbacks"}
                ), f"{path.name}: {node.value.id}.{node.attr}"
        if path.stem != "__init__":
            assert f"benchmarks.{path.stem}" in tests or f"benchmarks import {path.stem}" in tests, (
                f"benchmarks/{path.name} has no test"
            )


def test_the_locust_users_expect_what_the_server_answers(monkeypatch):
    """Each request kind of benchmarks/locustfile.py against the server's own rules: its body bound and the
    model's request parser. Locust itself (the `load` extra) is stubbed: only the users' expectations run."""
    import importlib
    import types

    import pandas as pd

    from fashion_dcgan.serving.app import MAX_BODY_BYTES
    from fashion_dcgan.serving.pyfunc import parse_requests

    stub = types.ModuleType("locust")
    stub.FastHttpUser, stub.between, stub.task = object, lambda low, high: None, lambda weight: lambda method: method
    monkeypatch.setitem(sys.modules, "locust", stub)
    monkeypatch.delitem(sys.modules, "benchmarks.locustfile", raising=False)
    users = importlib.import_module("benchmarks.locustfile").Client
    asked = []
    client = users.__new__(users)
    client._ask = lambda kind, body, status, images=None: asked.append((kind, body, status, images))
    for name, member in vars(users).items():
        if callable(member) and not name.startswith("_"):
            member(client)
    assert len(asked) == 11 and {status for _, _, status, _ in asked} == {200, 400, 413}
    for kind, body, status, images in asked:
        raw = body if isinstance(body, bytes) else body.encode()
        count = None
        if len(raw) > MAX_BODY_BYTES:
            answer = 413
        else:
            try:
                split = json.loads(raw)["dataframe_split"]
                requests = parse_requests(pd.DataFrame(split["data"], columns=split["columns"]), conditional=False)
                answer, count = 200, sum(request.n for request in requests)
            except (ValueError, KeyError, TypeError):  # BadRequest and JSON's errors are ValueErrors
                answer = 400
        assert (answer, count) == (status, images), kind
