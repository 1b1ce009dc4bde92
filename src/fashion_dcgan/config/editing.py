"""Writing params.yaml for the CLI (``preset``, ``reproduce``), keeping its comments and layout: the
whole recipe as its files spell it, or a tracked run's params. Not read by the stages."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from fashion_dcgan.config.loading import load_params, parse_params
from fashion_dcgan.config.recipes import recipe, recipe_chain
from fashion_dcgan.config.schema import Params, RuntimeParams, flatten, union_members, yaml_value
from fashion_dcgan.errors import ParamsError, first_line


def params_from_run(flat: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Rebuild the params.yaml sections from a run's logged ``section.key`` (or ``section.group.key``) params.

    Logged names that are not params (resolved settings such as ``train.steps_per_epoch``) are skipped.
    """
    import yaml

    def keys_of(annotation: Any) -> dict[str, Any]:
        # A union selected by name (model.objective) takes the keys of all its members.
        members = union_members(annotation).values() or [annotation]
        return {key: field for member in members for key, field in getattr(member, "model_fields", {}).items()}

    nested: dict[str, Any] = {}
    for name, text in flat.items():
        *path, key = name.split(".")
        model: Any = Params
        for part in path:
            fields = keys_of(model)
            model = fields[part].annotation if part in fields else None
        if key not in keys_of(model):
            continue
        target = nested
        for part in path:
            target = target.setdefault(part, {})
        try:  # the safe loader builds plain values only, never Python objects
            target[key] = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ParamsError(
                f"logged param {name}: not a plain YAML value ({first_line(error)}): {text[:80]!r}"
            ) from None
    return nested


def write_params(path: Path, overrides: dict[str, Any], comments: dict[tuple[str, ...], Any] | None = None) -> None:
    """Set ``overrides`` (nested sections) in params.yaml, keeping its comments, layout and every value that
    does not change. A key that is new to the file takes its comment from ``comments`` (by key path, as
    :func:`recipe_comments` reads them); comments stay aligned in their column."""
    from fashion_dcgan.files import atomic_path

    yaml = _round_trip_yaml()
    comments = comments or {}
    if not path.parent.is_dir():
        raise ParamsError(f"--params {path}: the folder {path.parent} does not exist; create it first")
    try:
        document = yaml.load(path.read_text()) if path.exists() else {}
    except Exception as error:
        raise ParamsError(f"{path}: cannot read ({' '.join(str(error).split())})") from None

    def merge_into(target, values, where: tuple[str, ...]) -> None:
        # Only what differs is written: an equal value keeps its spelling (1.0e-3) and its comment.
        for key, value in values.items():
            current = target.get(key)
            if isinstance(value, dict) and isinstance(current, dict):
                if "name" in value and current.get("name") != value["name"]:
                    for stale in [k for k in current if k not in value]:  # another objective's settings
                        del current[stale]
                merge_into(current, value, (*where, key))
            elif key not in target or current != value or isinstance(current, bool) != isinstance(value, bool):
                new = key not in target
                target[key] = value
                comment = comments.get((*where, key))
                if new and comment and hasattr(target, "ca"):
                    target.ca.items[key] = comment

    merge_into(document, overrides, ())
    text = io.StringIO()
    yaml.dump(document, text)
    with atomic_path(path) as tmp:
        tmp.write_text(align_comments(text.getvalue()))


COMMENT_COLUMN = 27  # where params.yaml's end-of-line comments start (two spaces after a longer line)


def align_comments(text: str) -> str:
    """``text`` with each ``key: value  # comment`` line's comment moved to :data:`COMMENT_COLUMN`."""
    lines = []
    for line in text.splitlines(keepends=True):
        match = re.fullmatch(r"( *-? *[A-Za-z_][\w]*:(?: [^#'\"\n]*?)?) +(# [^\n]*)(\n?)", line)
        if match:
            code, comment, end = match.groups()
            pad = COMMENT_COLUMN - len(code)
            line = code + " " * (pad if pad >= 1 else 2) + comment + end
        lines.append(line)
    return "".join(lines)


