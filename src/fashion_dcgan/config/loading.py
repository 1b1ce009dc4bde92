"""Reading params.yaml: YAML without duplicate keys, validated against the schema with one-line errors
that name the key, and the read-only view a stage gets of what it declares."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from fashion_dcgan.config.schema import Params, RuntimeParams, _Section, schema_fields, union_members
from fashion_dcgan.errors import ParamsError

# Keys that an earlier params.yaml had, and where they live now.
MOVED = {
    **{f"train.{key}": f"runtime.{key}" for key in RuntimeParams.model_fields},
    "train.label_smoothing": "model.objective.label_smoothing (objective bce)",
    "model.r1_gamma": "model.objective.gamma (objective r1)",
    "train.optimizer": "nowhere: the optimizer is always Adam; delete the key",
}


def _key_name(loc: tuple) -> str:
    """The dotted params key of an error location; the parts after it name list items."""
    model: Any = Params
    names = []
    for part in loc:
        if part in union_members(model):  # pydantic puts the selected member's name into the location
            model = union_members(model)[part]
            continue
        fields = getattr(model, "model_fields", None)
        if not fields:
            break
        names.append(str(part))  # a field, or an unknown key of a section
        if part not in fields:
            break
        model = fields[part].annotation
    return ".".join(names)


def _bound_reason(key: str) -> str:
    """The sentence of a field's description that says why its upper bound is where it is ("At most ..."), if any."""
    field = dict(schema_fields()).get(key)
    description = " ".join((field.description or "").split()) if field is not None else ""
    reason = next((part for part in re.split(r"(?<=\.)\s+", description) if part.startswith("At most")), "")
    reason = re.sub(r"^At most [0-9,]+[:,.]?\s*", "", reason)
    return f": {reason}" if reason else ""


def _describe(error: ValidationError) -> str:
    messages: dict[str, list[str]] = {}
    for item in error.errors():
        key = _key_name(item["loc"])
        if not key:
            text = item["msg"].removeprefix("Value error, ")
        elif item["type"] == "union_tag_invalid":
            text = f"unknown name {item['ctx']['tag']!r}; choose one of {item['ctx']['expected_tags']}"
        elif item["type"] == "extra_forbidden" and key in MOVED:
            text = f"moved to {MOVED[key]}"
        elif item["type"] == "extra_forbidden":
            text = "unknown key (check its spelling against the documented params.yaml)"
        else:
            got = item.get("input")
            text = item["msg"].removeprefix("Value error, ") + ("" if isinstance(got, dict) else f" (got {got!r})")
            if item["type"] in ("less_than_equal", "less_than"):
                text += _bound_reason(key)
        messages.setdefault(key, []).append(text)
    return "; ".join(f"{key}: {' or '.join(texts)}" if key else " ".join(texts) for key, texts in messages.items())


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ParamsError(f"{source}: {_describe(error)}") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that rejects a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def read_yaml(path: str | Path) -> Any:
    """A YAML file's content; a missing file, bad syntax or a duplicated key is a one-line ParamsError."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ParamsError(f"{path}: cannot read ({error.strerror})") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from None


def load_params(path: str | Path = "params.yaml", reads: tuple[str, ...] | None = None) -> Params:
    """The validated params; with ``reads``, a view that allows only those sections and keys.

    Each stage passes the ``params:`` list of its dvc.yaml stage as ``reads``: reading anything else
    is an error, because DVC would not rerun the stage when that key changed.
    """
    params = parse_params(read_yaml(path), str(path))
    return params if reads is None else ParamsView(params, reads)  # type: ignore[return-value]


class ParamsView:
    """Read-only access to the declared part of a :class:`Params`; its methods work on that part."""

    def __init__(self, params: Params, reads: tuple[str, ...]):
        self._params = params
        self._reads = frozenset(reads)

    def _check(self, dotted: str) -> None:
        if not any(
            dotted == key or dotted.startswith(key + ".") or key.startswith(dotted + ".") for key in self._reads
        ):
            raise ParamsError(
                f"{dotted} is read but not declared by this stage: add it to the stage's PARAMS and to its "
                "`params:` in dvc.yaml, so that changing it reruns the stage"
            )

    def __getattr__(self, name: str) -> Any:
        if name in Params.model_fields:
            self._check(name)
            return _SectionView(getattr(self._params, name), name, self)
        member = _rule(Params, name)
        if member is not None:  # a method or property of the params runs on the view, its reads checked
            return member.__get__(self)
        raise AttributeError(name)

    def model_dump(self) -> dict[str, Any]:
        dump = self._params.model_dump()
        return {
            section: {key: value for key, value in values.items() if self._declares(f"{section}.{key}")}
            for section, values in dump.items()
            if self._declares(section)
        }

    def _declares(self, dotted: str) -> bool:
        try:
            self._check(dotted)
        except ParamsError:
            return False
        return True


def _rule(cls: type, name: str) -> Any:
    """The public method or property ``name`` that ``cls`` itself defines (a rule of the config), else None."""
    member = vars(cls).get(name)
    return member if not name.startswith("_") and isinstance(member, property | types.FunctionType) else None


class _SectionView:
    def __init__(self, section: _Section, prefix: str, view: ParamsView):
        self._section, self._prefix, self._view = section, prefix, view

    def __getattr__(self, name: str) -> Any:
        rule = _rule(type(self._section), name)
        if rule is not None:  # train.lr_schedule.decays: evaluated on the view, so its reads are checked
            return rule.__get__(self)
        value = getattr(self._section, name)
        if name not in type(self._section).model_fields:
            raise AttributeError(name)
        dotted = f"{self._prefix}.{name}"
        self._view._check(dotted)
        return _SectionView(value, dotted, self._view) if isinstance(value, _Section) else value

    def model_dump(self, include: set[str] | None = None, exclude: set[str] | None = None) -> dict[str, Any]:
        keys = [
            k
            for k in type(self._section).model_fields
            if (include is None or k in include) and k not in (exclude or ())
        ]
        for key in keys:
            self._view._check(f"{self._prefix}.{key}")
        return self._section.model_dump(include=set(keys))
