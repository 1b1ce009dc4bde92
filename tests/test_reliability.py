"""Faults a user will meet: kills, interrupted checkpoints, bad params, unreachable tracking, read-only
outputs, concurrent runs, unsafe model files, exposed ports. Stage-level tests run the real entry points
in subprocesses on a tiny synthetic project."""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from fashion_dcgan.errors import TrackingError
from fashion_dcgan.tracking import check_reachable
from tests.conftest import REPO, run_train, stage_env, state, train_cmd


def wait_for_epoch(project: Path, process: subprocess.Popen, epoch: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while state(project).get("epoch", 0) < epoch:
        assert process.poll() is None, process.stderr.read() if process.stderr else "process ended"
        assert time.monotonic() < deadline, "training did not reach the epoch in time"
        time.sleep(0.1)


def one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr[-2000:]
    return errors[0]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_mid_epoch_resumes_from_last_completed_epoch(project, sig):
    process = subprocess.Popen(
        train_cmd(), cwd=project, env=stage_env(project), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    wait_for_epoch(project, process, 1)
    time.sleep(0.3)  # into epoch 2
    process.send_signal(sig)
    process.wait(timeout=120)
    assert process.returncode != 0
    completed = state(project)["epoch"]
    run_id = state(project)["mlflow_run_id"]
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    if sig == signal.SIGTERM:
        run = client.get_run(run_id)
        assert run.info.status == "KILLED" and "interrupted" in run.data.tags["failure_reason"]

    rerun = run_train(project)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming from the checkpoint after epoch {completed}" in rerun.stderr
    history = client.get_metric_history(run_id, "epoch/d_loss")
    assert sorted(m.step for m in history) == [1, 2, 3]  # one history, no duplicate epochs
    assert client.get_run(run_id).info.status == "FINISHED"


def test_kill_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    import tensorflow as tf

    from fashion_dcgan.training import checkpoint as checkpoint_module
    from fashion_dcgan.training.checkpoint import TrainingCheckpoint

    weights = tf.Variable([1.0, 2.0])
    saver = TrainingCheckpoint(tmp_path, [weights])
    saver.clear()
    saver.save({"epoch": 1, "params_hash": "h"})
    weights.assign([5.0, 6.0])

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies after the shards, before their state file is written

    monkeypatch.setattr(checkpoint_module, "write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        saver.save({"epoch": 2, "params_hash": "h"})
    # Also a half-written shard of a later epoch lying around:
    (tmp_path / "epoch-0003.data-00000-of-00001").write_bytes(b"\x00" * 10)
    monkeypatch.undo()

    restored = tf.Variable([0.0, 0.0])
    loaded, _ = TrainingCheckpoint(tmp_path, [restored]).restore_newest("h", max_epoch=10)
    assert loaded["epoch"] == 1
    assert restored.numpy().tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"train": {"epochs": 0}}, "train.epochs"),
        ({"train": {"epochs": "ten"}}, "train.epochs"),
        ({"train": {"batch_size": 10_000}, "data": {"train_limit": 960}}, "train.batch_size"),
        ({"model": {"variant": "stylegan"}}, "model.variant"),
        ({"runtime": {"precision": "half"}}, "runtime.precision"),
        ({"train": {"learning_rat_d": 0.1}}, "train.learning_rat_d"),
    ],
)
def test_bad_params_fail_in_one_line_before_reading_data(tmp_path, params, key):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    # No data exists here: the error must be about params, not about missing data.
    done = run_train(tmp_path)
    assert done.returncode == 1
    line = one_line_error(done.stderr)
    assert key in line and "params.yaml" in line
    assert not (tmp_path / "models").exists()


def test_unreachable_tracking_server_fails_fast_before_training(project, closed_port_url):
    with pytest.raises(TrackingError, match="not reachable"):
        check_reachable(closed_port_url, timeout_s=2)
    started = time.monotonic()
    done = run_train(project, env=stage_env(project, MLFLOW_TRACKING_URI=closed_port_url))
    assert done.returncode == 1
    assert closed_port_url in one_line_error(done.stderr)
    assert not (project / "models" / "checkpoints" / "state.json").exists()
    assert time.monotonic() - started < 120  # MLflow's own retries would take minutes