def recipe_as_written(name: str, runtime: bool = False) -> tuple[dict[str, Any], dict[tuple[str, ...], Any]]:
    """What ``preset name`` writes: every key of model and train (the seed excepted), and with ``runtime``
    the runtime section, each value spelt as its recipe file spells it (1.0e-3); and the files'
    end-of-line comments by key path, a child's winning over its parents'."""
    raw = recipe(name)
    resolved = parse_params(raw).model_dump(include={"model", "train"}, exclude={"train": {"seed"}})
    if runtime:
        resolved["runtime"] = {**RuntimeParams().model_dump(), **raw.get("runtime", {})}
    spelt: dict[tuple[str, ...], Any] = {}
    comments: dict[tuple[str, ...], Any] = {}

    def collect(mapping, where: tuple[str, ...]) -> None:
        for key, value in mapping.items():
            if mapping.ca.items.get(key):
                comments[(*where, key)] = mapping.ca.items[key]
            if isinstance(value, dict):
                collect(value, (*where, key))
            else:
                spelt[(*where, key)] = value

    for path, _ in recipe_chain(name):
        collect(round_trip(path), ())

    def respell(values: dict[str, Any], where: tuple[str, ...]) -> dict[str, Any]:
        out = {}
        for key, value in values.items():
            written = spelt.get((*where, key))
            if isinstance(value, dict):
                out[key] = respell(value, (*where, key))
            else:  # a bool is never spelt as the int it equals
                same = written == value and isinstance(written, bool) == isinstance(value, bool)
                out[key] = written if same else value
        return out

    return respell(resolved, ()), comments


def _round_trip_yaml():
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip: keeps comments and the spelling of numbers
    yaml.indent(mapping=2, sequence=4, offset=2)  # params.yaml's own layout
    yaml.representer.add_representer(
        type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


def round_trip(path: Path) -> Any:
    """A YAML file as ruamel's round-trip mappings, which remember each value's spelling and comment."""
    return _round_trip_yaml().load(path.read_text())


def preset_overrides(name: str, runtime: bool = False) -> dict[str, str]:
    """The preset as ``dvc exp run -S key=value`` settings: what ``preset`` writes. A section chosen by
    name (``model.objective``) is one YAML flow mapping, since another objective's settings must not be
    merged into it."""
    values, _ = recipe_as_written(name, runtime)
    return {key: yaml_value(value) for key, value in flatten(values, keep_selected=True).items()}


def write_preset(name: str, path: Path, runtime: bool = False) -> list[str]:
    """Write recipe ``name`` into the params file at ``path``: every key of model and train (the seed
    excepted), so that no key of an earlier preset survives; runtime holds machine settings and is written
    only when ``runtime``. Returns what was done, a line each: the same as an experiment, and the
    recipe's machine settings when they were left out."""
    import shlex

    values, comments = recipe_as_written(name, runtime)
    write_params(path, values, comments)
    load_params(path)  # the result must still be valid
    settings = " ".join(shlex.quote(f"-S{key}={value}") if " " in value or '"' in value else f"-S {key}={value}"
                        for key, value in preset_overrides(name, runtime).items())  # fmt: skip
    lines = [f"wrote the {name} preset to {path}; the same as an experiment: dvc exp run {settings}"]
    machine = recipe(name).get("runtime", {})
    if machine and not runtime:
        chosen = ", ".join(f"runtime.{key}: {yaml_value(value)}" for key, value in machine.items())
        lines.append(f"left runtime as it was; the recipe was measured with {chosen} (--runtime writes it)")
    return lines


def restore_run_params(run_id: str, path: Path) -> list[str]:
    """Write the params an MLflow run was trained with into ``path``, checked. Returns what was done and
    how to get the run's code and data back, a line each. An unknown id is an error, not a new run."""
    from fashion_dcgan.tracking import EPOCHS_TAG, RunLogger, tracking_uri

    run = RunLogger(tracking_uri(), reopen=False, run_id=run_id)
    info = run.client.get_run(run_id)
    restored = params_from_run(dict(info.data.params))
    tags = info.data.tags
    if EPOCHS_TAG in tags:  # a resumed run trained longer than its logged train.epochs
        restored["train"]["epochs"] = int(tags[EPOCHS_TAG])
    parse_params(restored, f"params of run {run_id}")
    write_params(path, restored)
    commit = tags.get("git_commit", "unknown")
    return [
        f"wrote the params of run {run_id} to {path}",
        f"git commit: {commit}  (to get that code: git checkout {commit} -- src dvc.yaml)",
        *(f"{key.removeprefix('data.sha256.')}: sha256 {tags[key]}" for key in sorted(tags)
          if key.startswith("data.sha256.")),
        "now run: dvc repro",
    ]  # fmt: skip
