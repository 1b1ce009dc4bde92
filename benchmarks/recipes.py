"""The recipe table: which training recipe makes the best clothes from the tutorial's networks.

Each recipe is a file of recipes/ (the variants in recipes/research/). Every
(recipe, seed) pair trains through the same ``training.train`` the train stage calls, on the full
processed training set, then is scored with the evaluate stage's own metric code (classifier
features, 10,000 samples against the 10,000 test images). Rows are appended to a CSV as they
finish, so an interrupted sweep resumes where it stopped; ``--table`` prints the mean and spread
per recipe as Markdown.

    python -m benchmarks.recipes --epochs 1 --seeds 1 2 --out benchmarks/results/recipes_1epoch.csv
    python -m benchmarks.recipes --epochs 3 --seeds 1 2 --recipes tutorial <winner> --eval-every-epoch \\
        --out benchmarks/results/recipes_3epoch.csv
    python -m benchmarks.recipes --table benchmarks/results/recipes_1epoch.csv

Needs `dvc repro classifier` first (data/processed and models/classifier.keras).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

# The names the research log's tables and the committed CSVs use for the recipes now in recipes/ and
# recipes/research/, a record beside those CSVs; a sweep records the name it was given.
EARLIER_NAMES: dict[str, str] = json.loads((Path(__file__).parent / "results" / "recipe_names.json").read_text())[
    "names"
]


COLUMNS = ("fid", "kid", "precision", "recall", "density", "coverage", "classes_covered", "kl_to_uniform")
CONDITIONAL_COLUMNS = ("class_consistency", "fid_per_class_mean")


def params_for(name: str, seed: int, epochs: int):
    """A recipe's params (a recipes/ name such as ``tutorial`` or ``research/lazy-r1-ema``, or an earlier
    name from :data:`EARLIER_NAMES`) for ``seed`` and ``epochs``: float32 unless the recipe sets its
    precision (results measured before bfloat16 existed are float32), and no per-epoch monitor."""
    from fashion_dcgan.config import parse_params
    from fashion_dcgan.config.recipes import merge, recipe

    raw = merge({"runtime": {"precision": "float32"}}, recipe(EARLIER_NAMES.get(name, name)))
    raw = merge(raw, {"train": {"seed": seed, "epochs": epochs, "keep": "last"}, "runtime": {"monitor_samples": 0}})
    return parse_params(raw, f"recipe {name}")


class Scorer:
    """The evaluate stage's generator metrics against the test set, real features computed once."""

    def __init__(self, data: Path, classifier: Path, samples: int):
        from fashion_dcgan.config import EvaluateParams
        from fashion_dcgan.data.prepare import load_processed
        from fashion_dcgan.evaluation.classifier import FeatureExtractor
        from fashion_dcgan.modelfiles import load_model

        self.extract = FeatureExtractor(load_model(classifier))
        test_images, self.real_labels = load_processed(data, "test")
        self.real = self.extract(test_images)
        self.cfg = EvaluateParams(kid_subsets=20)  # fewer KID subsets than the stage: the spread is over seeds
        self.samples = samples

    def __call__(self, generator, seed: int = 0) -> dict:
        from fashion_dcgan.evaluation.evaluate import generator_metrics
        from fashion_dcgan.gan.networks import is_conditional
        from fashion_dcgan.gan.sampling import cycled_labels, generate, latents
        from fashion_dcgan.modelfiles import latent_dim

        # A conditional generator is asked for every class in turn, as in the sample stage.
        fake = self.extract(generate(generator, latents(seed, self.samples, latent_dim(generator))))
        requested = cycled_labels(self.samples) if is_conditional(generator) else None
        return generator_metrics(fake, self.real, self.cfg, requested, self.real_labels)


def scalars(metrics: dict) -> dict:
    """The metrics that fit a CSV cell (per-class lists go to the progress file only)."""
    return {key: value for key, value in metrics.items() if not isinstance(value, list)}


