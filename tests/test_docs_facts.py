"""What the docs and the Makefile say about the default, the charts and the comparison view agrees with
the code and the recorded results: a change of default that leaves a page behind fails here."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, make_dry_run

USER_PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# Pages that tell history: the research log and the results page name earlier defaults on purpose.
HISTORY = {"research-log.md", "results.md", "benchmarks.md"}
CURRENT_PAGES = [page for page in USER_PAGES if page.name not in HISTORY]


def schema_defaults() -> dict:
    from fashion_dcgan.config import parse_params

    return parse_params({}).model_dump()


def default_of(dotted: str, defaults: dict):
    value = defaults
    for part in dotted.split("."):
        value = value[part]
    return value


def bullets(text: str):
    """Each Markdown bullet that starts with a key (``- `train.keep`: ...``), with its continuation lines:
    (key, indentation, text). A sub-bullet inherits the key of the bullet above it."""
    key, indent, lines = None, 0, []
    for line in [*text.splitlines(), ""]:
        start = re.match(r"( *)- `([a-z_]+(?:\.[a-z_*]+)+)`", line)
        sub = re.match(r"( +)- ", line)
        if start or sub or not line.strip():
            if key and lines:
                yield key, indent, " ".join(lines)
            lines = []
            if start:
                key, indent = start.group(2), len(start.group(1))
            elif not line.strip() or not sub or len(sub.group(1)) <= indent:
                key = key if sub else None
        if key:
            lines.append(line.strip())


def claimed_defaults(text: str):
    """(key, value) for each "`value` (default)" of a keyed bullet, a value of ``key: value`` or a YAML
    mapping of some of the key's settings included."""
    for key, _, body in bullets(text):
        for spelt in re.findall(r"`([^`]+)` \(default\)", body):
            match = re.fullmatch(r"([a-z_]+(?:\.[a-z_]+)+): (.+)", spelt)
            yield (match.group(1), match.group(2)) if match else (key, spelt)


def test_every_default_a_page_names_is_the_schemas():
    defaults = schema_defaults()
    checked = 0
    for page in USER_PAGES:
        for key, spelt in claimed_defaults(page.read_text()):
            value = yaml.safe_load(spelt)
            actual = default_of(key, defaults)
            if isinstance(value, dict):  # some of a section's settings, e.g. {decay: none}
                assert value.items() <= actual.items(), (page.name, key, spelt, actual)
            else:
                assert value == actual, (page.name, key, spelt, actual)
            checked += 1
    assert checked >= 8  # the parameters page names a default for each main key


def test_the_check_reads_a_wrong_default():
    text = "- `train.keep`: `best_fid` (default) or `last`.\n"
    assert list(claimed_defaults(text)) == [("train.keep", "best_fid")]
    assert yaml.safe_load("best_fid") != default_of("train.keep", schema_defaults())
    nested = "- `model.objective`: the loss.\n  - `{name: r1, gamma: 1.0}` (default): R1.\n"
    assert list(claimed_defaults(nested)) == [("model.objective", "{name: r1, gamma: 1.0}")]


