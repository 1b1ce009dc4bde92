"""A real PostgreSQL tracking store, as the README recommends for a team: a throwaway server
(`initdb` in a temporary directory, a free port on 127.0.0.1), `mlflow server` on it, a tiny
training run over HTTP, the generator registered and the champion alias moved."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import run_train, running_mlflow_server, stage_env, state, tiny_params
from tests.servers import free_port

pytestmark = pytest.mark.slow


def postgres_bin() -> Path | None:
    """The directory of PostgreSQL's server programs (Debian keeps them off PATH), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def as_server_user(directory: Path) -> list[str]:
    """PostgreSQL refuses to run as root (CI runs as root): then run it as Debian's `postgres` user."""
    if os.geteuid() != 0:
        return []
    shutil.chown(directory, "postgres", "postgres")
    return ["runuser", "-u", "postgres", "--"]


def run(command: list, what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{what} failed: {done.stderr[-2000:]}"


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server in a temporary directory, on a free port; yields the URI of an empty database."""
    binaries = postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql); .ci/run installs it")
    # Under /tmp itself: the `postgres` user cannot enter pytest's root-only temporary directories.
    root = Path(tempfile.mkdtemp(prefix="fashion-dcgan-pg-"))
    prefix = as_server_user(root)
    data, port = root / "data", free_port()
    try:
        run([*prefix, binaries / "initdb", "-D", data, "-U", "mlflow", "-A", "trust", "--no-sync"], "initdb")
        server = subprocess.Popen(
            [*prefix, binaries / "postgres", "-D", data, "-p", str(port), "-k", root,
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            ready = [binaries / "pg_isready", "-h", "127.0.0.1", "-p", str(port)]
            while subprocess.run(ready, capture_output=True).returncode:
                assert server.poll() is None, server.stderr.read()[-2000:]
                assert time.monotonic() < deadline, "PostgreSQL did not start"
                time.sleep(0.3)
            run([binaries / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "mlflow", "mlflow"], "createdb")
            yield f"postgresql://mlflow@127.0.0.1:{port}/mlflow"
        finally:
            server.terminate()
            server.wait(timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_training_and_the_registry_on_a_postgresql_store(project, tmp_path):
    from fashion_dcgan.modelfiles import load_generator
    from fashion_dcgan.serving.model_registry import register_generator
    from fashion_dcgan.tracking import CHAMPION, REGISTERED_MODEL

    with throwaway_postgres() as database, running_mlflow_server(database, tmp_path / "art") as url:
        done = run_train(project, env=stage_env(project, MLFLOW_TRACKING_URI=url))
        assert done.returncode == 0, done.stderr[-3000:]
        client = MlflowClient(url, registry_uri=url)
        run_id = state(project)["mlflow_run_id"]
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and len(client.get_metric_history(run_id, "epoch/d_loss")) == 3

        # A second run, trained in this process against the same server.
        import numpy as np

        from fashion_dcgan.tracking import RunLogger
        from fashion_dcgan.training.loop import TrainingPaths, train

        images = np.load(project / "data" / "processed" / "train_images.npy")[:64]
        trained = train(tiny_params(seed=2), images, TrainingPaths.under(tmp_path / "other"),
                        lambda run: RunLogger(url, run), verbose=0)  # fmt: skip

        generator = project / "models" / "generator.keras"
        first, _, _ = register_generator(RunLogger(url, run_id, reopen=False), lambda: load_generator(generator), 300.0)
        assert client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION).version == first
        later = RunLogger(url, trained.run_id, reopen=False)
        second, _, _ = register_generator(later, lambda: trained.sampler, 200.0)  # a better evaluation moves the alias
        assert second != first
        assert client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION).version == second
        assert client.get_model_version(REGISTERED_MODEL, second).tags["fid"] == "200"
        versions = client.search_model_versions(f"name = '{REGISTERED_MODEL}'")
        assert len(versions) == 2 and not (project / "mlflow.db").exists()
