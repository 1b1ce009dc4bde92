"""The HTTP app of `fashion-dcgan serve`: its route table, and the guard in front of MLflow's scoring app.

Every route the server answers is in :data:`ROUTES`, with who answers it. A new route is one entry
there and, when the guard answers it, a method of :class:`RequestGuard` named by the entry. Routes
answered by MLflow's app (``mlflow.pyfunc.scoring_server.init``, so ``/invocations``' JSON and CSV
formats are MLflow's) pass through; a path not in the table gets a JSON 404 (FastAPI's generated
``/docs`` pages describe nothing of the request format and are not served).

``mlflow models serve`` reads and decodes any body before the model sees it (a 50 MB body took 32 s
and 2.4 GB to refuse), queues concurrent requests until its 60 s timeout answers 504 with a body
that is not JSON, and answers some malformed bodies with a Python traceback. :class:`RequestGuard`:

- admits at most ``max_in_flight`` requests to ``/invocations`` at once and answers the next one at
  once with 503, a ``Retry-After`` from the measured time of the work in flight and a JSON reason,
  instead of queuing it towards a timeout;
- enforces the scoring timeout itself: a request still working at ``timeout_s`` gets 504, and its
  slot stays taken until its work has really ended (MLflow's own timeout answers but lets the work
  run on, so new requests would pile onto a busy machine);
- refuses an oversized body with 413 before it is read (from ``Content-Length``, else as soon as the
  streamed bytes pass the bound);
- refuses JSON nested deeper than any valid request with 400 (Python's parser would recurse until it
  fails with a 500), and turns a CSV body into MLflow's JSON split format, which the model reads;
- makes every error body JSON with a reason, without a stack trace;
- answers ``GET /limits`` with the limits in force (:class:`~fashion_dcgan.serving.limits.Limits`).

The model's own checks (rows, images, whole numbers, classes) then apply as before.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import csv
import io
import json
import math
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from fashion_dcgan.serving.limits import Limits
from fashion_dcgan.serving.pyfunc import MAX_IMAGES, MAX_ROWS

# A valid request of MAX_ROWS rows is under 4 KB as JSON or CSV; 64 KiB leaves room for formatting.
MAX_BODY_BYTES = 64 * 1024
# A valid request nests 3 deep ({"dataframe_split": {"data": [[...]]}}); anything past this is refused.
MAX_JSON_DEPTH = 16


@dataclass(frozen=True)
class Route:
    method: str
    handler: str | None  # the RequestGuard method that answers it, or None: MLflow's scoring app does
    what: str


ROUTES = {
    "/invocations": Route("POST", "answer_invocations", "images for a table of requests: MLflow's scoring, behind "
                          "admission, the timeout and the body checks"),
    "/limits": Route("GET", "answer_limits", "the limits in force, as JSON"),
    "/ping": Route("GET", None, "200 once the model is loaded (MLflow)"),
    "/health": Route("GET", None, "the same as /ping (MLflow)"),
    "/version": Route("GET", None, "MLflow's version (MLflow)"),
}  # fmt: skip


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
# The error code of a response the app (or the ASGI server) gave without a JSON body.
ERROR_CODES = {400: "BAD_REQUEST", 404: "ENDPOINT_NOT_FOUND", 405: "BAD_REQUEST", 413: "REQUEST_LIMIT_EXCEEDED",
               415: "BAD_REQUEST", 503: "TEMPORARILY_UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}  # fmt: skip


def release_memory() -> None:
    """Give the freed memory of finished requests back to the system. A request of MAX_IMAGES images
    builds about 30 MB of JSON, whose freed blocks glibc keeps in its arenas; handing them back saved
    about 80 MiB after a burst (benchmarks/load_test.py --burst). What oneDNN keeps is bounded by
    generating one request at a time (pyfunc.GeneratorModel.generating)."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def json_depth(body: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def csv_as_split_json(body: bytes) -> bytes:
    """A CSV request (a header row, then one row per request) as MLflow's ``dataframe_split`` JSON; empty
    cells become null. The model checks the values."""
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    rows = [row for row in rows if row]
    if not rows:
        raise ValueError("an empty CSV body: send a header row (n,seed) and one row per request")
    columns, data = rows[0], rows[1:]
    if any(len(row) != len(columns) for row in data):
        raise ValueError(f"every CSV row needs {len(columns)} cells, as the header {','.join(columns)}")
    cells = [[cell if cell.strip() else None for cell in row] for row in data]
    return json.dumps({"dataframe_split": {"columns": columns, "data": cells}}).encode()


