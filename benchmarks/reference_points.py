"""The report's reference points: one recipe's final-epoch metrics over its seeds, from a recipe table.

The report's scorecard sets each run beside these figures (by default the Keras tutorial's recipe).
They are measured by the recipes benchmark, then condensed here into a small file that the
evaluation side owns and the report stage depends on:

    python -m benchmarks.reference_points --table benchmarks/results/recipes_10epoch.csv \\
        --recipe tutorial --out src/fashion_dcgan/evaluation/reference_points.json
"""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

from fashion_dcgan.files import write_json
from fashion_dcgan.reporting.report import SCORECARD


def reference_points(table: pd.DataFrame, recipe: str) -> dict[str, Any]:
    """``recipe``'s final-epoch rows of ``table``: the mean and half-range over seeds of each metric."""
    final = table[(table["recipe"] == recipe) & (table["epoch"] == table["epochs"])]
    if final.empty:
        raise SystemExit(f"the table has no final-epoch rows for recipe {recipe!r}")
    columns = [name for name in SCORECARD if name in final]  # those the table holds
    return {
        "recipe": recipe,
        "seeds": int(final["seed"].nunique()),
        "epochs": int(final["epochs"].iloc[0]),
        "mean": {k: float(v) for k, v in final[columns].mean().items()},
        "spread": {k: float(v) for k, v in ((final[columns].max() - final[columns].min()) / 2).items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True, help="a recipes benchmark CSV (per-epoch rows)")
    parser.add_argument("--recipe", default="tutorial")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    points = reference_points(pd.read_csv(args.table), args.recipe)
    write_json(args.out, points)
    print(f"{args.out}: {args.recipe}, {points['seeds']} seeds, FID {points['mean']['fid']:.1f}")


if __name__ == "__main__":
    main()
