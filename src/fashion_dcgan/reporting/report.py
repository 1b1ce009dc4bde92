"""The run report: an HTML page and a Markdown twin, the training GIF and the curves.

All links are relative to the page's folder and only name files that exist. Provenance (git
commit, data checksums, the MLflow run) comes from the train stage's provenance file, which DVC
tracks, not from MLflow tags read back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashion_dcgan.config import yaml_value
from fashion_dcgan.data.fashion_mnist import CLASS_NAMES
from fashion_dcgan.errors import DataError
from fashion_dcgan.evaluation.metric_registry import BY_NAME, GENERATED, METRICS, headline
from fashion_dcgan.files import read_json, write_text
from fashion_dcgan.imaging import save_gif
from fashion_dcgan.reporting.pages import render
from fashion_dcgan.reporting.plots import line_plot

FEATURE_SPACE_NOTE = (
    "FID, KID, the Inception Score and the k-NN metrics use our own Fashion-MNIST classifier's penultimate "
    "features instead of Inception-v3 (whose weights cannot be downloaded here): compare them between runs "
    "measured with the same classifier weights (the pinned ones by default), not with published values."
)


@dataclass(frozen=True)
class ReportFiles:
    """What the report reads (the pipeline's outputs) and what it writes."""

    history: Path
    steps: Path
    provenance: Path
    epochs: Path
    samples: Path
    validation: Path
    preview: Path
    eval_metrics: Path
    classifier_metrics: Path
    html: Path
    markdown: Path
    gif: Path
    figures: Path
    references: Path | None = None  # the reference recipe's figures (evaluation/reference_points.json)


# The scorecard's rows: the headline metrics a newcomer asks about, in this order.
SCORECARD = ("fid", "kid", "precision", "recall", "classes_covered", "class_consistency")


@dataclass(frozen=True)
class StoreView:
    """What the tracking store says around this run: the registry's champion and the recent runs."""

    champion: dict[str, Any] | None  # version, run_id, run_name, url, metrics {name: value}
    recent: list[dict[str, Any]]  # name, url, recipe, metrics {name: value}, champion, this_run


def reference_figures(path: Path | None) -> dict[str, Any] | None:
    """The reference recipe's figures (src/fashion_dcgan/evaluation/reference_points.json): its name, seeds,
    epochs, and each scorecard metric's mean and half-range over the seeds; None without the file."""
    if path is None or not Path(path).exists():
        return None
    points = read_json(Path(path), "the reference points")
    missing = {"recipe", "seeds", "epochs", "mean", "spread"} - set(points)
    if missing:
        raise DataError(f"{path}: the reference points lack {sorted(missing)}; regenerate them "
                        "(python -m fashion_dcgan.evaluation.reference_points)")  # fmt: skip
    return points


def _versus(name: str, ours: float, theirs: float | None) -> str:
    """▲ when this run is better than ``theirs`` by the metric's direction, ▼ when worse."""
    better = BY_NAME[name].better
    if theirs is None or better is None or not np.isfinite(theirs) or ours == theirs:
        return ""
    return "▲ better" if (ours < theirs) == (better == "lower") else "▼ worse"


def scorecard_rows(evaluation: dict[str, Any], reference: dict[str, Any] | None, store: StoreView | None) -> list:
    """One row per scorecard metric this run has: its value, the tutorial recipe's, the champion's and
    the real data's, with an arrow saying whether this run is better or worse than each."""
    rows = []
    champion = store.champion if store else None
    for name in (n for n in SCORECARD if n in evaluation):
        metric, ours = BY_NAME[name], evaluation[name]
        value = metric.format(ours)
        if metric.spread and metric.spread in evaluation:
            value = metric.format_with_spread(ours, evaluation[metric.spread], BY_NAME[metric.spread])
        row = dict.fromkeys(("reference", "vs_reference", "champion", "vs_champion", "real"), "")
        label = name.replace("_", " ").replace("fid", "FID").replace("kid", "KID")
        direction = {"lower": "lower is better", "higher": "higher is better"}.get(metric.better, "")
        row |= {"name": label, "value": value, "better": direction}
        if reference and name in reference["mean"]:
            theirs = reference["mean"][name]
            row["reference"] = metric.format_with_spread(theirs, reference["spread"][name])
            row["vs_reference"] = _versus(name, ours, theirs)
        if champion and name in champion["metrics"]:
            theirs = champion["metrics"][name]
            row["champion"] = metric.format(theirs)
            row["vs_champion"] = "this run" if champion.get("this_run") else _versus(name, ours, theirs)
        if metric.real in evaluation:
            row["real"] = BY_NAME[metric.real].format(evaluation[metric.real])
        rows.append(row)
    return rows


def _eval_metrics(run) -> dict[str, float]:
    return {key.removeprefix("eval/"): value for key, value in run.data.metrics.items() if key.startswith("eval/")}


def _recipe(params: dict[str, str]) -> str:
    objective = params.get("model.objective.name") or params.get("model.objective", "?")
    ema = params.get("train.ema.decay", "0")
    parts = [("conditional " if params.get("model.conditional") == "True" else "") + objective]
    parts.append(f"EMA {ema}" if ema not in ("0", "0.0") else "no EMA")
    parts.append(f"{params.get('train.epochs', '?')} epochs, seed {params.get('train.seed', '?')}")
    return ", ".join(parts)


def read_store(client, run_id: str, recent: int = 10) -> StoreView:
    """The champion of the Model Registry and the ``recent`` latest runs of this run's experiment."""
    from mlflow.exceptions import MlflowException

    from fashion_dcgan.tracking import CHAMPION, REGISTERED_MODEL, run_url

    experiment = client.get_run(run_id).info.experiment_id
    url = lambda run: run_url(run.info.experiment_id, run.info.run_id)  # noqa: E731
    champion = None
    try:
        version = client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION)
    except MlflowException:  # no registered model or no alias yet
        version = None
    if version is not None and version.run_id:
        run = client.get_run(version.run_id)
        champion = {"version": version.version, "run_id": run.info.run_id, "run_name": run.info.run_name,
                    "url": url(run), "metrics": _eval_metrics(run), "this_run": run.info.run_id == run_id}  # fmt: skip
    runs = client.search_runs([experiment], order_by=["attributes.start_time DESC"], max_results=recent)
    rows = [
        {
            "name": run.info.run_name,
            "url": url(run),
            "recipe": _recipe(run.data.params),
            "metrics": _eval_metrics(run),
            "champion": bool(champion and run.info.run_id == champion["run_id"]),
            "this_run": run.info.run_id == run_id,
        }
        for run in runs
    ]
    return StoreView(champion, rows)