def own_message(message: str) -> str:
    """The model's own reason first: MLflow wraps it as "Failed to predict data '<the whole table>'. \nError: ..."."""
    if message.startswith("Failed to predict data") and "\nError: " in message:
        return message.partition("\nError: ")[2]
    return message


def json_error(status: int, message: str) -> bytes:
    return json.dumps({"error_code": ERROR_CODES.get(status, "INTERNAL_ERROR"), "message": message}).encode()


class RequestGuard:
    """ASGI middleware in front of MLflow's scoring app: admission, the timeout, a body bound, body checks,
    JSON errors."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES, limits: Limits | None = None):
        self.app, self.max_bytes = app, max_bytes
        self.limits = limits or Limits(MAX_IMAGES)
        self.started: dict[int, float] = {}  # admitted requests whose work has not ended: id -> start time
        # How long the recent served requests took (the slowest is what a waiting client expects); before
        # any, a maximal request's expected time with every slot busy.
        self.recent_s: collections.deque[float] = collections.deque([self.limits.slowest_s], maxlen=8)
        self._next_id = 0

    @property
    def in_flight(self) -> int:
        return len(self.started)

    def retry_after(self) -> int:
        """Seconds until a slot is expected to free: the soonest end of the work in flight, if each takes
        as long as the slowest of the recent served requests."""
        now, expected = time.monotonic(), max(self.recent_s)
        return max(1, math.ceil(min(expected - (now - began) for began in self.started.values())))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _json_errors(send)
        path = scope.get("path", "")
        route = ROUTES.get(path)
        if route is None:
            await _answer(send, 404, json_error(404, f"no route {path[:100]}; this server answers {', '.join(ROUTES)}"))
        elif route.handler is None:
            await self.app(scope, receive, send)
        elif scope.get("method") != route.method:
            allow = [(b"allow", route.method.encode())]
            await _answer(send, 405, json_error(405, f"{path} takes {route.method}"), allow)
        else:
            await getattr(self, route.handler)(scope, receive, send)

    async def answer_limits(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _answer(send, 200, json.dumps(asdict(self.limits)).encode())

    async def answer_invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.in_flight >= self.limits.max_in_flight:  # no await before this and the admission: one event loop
            wait = self.retry_after()
            message = f"the server is generating {self.in_flight} requests, its limit; retry after {wait} s"
            await _answer(send, 503, json_error(503, message), [(b"retry-after", str(wait).encode())])
            return
        ident, self._next_id = self._next_id, self._next_id + 1
        self.started[ident] = time.monotonic()
        gate = _Gate(send)
        work = asyncio.ensure_future(self._admitted(scope, receive, gate.send))
        work.add_done_callback(lambda _: self._ended(ident, gate.status))
        try:
            await asyncio.wait_for(asyncio.shield(work), self.limits.timeout_s)
        except TimeoutError:
            if gate.started:  # the answer is on its way: let it finish
                await work
                return
            gate.close()
            message = (f"the request took longer than {self.limits.timeout_s:.0f} s; ask for fewer images (at most "
                       f"{self.limits.max_images:,} a request here, GET /limits)")  # fmt: skip
            await _answer(send, 504, json_error(504, message))

    def _ended(self, ident: int, status: int | None) -> None:
        """The request's work has ended (answered, timed out or abandoned): its slot is free again."""
        seconds = time.monotonic() - self.started.pop(ident)
        if status == 200:
            self.recent_s.append(seconds)
        if not self.started:
            release_memory()

    async def _admitted(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.strip().isdigit() or int(declared) > self.max_bytes):
            await self._too_large(send, declared.decode("latin-1"))
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send, f"more than {self.max_bytes}")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type == b"text/csv":
            try:
                body = csv_as_split_json(body)
            except (ValueError, UnicodeDecodeError, csv.Error) as error:
                await _answer(send, 400, json_error(400, f"CSV body: {error}"))
                return
            scope = {**scope, "headers": _replaced(scope, b"application/json", len(body))}
        elif json_depth(body) > MAX_JSON_DEPTH:
            await _answer(send, 400, json_error(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels: a "
                                                "request is {\"dataframe_split\": {\"columns\": [...], "
                                                "\"data\": [[...]]}}"))  # fmt: skip
            return
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if delivered:  # the app waits for a disconnect after the body: hand it the real one
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send, size: str) -> None:
        message = (
            f"request body of {size} bytes: at most {self.max_bytes:,} "
            f"(a request of {MAX_ROWS} rows needs under 4 KB; ask for more images per row with `n`)"
        )
        await _answer(send, 413, json_error(413, message), [(b"connection", b"close")])


