"""`fashion-dcgan serve`: MLflow's own scoring app for the generator, behind a request-size bound.

``mlflow models serve`` reads and decodes any body before the model sees it (a 50 MB body took 32 s
and 2.4 GB to refuse), and it has no option to bound it. This command serves the same FastAPI app
(``mlflow.pyfunc.scoring_server.init``, so ``/invocations``, ``/ping`` and the JSON formats are
MLflow's) wrapped in :class:`BodyLimit`, which refuses an oversized body with HTTP 413 before it is
read: from its ``Content-Length`` when the client sends one, else as soon as the streamed bytes pass
the bound. The model's own checks (rows, images, whole numbers, classes) then apply as before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fashion_dcgan.serving.pyfunc import MAX_ROWS

log = logging.getLogger(__name__)
# A valid request of MAX_ROWS rows is under 4 KB as JSON or CSV; 64 KiB leaves room for formatting.
MAX_BODY_BYTES = 64 * 1024

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: an HTTP request whose body passes ``max_bytes`` gets 413 and never reaches ``app``."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.strip().isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send, declared.decode("latin-1"))
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, f"more than {self.max_bytes}")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, delivered = b"".join(chunks), False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if delivered:  # the app waits for a disconnect after the body: hand it the real one
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, size: str) -> None:
        message = (
            f"request body of {size} bytes: at most {self.max_bytes:,} "
            f"(a request of {MAX_ROWS} rows needs under 4 KB; ask for more images per row with `n`)"
        )
        payload = json.dumps({"error_code": "REQUEST_LIMIT_EXCEEDED", "message": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for tests, benchmarks and tools)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answering(url: str, process, timeout_s: float = 180) -> None:
    """Poll ``url`` until it answers 200 (a server that ``process`` is starting); RuntimeError with the
    server's last output if it exits first or ``timeout_s`` passes."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None:
            output = process.stderr.read()[-3000:] if process.stderr else ""
            raise RuntimeError(f"the server exited ({process.returncode}) before {url} answered: {output}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")
        time.sleep(0.5)


def load_served_model(model: str):
    """The pyfunc model at ``model`` (an MLflow model URI or a local model directory), or one line why not."""
    import mlflow

    from fashion_dcgan.errors import ModelFileError, first_line
    from fashion_dcgan.tracking import use_store

    uri = use_store()
    try:
        return mlflow.pyfunc.load_model(model)
    except Exception as error:  # MLflow raises several types for an unknown name, alias, run or path
        raise ModelFileError(f"{model}: cannot load it from {uri} ({first_line(error)})") from None


def build_app(pyfunc_model, max_bytes: int = MAX_BODY_BYTES):
    """MLflow's scoring app for ``pyfunc_model`` behind :class:`BodyLimit`."""
    from mlflow.pyfunc import scoring_server

    return BodyLimit(scoring_server.init(pyfunc_model), max_bytes)


def serve(model: str, host: str, port: int, max_bytes: int = MAX_BODY_BYTES) -> None:
    import uvicorn

    app = build_app(load_served_model(model), max_bytes)
    print(f"serving {model} on http://{host}:{port}/invocations (bodies up to {max_bytes:,} bytes); Ctrl-C stops")
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=5)
