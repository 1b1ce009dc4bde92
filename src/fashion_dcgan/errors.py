"""Errors a user can act on. Entry points print them as one line, without a traceback."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import TypeVar


class PipelineError(Exception):
    """Base class: the message alone tells the user what is wrong and what to do."""


class ParamsError(PipelineError, ValueError):
    """params.yaml is missing, unreadable or does not match the schema."""


class DataError(PipelineError):
    """A data file is missing, corrupt or cannot be fetched."""


class OutputError(PipelineError, OSError):
    """An output location cannot be written."""


class ModelFileError(PipelineError):
    """A saved model is missing, corrupt or of the wrong shape."""


class TrackingError(PipelineError):
    """The MLflow tracking store cannot be reached."""


class TrainingDiverged(PipelineError):
    """A loss became NaN or infinite."""


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, or its type's name; a longer line is cut at the last
    word that fits in ``limit`` characters, and ends with an ellipsis."""
    text = str(error).strip()
    if not text:
        return type(error).__name__
    line = text.splitlines()[0]
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:(") + "…"


F = TypeVar("F", bound=Callable[..., object])


DEBUG_VARIABLE = "FASHION_DCGAN_DEBUG"


def debugging() -> bool:
    """``FASHION_DCGAN_DEBUG=1`` (or ``--debug``): show full tracebacks instead of one-line errors."""
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def entry_point(func: F) -> F:
    """Run ``func`` as a command: set up logging, turn PipelineError into a one-line message and exit 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        if "--debug" in sys.argv[1:]:
            os.environ[DEBUG_VARIABLE] = "1"
        if not debugging():
            from fashion_dcgan.logs import quiet_libraries, quiet_tensorflow

            quiet_tensorflow()  # TensorFlow's C++ start-up chatter (CUDA probing, CPU flags) is noise for a user
            quiet_libraries()
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("fashion_dcgan").setLevel(logging.INFO)
        try:
            return func(*args, **kwargs)
        except PipelineError as error:
            if debugging():
                raise
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(1) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise SystemExit(130) from None

    return wrapper  # type: ignore[return-value]
