"""The documentation site builds with --strict, its reference tables come from the code, and a broken
link or a page left out of the navigation fails the build."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # mkdocs builds in subprocesses


def build(root: Path) -> subprocess.CompletedProcess:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(root / "site")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.fixture
def copy(tmp_path) -> Path:
    """The site's sources, with the package and recipes the hooks read."""
    for name in ("docs", "recipes", "src"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    return tmp_path


def test_the_site_builds_strictly_with_generated_references(copy):
    from fashion_dcgan.config import schema_fields
    from fashion_dcgan.evaluation.metric_registry import METRICS

    done = build(copy)
    assert done.returncode == 0, done.stderr[-3000:]
    parameters = (copy / "site" / "parameters" / "index.html").read_text()
    assert all(f"<code>{key}</code>" in parameters for key, _ in schema_fields())
    metrics = (copy / "site" / "metrics" / "index.html").read_text()
    assert all(f"<code>{metric.name}</code>" in metrics for metric in METRICS)
    results = (copy / "site" / "results" / "index.html").read_text()
    assert "<code>model.conditional</code>" in results and "<code>train.lr_schedule.decay</code>" in results  # recipes


def test_a_broken_link_fails_the_build(copy):
    page = copy / "docs" / "pipeline.md"
    page.write_text(page.read_text() + "\nSee [the missing page](no-such-page.md).\n")
    done = build(copy)
    assert done.returncode != 0 and "no-such-page.md" in done.stderr


def test_a_page_missing_from_the_navigation_fails_the_build(copy):
    (copy / "docs" / "orphan.md").write_text("# An orphan\n")
    done = build(copy)
    assert done.returncode != 0 and "orphan.md" in done.stderr


def test_lint_fails_on_an_undeclared_direct_import(tmp_path):
    """`make lint` runs deptry over src/: an import that only arrives through another package fails it."""
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    deptry = [str(Path(sys.executable).parent / "deptry"), "src"]
    clean = subprocess.run(deptry, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (tmp_path / "src" / "fashion_dcgan" / "sneaky.py").write_text("import requests\n")  # via mlflow only
    sneaky = subprocess.run(deptry, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert sneaky.returncode != 0 and "requests" in sneaky.stdout + sneaky.stderr
