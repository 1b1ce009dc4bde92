"""MkDocs hook: the reference tables are generated from the code, so they cannot drift from it.

A page holds a marker comment where a table goes:

- ``<!-- generated: parameters -->``: every params.yaml key, from the schema (fashion_dcgan.config);
- ``<!-- generated: metrics -->``: every evaluation metric, from the registry (evaluation.metric_registry);
- ``<!-- generated: recipes -->``: the recipes of recipes/ and the keys where they differ;
- ``<!-- generated: tutorial_experiment -->``: the `dvc exp run` line that `preset tutorial` prints;
- ``<!-- generated: adam -->``: the Adam settings of each objective and network family (fashion_dcgan.catalog).
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any

from fashion_dcgan.reporting.pages import markdown_cell


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{value}`" for value in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(annotation))
    if origin is list:
        return f"list of {_type_name(typing.get_args(annotation)[0])}"
    if annotation is type(None):
        return "`null`"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(field) -> str:
    words = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "length ≥"}
    parts = []
    for item in field.metadata:
        for name, symbol in words.items():
            value = getattr(item, name, None)
            if value is not None:
                parts.append(f"{symbol} {value:,}" if isinstance(value, int) else f"{symbol} {value:g}")
    return ", ".join(parts)


def _default(field) -> str:
    from pydantic_core import PydanticUndefined

    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined:
        return ""
    if hasattr(value, "model_dump"):
        return ""
    return f"`{json.dumps(value)}`"


def parameters_table() -> str:
    from pydantic import BaseModel

    from fashion_dcgan.config import schema_fields, union_members

    out = []
    for key, field in schema_fields():
        annotation = field.annotation
        is_section = (isinstance(annotation, type) and issubclass(annotation, BaseModel)) or union_members(annotation)
        if key.count(".") == 0:
            header = ["| key | type | default | bounds | meaning |", "|---|---|---|---|---|"]
            out += ["", f"## `{key}`", "", markdown_cell(field.description), "", *header]
            continue
        kind = "section" if is_section else _type_name(annotation)
        out.append(f"| `{key}` | {kind} | {_default(field)} | {_bounds(field)} | {markdown_cell(field.description)} |")
    return "\n".join(out)


def metrics_table() -> str:
    from fashion_dcgan.evaluation.metric_registry import DVC_METRICS, METRICS

    rows = ["| metric | better | computed from | per class | meaning |", "|---|---|---|---|---|"]
    for metric in METRICS:
        name = f"**`{metric.name}`**" if metric.name in DVC_METRICS else f"`{metric.name}`"
        rows.append(f"| {name} | {metric.better or ''} | {metric.source} | {'yes' if metric.per_class else ''} | "
                    f"{markdown_cell(metric.meaning)} |")  # fmt: skip
    return "\n".join(rows)


def recipes_table() -> str:
    """One column per recipe file, one row per key where the recipes differ."""
    from fashion_dcgan.config import flatten, parse_params
    from fashion_dcgan.config.recipes import recipe, recipe_names

    names = recipe_names()
    values = {name: flatten(parse_params(recipe(name)).model_dump(include={"model", "train"})) for name in names}
    keys = list(dict.fromkeys(key for name in names for key in values[name]))
    rows = ["| key | " + " | ".join(f"`{name}`" for name in names) + " |", "|---|" + "---|" * len(names)]
    for key in keys:
        cells = [json.dumps(values[name][key]) if key in values[name] else "–" for name in names]
        if len(set(cells)) > 1:
            rows.append(f"| `{key}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def tutorial_experiment() -> str:
    """The tutorial recipe as one ``dvc exp run -S`` command, as ``fashion-dcgan preset tutorial`` prints it."""
    from fashion_dcgan.config.editing import preset_overrides

    settings = " \\\n  ".join(f"-S '{key}={value}'" for key, value in preset_overrides("tutorial").items())
    return f"```bash\ndvc exp run {settings}\n```"


def adam_table() -> str:
    """The Adam settings that a null rate or beta takes, from the catalog of parts."""
    from fashion_dcgan import catalog

    rows = ["| part | learning rate | beta_1 | beta_2 |", "|---|---|---|---|"]
    for name, part in catalog.OBJECTIVES.items():
        adam = part.adam
        cells = f"{adam.learning_rate:g} | {adam.beta_1:g} | {adam.beta_2:g}" if adam else "the family's | |"
        rows.append(f"| objective `{name}` | {cells} |")
    for name, family in catalog.FAMILIES.items():
        adam = family.adam
        rows.append(f"| family `{name}` | {adam.learning_rate:g} | {adam.beta_1:g} | {adam.beta_2:g} |")
    return "\n".join(rows)


GENERATORS = {
    "parameters": parameters_table,
    "adam": adam_table,
    "metrics": metrics_table,
    "recipes": recipes_table,
    "tutorial_experiment": tutorial_experiment,
}


def on_page_markdown(markdown: str, page, config, files) -> str:
    for name, make in GENERATORS.items():
        marker = f"<!-- generated: {name} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
