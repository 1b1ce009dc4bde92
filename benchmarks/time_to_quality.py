"""Time to quality: how long each recipe takes on this machine to reach the tutorial recipe's final FID,
and the FID each reaches in the same wall time.

Quality per epoch and speed are measured apart, because each is clean that way:

- **Quality per epoch** comes from the recipes benchmark's per-epoch scores (``benchmarks.recipes
  --eval-every-epoch``, committed CSVs): the FID after every epoch, for each seed. Training is
  deterministic on the CPU, so a recipe's curve does not depend on the machine or on what else ran
  beside it (its ``wall_s`` column does: those sweeps shared the CPU with other work).
- **Speed** is measured here, now: every recipe trains a warm-up epoch (graph tracing) and a timed
  epoch through ``training.train``, round-robin over the recipes, ``--repeats`` times, so a slow
  patch of a shared machine hits all of them.

Time to the target = the fractional epoch at which the seed's FID curve crosses the target (linear
between epochs) x the seconds one 60,000-image epoch takes at the recipe's median speed. The FID at
equal time is each curve read at the shorter of the recipes' 10-epoch times. Spreads: over seeds
for quality, and min-max over the repeats for speed.

    python -m benchmarks.time_to_quality --curves benchmarks/results/recipes_10epoch.csv \\
        benchmarks/results/recipes_10epoch_speed.csv --recipes tutorial ema+r1 ema+lazy-r1+bf16 \\
        --out benchmarks/results/time_to_quality.md

With ``--budget RECIPE:EPOCHS`` the comparison is at one wall time instead, that of EPOCHS epochs of
RECIPE (the default's 10): every recipe's FID at that time, with precision, recall, coverage and
class consistency, each network's parameters and FLOPs per image, and with ``--figure`` FID against
wall seconds for every seed (research/networks_sweep.sh makes the curves of the network families).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd

from benchmarks.curves import epoch_reaching, fid_at, read_curves
from benchmarks.timing import timed_epochs

EPOCH_IMAGES = 60_000


def curves(paths: list[str], recipes: list[str]) -> pd.DataFrame:
    """FID per (recipe, seed, epoch) from the recipes benchmark's per-epoch CSVs."""
    return read_curves(paths, recipes)[["recipe", "seed", "epoch", "fid"]]


def images_per_second(recipe: str, data: np.ndarray) -> float:
    """One timed epoch of ``recipe`` over ``data`` after a traced warm-up epoch, through training.train."""
    from benchmarks.recipes import params_for
    from fashion_dcgan.config import parse_params
    from fashion_dcgan.config.recipes import merge

    params = params_for(recipe, seed=1, epochs=2)
    (rate,) = timed_epochs(parse_params(merge(params.model_dump(), {"data": {"train_limit": len(data)}})), data)
    return rate


def speeds(recipes: list[str], repeats: int, images: int) -> dict[str, list[float]]:
    data = np.random.default_rng(0).uniform(-1, 1, (images, 28, 28, 1)).astype(np.float32)
    rates: dict[str, list[float]] = {recipe: [] for recipe in recipes}
    for repeat in range(repeats):
        for recipe in recipes:
            rates[recipe].append(images_per_second(recipe, data))
            print(f"[{time.strftime('%H:%M:%S')}] repeat {repeat + 1}: {recipe} {rates[recipe][-1]:.0f} images/s",
                  flush=True)  # fmt: skip
    return rates


def measured_speeds(recipes: list[str], repeats: int, images: int, saved: str | None) -> dict[str, list[float]]:
    """:func:`speeds` of ``recipes``; with ``saved`` (a JSON file), the rates it holds for all of them are
    reused instead, and new measurements are written there, so that the tables can be made again later
    from the same measurement (e.g. once the quality curves are complete)."""
    path = Path(saved) if saved else None
    if path is not None and path.exists():
        stored = json.loads(path.read_text())
        if set(recipes) <= set(stored):
            print(f"speeds of {len(recipes)} recipes from {path} (measured {stored['_measured']})", flush=True)
            return {recipe: stored[recipe] for recipe in recipes}
    rates = speeds(recipes, repeats, images)
    if path is not None:
        path.write_text(json.dumps({"_measured": time.strftime("%Y-%m-%d %H:%M"), **rates}, indent=1) + "\n")
    return rates


