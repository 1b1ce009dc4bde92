"""Per-epoch training checkpoints that survive a kill at any moment, and heal when one is damaged.

Each checkpoint ``epoch-NNNN`` is TensorFlow's shards (written under temporary names and renamed
into place) plus ``epoch-NNNN.json``, the training state, written atomically after them: a
checkpoint without its state file is incomplete and never used. The newest ``keep`` complete
checkpoints are kept, so when the newest cannot be restored (a truncated shard, an unreadable
state file), training falls back to the one before it. ``state.json`` mirrors the newest state
for people and tools; restoring does not depend on it.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from fashion_dcgan.errors import first_line
from fashion_dcgan.files import write_error, write_json

log = logging.getLogger(__name__)
STATE_FILE = "state.json"
# The MLflow run last opened for this directory, written before its first epoch: a run killed before
# its first checkpoint is otherwise known to no file, and would stay RUNNING in the store for good.
OPENED_FILE = "opened_run.json"
_NAME = re.compile(r"^(epoch-\d{4})\.")


class TrainingCheckpoint:
    """Reads from ``directory``; writes there too unless ``write_directory`` is given.

    A non-chief multi-worker replica resumes from the chief's checkpoint but must still take part in
    every save (variables synchronised on read are all-reduced), so it writes to a scratch directory.
    """

    def __init__(
        self, directory: str | Path, variables: list[Any], write_directory: str | Path | None = None, keep: int = 2
    ):
        self.directory = Path(directory)
        self.write_directory = Path(write_directory) if write_directory else self.directory
        self.keep = keep
        self._variables = list(variables)
        # Every variable of both models, both optimizers (slots, loss scale), the generator's moving
        # average and the RNG states, in their deterministic creation order.
        self._checkpoint = tf.train.Checkpoint(variables=self._variables)

    def states(self) -> list[dict[str, Any]]:
        """The state of every complete checkpoint, newest first; unreadable state files are skipped."""
        states = []
        for path in sorted(self.directory.glob("epoch-*.json"), reverse=True):
            try:
                state = json.loads(path.read_text())
                state["checkpoint"] = path.stem
                states.append(state)
            except (OSError, ValueError) as error:
                log.warning("checkpoint %s: unreadable state file (%s); falling back to an older one", path.stem, error)
        return states

    def restore_newest(self, params_hash: str, max_epoch: int, why: str = "") -> tuple[dict[str, Any] | None, set[str]]:
        """Load the newest checkpoint of this configuration that restores; return its state (None: start
        fresh) and the MLflow runs of checkpoints from another configuration, which it supersedes. ``why``
        is added to the warning that the recipe changed (what else makes a configuration)."""
        states = self.states()
        other = {s["mlflow_run_id"] for s in states if s.get("params_hash") != params_hash and s.get("mlflow_run_id")}
        mine = [s for s in states if s.get("params_hash") == params_hash]
        if states and not mine:
            log.warning(
                "the recipe changed since the %d checkpoint(s) in %s were written (MLflow run %s): "
                "they are discarded and training starts fresh%s",
                len(states), self.directory, ", ".join(sorted(other)) or "unknown", why,
            )  # fmt: skip
        initial = [np.array(variable) for variable in self._variables]
        for state in mine:
            if state["epoch"] > max_epoch:
                log.info("checkpoint is at epoch %d, past train.epochs=%d; starting fresh", state["epoch"], max_epoch)
                other.add(state.get("mlflow_run_id"))
                break
            try:
                self.restore(state["checkpoint"])
            except Exception as error:  # TensorFlow raises many types for a damaged checkpoint
                log.warning(
                    "checkpoint %s cannot be restored (%s); falling back to an older one",
                    state["checkpoint"],
                    first_line(error, 200),
                )
                continue
            return state, other - {state.get("mlflow_run_id"), None}
        if mine:
            log.warning("no checkpoint of this configuration could be restored; starting fresh")
        # A failed restore may have loaded part of a checkpoint: put the fresh initial values back.
        for variable, value in zip(self._variables, initial, strict=True):
            variable.assign(value)
        return None, other - {None}

    def opened_run(self) -> str | None:
        """The MLflow run last opened for this directory (None when none was, or the note is unreadable)."""
        try:
            run_id = json.loads((self.directory / OPENED_FILE).read_text()).get("mlflow_run_id")
        except (OSError, ValueError, AttributeError):
            return None
        return run_id if isinstance(run_id, str) else None

    def note_opened(self, run_id: str) -> None:
        self.write_directory.mkdir(parents=True, exist_ok=True)
        write_json(self.write_directory / OPENED_FILE, {"mlflow_run_id": run_id})

    def restore(self, name: str) -> None:
        """Load the variables of checkpoint ``name`` (``epoch-NNNN``)."""
        self._checkpoint.read(str(self.directory / name)).assert_existing_objects_matched()

    def clear(self) -> None:
        if self.write_directory.exists():
            shutil.rmtree(self.write_directory)
        self.write_directory.mkdir(parents=True)

    def save(self, state: dict[str, Any]) -> None:
        directory = self.write_directory
        name = f"epoch-{state['epoch']:04d}"
        try:
            self._checkpoint.write(str(directory / name))
        except (tf.errors.OpError, OSError) as error:
            for partial in directory.glob(f"{name}[._]*"):  # shards, and TensorFlow's *_temp folder
                shutil.rmtree(partial) if partial.is_dir() else partial.unlink(missing_ok=True)
            raise write_error(directory / name, error) from None
        write_json(directory / f"{name}.json", state)
        write_json(directory / STATE_FILE, {**state, "checkpoint": name})
        complete = sorted({path.stem for path in directory.glob("epoch-*.json")}, reverse=True)
        kept = set(complete[: self.keep])
        for path in directory.glob("epoch-*"):
            match = _NAME.match(path.name)
            if match and match.group(1) not in kept:
                path.unlink()
