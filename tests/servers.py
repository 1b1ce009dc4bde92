"""Starting local servers in tests, and in the dev tools beside them (benchmarks/load_test.py,
docs/screenshots.py): a free port, and waiting for a server's own readiness answer."""

from __future__ import annotations

import os
import socket
import time
import urllib.request


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answering(url: str, process, timeout_s: float = 600) -> None:
    """Poll ``url`` until it answers 200 (a server that ``process`` is starting): readiness is the
    server's own answer, so a slow machine only waits longer. RuntimeError with the server's output
    so far if it exits first or ``timeout_s`` passes (a generous bound for a server that never starts)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError(
                f"the server exited ({process.returncode}) before {url} answered: {server_output(process)}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{url} did not answer within {timeout_s:.0f} s; the server said: {server_output(process)}"
            )
        time.sleep(0.5)


def server_output(process) -> str:
    """The end of what a server started with ``stderr=PIPE`` has written so far, without waiting for more."""
    if process.stderr is None:
        return "(its output is not captured)"
    os.set_blocking(process.stderr.fileno(), False)
    try:
        data = os.read(process.stderr.fileno(), 1 << 20)
    except BlockingIOError:  # nothing written yet
        data = b""
    text = data.decode("utf-8", "replace")
    return text[-3000:] if text.strip() else "(nothing)"
