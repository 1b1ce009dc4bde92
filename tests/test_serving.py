"""The generator as an MLflow model: served over HTTP, registered, and the champion alias."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from fashion_dcgan.cli import main
from fashion_dcgan.serving.model_registry import log_run_generator, logged_generator_id, register, register_generator
from fashion_dcgan.tracking import CHAMPION, REGISTERED_MODEL, RunLogger
from fashion_dcgan.training.loop import TrainingPaths, train
from tests.conftest import synthetic_split, tiny_params
from tests.servers import free_port


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A tracking store with two tiny trained runs (different seeds), each with its logged generator."""
    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    images = synthetic_split(64)[0][..., None].astype(np.float32) / 127.5 - 1.0
    runs = []
    for seed in (1, 2):
        params = tiny_params(seed=seed)
        result = train(params, images, TrainingPaths.under(root / str(seed)), lambda run_id: RunLogger(uri, run_id),
                       verbose=0)  # fmt: skip
        assert log_run_generator(RunLogger(uri, result.run_id, reopen=False), lambda done=result: done.sampler)
        runs.append(result.run_id)
    return uri, runs


def test_an_unconditional_generator_refuses_a_class(store):
    import mlflow
    from mlflow.exceptions import MlflowException

    uri, (run, _) = store
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(f"runs:/{run}/generator")
    with pytest.raises(MlflowException, match="unconditional") as error:
        model.predict(pd.DataFrame({"n": [1], "seed": [0], "class": ["sneaker"]}))
    assert error.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="at most 10,000 per request"):
        model.predict(pd.DataFrame({"n": [6_000, 6_000], "seed": [0, 1]}))


def test_the_model_is_logged_as_code_not_as_a_pickle(store):
    import mlflow

    uri, (run, _) = store
    mlflow.set_tracking_uri(uri)
    local = Path(mlflow.artifacts.download_artifacts(f"runs:/{run}/generator"))
    files = {path.name for path in local.rglob("*")}
    assert "served_model.py" in files and "generator.keras" in files
    assert not {name for name in files if name.endswith((".pkl", ".pickle", ".cloudpickle"))}
    assert "served_model.py" in (local / "MLmodel").read_text()


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ({"n": [], "seed": []}, "empty request"),
        ({"n": [0], "seed": [0]}, "`n` must be a whole number from 1 to 10,000"),
        ({"n": [-1], "seed": [0]}, "`n` must be a whole number"),
        ({"n": [10**9], "seed": [0]}, "`n` must be a whole number"),
        ({"n": [1.5], "seed": [0]}, "got 1.5"),
        ({"n": ["two"], "seed": [0]}, "got 'two'"),
        ({"n": [1], "seed": [-1]}, "`seed` must be a whole number from 0 to 2,147,483,647"),
        ({"n": [1], "seed": [1.5]}, "`seed` must be a whole number"),
        ({"n": [1], "seed": [2**40]}, "`seed` must be a whole number"),
        ({"n": [1], "seed": [0], "klass": ["bag"]}, "unknown ['klass']"),
        ({"n": [1]}, "missing ['seed']"),
        ({"n": [1] * 101, "seed": [0] * 101}, "101 rows: at most 100 per request"),
        ({"n": [9_000, 2_000], "seed": [0, 1]}, "11,000 images: at most 10,000"),
    ],
)
def test_a_bad_request_is_refused_with_what_is_expected(rows, reason):
    from fashion_dcgan.serving.pyfunc import BadRequest, parse_requests

    with pytest.raises(BadRequest) as error:
        parse_requests(pd.DataFrame(rows), conditional=True)
    assert reason in str(error.value) and "\n" not in str(error.value)


def test_classes_are_checked_and_read_by_name_or_index():
    from fashion_dcgan.serving.pyfunc import BadRequest, ImageRequest, parse_requests

    rows = pd.DataFrame({"n": [2, 1, 3], "seed": [5, 6, 7], "class": ["Sneaker", None, 3]})
    assert parse_requests(rows, conditional=True) == [ImageRequest(2, 5, 7), ImageRequest(1, 6, None),
                                                      ImageRequest(3, 7, 3)]  # fmt: skip
    with pytest.raises(BadRequest, match="unknown class 'hat'"):
        parse_requests(pd.DataFrame({"n": [1], "seed": [0], "class": ["hat"]}), conditional=True)
    with pytest.raises(BadRequest, match="unconditional"):
        parse_requests(rows, conditional=False)


