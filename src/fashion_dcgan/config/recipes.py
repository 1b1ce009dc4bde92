"""Recipes: named files of the keys that shape the model, layered on a parent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fashion_dcgan.config.loading import parse_params, read_yaml
from fashion_dcgan.errors import ParamsError

# Recipes are files: recipes/NAME.yaml holds the keys that shape the model (the model and train
# sections; runtime only where a research variant was measured at a fixed precision), read by
# `fashion-dcgan preset NAME`, the benchmarks and the docs. The stages never read them. A recipe names
# its parent (`parent: default`) and lists only what it changes; default is the root. The research
# recipes have no parent: each is stored whole, as it was measured, so no later default can change it.
RECIPES_DIR = Path(__file__).resolve().parents[3] / "recipes"
RECIPE_SECTIONS = ("model", "train", "runtime")
PARENT = "parent"
RESEARCH = "research"  # recipes/research/: the variants the benchmarks compared, by what they change


def recipe_names(directory: Path = RECIPES_DIR, research: bool = False) -> list[str]:
    """The recipes in ``directory`` by file name without .yaml; with ``research``, also ``research/NAME``."""
    names = sorted(path.stem for path in directory.glob("*.yaml"))
    if research:
        names += sorted(f"{RESEARCH}/{path.stem}" for path in (directory / RESEARCH).glob("*.yaml"))
    return names


def recipe_chain(name: str, directory: Path = RECIPES_DIR) -> list[tuple[Path, dict[str, Any]]]:
    """The files of recipe ``name`` and of its parents, root first, each as read (``parent`` removed)."""
    chain: list[tuple[Path, dict[str, Any]]] = []
    while name is not None:
        if not re.fullmatch(rf"({RESEARCH}/)?[A-Za-z0-9][A-Za-z0-9._+-]*", str(name)):
            raise ParamsError(f"recipe {name!r}: a recipe is a file name in recipes/ (or research/NAME), without .yaml")
        path = directory / f"{name}.yaml"
        if not path.is_file():
            known = ", ".join(recipe_names(directory)) or "none"
            raise ParamsError(f"no recipe {name!r} in {directory} (known: {known}; more in {RESEARCH}/)")
        raw = read_yaml(path)
        if not isinstance(raw, dict) or set(raw) - {*RECIPE_SECTIONS, PARENT}:
            extra = sorted(set(raw) - {*RECIPE_SECTIONS, PARENT}) if isinstance(raw, dict) else type(raw).__name__
            raise ParamsError(f"{path}: a recipe holds {PARENT} and the sections {list(RECIPE_SECTIONS)}, not {extra}")
        if any(path == seen for seen, _ in chain):
            raise ParamsError(f"{path}: its {PARENT}s lead back to it")
        chain.insert(0, (path, {key: value for key, value in raw.items() if key != PARENT}))
        name = raw.get(PARENT)
    return chain


def recipe(name: str, directory: Path = RECIPES_DIR) -> dict[str, Any]:
    """The recipe ``name`` (``default``, or ``research/NAME``) as nested sections, its parents' keys
    included, checked against the schema; a ParamsError names what is wrong."""
    resolved: dict[str, Any] = {}
    for path, raw in recipe_chain(name, directory):
        resolved = merge(resolved, raw)
        parse_params(resolved, str(path))
    return resolved


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` applied key by key, recursing into nested mappings. A mapping that
    selects another member by ``name`` (``model.objective``) replaces the old one: its settings differ."""
    out = dict(base)
    for key, value in overrides.items():
        current = out.get(key)
        both = isinstance(value, dict) and isinstance(current, dict)
        switched = both and "name" in value and value["name"] != current.get("name")
        out[key] = merge(current, value) if both and not switched else value
    return out
