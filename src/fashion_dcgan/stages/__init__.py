"""Thin DVC stage entry points: each reads its declared params and wires library code to paths.

Every path comes from the stage's ``cmd`` in dvc.yaml (``--name PATH``); no stage holds a default
path, so dvc.yaml is the one place that says where each file lives.
"""

from __future__ import annotations

import argparse


def parse_args(description: str | None, argv: list[str] | None, *paths: str) -> argparse.Namespace:
    """``--params`` plus one required ``--name`` option per stage input or output path."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml", help="parameters file (default: %(default)s)")
    parser.add_argument("--debug", action="store_true", help="full tracebacks instead of one-line errors")
    for name in paths:
        parser.add_argument(f"--{name.replace('_', '-')}", required=True, metavar="PATH")
    return parser.parse_args(argv)
