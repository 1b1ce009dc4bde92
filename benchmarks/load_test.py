"""Load test of `fashion-dcgan serve`: many concurrent clients mixing good and bad requests.

Starts the server on a free port of 127.0.0.1 (the generator of ``--model``, or, by default, an
untrained generator of the default's networks: serving costs the same whatever the weights), runs Locust
headless with the users of ``benchmarks/locustfile.py`` for ``--duration``, samples the server's
resident memory every 0.2 s, then checks that a good request still gets its images. Prints requests/s,
p50/p99 latency and failures per request kind, the peak RSS, and the after-check.

    python -m benchmarks.load_test --users 32 --duration 180
    python -m benchmarks.load_test --model 'models:/fashion-dcgan-generator@champion'
    python -m benchmarks.load_test --burst 8     # 8 requests of the per-request maximum at once

``--burst N`` sends N requests of the per-request maximum (what the server measured for this machine at
start-up, ``GET /limits``) at the same moment instead of running Locust, and reports each answer's
status, p50/p99 latency, how many got 503 (and their Retry-After), whether every error body was JSON,
the status of a small good request sent right after each burst, and the RSS 10 s after each of
``--rounds`` bursts and at its peak. Run it with ``ONEDNN_MAX_CPU_ISA=AVX2`` for the float32 class.

Needs Locust (`pip install -e '.[load]'`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def untrained_model(directory: Path) -> str:
    from fashion_dcgan.config import parse_params
    from fashion_dcgan.gan.networks import build_generator
    from fashion_dcgan.serving.pyfunc import save_generator

    model = parse_params({}).model
    path = directory / "model"
    save_generator(build_generator(model.variant, model.latent_dim, model.generator_width), path)
    return str(path)


class PeakRss(threading.Thread):
    """The largest resident set of a process and its children, sampled until stopped."""

    def __init__(self, pid: int, every_s: float = 0.2):
        super().__init__(daemon=True)
        import psutil

        self.process, self.every_s, self.peak, self.done = psutil.Process(pid), every_s, 0, threading.Event()

    def run(self) -> None:
        import psutil

        while not self.done.wait(self.every_s):
            try:
                total = sum(p.memory_info().rss for p in [self.process, *self.process.children(recursive=True)])
            except psutil.Error:
                return
            self.peak = max(self.peak, total)


def good_request(url: str) -> tuple[int, int, float]:
    body = json.dumps({"dataframe_split": {"columns": ["n", "seed"], "data": [[8, 1]]}}).encode()
    request = urllib.request.Request(f"{url}/invocations", body, {"Content-Type": "application/json"})
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            images = len(json.loads(answer.read())["predictions"])
            return answer.status, images, time.perf_counter() - began
    except urllib.error.HTTPError as error:  # a refusal is a result here, not a failure of the test
        return error.code, 0, time.perf_counter() - began


def limits(url: str) -> dict:
    """The limits the server chose at start-up for this machine."""
    with urllib.request.urlopen(f"{url}/limits", timeout=30) as answer:
        return json.loads(answer.read())


def big_request(url: str, images: int) -> dict:
    """One request of ``images`` images: its status, seconds, Retry-After and whether an error was JSON."""
    body = json.dumps({"dataframe_split": {"columns": ["n", "seed"], "data": [[images, 1]]}}).encode()
    request = urllib.request.Request(f"{url}/invocations", body, {"Content-Type": "application/json"})
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=300) as answer:
            answer.read()
            return {"status": answer.status, "seconds": time.perf_counter() - began, "json": True, "retry": None}
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            json.loads(text)
            is_json = True
        except ValueError:
            is_json = False
        seconds = time.perf_counter() - began
        return {"status": error.code, "seconds": seconds, "json": is_json, "retry": error.headers.get("Retry-After")}


def burst_summary(answers: list[dict]) -> str:
    """The burst's answers in a few lines: statuses, latency quantiles per status, Retry-After, JSON bodies."""
    import numpy as np

    lines = ["| status | count | p50 s | p99 s | max s | Retry-After |", "|---|---|---|---|---|---|"]
    for status in sorted({answer["status"] for answer in answers}):
        seconds = np.array([answer["seconds"] for answer in answers if answer["status"] == status])
        retry = sorted({answer["retry"] for answer in answers if answer["status"] == status and answer["retry"]})
        p50, p99 = np.percentile(seconds, 50), np.percentile(seconds, 99)
        lines.append(
            f"| {status} | {len(seconds)} | {p50:.2f} | {p99:.2f} | {seconds.max():.2f} | {', '.join(retry)} |"
        )
    errors = [answer for answer in answers if answer["status"] >= 400]
    lines.append(f"\n{sum(a['json'] for a in errors)} of {len(errors)} error bodies were JSON")
    return "\n".join(lines)