def epoch_share(rates: dict[str, list[float]], recipe: str, reference: str) -> str:
    """An epoch's time against ``reference``'s: the median and range of the per-repeat ratios (the
    recipes run round-robin, so each repeat's pair saw the same patch of the machine)."""
    ratios = [ref / own for own, ref in zip(rates[recipe], rates[reference], strict=True)]
    return f"{np.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


def table(frame: pd.DataFrame, rates: dict[str, list[float]], baseline: str, reference: str | None = None) -> str:
    final_epoch = int(frame["epoch"].max())
    finals = frame[frame["epoch"] == final_epoch].groupby("recipe")["fid"]
    target = float(finals.mean()[baseline])
    seconds = {recipe: EPOCH_IMAGES / float(np.median(r)) for recipe, r in rates.items()}
    budget = final_epoch * seconds[baseline]
    equal = min(final_epoch * s for s in seconds.values())  # the longest time every curve covers
    lines = [
        f"Target: the {baseline} recipe's FID after {final_epoch} epochs, {target:.1f} (mean of "
        f"{finals.size()[baseline]} seeds); its {final_epoch} epochs take {budget:.0f} s here. "
        f"Equal time: {equal:.0f} s.",
        "",
        "| recipe | images/s (median, min-max) | s per epoch | epochs to target (per seed) | time to target "
        f"| share of the {baseline} recipe's time | FID at {equal:.0f} s (per seed) | FID after {final_epoch} epochs |"
        + (f" epoch's time / {reference}'s |" if reference else ""),
        "|---|---|---|---|---|---|---|---|" + ("---|" if reference else ""),
    ]
    for recipe in rates:
        rate = rates[recipe]
        by_seed = [group for _, group in frame[frame["recipe"] == recipe].groupby("seed")]
        reach = [epoch_reaching(curve, target) for curve in by_seed]
        times = [epochs * seconds[recipe] for epochs in reach]
        # The spread of the time: the seeds' epochs at the slowest and the fastest repeat.
        low, high = min(reach) * EPOCH_IMAGES / max(rate), max(reach) * EPOCH_IMAGES / min(rate)
        at_equal = [fid_at(curve, equal / seconds[recipe]) for curve in by_seed]
        final = [float(curve["fid"].iloc[-1]) for curve in by_seed]
        lines.append(
            f"| {recipe} | {np.median(rate):.0f} ({min(rate):.0f}-{max(rate):.0f}) | {seconds[recipe]:.0f} "
            f"| {', '.join(f'{e:.2f}' for e in reach)} | {np.mean(times):.0f} s ({low:.0f}-{high:.0f}) "
            f"| {np.mean(times) / budget:.2f} ({low / budget:.2f}-{high / budget:.2f}) "
            f"| {', '.join(f'{f:.1f}' for f in at_equal)} | {np.mean(final):.1f} ± {np.ptp(final) / 2:.1f} |"
            + (f" {epoch_share(rates, recipe, reference)} |" if reference else "")
        )
    return "\n".join(lines)


def cost_cells(recipe: str) -> str:
    """The recipe's networks as table cells: parameters of G and D, and MFLOP per image of the step."""
    from benchmarks.flops import network_cost
    from benchmarks.recipes import params_for

    cost = network_cost(params_for(recipe, seed=1, epochs=1))
    return f" {cost['g_params']:,} / {cost['d_params']:,} | {cost['step_mflop']:.0f} |"


