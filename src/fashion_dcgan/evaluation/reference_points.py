"""The report's reference points: one recipe's final-epoch headline metrics over its seeds.

The report's scorecard sets each run beside these figures (by default the Keras tutorial's recipe).
The recipes benchmark measures them into a per-epoch table; this condenses that table into
``reference_points.json`` beside this module, which the report stage depends on:

    python -m fashion_dcgan.evaluation.reference_points --table benchmarks/results/recipes_10epoch.csv \\
        --recipe tutorial --out src/fashion_dcgan/evaluation/reference_points.json
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fashion_dcgan.errors import DataError, entry_point
from fashion_dcgan.evaluation.metric_registry import DVC_METRICS
from fashion_dcgan.files import write_json

REFERENCE_POINTS = Path(__file__).with_name("reference_points.json")


def reference_points(table, recipe: str) -> dict[str, Any]:
    """``recipe``'s final-epoch rows of ``table`` (a pandas DataFrame): the mean and half-range over seeds
    of each headline metric the table holds."""
    final = table[(table["recipe"] == recipe) & (table["epoch"] == table["epochs"])]
    if final.empty:
        raise DataError(f"the table has no final-epoch rows for recipe {recipe!r}")
    columns = [name for name in DVC_METRICS if name in final]
    return {
        "recipe": recipe,
        "seeds": int(final["seed"].nunique()),
        "epochs": int(final["epochs"].iloc[0]),
        "mean": {k: float(v) for k, v in final[columns].mean().items()},
        "spread": {k: float(v) for k, v in ((final[columns].max() - final[columns].min()) / 2).items()},
    }


@entry_point
def main(argv: list[str] | None = None) -> None:
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True, help="a recipes benchmark CSV (per-epoch rows)")
    parser.add_argument("--recipe", default="tutorial")
    parser.add_argument("--out", default=str(REFERENCE_POINTS))
    args = parser.parse_args(argv)
    points = reference_points(pd.read_csv(args.table), args.recipe)
    write_json(args.out, points)
    print(f"{args.out}: {args.recipe}, {points['seeds']} seeds, FID {points['mean']['fid']:.1f}")


if __name__ == "__main__":
    main()
