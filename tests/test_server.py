"""`fashion-dcgan serve`'s guard (admission, the body bound, body checks, JSON errors) on stand-in apps;
the real model behind it in test_serving.py."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json

import pytest

from fashion_dcgan.cli import CHAMPION_URI, build_parser
from fashion_dcgan.serving.app import RequestGuard
from fashion_dcgan.tracking import CHAMPION, REGISTERED_MODEL


def run_async(coroutine) -> None:
    """Run ``coroutine`` to its end on a fresh event loop in its own thread (Playwright's sync API keeps a
    loop running in the main thread once a browser test has run, and asyncio.run refuses to nest)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


async def _store(results: dict, coroutine) -> None:
    results["value"] = await coroutine


def outcome(coroutine):
    """What ``coroutine`` returns, run to its end by :func:`run_async`."""
    results: dict = {}
    run_async(_store(results, coroutine))
    return results["value"]


class Echo:
    """An ASGI app that answers with the length of the body it read."""

    def __init__(self):
        self.calls = 0

    async def __call__(self, scope, receive, send):
        self.calls += 1
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})


def call(app, chunks: list[bytes], length: str | None) -> tuple[int, bytes, int]:
    """Send ``chunks`` as one request; the status, the response body and how many chunks were read."""
    headers = [] if length is None else [(b"content-length", length.encode())]
    scope = {"type": "http", "method": "POST", "path": "/invocations", "headers": headers}
    read, sent = 0, []

    async def receive():
        nonlocal read
        read += 1
        if read > len(chunks):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}

    async def send(message):
        sent.append(message)

    run_async(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"), read


def test_a_body_within_the_bound_reaches_the_app_whole():
    echo = Echo()
    status, body, _ = call(RequestGuard(echo, 100), [b"a" * 60, b"b" * 40], "100")
    assert (status, body, echo.calls) == (200, b"100", 1)


@pytest.mark.parametrize("length", ["101", "10000000000", "12abc", "-1"])
def test_a_declared_length_past_the_bound_is_refused_before_reading(length):
    echo = Echo()
    status, body, read = call(RequestGuard(echo, 100), [b"a" * 200], length)
    answer = json.loads(body)
    assert (status, read, echo.calls) == (413, 0, 0)
    assert answer["error_code"] == "REQUEST_LIMIT_EXCEEDED" and "at most 100" in answer["message"]


def test_a_streamed_body_is_refused_once_it_passes_the_bound():
    echo = Echo()
    status, body, read = call(RequestGuard(echo, 100), [b"a" * 60] * 10, None)
    assert (status, read, echo.calls) == (413, 2, 0)  # stopped at the second chunk, of ten
    assert "more than 100" in json.loads(body)["message"]


def test_non_http_scopes_pass_through():
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    run_async(RequestGuard(app, 1)({"type": "lifespan"}, None, None))
    assert seen == ["lifespan"]


def test_serve_defaults_to_the_champion_and_checks_its_port():
    assert f"models:/{REGISTERED_MODEL}@{CHAMPION}" == CHAMPION_URI
    args = build_parser().parse_args(["serve"])
    assert (args.model, args.host, args.port, args.max_body_kb) == (CHAMPION_URI, "127.0.0.1", 5001, 64)
    for bad in ("0", "70000", "80x"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", "--port", bad])


@pytest.mark.parametrize("argv", [["serve"], ["demo"], ["sample", "--model", "models:/any@champion"]])
def test_reading_a_missing_default_store_is_one_line_and_creates_nothing(tmp_path, monkeypatch, capsys, argv):
    from fashion_dcgan.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    error = capsys.readouterr().err
    assert exit_.value.code != 0 and "no MLflow store at" in error and "make repro" in error
    assert "Traceback" not in error and not (tmp_path / "mlflow.db").exists()


class Held:
    """An ASGI app that answers only when released, to keep requests in flight."""

    def __init__(self, status: int = 200, body: bytes = b"{}", content_type: bytes = b"application/json"):
        self.release = None
        self.status, self.body, self.content_type = status, body, content_type

    async def __call__(self, scope, receive, send):
        await receive()
        if self.release is not None:
            await self.release.wait()
        await send(
            {"type": "http.response.start", "status": self.status, "headers": [(b"content-type", self.content_type)]}
        )
        await send({"type": "http.response.body", "body": self.body})


async def request(
    app, body: bytes = b"{}", path: str = "/invocations", method: str = "POST"
) -> tuple[int, dict, bytes]:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")],
    }
    sent, done = [], False

    async def receive():
        nonlocal done
        if done:
            await asyncio.sleep(3600)
        done = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def test_a_burst_past_the_limit_is_answered_503_at_once_with_retry_after():
    from fashion_dcgan.serving.limits import Limits

    held = Held()
    # A maximal request with both slots busy is expected to take 100 x 0.1 x 2 = 20 s.
    guard = RequestGuard(held, limits=Limits(100, max_in_flight=2, seconds_per_image=0.1))

    async def burst():
        held.release = asyncio.Event()
        first = [asyncio.create_task(request(guard)) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert guard.in_flight == 2
        refused = await asyncio.wait_for(request(guard), timeout=1)  # at once, not queued
        held.release.set()
        admitted = await asyncio.gather(*first)
        after = await request(guard)  # the slots are free again
        return refused, admitted, after

    (status, headers, body), admitted, after = outcome(burst())
    assert status == 503 and headers[b"retry-after"] == b"20"
    assert (
        json.loads(body)["error_code"] == "TEMPORARILY_UNAVAILABLE"
        and "retry after 20 s" in json.loads(body)["message"]
    )
    assert [a[0] for a in admitted] == [200, 200] and after[0] == 200


class Working:
    """An ASGI app whose work runs in a thread until released, as MLflow's scoring app runs predict."""

    def __init__(self):
        import threading

        self.release = threading.Event()
        self.finished = 0

    async def __call__(self, scope, receive, send):
        await receive()
        await asyncio.to_thread(self.release.wait, 30)
        self.finished += 1
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})


