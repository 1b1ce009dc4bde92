"""Per-epoch training checkpoints that survive a kill at any moment.

TensorFlow writes each checkpoint's shards under temporary names and renames
them into place; ``state.json``, which names the checkpoint to resume from,
is replaced atomically only after that. A kill mid-save therefore leaves the
previous state and its checkpoint (always kept) intact.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import tensorflow as tf

from fashion_dcgan.files import write_json

log = logging.getLogger(__name__)
STATE_FILE = "state.json"


class TrainingCheckpoint:
    """Reads from ``directory``; writes there too unless ``write_directory`` is given.

    A non-chief multi-worker replica resumes from the chief's checkpoint but must still take part in
    every save (variables synchronised on read are all-reduced), so it writes to a scratch directory.
    """

    def __init__(self, directory: str | Path, variables: list[Any], write_directory: str | Path | None = None):
        self.directory = Path(directory)
        self.write_directory = Path(write_directory) if write_directory else self.directory
        # Every variable of both models, both optimizers (slots, loss scale)
        # and the RNG states, in their deterministic creation order.
        self._checkpoint = tf.train.Checkpoint(variables=list(variables))

    def load_state(self, params_hash: str) -> dict[str, Any] | None:
        """The saved state when it belongs to the same training configuration, else None."""
        path = self.directory / STATE_FILE
        if not path.exists():
            return None
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            log.warning("ignoring unreadable %s (%s); starting fresh", path, error)
            return None
        if state.get("params_hash") != params_hash:
            log.info("training configuration changed since the checkpoint; starting fresh")
            return None
        return state

    def restore(self, name: str) -> None:
        """Load the variables of checkpoint ``name`` (as recorded in the state's ``checkpoint``)."""
        self._checkpoint.read(str(self.directory / name)).assert_existing_objects_matched()

    def clear(self) -> None:
        if self.write_directory.exists():
            shutil.rmtree(self.write_directory)
        self.write_directory.mkdir(parents=True)

    def save(self, state: dict[str, Any]) -> None:
        directory = self.write_directory
        name = f"epoch-{state['epoch']:04d}"
        previous = self._current_name()
        self._checkpoint.write(str(directory / name))
        write_json(directory / STATE_FILE, {**state, "checkpoint": name})
        for stale in directory.glob("epoch-*"):
            if not stale.name.startswith((name + ".", f"{previous}.")):
                stale.unlink()

    def _current_name(self) -> str | None:
        try:
            return json.loads((self.write_directory / STATE_FILE).read_text()).get("checkpoint")
        except (OSError, ValueError):
            return None