class _Gate:
    """Forwards a request's response until closed; after a timeout answer, the late app's messages are dropped."""

    def __init__(self, send: Send):
        self._send, self.closed = send, False
        self.status: int | None = None  # of the response, once it has started

    @property
    def started(self) -> bool:
        return self.status is not None

    async def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)

    def close(self) -> None:
        self.closed = True


def _replaced(scope: Scope, content_type: bytes, length: int) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in scope.get("headers") or [] if k.lower() not in (b"content-type", b"content-length")]
    return [*kept, (b"content-type", content_type), (b"content-length", str(length).encode())]


async def _answer(send: Send, status: int, payload: bytes, extra: list[tuple[bytes, bytes]] = ()) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _json_errors(send: Send) -> Send:
    """``send``, with every error response's body JSON with a reason and without a stack trace."""
    held: dict[str, Any] = {}
    parts: list[bytes] = []

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            held["start"] = message
            return
        if "start" not in held or message["type"] != "http.response.body":
            await send(message)
            return
        parts.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        start, body = held.pop("start"), b"".join(parts)
        status = start["status"]
        try:
            document = json.loads(body)
            if not isinstance(document, dict):
                raise ValueError
            document.pop("stack_trace", None)
            document["message"] = own_message(str(document.get("message", "")))
            payload = json.dumps(document).encode()
        except ValueError:
            text = body.decode("utf-8", "replace").strip() or f"HTTP {status}"
            payload = json_error(status, text[:500])
        drop = (b"content-type", b"content-length")
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in drop]
        await _answer(send, status, payload, headers)

    return wrapped


def build_app(pyfunc_model, max_bytes: int = MAX_BODY_BYTES, limits: Limits | None = None):
    """MLflow's scoring app for ``pyfunc_model`` behind :class:`RequestGuard`, the model's per-request
    maximum set to the limits'."""
    from mlflow.environment_variables import MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT
    from mlflow.pyfunc import scoring_server

    limits = limits or Limits(MAX_IMAGES)
    python_model = None
    with contextlib.suppress(Exception):  # MLflow raises for a flavour without a Python model
        python_model = pyfunc_model.unwrap_python_model()
    if hasattr(python_model, "max_images"):
        python_model.max_images = limits.max_images
    # The guard answers at the timeout; MLflow's own (read by init) must not fire first.
    os.environ[MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT.name] = str(math.ceil(limits.timeout_s * 10))
    return RequestGuard(scoring_server.init(pyfunc_model), max_bytes, limits)