class EpochScores(keras.callbacks.Callback):
    """Scores the sampling generator every ``every`` epochs (and after the last), with the training wall
    time so far (scoring excluded). Each row is also appended to ``progress`` (JSON lines) as it is
    made, so a long run cut short keeps its curve."""

    def __init__(self, scorer: Scorer, rows: list, started: float, every: int = 1, last: int = 0,
                 progress: Path | None = None, tag: dict | None = None):  # fmt: skip
        super().__init__()
        self.scorer, self.rows, self.started = scorer, rows, started
        self.every, self.last, self.progress, self.tag = every, last, progress, tag or {}
        self.scoring = 0.0

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every and epoch + 1 != self.last:
            return
        begin = time.perf_counter()
        scores = self.scorer(self.model.sampler)
        spent = time.perf_counter() - begin
        row = {"epoch": epoch + 1, "wall_s": begin - self.started - self.scoring, "score_s": spent}
        self.rows.append({**row, **scalars(scores)})
        self.scoring += spent
        if self.progress is not None:
            with open(self.progress, "a") as handle:
                handle.write(json.dumps({**self.tag, **row, **scores}, default=float) + "\n")


class EmaShadows(keras.callbacks.Callback):
    """Moving averages of the generator at other decays than the recipe's (``gan.ema``'s, one each),
    scored beside it: one run screens the decay (``--ema-shadows``). Each is moved towards the live
    generator after every compiled call, as if the call's steps all ended at its last weights: close to
    the real average when the half-life (693 steps at 0.999) is long against a call
    (``runtime.steps_per_execution``). The 0.999 shadow of a recipe whose own average is 0.999 measures
    that approximation."""

    def __init__(self, decays: list[float], scorer: Scorer, clock: EpochScores):
        super().__init__()
        self.decays, self.scorer, self.clock = decays, scorer, clock
        self.rows: dict[float, list[dict]] = {decay: [] for decay in decays}

    def on_train_begin(self, logs=None):
        from fashion_dcgan.gan.ema import GeneratorAverage

        self.updates = int(self.model.g_optimizer.iterations.numpy())
        self.averages = {
            decay: GeneratorAverage(self.model.generator, decay, "generator_shadow") for decay in self.decays
        }
        for average in self.averages.values():  # a resumed run's warm-up counts its earlier updates
            average.updates.assign(self.updates)

    def on_train_batch_end(self, batch, logs=None):
        updates = int(self.model.g_optimizer.iterations.numpy())
        if updates > self.updates:
            for average in self.averages.values():
                average.update(updates - self.updates)
            self.updates = updates

    def on_epoch_end(self, epoch, logs=None):
        clock = self.clock
        if (epoch + 1) % clock.every and epoch + 1 != clock.last:
            return
        for decay, average in self.averages.items():
            begin = time.perf_counter()
            scores = self.scorer(average.generator)
            spent = time.perf_counter() - begin
            # The recipe's own scores came first; its clock already stands at this epoch's wall time.
            row = {"epoch": epoch + 1, "wall_s": clock.rows[-1]["wall_s"], "score_s": spent}
            self.rows[decay].append({**row, **scalars(scores)})
            clock.scoring += spent
            if clock.progress is not None:
                tag = {**clock.tag, "recipe": f"{clock.tag['recipe']}@ema{decay:g}"}
                with open(clock.progress, "a") as handle:
                    handle.write(json.dumps({**tag, **row, **scores}, default=float) + "\n")


def log_grids(gan, recipe: str, seed: int, epochs: int, study: str) -> None:
    """The same 64 latents through the sampled and the raw generator, as images of one MLflow run per
    recipe and seed in the experiment ``benchmark: STUDY`` of the project's tracking store (not files in git)."""
    from mlflow import MlflowClient
    from mlflow.entities import RunTag

    from fashion_dcgan.data.fashion_mnist import CLASS_NAMES
    from fashion_dcgan.gan.sampling import class_grid, latents, render_grid
    from fashion_dcgan.imaging import label_rows, make_grid, to_uint8
    from fashion_dcgan.tracking import tracking_uri

    client = MlflowClient(tracking_uri())
    name = f"benchmark: {study}"
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    run_id = client.create_run(experiment_id, run_name=f"{recipe}-s{seed}-e{epochs}").info.run_id
    client.log_batch(run_id, tags=[RunTag("recipe", recipe), RunTag("seed", str(seed))])
    noise = latents(0, 64, gan.latent_dim)
    for kind, generator in (("sampled", gan.sampler), ("raw", gan.generator)):
        if gan.conditional:  # one named row per class, as the sample stage draws it
            grid = label_rows(make_grid(to_uint8(class_grid(generator, 0, 8)), cols=8), CLASS_NAMES)
        else:
            grid = render_grid(generator, noise, cols=8)
        client.log_image(run_id, grid, f"{kind}_epoch{epochs}.png")
    client.set_terminated(run_id)