def burst(url: str, count: int, images: int) -> list[dict]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: big_request(url, images), range(count)))


def table(stats_csv: Path) -> str:
    import pandas as pd

    frame = pd.read_csv(stats_csv)
    lines = ["| request | count | failures | req/s | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|---|---|"]
    for _, row in frame.iterrows():
        lines.append(
            f"| {row['Name']} | {row['Request Count']:,} | {row['Failure Count']:,} | {row['Requests/s']:.1f} "
            f"| {row['50%']:.0f} | {row['99%']:.0f} | {row['Max Response Time']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="MLflow model URI or directory (default: an untrained tutorial generator)")
    parser.add_argument("--users", type=int, default=32, help="concurrent clients")
    parser.add_argument("--spawn-rate", type=float, default=8)
    parser.add_argument("--duration", type=int, default=180, help="seconds of load")
    parser.add_argument("--out", default=None, help="directory for Locust's CSV files (default: temporary)")
    parser.add_argument("--burst", type=int, default=0, help="N requests of the per-request maximum at once")
    parser.add_argument("--rounds", type=int, default=3, help="bursts, one after another (memory must not grow)")
    args = parser.parse_args(argv)
    from tests.servers import free_port, wait_until_answering

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        out.mkdir(parents=True, exist_ok=True)
        model = args.model or untrained_model(Path(tmp))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        bin_dir = Path(sys.executable).parent
        server = subprocess.Popen(
            [str(bin_dir / "fashion-dcgan"), "serve", "--model", model, "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_until_answering(f"{url}/ping", server)
            memory = PeakRss(server.pid)
            memory.start()
            idle = memory.process.memory_info().rss
            if args.burst:
                chosen = limits(url)
                print(f"the server's limits here: {chosen}")
                for round_ in range(1, args.rounds + 1):
                    answers = burst(url, args.burst, chosen["max_images"])
                    status, _, seconds = good_request(url)
                    time.sleep(10)
                    after = memory.process.memory_info().rss
                    print(f"burst {round_}: {args.burst} requests of {chosen['max_images']:,} images (the maximum), "
                          "at once")  # fmt: skip
                    print(burst_summary(answers))
                    print(f"a good request of 8 images right after: HTTP {status} in {seconds * 1000:.0f} ms")
                    print(f"server RSS 10 s after burst {round_}: {after / 2**20:,.0f} MiB "
                          f"({after / idle - 1:+.0%} of idle)\n")  # fmt: skip
                memory.done.set()
                memory.join()
                status, images, seconds = good_request(url)
                print(f"server RSS: {idle / 2**20:,.0f} MiB idle, peak {memory.peak / 2**20:,.0f} MiB over the bursts")
                print(f"afterwards 8 images: HTTP {status}, {images} images in {seconds * 1000:.0f} ms")
                return
            locust = [
                str(bin_dir / "locust"), "-f", str(HERE / "locustfile.py"), "--headless", "--host", url,
                "--users", str(args.users), "--spawn-rate", str(args.spawn_rate), "--run-time", f"{args.duration}s",
                "--csv", str(out / "load"), "--only-summary", "--loglevel", "WARNING",
            ]  # fmt: skip
            done = subprocess.run(
                locust, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}
            )
            memory.done.set()
            memory.join()
            status, images, seconds = good_request(url)
        finally:
            server.terminate()
            server.wait(timeout=30)
        print(f"{args.users} users for {args.duration} s against {model if args.model else 'an untrained generator'}")
        print(table(out / "load_stats.csv"))
        failures = out / "load_failures.csv"
        if failures.exists() and failures.read_text().count("\n") > 1:
            print("\nFailures by kind:\n" + failures.read_text())
        print(f"\nserver RSS: {idle / 2**20:,.0f} MiB idle, peak {memory.peak / 2**20:,.0f} MiB under load")
        print(f"afterwards a good request of 8 images: HTTP {status}, {images} images in {seconds * 1000:.0f} ms")
        if done.returncode not in (0, 1):  # Locust exits 1 when any request failed
            print(done.stderr[-2000:], file=sys.stderr)


if __name__ == "__main__":
    main()