def speed_table(
    rates: dict[str, list[float]], reference: str | None = None, costs: dict[str, str] | None = None
) -> str:
    """Speed alone (recipes without per-epoch scores yet): images/s and seconds per 60,000-image epoch;
    with ``costs`` (:func:`cost_cells`), each recipe's parameter counts and FLOPs per image beside them."""
    extra = (f" epoch's time / {reference}'s |", "---|") if reference else ("", "")
    cost_head = (" parameters G / D | step MFLOP per image |", "---|---|") if costs else ("", "")
    lines = [
        f"| recipe |{cost_head[0]} images/s (median, min-max) | s per epoch |" + extra[0],
        f"|---|{cost_head[1]}---|---|" + extra[1],
    ]
    for recipe, rate in rates.items():
        median = float(np.median(rate))
        share = f" {epoch_share(rates, recipe, reference)} |" if reference else ""
        cost = costs[recipe] if costs else ""
        lines.append(
            f"| {recipe} |{cost} {median:.0f} ({min(rate):.0f}-{max(rate):.0f}) | {EPOCH_IMAGES / median:.0f} |{share}"
        )
    return "\n".join(lines)


def _spread(values: list[float], digits: int) -> str:
    return f"{np.mean(values):.{digits}f} ± {np.ptp(values) / 2:.{digits}f}"


HEADINGS = {"classes_covered": "classes", "kl_to_uniform": "KL to uniform", "class_consistency": "class consistency"}


def budget_table(
    frame: pd.DataFrame, rates: dict[str, list[float]], budget: str, epochs: int, costs: dict[str, str] | None = None
) -> str:
    """Each recipe's quality at one wall time: ``epochs`` epochs of the ``budget`` recipe at the median speeds.

    The FID is each seed's curve read at that time (linear between epochs); a run that ended earlier is
    read at its last epoch. Precision, recall, coverage, classes and class consistency come from the last
    scored epoch within the time. Spreads: mean ± half the range over seeds.
    """
    seconds = {recipe: EPOCH_IMAGES / float(np.median(rate)) for recipe, rate in rates.items()}
    limit = epochs * seconds[budget]
    conditional = "class_consistency" in frame and frame["class_consistency"].notna().any()
    extra = ["precision", "recall", "coverage", "classes_covered", "kl_to_uniform"]
    extra += ["class_consistency"] if conditional else []
    cost_head = (" parameters G / D | step MFLOP per image |", "---|---|") if costs else ("", "")
    lines = [
        f"Wall time: {epochs} epochs of {budget}, {limit:.0f} s on this machine at the median speeds below.",
        "",
        f"| recipe |{cost_head[0]} s per epoch | epochs in {limit:.0f} s | FID at {limit:.0f} s (per seed) | mean ± "
        f"half-range | {' | '.join(HEADINGS.get(name, name) for name in extra)} | last epoch: FID |",
        f"|---|{cost_head[1]}---|---|---|---|{'---|' * len(extra)}---|",
    ]
    for recipe in rates:
        curves = [group for _, group in frame[frame["recipe"] == recipe].groupby("seed")]
        if not curves:
            continue
        reach = limit / seconds[recipe]
        at_limit, within = [], []
        for curve in curves:
            last = float(curve["epoch"].iloc[-1])
            at_limit.append(fid_at(curve, min(reach, last)))
            within.append(curve[curve["epoch"] <= reach + 1e-9].iloc[-1])
        cells = [_spread([float(row[name]) for row in within], 1 if name == "classes_covered" else 3) for name in extra]
        finals = [float(curve["fid"].iloc[-1]) for curve in curves]
        ends = sorted({int(curve["epoch"].iloc[-1]) for curve in curves})
        lines.append(
            f"| {recipe} |{costs[recipe] if costs else ''} {seconds[recipe]:.0f} | {reach:.1f} "
            f"| {', '.join(f'{f:.1f}' for f in at_limit)} | {_spread(at_limit, 1)} | {' | '.join(cells)} "
            f"| {_spread(finals, 1)} after {'/'.join(map(str, ends))} |"
        )
    return "\n".join(lines)