def run_one(
    recipe: str,
    seed: int,
    epochs: int,
    data: tuple,
    scorer: Scorer,
    eval_every: int,
    study: str,
    models: Path | None = None,
    progress: Path | None = None,
    ema_shadows: Sequence[float] = (),
) -> list[dict]:
    """The rows of one training run: the recipe's own, then one recipe ``NAME@emaD`` per shadow decay."""
    from fashion_dcgan.tracking import NullRunLogger
    from fashion_dcgan.training.loop import TrainingPaths, train

    params = params_for(recipe, seed, epochs)
    rows: list[dict] = []
    started = time.perf_counter()
    tag = {"recipe": recipe, "seed": seed, "epochs": epochs}
    scores = [EpochScores(scorer, rows, started, eval_every, epochs, progress, tag)] if eval_every else []
    if ema_shadows:
        if not eval_every:
            raise SystemExit("--ema-shadows needs --eval-every-epoch or --eval-every K")
        scores.append(EmaShadows(list(ema_shadows), scorer, scores[0]))
    with tempfile.TemporaryDirectory() as tmp:
        result = train(params, data[0], TrainingPaths.under(Path(tmp)), lambda _: NullRunLogger(), verbose=0,
                       extra_callbacks=scores, labels=data[1])  # fmt: skip
        scoring = scores[0].scoring if eval_every else 0.0
        train_s = time.perf_counter() - started - scoring
        if not eval_every:
            rows.append({"epoch": epochs, "wall_s": train_s, **scalars(scorer(result.gan.sampler))})
        raw = scorer(result.gan.generator)
        log_grids(result.gan, recipe, seed, epochs, study)
        if models is not None:  # the sampled generator, e.g. for `fashion-dcgan demo --model`
            from fashion_dcgan.modelfiles import save_model

            save_model(result.gan.sampler, models / f"{recipe}_seed{seed}_epoch{epochs}.keras")
    keras.mixed_precision.set_global_policy("float32")
    final = result.epochs[-1]
    named = [(recipe, rows)] + [(f"{recipe}@ema{d:g}", r) for d, r in (scores[-1].rows.items() if ema_shadows else [])]
    for name, part in named:
        for row in part:
            row.update(recipe=name, seed=seed, epochs=epochs, train_s=train_s, raw_fid=raw["fid"],
                       d_loss=final["d_loss"], g_loss=final["g_loss"])  # fmt: skip
    return [row for _, part in named for row in part]


