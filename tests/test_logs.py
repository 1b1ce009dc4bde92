"""Quiet by default: a command that loads TensorFlow prints none of its C++ start-up lines, unless debugging."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fashion_dcgan.logs import filtered_stderr

COMMAND = """
from fashion_dcgan.errors import entry_point

@entry_point
def main():
    import tensorflow as tf
    print(int(tf.reduce_sum(tf.ones(3))))

main()
"""


def run(**env: str) -> subprocess.CompletedProcess:
    variables = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "FASHION_DCGAN_DEBUG")}
    return subprocess.run([sys.executable, "-c", COMMAND], env={**variables, **env}, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


@pytest.mark.slow
def test_tensorflow_start_up_lines_are_hidden_and_shown_with_debug():
    quiet = run()
    assert quiet.returncode == 0 and quiet.stdout.strip() == "3"
    assert "I0000" not in quiet.stderr and "E0000" not in quiet.stderr and "absl" not in quiet.stderr, quiet.stderr
    loud = run(FASHION_DCGAN_DEBUG="1")
    assert loud.returncode == 0 and "I0000" in loud.stderr, loud.stderr


def test_only_the_noise_is_filtered(capfd):
    with filtered_stderr():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 00:00:1796168490.083278    6404 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"F0000 00:00:1796168490.083278    6404 kernel.cc:12] a fatal check failed\n")
        os.write(2, b"a real problem\n")
    err = capfd.readouterr().err
    assert "oneDNN" not in err and "absl" not in err
    assert "a fatal check failed" in err and "a real problem" in err


THIRD_PARTY = """
import sys
from fashion_dcgan.errors import entry_point

@entry_point
def main():
    import numpy as np
    import mlflow
    from fashion_dcgan.data.validation import DataSpec, validate

    images = np.zeros((20, 28, 28, 1), np.float32)
    validate([(images, np.arange(20) % 10, DataSpec("train_processed", 20, -1, 1, "float32", 1, 0.02))])
    mlflow.set_tracking_uri(f"sqlite:///{sys.argv[1]}")
    mlflow.search_experiments()

main()
"""


@pytest.mark.slow  # two processes that import Great Expectations and MLflow
def test_third_party_info_lines_are_hidden_and_shown_with_debug(tmp_path):
    """Great Expectations' temporary folder and MLflow creating its database are INFO noise to a user."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_LOGGING_LEVEL", "FASHION_DCGAN_DEBUG")}
    script = tmp_path / "third_party.py"
    script.write_text(THIRD_PARTY)

    def run(*flags: str) -> str:
        done = subprocess.run([sys.executable, str(script), str(tmp_path / f"mlflow{len(flags)}.db"), *flags],
                              capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout + done.stderr

    quiet, loud = run(), run("--debug")
    assert "Created temporary directory" in loud and "Creating initial MLflow database tables" in loud
    assert "Created temporary directory" not in quiet and "INFO mlflow" not in quiet, quiet
