"""Quiet by default: TensorFlow's C++ start-up lines (CUDA probing, oneDNN, CPU flags) are noise to a user.

``TF_CPP_MIN_LOG_LEVEL=3`` hides the ``E0000`` lines (such as "failed call to cuInit" on a machine
without a GPU), but TensorFlow prints some ``I0000`` lines "before absl::InitializeLog()", before it
reads the variable. Those are filtered out of the stderr file descriptor while TensorFlow is imported;
any other line written then still reaches the user. ``--debug`` or ``FASHION_DCGAN_DEBUG=1`` shows all.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator

# Lines TensorFlow writes while it loads: absl's INFO and WARNING lines, their preamble and the CPU
# feature guard's second line.
NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\] "
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.)"
)


@contextlib.contextmanager
def filtered_stderr(noise: re.Pattern[str] = NOISE) -> Iterator[None]:
    """Route file descriptor 2 to a temporary file for the block, then write back the lines that are not noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines() if not noise.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)


class _QuietImport(importlib.abc.MetaPathFinder):
    """Imports ``tensorflow`` (whenever that first happens) inside :func:`filtered_stderr`."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: the real finders locate it
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            load = spec.loader.exec_module

            def exec_module(module):
                with filtered_stderr():
                    load(module)

            spec.loader.exec_module = exec_module
        return spec


def quiet_tensorflow() -> None:
    """Hide TensorFlow's C++ log lines for this process; call before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


def quiet_libraries() -> None:
    """Third-party INFO lines (MLflow creating its database, exporting uv's lock; alembic) are hidden;
    call before MLflow is imported. Their warnings and errors still show."""
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


def quiet_loggers(package: str) -> None:
    """Lower every logger of ``package`` that set its own level below WARNING (Great Expectations sets
    INFO on some of its modules' loggers, e.g. for its temporary docs folder)."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        ours = name == package or name.startswith(f"{package}.")
        if ours and isinstance(logger, logging.Logger) and logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