def test_registering_a_run_again_logs_no_second_model(tmp_path, store):
    uri, (first, _) = store
    tracker = RunLogger(uri, first, reopen=False)
    assert not log_run_generator(tracker, lambda: pytest.fail("a logged run's generator is not loaded again"))
    version, champion, said = register_generator(tracker, lambda: pytest.fail("not loaded"), 500.0, "rerun-test")
    again = register_generator(tracker, lambda: pytest.fail("not loaded"), 500.0, "rerun-test")
    assert again[0] == version and tracker.tags()["registered_model"] == f"rerun-test/{version}"
    assert champion and "champion" in said
    client = tracker.client
    experiment = client.get_run(first).info.experiment_id
    logged = client.search_logged_models([experiment], filter_string=f"source_run_id = '{first}'")
    assert len(logged) == 1


def test_the_champion_alias_moves_only_on_a_better_fid(store):
    uri, (first, second) = store
    client = RunLogger(uri, first, reopen=False).client
    version_1, said = register(client, first, 300.0)
    assert "new champion" in said and client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION).version == version_1
    version_2, said = register(client, second, 320.0)
    assert "does not beat the champion" in said and version_2 != version_1
    assert client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION).version == version_1
    again, said = register(client, second, 250.0)  # re-evaluated: same version, better FID
    assert again == version_2 and "new champion" in said
    champion = client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION)
    assert champion.version == version_2 and champion.tags["fid"] == "250"
    logged = client.get_logged_model(logged_generator_id(client, second))
    assert champion.run_id == second and logged.source_run_id == second
    assert champion.source == logged.artifact_location  # the model's files, not a `models:/` indirection


def test_registering_ignores_the_process_wide_tracking_and_registry_uris(store, tmp_path):
    """URIs set for another store earlier in the process (a previous stage or test, or the default
    `sqlite:///mlflow.db` of a `dvc exp run --queue` copy's directory) must not send the registration
    there: it used to fail with "Registered Model ... not found" or "Logged model ... not found"."""
    import mlflow

    uri, (first, _) = store
    elsewhere = f"sqlite:///{tmp_path / 'other.db'}"
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(elsewhere)
    mlflow.set_registry_uri(elsewhere)
    try:
        register_ = lambda client: register(client, first, 300.0, name="uri-test")  # noqa: E731  (a new name)
        version, _ = RunLogger(uri, first, reopen=False).with_client(register_)
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    assert MlflowClient(uri, registry_uri=uri).get_model_version("uri-test", version).run_id == first
    assert not MlflowClient(elsewhere, registry_uri=elsewhere).search_registered_models()


def test_sample_from_the_registry(store, tmp_path, monkeypatch):
    uri, (first, _) = store
    register(RunLogger(uri, first, reopen=False).client, first, 300.0)  # a champion exists, whatever ran before
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "champion.png"
    main(["sample", "--model", f"models:/{REGISTERED_MODEL}@{CHAMPION}", "--n", "4", "--out", str(out)])
    assert out.is_file()
    with pytest.raises(SystemExit):
        main(["sample", "--model", f"models:/{REGISTERED_MODEL}@nobody", "--out", str(tmp_path / "x.png")])
    assert not (tmp_path / "x.png").exists()


