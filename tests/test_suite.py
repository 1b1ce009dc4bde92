"""The suite's own rules: which tests are slow, and which run again on the CPU as it is (.ci/run)."""

from __future__ import annotations

import pytest

from tests.conftest import REPO, needs_bf16_units, pytest_collection_modifyitems, runs_bf16_kernels


class Item:
    """What the collection hook reads of a pytest item: its fixtures and its marks."""

    def __init__(self, fixtures=(), marks=()):
        self.fixturenames = list(fixtures)
        self.marks = [decorator.mark for decorator in marks]

    def iter_markers(self, name):
        return (mark for mark in self.marks if mark.name == name)

    def add_marker(self, decorator):
        self.marks.append(decorator.mark)

    def get_closest_marker(self, name):
        return next(self.iter_markers(name), None)

    def marked(self, name) -> bool:
        return self.get_closest_marker(name) is not None


def test_every_bfloat16_test_is_cpu_class_and_every_project_test_slow():
    items = {
        "needs units": Item(marks=[needs_bf16_units]),
        "runs kernels": Item(marks=[runs_bf16_kernels]),
        "own skip naming bfloat16": Item(marks=[pytest.mark.skipif(False, reason="no bfloat16 here")]),
        "simulated bfloat16 CPU": Item(fixtures=["tmp_path", "bf16_cpu"]),
        "other skip": Item(marks=[pytest.mark.skipif(True, reason="Debian's chromium is not installed")]),
        "train stage subprocess": Item(fixtures=["project"]),
        "plain": Item(fixtures=["tmp_path"]),
    }
    pytest_collection_modifyitems(list(items.values()))
    assert {name for name, item in items.items() if item.marked("cpu_class")} == {
        "needs units", "runs kernels", "own skip naming bfloat16", "simulated bfloat16 CPU"}  # fmt: skip
    assert {name for name, item in items.items() if item.marked("slow")} == {"train stage subprocess"}


def test_the_end_to_end_tests_go_first_in_their_own_order():
    """Under two workers the longest file starts at once; its tests share one repo copy, in file order."""
    e2e = [pytest.mark.e2e, pytest.mark.slow]
    items = [Item(["a"]), Item(["repro"], e2e), Item(["b"]), Item(["exp run"], e2e), Item(["c"])]
    pytest_collection_modifyitems(items)
    assert [item.fixturenames[0] for item in items] == ["repro", "exp run", "a", "b", "c"]


def test_ci_runs_the_cpu_class_tests_again_without_the_cap():
    """The whole suite under the AVX2 cap (float32), then the cpu_class tests on the CPU as it is."""
    lines = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines()]
    capped = next(i for i, line in enumerate(lines) if line.startswith("ONEDNN_MAX_CPU_ISA=AVX2 make test"))
    uncapped = next(i for i, line in enumerate(lines) if "-m cpu_class" in line)
    assert capped < uncapped and "ONEDNN_MAX_CPU_ISA" not in lines[uncapped]


def test_collection_gives_the_same_test_ids_every_time():
    """Each pytest-xdist worker collects the suite itself and refuses to start if the ids differ, so no id
    may depend on the clock or on chance (a gzip header's mtime once did). Two collections a second apart."""
    import subprocess
    import sys
    import time

    def collect() -> list[str]:
        done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                              cwd=REPO, capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return [line for line in done.stdout.splitlines() if "::" in line]

    first = collect()
    time.sleep(1.1)
    assert collect() == first and len(first) > 400