def test_two_runs_share_one_sqlite_store(project):
    other = project / "second"
    shutil.copytree(project / "data", other / "data")
    shutil.copy(project / "params.yaml", other / "params.yaml")
    uri = f"sqlite:///{project / 'shared.db'}"
    env = stage_env(project, MLFLOW_TRACKING_URI=uri)
    runs = [
        subprocess.Popen(train_cmd(), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for cwd in (project, other)
    ]
    for process in runs:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
    client = MlflowClient(uri)
    for cwd in (project, other):
        run = client.get_run(state(cwd)["mlflow_run_id"])
        assert run.info.status == "FINISHED"
        assert len(client.get_metric_history(run.info.run_id, "epoch/g_loss")) == 3
        assert len(client.get_metric_history(run.info.run_id, "step/g_loss")) == 3 * 6


def _can_mount_read_only() -> bool:
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o ro tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


can_mount = pytest.mark.skipif(
    not shutil.which("unshare") or not _can_mount_read_only(), reason="needs unshare and mount"
)


def train_on_tmpfs(project: Path, options: str) -> subprocess.CompletedProcess:
    """The train stage with models/ on a tmpfs mounted with ``options``, in a fresh mount namespace."""
    (project / "models").mkdir()
    script = f"mount -t tmpfs -o {options} tmpfs {project / 'models'} && exec {shlex.join(train_cmd())}"
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=project, env=stage_env(project),
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@can_mount
def test_read_only_output_directory_gives_a_clear_error(project):
    done = train_on_tmpfs(project, "ro")
    assert done.returncode == 1
    line = one_line_error(done.stderr)
    assert "models" in line and "read-only" in line


def test_models_load_in_safe_mode_so_files_cannot_run_code(tmp_path):
    import keras

    from fashion_dcgan.errors import ModelFileError
    from fashion_dcgan.modelfiles import load_model

    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)])
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ModelFileError, match=r"lambda\.keras: cannot load model.*(safe_mode|unsafe|Lambda)"):
        load_model(tmp_path / "lambda.keras")


def test_documented_servers_bind_to_loopback_only():
    found = []
    for path in [REPO / "README.md", REPO / "Makefile", *sorted((REPO / "docs").glob("*.md"))]:
        commands = re.findall(r"mlflow (?:ui|server) -[^\n`]*", path.read_text())  # commands, not prose
        found += commands
        for command in commands:
            assert "--host 127.0.0.1" in command, (path.name, command)
    assert len(found) >= 2, found


def test_a_warning_during_fit_starts_on_its_own_line(project):
    """In a terminal, the collapse monitor's warning is not glued to the end of the progress bar."""
    import os
    import pty

    import numpy as np

    from fashion_dcgan.evaluation.classifier import train_classifier
    from fashion_dcgan.modelfiles import save_model

    images, labels = (np.load(project / "data/processed" / f"test_{kind}.npy") for kind in ("images", "labels"))
    save_model(train_classifier(images, labels, 1, 25, 0, verbose=0), project / "models/classifier.keras")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"].update(epochs=1)
    params["runtime"].update(monitor_samples=50)
    params["evaluate"] = {"min_classes_covered": 10}  # an untrained generator is flagged
    (project / "params.yaml").write_text(yaml.safe_dump(params))

    leader, follower = pty.openpty()  # Keras draws its dynamic progress bar only on a terminal
    child = subprocess.Popen(train_cmd(), cwd=project, env=stage_env(project), stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert child.wait(timeout=300) == 0
    screen = re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode(errors="replace"))
    # A terminal ends lines with \r\n; the progress bar redraws its line after a bare \r.
    warnings = [line.rstrip("\r").split("\r")[-1] for line in screen.split("\n") if "possible mode collapse" in line]
    assert warnings, screen[-2000:]
    assert all(line.startswith("WARNING") for line in warnings), warnings