def _post(url: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _unfinished_post(url: str, headers: dict, sent: bytes) -> tuple[int, dict]:
    """POST whose body stops after ``sent`` and stays open: the answer must come without the rest.

    (Sending a whole oversized body races the server's early answer: a client still writing when the
    server closes gets a broken pipe instead of the 413.)
    """
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest("POST", parts.path)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            connection.putheader(name, value)
        connection.endheaders(sent or None)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.slow
@pytest.mark.parametrize("command", ["mlflow models serve", "fashion-dcgan serve"])
def test_the_served_model_answers_and_refuses_with_a_reason(store, command):
    uri, (run, _) = store
    port = free_port()
    bin_dir = Path(sys.executable).parent
    # uvicorn, which MLflow starts by name, lives beside this Python (an activated environment).
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    model = f"runs:/{run}/generator"
    if command == "mlflow models serve":
        argv = [str(bin_dir / "mlflow"), "models", "serve", "-m", model, "--env-manager", "local", "-h", "127.0.0.1",
                "-p", str(port)]  # fmt: skip
    else:
        argv = [str(bin_dir / "fashion-dcgan"), "serve", "--model", model, "--port", str(port), "--max-body-kb", "16"]
    server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/invocations"

    def ask(columns, data):
        return _post(url, json.dumps({"dataframe_split": {"columns": columns, "data": data}}).encode())

    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                status, answer = ask(["n", "seed"], [[3, 7]])
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()[-3000:]
                assert time.monotonic() < deadline, f"{command} did not answer"
                time.sleep(1)
        bad = [
            (["n", "seed"], [[0, 1]], "`n` must be a whole number"),
            (["n", "seed"], [[1.5, 1]], "got 1.5"),
            (["n", "seed"], [[1, -1]], "`seed` must be a whole number"),
            (["n", "seed", "class"], [[1, 0, "sneaker"]], "unconditional"),
            (["n", "seed"], [], "empty request"),
            (["n", "seed"], [[1, i] for i in range(500)], "500 rows: at most 100"),
        ]
        for columns, data, reason in bad:
            code, error = ask(columns, data)
            assert code == 400 and error["error_code"] == "INVALID_PARAMETER_VALUE", (code, error)
            assert reason in error["message"] and "Traceback" not in json.dumps(error) and "stack_trace" not in error
        if command == "fashion-dcgan serve":
            # A body past the bound is refused from its Content-Length, before any of it is sent ...
            began = time.monotonic()
            code, error = _unfinished_post(url, {"Content-Length": "200000"}, b"")
            assert code == 413 and error["error_code"] == "REQUEST_LIMIT_EXCEEDED", (code, error)
            assert "at most 16,384" in error["message"] and time.monotonic() - began < 10
            # ... and a streamed one without a length as soon as it passes the bound, its end never sent.
            chunk = b"%x\r\n%s\r\n" % (4096, b"x" * 4096)
            code, error = _unfinished_post(url, {"Transfer-Encoding": "chunked"}, chunk * 5)  # 20 KB of 16
            assert code == 413 and "more than 16384" in error["message"], (code, error)
            # Hostile bodies get 400 with a reason, never a 500 or a stack trace; CSV works as documented.
            huge = b'{"dataframe_split": {"columns": ["n", "seed"], "data": [[1' + b"0" * 309 + b", 0]]}}"
            deep = b'{"dataframe_split": ' + b"[" * 7_000 + b"]" * 7_000 + b"}"  # within the 16 KB bound
            flag = b'{"dataframe_split": {"columns": ["n", "seed"], "data": [[true, 0]]}}'
            for body, reason in ((huge, "`n` must be a whole number"), (deep, "nested deeper"), (flag, "got True")):
                code, error = _post(url, body)
                assert code == 400 and reason in error["message"] and "stack_trace" not in error, (code, error)
            code, images = _post(url, b"n,seed\n2,0\n", {"Content-Type": "text/csv"})
            assert code == 200 and np.asarray(images["predictions"]).shape == (2, 28, 28)
        again, _ = ask(["n", "seed"], [[1, 0]])  # still serving after the bad requests
    finally:
        server.terminate()
        server.wait(timeout=30)
    images = np.asarray(answer["predictions"])
    assert status == again == 200 and images.shape == (3, 28, 28) and images.min() >= 0 and images.max() <= 255


def test_two_concurrent_registrations_leave_the_better_version_champion(store):
    """The worse evaluation decides from a stale read and writes its alias last (an injected delay):
    its own read after writing catches that and repairs it."""
    import threading
    import time

    uri, (worse_run, better_run) = store
    name = "race-test-generator"
    make = lambda: MlflowClient(uri, registry_uri=uri)  # noqa: E731  (one client per evaluation process)
    worse, better = make(), make()
    set_alias = worse.set_registered_model_alias
    better_done = threading.Event()

    def late_alias(model, alias, version):
        better_done.wait(30)  # the better evaluation has set the alias and left
        time.sleep(0.2)
        set_alias(model, alias, version)

    worse.set_registered_model_alias = late_alias
    results = {}

    def evaluate(key, client, run_id, fid):
        try:
            results[key] = register(client, run_id, fid, name)
        except Exception as error:  # shown by the assertion below, instead of a hang
            results[key] = error
        finally:
            if key == "better":
                better_done.set()

    threads = [threading.Thread(target=evaluate, args=("worse", worse, worse_run, 300.0))]
    threads[0].start()
    deadline = time.monotonic() + 60
    while not worse.search_model_versions(f"name = '{name}'"):  # the worse one has read no champion yet
        assert "worse" not in results and time.monotonic() < deadline, results
        time.sleep(0.05)
    threads.append(threading.Thread(target=evaluate, args=("better", better, better_run, 250.0)))
    threads[1].start()
    for thread in threads:
        thread.join(60)
    assert not any(isinstance(value, Exception) for value in results.values()), results
    champion = make().get_model_version_by_alias(name, CHAMPION)
    assert champion.run_id == better_run and champion.tags["fid"] == "250"
    assert "does not beat the champion" in results["worse"][1]


# Last: it trains in a store of its own (MLflow caches per-store state in the process).
def test_a_conditional_generator_draws_the_class_in_each_row(tmp_path):
    import mlflow

    from fashion_dcgan.gan.sampling import generate, latents

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    images, labels = synthetic_split(64)
    params = tiny_params({"conditional": True})
    result = train(params, images[..., None].astype(np.float32) / 127.5 - 1.0, TrainingPaths.under(tmp_path),
                   lambda run_id: RunLogger(uri, run_id), verbose=0, labels=labels)  # fmt: skip
    log_run_generator(RunLogger(uri, result.run_id, reopen=False), lambda: result.sampler)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        model = mlflow.pyfunc.load_model(f"runs:/{result.run_id}/generator")
    finally:
        mlflow.set_tracking_uri(previous)
    out = model.predict(pd.DataFrame({"n": [2, 3], "seed": [0, 1], "class": ["Sneaker", None]}))
    assert out.shape == (5, 28, 28) and out.dtype == np.uint8
    sneakers = generate(result.gan.sampler, latents(0, 2, 8), labels=np.full(2, 7))
    assert np.abs(out[:2].astype(int) - np.clip(np.rint((sneakers[..., 0] + 1) * 127.5), 0, 255)).max() <= 1
    with pytest.raises(Exception, match="unknown class 'hat'"):
        model.predict(pd.DataFrame({"n": [1], "seed": [0], "class": ["hat"]}))
    cycled = model.predict(pd.DataFrame({"n": [10], "seed": [3]}))  # no class: every class in turn
    expected = generate(result.gan.sampler, latents(3, 10, 8))
    assert np.abs(cycled.astype(int) - np.clip(np.rint((expected[..., 0] + 1) * 127.5), 0, 255)).max() <= 1


class CountingGenerator:
    """A generator that records how many of its calls overlap (each call sleeps, so overlaps would show)."""

    def __init__(self, dim: int = 4):
        import threading

        self.inputs, self.lock = [np.zeros((1, dim))], threading.Lock()
        self.running = self.most = 0

    def __call__(self, noise, training=False):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
        return np.zeros((len(noise), 28, 28, 1), np.float32)


def test_concurrent_requests_generate_one_at_a_time_and_each_gets_its_images():
    # Two generations at once kept oneDNN's memory pool at the peak of both for good (docs/benchmarks.md).
    from concurrent.futures import ThreadPoolExecutor

    from fashion_dcgan.serving.pyfunc import GeneratorModel

    model = GeneratorModel()
    model.generator = CountingGenerator()
    sizes = [3, 1200, 7, 600]  # 1,200 images are 3 calls of generate's chunk
    with ThreadPoolExecutor(len(sizes)) as pool:
        answers = list(pool.map(lambda n: model.predict(None, pd.DataFrame({"n": [n], "seed": [n]})), sizes))
    assert [len(a) for a in answers] == sizes
    assert model.generator.most == 1


def test_the_report_reads_the_champion_and_the_recent_runs_from_the_store(store):
    from fashion_dcgan.reporting.report import read_store

    uri, (first, second) = store
    client = MlflowClient(uri, registry_uri=uri)
    client.log_metric(first, "eval/fid", 123.5)
    client.log_metric(first, "eval/precision", 0.75)
    register(client, first, 123.5)
    view = read_store(client, second)
    expected = client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION)
    assert view.champion["version"] == expected.version and view.champion["run_id"] == expected.run_id
    assert view.champion["url"].endswith(f"/runs/{expected.run_id}") and not view.champion["this_run"]
    by_id = {row["url"].rsplit("/", 1)[1]: row for row in view.recent}
    assert {first, second} <= set(by_id) and by_id[second]["this_run"] and not by_id[first]["this_run"]
    assert by_id[first]["metrics"] == {"fid": 123.5, "precision": 0.75}
    assert "r1" in by_id[first]["recipe"] and "seed 1" in by_id[first]["recipe"]
    assert sum(row["champion"] for row in view.recent) <= 1


