"""Locust users for `benchmarks/load_test.py`: clients mixing good and bad requests to the served generator.

Each request kind has its own name in Locust's table and an expected status: a good request must get
200 with the right number of images, a bad one its 4xx with a reason and no traceback. Anything else
(a 5xx, a 504 timeout, a traceback, a wrong count) is counted as a failure of that kind.
"""

from __future__ import annotations

import json

from locust import FastHttpUser, between, task

HEADERS = {"Content-Type": "application/json"}


def frame(columns: list[str], rows: list[list]) -> str:
    return json.dumps({"dataframe_split": {"columns": columns, "data": rows}})


class Client(FastHttpUser):
    wait_time = between(0.05, 0.2)

    def _ask(self, kind: str, body: str | bytes, status: int, images: int | None = None) -> None:
        with self.client.post("/invocations", data=body, headers=HEADERS, name=kind, catch_response=True) as answer:
            text = answer.text or ""
            if answer.status_code != status:
                answer.failure(f"status {answer.status_code}, expected {status}")
            elif "Traceback" in text or "stack_trace" in text:
                answer.failure("a traceback reached the client")
            elif images is not None and len(json.loads(text)["predictions"]) != images:
                answer.failure("wrong number of images")
            else:
                answer.success()

    @task(10)
    def good_small(self):
        self._ask("good: 4 images", frame(["n", "seed"], [[4, 7]]), 200, 4)

    @task(2)
    def good_rows(self):
        self._ask("good: 100 rows x 2 images", frame(["n", "seed"], [[2, s] for s in range(100)]), 200, 200)

    @task(1)
    def good_large(self):
        self._ask("good: 1,000 images", frame(["n", "seed"], [[1000, 3]]), 200, 1000)

    @task(2)
    def bad_n(self):
        self._ask("bad: n 0", frame(["n", "seed"], [[0, 1]]), 400)

    @task(1)
    def bad_fraction(self):
        self._ask("bad: n 1.5", frame(["n", "seed"], [[1.5, 1]]), 400)

    @task(1)
    def bad_huge(self):
        self._ask("bad: n 10^9", frame(["n", "seed"], [[10**9, 1]]), 400)

    @task(1)
    def bad_class(self):
        self._ask("bad: class, unconditional", frame(["n", "seed", "class"], [[1, 0, "sneaker"]]), 400)

    @task(1)
    def bad_rows(self):
        self._ask("bad: 500 rows", frame(["n", "seed"], [[1, s] for s in range(500)]), 400)

    @task(1)
    def bad_many_rows(self):  # about 230 KB of JSON: past the body bound
        self._ask("bad: 20,000 rows", frame(["n", "seed"], [[1, s] for s in range(20_000)]), 413)

    @task(1)
    def bad_json(self):
        self._ask("bad: not JSON", "{dataframe_split: [", 400)

    @task(1)
    def bad_body(self):
        self._ask("bad: 1 MB body", b"[" + b"1," * 500_000 + b"1]", 413)
