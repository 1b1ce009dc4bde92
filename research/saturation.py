"""Where quality saturates: the FID after each epoch of long runs, as tables of what more epochs buy
and a figure.

The curves come from ``benchmarks.recipes`` runs scored during training (``--eval-every-epoch`` or
``--eval-every K``): its CSV, or the ``.progress.jsonl`` it appends after every scored epoch (so a run
cut short still counts). Seconds per epoch come from a speed measurement on an unloaded machine
(``benchmarks.time_to_quality``), not from the long runs, which share the CPU with other work.

    python -m research.saturation \\
        --curves benchmarks/results/saturation_default_30epoch.csv benchmarks/results/saturation_tutorial_30epoch.csv \\
        --seconds default+lr7e-4=78 tutorial=94 --thresholds 200 150 130 120 118 110 \\
        --figure docs/saturation.png --out benchmarks/results/saturation.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from benchmarks.curves import first_reaching, read_curves

MILESTONES = (1, 2, 3, 5, 10, 15, 20, 25, 30, 40, 50)


def first_epoch_at_or_below(curve: pd.DataFrame, fid: float) -> int | None:
    first = first_reaching(curve, fid)
    return None if first is None else int(first["epoch"])


def ups_and_downs(curve: pd.DataFrame) -> dict[str, float]:
    """How often a consecutive scored epoch was worse than the one before, and by how much at most."""
    steps = np.diff(curve["fid"].to_numpy(float))
    rises = steps[steps > 0]
    return {"scored": len(curve), "rises": len(rises), "largest_rise": float(rises.max()) if len(rises) else 0.0}


def milestone_table(frame: pd.DataFrame) -> str:
    epochs = [e for e in MILESTONES if e in set(frame["epoch"])]
    lines = ["| recipe (seed) | " + " | ".join(f"epoch {e}" for e in epochs) + " | best (epoch) |",
             "|---|" + "---|" * (len(epochs) + 1)]  # fmt: skip
    for (recipe, seed), curve in frame.groupby(["recipe", "seed"], sort=False):
        by_epoch = dict(zip(curve["epoch"], curve["fid"], strict=True))
        cells = [f"{by_epoch[e]:.1f}" if e in by_epoch else "–" for e in epochs]
        best = curve.loc[curve["fid"].idxmin()]
        lines.append(f"| {recipe} ({seed}) | " + " | ".join(cells) + f" | {best['fid']:.1f} ({int(best['epoch'])}) |")
    return "\n".join(lines)


def budget_table(frame: pd.DataFrame, seconds: dict[str, float], thresholds: list[float]) -> str:
    """For each FID threshold: the first scored epoch at or below it, and what that costs here."""
    lines = ["| recipe (seed) | s per epoch | " + " | ".join(f"FID ≤ {t:g}" for t in thresholds) + " |",
             "|---|---|" + "---|" * len(thresholds)]  # fmt: skip
    for (recipe, seed), curve in frame.groupby(["recipe", "seed"], sort=False):
        per_epoch = seconds.get(recipe)
        cells = []
        for threshold in thresholds:
            epoch = first_epoch_at_or_below(curve, threshold)
            if epoch is None:
                cells.append(f"not by epoch {int(curve['epoch'].max())}")
            else:
                cost = f", {epoch * per_epoch / 60:.0f} min" if per_epoch else ""
                cells.append(f"epoch {epoch}{cost}")
        shown = f"{per_epoch:.0f}" if per_epoch else "?"
        lines.append(f"| {recipe} ({seed}) | {shown} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stability_lines(frame: pd.DataFrame) -> list[str]:
    lines = []
    for (recipe, seed), curve in frame.groupby(["recipe", "seed"], sort=False):
        moves = ups_and_downs(curve)
        lines.append(
            f"- {recipe} (seed {seed}): {moves['scored']} scored epochs up to epoch {int(curve['epoch'].max())}; "
            f"FID rose {moves['rises']} times from one scored epoch to the next (largest rise "
            f"{moves['largest_rise']:.1f})."
        )
    return lines


def figure(frame: pd.DataFrame, path: Path, target: float | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fashion_dcgan.files import atomic_path

    fig, axis = plt.subplots(figsize=(7, 3.6), dpi=100)
    for (recipe, seed), curve in frame.groupby(["recipe", "seed"], sort=False):
        axis.plot(curve["epoch"], curve["fid"], marker="o", markersize=3, label=f"{recipe} (seed {seed})")
    if target is not None:
        axis.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"FID {target:g}")
    axis.set_yscale("log")
    axis.set_xlabel("epoch")
    axis.set_ylabel("FID (10,000 samples, log scale)")
    axis.set_title("FID after each epoch: where quality saturates")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--curves", nargs="+", required=True, help="recipes CSVs or .progress.jsonl files")
    parser.add_argument("--seconds", nargs="*", default=[], metavar="RECIPE=S", help="seconds per epoch, measured")
    parser.add_argument("--thresholds", nargs="+", type=float, default=[200, 150, 130, 120, 118, 110])
    parser.add_argument("--target", type=float, default=118.0, help="a FID line on the figure")
    parser.add_argument("--figure", type=Path)
    parser.add_argument("--out", type=Path, help="also write the tables (Markdown) here")
    args = parser.parse_args(argv)
    seconds = {}
    for item in args.seconds:
        recipe, _, value = item.partition("=")
        seconds[recipe] = float(value)
    frame = read_curves(args.curves)
    text = "\n\n".join([
        "FID after these epochs (10,000 samples against the 10,000 test images):", milestone_table(frame),
        "First scored epoch at or below each FID, and its training time at the measured seconds per epoch:",
        budget_table(frame, seconds, args.thresholds), "\n".join(stability_lines(frame)),
    ])  # fmt: skip
    command = "python -m research.saturation " + " ".join(argv if argv is not None else sys.argv[1:])
    text += f"\n\nMade by `{command}` on {time.strftime('%Y-%m-%d')}.\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.figure:
        figure(frame, args.figure, args.target)


if __name__ == "__main__":
    main()