# Run in a fresh interpreter: the project's own package is refused wherever it would be imported from
# (the checkout's src/), so only the model's copy of its code can serve.
WITHOUT_THE_PROJECT = r"""
import importlib.abc, json, sys
SRC = sys.argv[1]

class RefuseTheProject(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] != "fashion_dcgan":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                places = [spec.origin or "", *(spec.submodule_search_locations or [])]
                if any(place.startswith(SRC) for place in places):
                    raise ModuleNotFoundError(f"No module named {name!r} (refused: the project is not installed here)")
                return spec
        return None

sys.meta_path.insert(0, RefuseTheProject())
try:
    import fashion_dcgan
    print(json.dumps({"project_importable": True}))
    sys.exit(0)
except ModuleNotFoundError:
    pass
import mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[2])
mlflow.set_registry_uri(sys.argv[2])
model = mlflow.pyfunc.load_model(sys.argv[3])
images = model.predict(pd.DataFrame({"n": [3], "seed": [0]}))
print(json.dumps({"shape": list(images.shape), "dtype": str(images.dtype),
                  "code": sorted(m for m in sys.modules if m.startswith("fashion_dcgan"))[:3],
                  "from": sys.modules["fashion_dcgan"].__file__}))
"""


@pytest.mark.slow
def test_the_registered_model_runs_where_the_project_is_not_installed(tmp_path, store):
    from fashion_dcgan.serving.pyfunc import requirements

    uri, (first, _) = store
    version, _, _ = register_generator(RunLogger(uri, first, reopen=False), lambda: None, 400.0, "portable")
    src = str(Path(__file__).resolve().parents[1] / "src")
    command = [sys.executable, "-c", WITHOUT_THE_PROJECT, src, uri, f"models:/portable/{version}"]
    # Without the MLFLOW_* variables that earlier tests' set_tracking_uri/set_registry_uri leave behind.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")} | {"TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["shape"] == [3, 28, 28] and result["dtype"] == "uint8"
    assert not result["from"].startswith(src)  # the model's own copy of the code served it
    import mlflow

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        local = Path(mlflow.artifacts.download_artifacts(f"models:/portable/{version}"))
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    listed = (local / "requirements.txt").read_text().split()
    assert set(requirements()) <= set(listed) and any(name.startswith("pillow==") for name in listed)
    assert not list(local.rglob("*.npz"))  # the code, not the classifier's weights or other data