# The recorded two-seed results of the shipped recipes, and the research recipe each was measured as. A
# run scored after every epoch at constant rates holds the shorter runs too: each recipe's figure is the
# row of its own epoch count.
MEASURED = {
    "default": (
        ["networks_deep_narrow_d_seed1.csv", "networks_deep_narrow_d_seed2.csv"],
        "research/deep-networks-narrow-d",
    ),
    "quick": (["networks_deep_narrow.csv"], "research/deep-networks-narrow"),
}


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_the_readmes_figures_are_the_recorded_results_of_the_recipe(name):
    from fashion_dcgan.config import parse_params
    from fashion_dcgan.config.recipes import recipe

    csvs, measured = MEASURED[name]
    frames = pd.concat([pd.read_csv(REPO / "benchmarks" / "results" / csv) for csv in csvs])
    assert set(frames["recipe"]) == {measured} and frames["seed"].nunique() == 2
    from benchmarks.recipes_as_measured import trains_as

    shipped = parse_params(recipe(name))
    assert trains_as(shipped) == trains_as(parse_params(recipe(measured)))
    assert not shipped.train.lr_schedule.decays  # else a longer run's early epochs are not a shorter run
    finals = frames[frames["epoch"] == shipped.train.epochs].set_index("seed")
    assert len(finals) == 2, (name, shipped.train.epochs)
    mean, spread = float(finals["fid"].mean()), float(np.ptp(finals["fid"]) / 2)
    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("|") and (
        "**the default**" in line if name == "default" else f"`preset {name}`" in line))  # fmt: skip
    assert f"{mean:.1f} ± {spread:.1f}" in row, (row, mean, spread)
    assert f"{finals['precision'].mean():.3f}" in row and f"{finals['recall'].mean():.3f}" in row, row


def test_the_epochs_the_pages_give_the_default_are_its_own():
    from fashion_dcgan.config import parse_params
    from fashion_dcgan.config.recipes import recipe

    epochs = {name: parse_params(recipe(name)).train.epochs for name in ("default", "quick", "tutorial")}
    found = 0
    for page in CURRENT_PAGES:
        text = " ".join(page.read_text().split())
        for name, count in epochs.items():
            phrases = {
                "default": r"the default(?: recipe)?",
                "quick": r"`preset quick`",
                "tutorial": r"`preset tutorial`",
            }
            for claimed in re.findall(rf"{phrases[name]} \((\d+) epochs\)|{phrases[name]} after (\d+) epochs", text):
                assert int(next(c for c in claimed if c)) == count, (page.name, name, claimed)
                found += 1
            for claimed in re.findall(rf"{phrases[name]} [^.|]{{0,80}}? for (\d+) epochs", text):
                assert int(claimed) == count, (page.name, name, claimed)
                found += 1
    assert found >= 4


def test_the_charts_have_titles_real_x_fields_and_one_quantity_each():
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    paths = dvc["vars"][0]["paths"] if isinstance(dvc.get("vars"), list) else dvc["vars"]["paths"]
    x_of = {"${paths.train_steps}": "step", "${paths.train_history}": "epoch"}
    charts = [plot for plot in dvc["plots"] if isinstance(plot, dict)]
    assert len(charts) >= 4
    for chart in charts:
        ((title, spec),) = chart.items()
        assert not title.startswith("${") and " " in title, title  # a title, not a file
        ((source, columns),) = spec["y"].items()
        assert spec["x"] == x_of[source], (title, spec)
        kinds = {"loss" if column.endswith("_loss") else column for column in columns}
        assert len(kinds) == 1, (title, columns)  # one scale per chart
        assert spec.get("x_label") and spec.get("y_label"), title
    for name, stage in dvc["stages"].items():  # a stage's own plots would chart every column by row
        assert not [plot for plot in stage.get("plots", []) if str(plot).endswith(".csv")], name
    assert paths["train_steps"].endswith(".csv")


def test_make_compare_keeps_the_generators_headline_metrics():
    from fashion_dcgan.evaluation.metric_registry import DVC_METRICS

    command = make_dry_run("compare")
    kept = re.search(r"--keep '\^\(([^)]*)\)\$'", command).group(1).split("|")
    assert set(kept) == set(DVC_METRICS) - {"probe_accuracy"}  # the probe judges the discriminator
    assert "--only-changed" in command and "src/" in command


def test_make_ui_takes_a_port():
    assert "--port 5000" in make_dry_run("ui")
    assert "--port 5123" in make_dry_run("ui", "PORT=5123")


def test_generated_pages_name_files_that_runs_write():
    text = (REPO / "docs" / "getting-started.md").read_text()
    assert "mlartifacts" not in text and "`mlruns/`" in text
    assert Path(REPO / ".gitignore").read_text().count("/mlruns/") == 1