def sweep(args: argparse.Namespace) -> None:
    import numpy as np

    from fashion_dcgan.data.prepare import load_processed

    out = Path(args.out)
    done = set()
    if out.exists():
        with open(out, newline="") as handle:
            done = {(row["recipe"], int(row["seed"])) for row in csv.DictReader(handle)}
    images, labels = load_processed(args.data, "train")
    scorer = Scorer(Path(args.data), Path(args.classifier), args.samples)
    # Seed-major: a sweep cut short still has every recipe at the first seed.
    for seed in args.seeds:
        for recipe in args.recipes:
            if (recipe, seed) in done:
                continue
            print(f"[{time.strftime('%H:%M:%S')}] {recipe} seed {seed}: {args.epochs} epochs", flush=True)
            data = (np.asarray(images), np.asarray(labels))
            every = 1 if args.eval_every_epoch else args.eval_every
            progress = out.with_suffix(".progress.jsonl")
            rows = run_one(recipe, seed, args.epochs, data, scorer, every, out.stem, args.save_models, progress,
                           args.ema_shadows)  # fmt: skip
            new_file = not out.exists()
            out.parent.mkdir(parents=True, exist_ok=True)
            with open(out, "a", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                if new_file:
                    writer.writeheader()
                writer.writerows(rows)
            last = [row for row in rows if row["recipe"] == recipe][-1]
            print(f"    FID {last['fid']:.1f} (raw {last['raw_fid']:.1f}), precision {last['precision']:.3f}, "
                  f"recall {last['recall']:.3f}, classes {last['classes_covered']}, {last['train_s']:.0f} s",
                  flush=True)  # fmt: skip


def table(path: str) -> str:
    """Mean ± half the range over seeds for each recipe's final epoch, as Markdown.

    With per-epoch scores (``--eval-every-epoch``), also the FID after each epoch and the
    time-to-quality: the training wall time at which each recipe first reaches the tutorial
    recipe's final FID, as a fraction of the tutorial's whole training time.
    """
    import pandas as pd

    from benchmarks.curves import first_reaching

    frame = pd.read_csv(path)
    final = frame[frame["epoch"] == frame["epochs"]]
    columns = [*COLUMNS, *(c for c in CONDITIONAL_COLUMNS if c in frame), "raw_fid", "train_s"]
    grouped = final.groupby("recipe", sort=False)[columns]
    mean, spread, seeds = grouped.mean(), (grouped.max() - grouped.min()) / 2, grouped.size()
    lines = ["| recipe | seeds | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for recipe in mean.index:
        cells = [f"{mean.loc[recipe, c]:.3g} ± {spread.loc[recipe, c]:.2g}" for c in columns]
        lines.append(f"| {recipe} | {seeds[recipe]} | " + " | ".join(cells) + " |")
    if frame["epoch"].nunique() > 1:
        curves = frame.groupby(["recipe", "epoch"], sort=False)[["fid", "wall_s"]].mean().reset_index()
        lines += ["", "FID after each epoch (mean over seeds):", ""]
        epochs = sorted(curves["epoch"].unique())
        lines += ["| recipe | " + " | ".join(f"epoch {e}" for e in epochs) + " |", "|---|" + "---|" * len(epochs)]
        for recipe, rows in curves.groupby("recipe", sort=False):
            lines.append(f"| {recipe} | " + " | ".join(f"{v:.1f}" for v in rows["fid"]) + " |")
        if "tutorial" in mean.index:
            target, budget = mean.loc["tutorial", "fid"], mean.loc["tutorial", "train_s"]
            lines += [
                "",
                f"Time to the tutorial recipe's final FID ({target:.1f}; its training took {budget:.0f} s):",
                "",
            ]
            for recipe, rows in curves.groupby("recipe", sort=False):
                first = first_reaching(rows.reset_index(drop=True), target)
                when = "not reached"
                if first is not None:
                    share = first["wall_s"] / budget
                    when = f"epoch {int(first['epoch'])}, {first['wall_s']:.0f} s = {share:.2f} of the tutorial's time"
                lines.append(f"- {recipe}: {when}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    from fashion_dcgan.config.recipes import recipe_names

    names = recipe_names(research=True)
    parser.add_argument("--recipes", nargs="+", default=names, choices=[*names, *EARLIER_NAMES],
                        help="recipes/ names (research/NAME for the variants), or their earlier names")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--eval-every-epoch", action="store_true", help="score after every epoch (time-to-quality)")
    parser.add_argument(
        "--eval-every",
        type=int,
        default=0,
        metavar="K",
        help="score after every K-th epoch and the last (long runs); 0: the last only",
    )
    parser.add_argument(
        "--ema-shadows",
        nargs="+",
        type=float,
        default=[],
        metavar="DECAY",
        help="also score moving averages of the generator at these decays (rows NAME@emaDECAY)",
    )
    parser.add_argument("--data", default="data/processed")
    parser.add_argument("--classifier", default="models/classifier.keras")
    parser.add_argument("--out", default="benchmarks/results/recipes.csv")
    parser.add_argument("--save-models", type=Path, metavar="DIR", help="keep each run's sampled generator here")
    parser.add_argument("--table", metavar="CSV", help="print the Markdown table of a finished sweep and exit")
    args = parser.parse_args(argv)
    if args.table:
        print(table(args.table))
        return
    sweep(args)


if __name__ == "__main__":
    sys.exit(main())