@pytest.mark.slow
def test_a_burst_of_maximal_requests_on_a_float32_cpu_gets_only_200_and_503_and_the_next_request_is_served(store):
    """The per-request maximum is measured at start-up on the CPU that serves, here capped to float32 speed
    (ONEDNN_MAX_CPU_ISA=AVX2), under a short timeout: no maximal request of a burst runs past it."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.servers import wait_until_answering

    uri, (run, _) = store
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "ONEDNN_MAX_CPU_ISA": "AVX2",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    argv = [str(bin_dir / "fashion-dcgan"), "serve", "--model", f"runs:/{run}/generator", "--port", str(port),
            "--timeout-s", "4"]  # fmt: skip
    server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base}/ping", server, timeout_s=300)
        with urllib.request.urlopen(f"{base}/limits", timeout=30) as answer:
            limits = json.loads(answer.read())
        assert limits["timeout_s"] == 4 and 1 <= limits["max_images"] <= 10_000 and limits["max_in_flight"] == 2

        def split(n: int) -> bytes:
            return json.dumps({"dataframe_split": {"columns": ["n", "seed"], "data": [[n, 1]]}}).encode()

        body = split(limits["max_images"])
        code, error = _post(f"{base}/invocations", split(limits["max_images"] + 1))
        assert code == 400 and error["message"].startswith("`n` must be a whole number from 1 to "), (code, error)
        assert f"from 1 to {limits['max_images']:,}" in error["message"]

        def maximal(_):
            request = urllib.request.Request(f"{base}/invocations", body, {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=120) as answer:
                    return answer.status, len(json.loads(answer.read())["predictions"]), None
            except urllib.error.HTTPError as error:
                return error.code, 0, error.headers.get("Retry-After")

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(maximal, range(8)))
        statuses = [status for status, _, _ in answers]
        assert set(statuses) <= {200, 503} and 200 in statuses, answers
        assert all(count == limits["max_images"] for status, count, _ in answers if status == 200)
        assert all(retry and int(retry) >= 1 for status, _, retry in answers if status == 503), answers
        # Every maximal request has been answered, so its work has ended and its slot is free.
        answer = _post(f"{base}/invocations", split(4))
        assert answer[0] == 200 and np.asarray(answer[1]["predictions"]).shape == (4, 28, 28)
    finally:
        server.terminate()
        server.wait(timeout=30)
