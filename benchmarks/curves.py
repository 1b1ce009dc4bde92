"""FID curves of the recipe benchmarks, read and queried once for every study that uses them.

A curve is a frame of (recipe, seed, epoch, fid, ...) rows: the recipes benchmark's CSVs
(``--eval-every-epoch``) and its ``.progress.jsonl`` files hold them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def read_curves(paths: list[str], recipes: list[str] | None = None) -> pd.DataFrame:
    """The rows of CSV and JSON-lines files, one per (recipe, seed, epoch) (later files win), sorted;
    with ``recipes``, only theirs, and each must have some."""
    frames = [pd.read_json(path, lines=True) if str(path).endswith(".jsonl") else pd.read_csv(path) for path in paths]
    frame = pd.concat(frames, ignore_index=True).drop_duplicates(["recipe", "seed", "epoch"], keep="last")
    if recipes is not None:
        frame = frame[frame["recipe"].isin(recipes)]
        missing = set(recipes) - set(frame["recipe"])
        if missing:
            raise SystemExit(f"no per-epoch scores for {sorted(missing)} in {paths}; run benchmarks.recipes first")
    return frame.sort_values(["recipe", "seed", "epoch"]).reset_index(drop=True)


def first_reaching(curve: pd.DataFrame, target: float) -> pd.Series | None:
    """The first scored row of ``curve`` whose FID is at or below ``target``, or None."""
    reached = curve[curve["fid"] <= target]
    return reached.iloc[0] if len(reached) else None


def epoch_reaching(curve: pd.DataFrame, target: float) -> float:
    """The fractional epoch at which ``curve`` (epoch, fid) first reaches ``target``, linear between
    scored epochs (inf: never)."""
    first = first_reaching(curve, target)
    if first is None:
        return float("inf")
    position = curve.index.get_loc(first.name)
    if position == 0:
        return float(first["epoch"])
    before = curve.iloc[position - 1]
    share = (before["fid"] - target) / (before["fid"] - first["fid"])
    return float(before["epoch"] + share * (first["epoch"] - before["epoch"]))


def fid_at(curve: pd.DataFrame, epoch: float) -> float:
    """The curve read at a fractional ``epoch`` (linear between epochs; NaN outside the measured ones)."""
    epochs, fids = curve["epoch"].to_numpy(float), curve["fid"].to_numpy(float)
    if epoch < epochs[0] or epoch > epochs[-1]:
        return float("nan")
    return float(np.interp(epoch, epochs, fids))