@can_mount
@pytest.mark.slow
def test_a_full_disk_fails_each_write_in_one_line_and_keeps_the_previous_file(tmp_path):
    """Checkpoint, model and report writes on a 64 KiB file system (tmpfs), in a fresh mount namespace."""
    disk = tmp_path / "disk"
    disk.mkdir()
    script = f"""
import sys
import numpy as np, tensorflow as tf
from fashion_dcgan.training.checkpoint import TrainingCheckpoint
from fashion_dcgan.errors import OutputError
from fashion_dcgan.files import write_text
from fashion_dcgan.modelfiles import save_model
from fashion_dcgan.gan.networks import build_generator
disk = {str(disk)!r}
write_text(disk + "/index.html", "previous report")
attempts = [
    ("report", lambda: write_text(disk + "/index.html", "x" * 200_000)),
    ("model", lambda: save_model(build_generator("tutorial", 100, 128), disk + "/generator.keras")),
    ("checkpoint", lambda: TrainingCheckpoint(disk + "/ckpt", [tf.Variable(np.zeros(100_000))]).save({{"epoch": 1}})),
]
for name, attempt in attempts:
    try:
        attempt()
        print(name, "WROTE")
    except OutputError as error:
        print(name, "|", error)
import os
print("left", sorted(os.listdir(disk)), sorted(os.listdir(disk + "/ckpt")))
print("kept", open(disk + "/index.html").read())
"""
    command = f"mount -t tmpfs -o size=64k tmpfs {disk} && exec {sys.executable} -c {shlex.quote(script)}"
    done = subprocess.run(["unshare", "-rm", "sh", "-c", command], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(" | ", 1) for line in done.stdout.splitlines() if " | " in line)
    assert set(lines) == {"report", "model", "checkpoint"}, done.stdout
    for name, target in (("report", "index.html"), ("model", "generator.keras"), ("checkpoint", "epoch-0001")):
        assert target in lines[name] and "No space left on device" in lines[name], lines[name]
        assert "free some disk space and rerun" in lines[name]
    # Nothing half-written is left beside the previous report, which is intact.
    assert "left ['ckpt', 'index.html'] []" in done.stdout and "kept previous report" in done.stdout


def test_a_corrupt_tracking_database_fails_in_one_line(project):
    (project / "mlflow.db").write_bytes(b"this is not an SQLite database" * 100)
    done = run_train(project)
    assert done.returncode == 1
    line = one_line_error(done.stderr)
    assert "mlflow.db" in line and "move" in line and "aside" in line
    assert not (project / "models" / "checkpoints").exists() or not any((project / "models/checkpoints").iterdir())


@pytest.fixture
def stuck_server():
    """Answers /health at once and every API call never (well, after 90 s): a server that hangs. Yields its
    URL and the list of API calls it received."""
    import http.server
    import threading

    calls: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _serve(self):
            if self.path.rstrip("/").endswith("/health"):
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")
            else:
                calls.append(self.path)
                time.sleep(90)

        do_GET = do_POST = _serve

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", calls
    finally:
        server.shutdown()
        server.server_close()


def test_a_stuck_tracking_server_is_given_up_after_its_bounded_tries(project, stuck_server):
    """Counted, not timed: the stage tries the first call 1 + MLFLOW_HTTP_REQUEST_MAX_RETRIES times, each
    bounded by the request timeout (shortened here so that the test is quick on any machine), then stops."""
    from fashion_dcgan.tracking import HTTP_LIMITS

    url, calls = stuck_server
    env = stage_env(project, MLFLOW_TRACKING_URI=url, MLFLOW_HTTP_REQUEST_TIMEOUT="2")
    done = run_train(project, env=env)
    assert done.returncode == 1
    line = one_line_error(done.stderr)
    assert url in line and "check the server" in line
    tries = 1 + int(HTTP_LIMITS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"])
    assert len(calls) == tries and len(set(calls)) == 1, calls  # the same first call, tried exactly that often


@pytest.mark.slow
def test_debug_shows_the_full_traceback(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"train": {"epochs": 0}}))
    quiet = run_train(tmp_path)
    loud = run_train(tmp_path, "--debug")
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr
    assert loud.returncode == 1 and "Traceback" in loud.stderr and "ParamsError" in loud.stderr


@can_mount
def test_the_train_stage_on_a_full_disk_fails_in_one_line_and_marks_the_run_failed(project):
    done = train_on_tmpfs(project, "size=64k")
    assert done.returncode == 1
    line = one_line_error(done.stderr)
    assert "models/" in line and "No space left on device" in line and "free some disk space" in line
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("fashion-dcgan").experiment_id])
    assert run.info.status == "FAILED" and "No space left on device" in run.data.tags["failure_reason"]