def figure(
    frame: pd.DataFrame, rates: dict[str, list[float]], limit: float, path: str, title: str,
    labels: dict[str, str] | None = None,
) -> None:  # fmt: skip
    """FID against wall seconds, one line per (recipe, seed), one colour per recipe (named by ``labels``
    where given); the dashed line is the wall time of the comparison."""
    labels = labels or {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = {recipe: EPOCH_IMAGES / float(np.median(rate)) for recipe, rate in rates.items()}
    fig, axis = plt.subplots(figsize=(8, 4.8), dpi=110)
    for index, recipe in enumerate(rates):
        colour = f"C{index}"
        for number, (_, curve) in enumerate(frame[frame["recipe"] == recipe].groupby("seed")):
            axis.plot(curve["epoch"] * seconds[recipe], curve["fid"], color=colour, marker="o", markersize=3,
                      linewidth=1.2, label=labels.get(recipe, recipe) if number == 0 else None)  # fmt: skip
    axis.axvline(limit, color="grey", linestyle="--", linewidth=1)
    axis.set(xlabel="training wall time on 2 CPU cores (s)", ylabel="FID (10,000 samples, log scale)", title=title,
             yscale="log")  # fmt: skip
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--curves", nargs="+", help="per-epoch CSVs of benchmarks.recipes (without: speed only)")
    parser.add_argument("--recipes", nargs="+", default=["tutorial", "ema+r1", "ema+lazy-r1+bf16"])
    parser.add_argument("--baseline", default="tutorial")
    parser.add_argument("--reference", help="also give each epoch's time against this recipe's (e.g. an old default)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=int, default=6400, help="images per timed epoch (a whole number of batches)")
    parser.add_argument("--budget", metavar="RECIPE:EPOCHS",
                        help="compare at the wall time of EPOCHS epochs of RECIPE (with --curves): the table of each "
                             "recipe's FID at that time, and --figure")  # fmt: skip
    parser.add_argument("--figure", help="with --budget: draw FID against wall seconds here (PNG)")
    parser.add_argument(
        "--label", action="append", default=[], metavar="RECIPE=TEXT", help="a recipe's name in the figure"
    )
    parser.add_argument("--speeds", metavar="JSON", help="reuse the speeds stored here, or store them")
    parser.add_argument("--out", help="also write the table (Markdown) here")
    args = parser.parse_args(argv)
    if args.curves and args.budget:
        budget, _, epochs = args.budget.rpartition(":")
        recipes = [budget, *(r for r in args.recipes if r != budget)]
        rates = measured_speeds(recipes, args.repeats, args.images, args.speeds)
        frame = read_curves(args.curves, args.recipes)  # the budget's own curve only when --recipes names it
        text = budget_table(frame, rates, budget, int(epochs), {recipe: cost_cells(recipe) for recipe in recipes})
        if args.figure:
            limit = int(epochs) * EPOCH_IMAGES / float(np.median(rates[budget]))
            labels = dict(label.split("=", 1) for label in args.label)
            title = f"FID against wall time; dashed: {epochs} epochs of {labels.get(budget, budget)}"
            figure(frame, rates, limit, args.figure, title, labels)
    elif args.curves:
        recipes = [args.baseline, *(r for r in args.recipes if r != args.baseline)]
        rates = speeds(recipes, args.repeats, args.images)
        text = table(curves(args.curves, recipes), rates, args.baseline, args.reference)
    else:
        rates = measured_speeds(args.recipes, args.repeats, args.images, args.speeds)
        text = speed_table(rates, args.reference, {recipe: cost_cells(recipe) for recipe in args.recipes})
    command = "python -m benchmarks.time_to_quality " + " ".join(argv if argv is not None else sys.argv[1:])
    text += f"\n\nMade by `{command}` on {time.strftime('%Y-%m-%d')}.\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