def _recent_rows(store: StoreView | None) -> list[dict[str, str]]:
    rows = []
    for run in store.recent if store else []:
        cells = {name: BY_NAME[name].format(run["metrics"][name]) if name in run["metrics"] else "–"
                 for name in ("fid", "precision", "recall")}  # fmt: skip
        rows.append({**run, **cells})
    return rows


def read_csv(path: Path, what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: cannot read {what} ({error}); run the train stage") from None


def _fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def collapse_warnings(history: pd.DataFrame, min_classes: int) -> list[str]:
    if "monitor_classes_covered" not in history:
        return []
    low = history[history["monitor_classes_covered"] < min_classes]
    return [
        f"epoch {int(row.epoch)}: only {int(row.monitor_classes_covered)} classes covered (minimum {min_classes})"
        for row in low.itertuples()
    ]


def kept_note(provenance: dict[str, Any], history: pd.DataFrame) -> str | None:
    """Which epoch's sampled generator the train stage wrote, when it is not the last (train.keep)."""
    kept, epochs = provenance.get("kept_epoch"), len(history)
    if kept is None or kept == epochs:
        return None
    fid = history.loc[history["epoch"] == kept, "monitor_fid"] if "monitor_fid" in history else ()
    at = f" ({fid.iloc[0]:.1f})" if len(fid) else ""
    return f"kept the generator of epoch {kept} of {epochs}, the lowest monitored FID{at} (train.keep: best_fid)"


def training_time(history: pd.DataFrame, provenance: dict[str, Any]) -> str | None:
    """How long the epochs took, on which machine class and in which precision; None for a run that
    recorded no epoch times."""
    if "epoch_seconds" not in history or not len(history):
        return None
    seconds = float(history["epoch_seconds"].sum())
    each = seconds / len(history)
    text = f"{duration(seconds)} for {len(history)} epochs ({duration(each)} an epoch)"
    if "machine" in provenance:
        text += f" on a {provenance['machine']}, in {provenance['precision']}"
    return text


def duration(seconds: float) -> str:
    """``seconds`` in the unit a reader wants: 42 s, 3.4 min, 1.2 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 90 * 60 else f"{seconds / 3600:.1f} h"


def summary(params: dict[str, Any], epochs: int, evaluation: dict[str, Any] | None, kept: str | None = None) -> str:
    """One paragraph that says what was trained and how good it is (also the MLflow run description)."""
    ema = params.get("train.ema.decay") or 0
    augment = params.get("train.augment") or []
    conditional = "class-conditional " if params.get("model.conditional") else ""
    text = (
        f"{epochs} epochs of the {conditional}{params.get('model.variant')} networks with the "
        f"{params.get('model.objective.name', params.get('model.objective'))} "
        f"objective, {'generator EMA ' + str(ema) if ema else 'no EMA'}, "
        f"{'augmentation ' + '+'.join(augment) if augment else 'no augmentation'}, seed {params.get('train.seed')}"
        f"{'; ' + kept if kept else ''}."
    )
    if evaluation:
        text += f" {headline(evaluation)}."
    return text


def _evaluation_rows(evaluation: dict[str, Any], columns: list[str]) -> list[dict[str, Any]]:
    """One row per registered metric that has a row and a value: each generator's value (± its spread),
    and its meaning (with the real data's figure where the metric names one)."""
    rows = []
    for metric in METRICS:
        if not metric.row or metric.name not in evaluation:
            continue
        names = [metric.name] + ([f"raw_{metric.name}"] if metric.source in GENERATED and len(columns) > 1 else [])
        values = []
        for name in (n for n in names if n in evaluation):
            value = metric.format(evaluation[name])
            spread = name.replace(metric.name, metric.spread) if metric.spread else None
            if spread in evaluation:
                value = metric.format_with_spread(evaluation[name], evaluation[spread], BY_NAME[metric.spread])
            values.append(value)
        note = metric.meaning
        if metric.real in evaluation and not BY_NAME[metric.real].row:
            note += f" Real test images: {BY_NAME[metric.real].format(evaluation[metric.real])}."
        values += [""] * (len(columns) - len(values))
        rows.append({"name": metric.name, "values": values, "note": note})
    return rows


def _class_rows(evaluation: dict[str, Any]) -> list[tuple[str, list[str]]]:
    keys = [key for key in ("class_histogram", "raw_class_histogram") if key in evaluation]
    return [(name, [f"{evaluation[key][i]:.1%}" for key in keys]) for i, name in enumerate(CLASS_NAMES)]


def _conditional_rows(evaluation: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(class, consistency, FID) per class, for a class-conditional generator's samples."""
    if "class_consistency_per_class" not in evaluation:
        return []
    pairs = zip(evaluation["class_consistency_per_class"], evaluation["fid_per_class"], strict=True)
    return [(name, f"{share:.1%}", _fmt(fid)) for name, (share, fid) in zip(CLASS_NAMES, pairs, strict=True)]


def _validation_rows(validation: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for split, result in validation.items():
        passed = sum(r["success"] for r in result["results"])
        rows.append(
            (split, "passed" if result["success"] else "FAILED", f"{passed}/{len(result['results'])} expectations")
        )
    return rows


def _figures(files: ReportFiles, history: pd.DataFrame, steps: pd.DataFrame, metric_names: list[str]) -> list:
    """(caption, path) of each curve drawn."""
    drawn = []

    def plot(name: str, caption: str, x, series: dict, xlabel: str) -> None:
        path = files.figures / name
        line_plot(path, list(x), {k: list(v) for k, v in series.items()}, xlabel, caption)
        drawn.append((caption, path))

    plot("losses.png", "Losses (mean over each logging window)", steps["step"],
         {k: steps[k] for k in ("d_loss", "g_loss")}, "step")  # fmt: skip
    others = [name for name in metric_names if name not in ("d_loss", "g_loss") and name in history]
    if others:
        plot("discriminator_outputs.png", "Objective's other metrics per epoch", history["epoch"],
             {k: history[k] for k in others}, "epoch")  # fmt: skip
    if "monitor_fid" in history:
        plot("monitor_fid.png", "Per-epoch FID (small sample)", history["epoch"],
             {"FID (monitor sample)": history["monitor_fid"]}, "epoch")  # fmt: skip
        plot("monitor_coverage.png", "Per-epoch mode coverage", history["epoch"],
             {"classes covered": history["monitor_classes_covered"]}, "epoch")  # fmt: skip
    if "monitor_class_consistency" in history:
        plot("monitor_class_consistency.png", "Per-epoch class consistency (small sample)", history["epoch"],
             {"class consistency": history["monitor_class_consistency"]}, "epoch")  # fmt: skip
    return drawn


def write_report(files: ReportFiles, params: dict[str, Any], gif_frame_seconds: float, min_classes: int,
                 run_url: str, store: StoreView | None = None) -> str:  # fmt: skip
    """Write the GIF, the figures and both pages; return the summary paragraph. ``store`` (the
    champion and the recent runs) fills the scorecard's champion column and the runs table."""
    from PIL import Image

    history = read_csv(files.history, "the training history")
    steps = read_csv(files.steps, "the per-step losses")
    provenance = read_json(files.provenance, "the run's provenance")
    grids = sorted(files.epochs.glob("epoch_*.png"))
    if len(grids) != len(history):
        raise DataError(f"{files.epochs}: {len(grids)} epoch grids for {len(history)} epochs; rerun the train stage")
    save_gif(files.gif, [np.asarray(Image.open(p)) for p in grids], gif_frame_seconds)
    figures = _figures(files, history, steps, provenance["metric_names"])

    evaluation = read_json(files.eval_metrics, "evaluation metrics") if files.eval_metrics.exists() else None
    accuracy = weights = None
    if files.classifier_metrics.exists():
        classifier = read_json(files.classifier_metrics, "classifier metrics")
        accuracy = classifier["test_accuracy"]
        weights = f"pinned weights, sha256 {classifier['sha256'][:12]}" if "sha256" in classifier else "trained here"
    validation = read_json(files.validation / "validation.json", "the validation results")
    kept = kept_note(provenance, history)
    columns = ["sampled generator", "raw generator"] if evaluation and "raw_fid" in evaluation else ["value"]
    if kept and len(columns) == 2:
        columns = [f"sampled generator (epoch {provenance['kept_epoch']})", f"raw generator (epoch {len(history)})"]
    page_dir = files.html.parent
    candidates = [
        ("Training progress (fixed noise, one frame per epoch)", files.gif),
        ("Final fixed-noise grid", files.samples / "fixed_noise_grid.png"),
        ("One row per class (class-conditional; the same latents in each column)", files.samples / "class_grid.png"),
        ("Fresh samples (the sampled generator: the moving average when on)", files.samples / "random_grid.png"),
        ("The same latents through the raw generator", files.samples / "random_grid_raw.png"),
        ("Latent-space walk (spherical interpolation, one row per walk)", files.samples / "latent_walk.png"),
        ("Latent-space walk, animated", files.samples / "latent_walk.gif"),
        ("First 25 training images", files.preview),
    ]
    final = history.iloc[-1].to_dict() if len(history) else {}
    text = summary(params, len(history), evaluation, kept)
    time_taken = training_time(history, provenance)
    if time_taken:
        text += f" Trained in {time_taken}."
    reference = reference_figures(files.references)
    report = {
        "summary": text,
        "scorecard": scorecard_rows(evaluation, reference, store) if evaluation else [],
        "reference": reference,
        "reference_recipe": reference["recipe"] if reference else "tutorial",
        "champion": store.champion if store else None,
        "recent_runs": _recent_rows(store),
        "run_url": run_url,
        "run_rows": [
            ("MLflow run", provenance["mlflow_run_id"]),
            ("Git commit", provenance["git_commit"]),
            ("Epochs", str(len(history))),
            *([("Training time", time_taken)] if time_taken else []),
            *([("Sampled generator from", f"epoch {provenance['kept_epoch']} (train.keep: best_fid)")] if kept else []),
            *[(f"Final {name}", _fmt(final[name])) for name in provenance["metric_names"] if name in final],
            *[(f"data sha256 {name}", digest) for name, digest in sorted(provenance["data_sha256"].items())],
        ],
        "collapse_warnings": collapse_warnings(history, min_classes),
        "final_collapse": bool(evaluation and evaluation.get("mode_collapse")),
        "generator_columns": columns,
        "evaluation_rows": _evaluation_rows(evaluation, columns) if evaluation else [],
        "class_rows": _class_rows(evaluation) if evaluation else [],
        "conditional_rows": _conditional_rows(evaluation) if evaluation else [],
        "feature_space_note": FEATURE_SPACE_NOTE,
        "classifier_accuracy": accuracy,
        "classifier_weights": weights,
        "curves": {caption: os.path.relpath(path, page_dir) for caption, path in figures},
        "images": {caption: os.path.relpath(path, page_dir) for caption, path in candidates if Path(path).exists()},
        "validation_rows": _validation_rows(validation),
        "validation_link": os.path.relpath(files.validation / "index.html", page_dir),
        "param_rows": sorted((k, _fmt(v) if isinstance(v, float) else yaml_value(v)) for k, v in params.items()),
    }
    write_text(files.html, render("report.html", report=report))
    write_text(files.markdown, render("report.md", report=report))
    return text