def test_a_sigterm_swallowed_where_it_landed_still_stops_training():
    """Python may run the handler inside a garbage-collection callback, which ignores the exception."""
    import os

    from fashion_dcgan.training.callbacks import StopOnSignal
    from fashion_dcgan.training.runtime import Terminated, sigterm_as_interrupt

    with pytest.raises(Terminated), sigterm_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs here and raises...
        except Terminated:
            pass  # ...and something swallows it, as a weakref callback would
        with pytest.raises(Terminated, match="received signal 15"):
            StopOnSignal().on_train_batch_end(0)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def _wrapped(inner: BaseException) -> Exception:
    """An error as MLflow raises it: its own exception, caused by SQLAlchemy's, caused by sqlite3's."""
    try:
        try:
            raise inner
        except BaseException as cause:
            raise RuntimeError(f"(sqlite3.OperationalError) {cause}") from cause
    except RuntimeError as middle:
        try:
            raise Exception("API request failed") from middle
        except Exception as outer:
            return outer


def test_store_errors_get_advice_for_what_failed_and_only_damage_says_move_it_aside(tmp_path):
    import errno
    import sqlite3

    from fashion_dcgan.tracking import store_hint

    healthy = tmp_path / "mlflow.db"
    with sqlite3.connect(healthy) as connection:
        connection.execute("create table runs (id text)")
    uri = f"sqlite:///{healthy}"
    locked = store_hint(uri, _wrapped(sqlite3.OperationalError("database is locked")))
    assert "another process" in locked and "wait" in locked and "aside" not in locked
    full = store_hint(uri, _wrapped(OSError(errno.ENOSPC, "No space left on device")))
    assert "disk is full" in full and "aside" not in full
    assert "disk is full" in store_hint(uri, _wrapped(sqlite3.OperationalError("database or disk is full")))
    other = store_hint(uri, _wrapped(ValueError("something else")))
    assert "aside" not in other and "--debug" in other

    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"this is not an SQLite database" * 100)
    hint = store_hint(f"sqlite:///{damaged}", _wrapped(sqlite3.DatabaseError("file is not a database")))
    assert f"{damaged} is damaged" in hint and "move it aside" in hint


@pytest.mark.parametrize("run_id", ["deadbeef", ""])
def test_reproduce_with_an_unknown_run_opens_no_run(tmp_path, monkeypatch, capsys, run_id):
    from mlflow import MlflowClient

    from fashion_dcgan.cli import main

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(uri)
    experiment = client.create_experiment("fashion-dcgan")
    client.set_terminated(client.create_run(experiment).info.run_id)
    params = tmp_path / "params.yaml"
    with pytest.raises(SystemExit) as stop:
        main(["reproduce", run_id, "--params", str(params)])
    err = capsys.readouterr().err  # after MLflow's own INFO lines from setting up this test's store
    assert stop.value.code == 1 and len([line for line in err.splitlines() if line.startswith("error:")]) == 1
    assert "Traceback" not in err
    assert ("is not in" in err) if run_id else ("no MLflow run id given" in err)
    runs = client.search_runs([experiment])
    assert len(runs) == 1 and all(run.info.status == "FINISHED" for run in runs) and not params.exists()


def test_a_store_deleted_after_training_is_one_line_and_creates_nothing(tmp_path):
    """The register stage (as evaluate) attaches to the training run: with the store gone it says how to
    fix it and neither creates a new store nor leaves an orphan run."""
    from tests.conftest import stage_cmd, stage_env

    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "train_metrics.json").write_text('{"mlflow_run_id": "0123456789abcdef0123456789abcdef"}')
    (reports / "metrics.json").write_text('{"fid": 100.0}')
    done = subprocess.run(stage_cmd("register"), cwd=tmp_path, env=stage_env(tmp_path), capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "there is no store at" in done.stderr and "dvc repro -f -s train" in done.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (reports / "registration.json").exists()


def test_a_run_missing_from_an_existing_store_is_refused_before_any_write(tmp_path):
    from mlflow import MlflowClient

    from fashion_dcgan.errors import TrackingError
    from fashion_dcgan.tracking import RunLogger

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = MlflowClient(uri).create_experiment("fashion-dcgan")
    with pytest.raises(TrackingError, match=r"is not in .*dvc repro -f -s train"):
        RunLogger(uri, "0123456789abcdef0123456789abcdef", reopen=False)
    assert MlflowClient(uri).search_runs([experiment]) == []