def test_a_request_past_the_timeout_gets_504_and_its_slot_stays_taken_until_its_work_ends():
    from fashion_dcgan.serving.limits import Limits

    app = Working()
    guard = RequestGuard(app, limits=Limits(10, max_in_flight=1, timeout_s=0.3, seconds_per_image=0.5))

    async def scenario():
        timed_out = await asyncio.wait_for(request(guard), timeout=5)
        assert guard.in_flight == 1 and app.finished == 0  # the work goes on, and keeps its slot
        refused = await request(guard)
        app.release.set()
        while guard.in_flight:
            await asyncio.sleep(0.01)
        served = await request(guard)
        return timed_out, refused, served

    (status, headers, body), refused, served = outcome(scenario())
    assert status == 504 and headers[b"content-type"] == b"application/json"
    assert (
        json.loads(body)["error_code"] == "DEADLINE_EXCEEDED" and "at most 10 a request" in json.loads(body)["message"]
    )
    assert body.count(b"{") == 1  # the late answer of the timed-out work was dropped, not appended
    assert refused[0] == 503 and int(refused[1][b"retry-after"]) >= 1
    assert served[0] == 200 and app.finished == 2


@pytest.mark.parametrize(
    ("seconds_per_image", "expected"),
    [(0.0009, 10_000), (0.01, 1_500), (0.1, 150), (100.0, 1)],  # capped at MAX_IMAGES above, at 1 below
)
def test_the_per_request_maximum_follows_the_measured_speed(seconds_per_image, expected):
    from fashion_dcgan.serving.limits import TIMEOUT_SHARE, Limits

    limits = Limits.for_speed(seconds_per_image, timeout_s=60, max_in_flight=2)
    assert limits.max_images == expected
    if 1 < expected < 10_000:  # within the timeout's share with both slots busy, and no room for more
        assert limits.slowest_s <= TIMEOUT_SHARE * 60 < (expected + 1) * seconds_per_image * 2


