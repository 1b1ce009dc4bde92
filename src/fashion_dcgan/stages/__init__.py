"""Thin DVC stage entry points: each reads params.yaml and wires library code to paths."""

from __future__ import annotations

import argparse


def parse_args(description: str | None, argv: list[str] | None, **paths: str) -> argparse.Namespace:
    """``--params`` plus one ``--name`` option per stage input/output path, defaulting to the DVC layout."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml", help="parameters file (default: %(default)s)")
    for name, default in paths.items():
        parser.add_argument(f"--{name.replace('_', '-')}", default=default, help="(default: %(default)s)")
    return parser.parse_args(argv)