def test_the_limits_in_force_are_served_as_json():
    from fashion_dcgan.serving.limits import Limits

    status, _, body = outcome(
        request(RequestGuard(Echo(), limits=Limits(1234, 3, 30, 0.01)), path="/limits", method="GET")
    )
    assert status == 200 and json.loads(body) == {"max_images": 1234, "max_in_flight": 3, "timeout_s": 30,
                                                  "seconds_per_image": 0.01}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "body", "content_type", "code"),
    [(504, b"Timeout. The request took longer than 60 s", b"text/plain", "DEADLINE_EXCEEDED"),
     (500, b"Internal Server Error", b"text/plain", "INTERNAL_ERROR"),
     (400, b'{"error_code": "BAD_REQUEST", "message": "no", "stack_trace": "Traceback ..."}', b"application/json",
      "BAD_REQUEST"),
     (400, b'{"error_code": "INVALID_PARAMETER_VALUE", "message": "Failed to predict data \'   n\\n0  7\'. \\nError: '
           b'`n` must be a whole number"}', b"application/json", "INVALID_PARAMETER_VALUE")],
)  # fmt: skip
def test_every_error_body_is_json_with_a_reason_and_no_stack_trace(status, body, content_type, code):
    answered, headers, payload = outcome(request(RequestGuard(Held(status, body, content_type))))
    document = json.loads(payload)
    assert answered == status and headers[b"content-type"] == b"application/json"
    assert document["error_code"] == code and document["message"] and "stack_trace" not in document
    assert not document["message"].startswith("Failed to predict")  # the model's own reason comes first


def test_the_route_table_is_what_the_server_answers():
    from fashion_dcgan.serving.app import ROUTES

    echo = Echo()
    assert outcome(request(RequestGuard(echo), path="/ping", method="GET"))[0] == 200 and echo.calls == 1
    status, _, body = outcome(request(RequestGuard(echo), path="/docs", method="GET"))
    assert status == 404 and "/invocations, /limits" in json.loads(body)["message"]
    status, headers, body = outcome(request(RequestGuard(echo), path="/invocations", method="GET"))
    assert (status, headers[b"allow"], json.loads(body)["message"]) == (405, b"POST", "/invocations takes POST")
    assert echo.calls == 1  # neither reached MLflow's app
    assert all(route.handler is None or callable(getattr(RequestGuard, route.handler)) for route in ROUTES.values())


def test_the_routes_passed_to_mlflow_are_the_ones_its_scoring_app_defines():
    # A route MLflow adds or drops shows here; FastAPI's generated documentation pages are not served.
    from types import SimpleNamespace

    from mlflow.pyfunc import scoring_server

    from fashion_dcgan.serving.app import ROUTES

    app = scoring_server.init(SimpleNamespace(metadata=SimpleNamespace(get_input_schema=lambda: None)))
    defined = {route.path: sorted(route.methods) for route in app.routes}
    documentation = {"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
    assert set(defined) - documentation == {path for path, route in ROUTES.items() if path != "/limits"}
    assert all(route.method in defined[path] for path, route in ROUTES.items() if path != "/limits")


def test_nesting_deeper_than_any_request_is_refused_before_the_app():
    from fashion_dcgan.serving.app import json_depth

    assert json_depth(b'{"dataframe_split": {"columns": ["n"], "data": [[1]]}}') == 4
    assert json_depth(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[["}') == 1  # brackets in strings do not count
    echo = Echo()
    status, body, _ = call(RequestGuard(echo), [b'{"x": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"], None)
    assert status == 400 and "nested deeper" in json.loads(body)["message"] and echo.calls == 0


def test_a_server_that_never_answers_fails_the_wait_with_what_it_said():
    import subprocess
    import sys

    from tests.servers import free_port, wait_until_answering

    script = "import sys, time; sys.stderr.write('still loading the model\\n'); sys.stderr.flush(); time.sleep(60)"
    server = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    try:
        with pytest.raises(RuntimeError, match="did not answer within 3 s; the server said: still loading the model"):
            wait_until_answering(f"http://127.0.0.1:{free_port()}/health", server, timeout_s=3)
    finally:
        server.kill()
        server.wait()
