"""The report is assembled from the pipeline's files for whatever metrics the objective declared."""

from __future__ import annotations

import dataclasses
import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd

from fashion_dcgan.config import parse_params
from fashion_dcgan.evaluation.reference_points import reference_points
from fashion_dcgan.files import write_csv, write_json
from fashion_dcgan.imaging import save_png
from fashion_dcgan.reporting.report import ReportFiles, write_report

HINGE = ["d_loss", "g_loss", "d_real_score", "d_fake_score"]


def pipeline_files(root) -> ReportFiles:
    reports = root / "reports"
    files = ReportFiles(
        history=reports / "train_history.csv", steps=reports / "train_steps.csv",
        provenance=reports / "provenance.json", epochs=reports / "epochs", samples=reports / "samples",
        validation=reports / "validation", preview=reports / "preview.png", eval_metrics=reports / "eval.json",
        classifier_metrics=reports / "classifier.json", html=reports / "index.html", markdown=reports / "report.md",
        gif=reports / "training.gif", figures=reports / "figures",
    )  # fmt: skip
    rows = [{"epoch": e, **{name: 0.1 * e for name in HINGE}, "monitor_fid": 50.0 / e,
             "monitor_classes_covered": 6 + e} for e in (1, 2)]  # fmt: skip
    write_csv(files.history, rows)
    write_csv(files.steps, [{"step": s, **{name: 0.01 * s for name in HINGE}} for s in (5, 10, 15, 20)])
    write_json(files.provenance, {"git_commit": "abc123", "data_sha256": {"train_images": "f00d"},
                                  "mlflow_run_id": "run42", "metric_names": HINGE})  # fmt: skip
    image = np.zeros((28, 28), np.uint8)
    for path in (files.epochs / "epoch_0001.png", files.epochs / "epoch_0002.png", files.preview,
                 files.samples / "fixed_noise_grid.png", files.samples / "random_grid.png"):  # fmt: skip
        save_png(path, image)
    write_json(files.validation / "validation.json", {"train_raw": {"success": True, "results": [{"success": True}]}})
    (files.validation / "index.html").write_text("<html></html>")
    histogram = [0.1] * 10
    evaluation = {"fid": 12.5, "raw_fid": 14.0, "kid": 0.5, "kid_stderr": 0.1, "raw_kid": 0.7, "raw_kid_stderr": 0.1,
                  "precision": 0.8, "raw_precision": 0.7, "recall": 0.4, "raw_recall": 0.3, "density": 0.9,
                  "raw_density": 0.8, "coverage": 0.6, "raw_coverage": 0.5, "classes_covered": 10,
                  "raw_classes_covered": 9, "kl_to_uniform": 0.01, "raw_kl_to_uniform": 0.02, "mode_collapse": 0,
                  "class_histogram": histogram, "raw_class_histogram": histogram, "fid_real_floor": 0.6,
                  "inception_score": 7.0, "raw_inception_score": 6.5, "inception_score_real": 8.2}  # fmt: skip
    write_json(files.eval_metrics, evaluation)
    write_json(files.classifier_metrics, {"test_accuracy": 0.9185})
    return files


def test_a_hinge_run_reports_its_own_metrics_and_both_generators(tmp_path):
    files = pipeline_files(tmp_path)
    params = parse_params({"model": {"objective": "hinge"}, "train": {"ema": {"decay": 0.999}}}).flat()
    summary = write_report(files, params, 0.5, 8, "http://127.0.0.1:5000/#/runs/run42")
    page = files.html.read_text()
    assert (
        "hinge objective" in summary
        and "generator EMA 0.999" in summary
        and "FID 12.5 (raw generator 14.0; real data 0.60)" in summary
    )
    for text in ("Final d_real_score", "Final d_fake_score", "abc123", "f00d", "sampled generator", "raw generator",
                 "Sneaker", "precision", "coverage", "91.85%"):  # fmt: skip
        assert text in page, text
    assert "Final d_real<" not in page  # no metric the objective did not declare
    assert (files.figures / "discriminator_outputs.png").is_file() and (files.figures / "losses.png").is_file()
    # Two monitor epochs below 8 classes: 7 and 8 covered -> one alarm (epoch 1).
    assert page.count("classes covered (minimum 8)") == 1

    class Links(HTMLParser):
        def __init__(self):
            super().__init__()
            self.links: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.links += [value for name, value in attrs if name in ("src", "href") and not value.startswith("http")]

    parser = Links()
    parser.feed(page)
    assert len(parser.links) >= 8
    for link in parser.links:
        assert (files.html.parent / link).is_file(), link
    markdown = files.markdown.read_text()
    assert "| fid | 12.5 | 14.0 |" in markdown and json.loads(files.provenance.read_text())["mlflow_run_id"] in markdown


class Recorder:
    """A stand-in for the MLflow run that keeps what is logged."""

    def __init__(self):
        self.metrics: dict[str, float] = {}
        self.artifacts: list[str] = []

    def log_metrics(self, rows):
        self.metrics |= {key: value for key, value, _ in rows}

    def log_artifact(self, path, artifact_path=None):
        self.artifacts.append(str(path))


def test_every_registered_metric_reaches_the_json_mlflow_and_the_report(tmp_path):
    """Adding a metric is one registry entry: computed, written, logged and shown without other edits."""
    from fashion_dcgan.config import EvaluateParams
    from fashion_dcgan.data.fashion_mnist import CLASS_NAMES, slug
    from fashion_dcgan.evaluation.evaluate import record
    from fashion_dcgan.evaluation.metric_registry import (
        GENERATED,
        METRICS,
        GeneratedSet,
        ProbedDiscriminator,
        RealSet,
        compute,
        generated_set_metrics,
    )  # fmt: skip
    from fashion_dcgan.files import read_json

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 30)
    real = rng.normal(size=(300, 8)) + labels[:, None]
    probabilities = np.eye(10)[labels] * 0.9 + 0.01
    cfg = EvaluateParams(kid_subsets=3, kid_subset_size=50, is_splits=2)
    metrics = compute("reference", RealSet(real, probabilities, real + 0.1, lambda features: 0.5,
                                           lambda images: images, 300, cfg, labels))  # fmt: skip
    assert metrics["class_consistency_real"] == 1.0  # the classifier agrees with every label here
    for prefix, shift in (("", 0.2), ("raw_", 0.4)):
        fake = GeneratedSet(real + shift, probabilities, real, cfg, labels, labels)
        metrics |= {prefix + key: value for key, value in generated_set_metrics(fake).items()}
    metrics |= compute("discriminator", ProbedDiscriminator(0.75))
    expected = {m.name for m in METRICS} | {f"raw_{m.name}" for m in METRICS if m.source in GENERATED}
    assert set(metrics) == expected

    files = pipeline_files(tmp_path)
    write_json(files.eval_metrics, metrics)
    assert set(read_json(files.eval_metrics, "metrics")) == expected
    tracker = Recorder()
    record(tracker, read_json(files.eval_metrics, "metrics"), files.eval_metrics)
    for metric in METRICS:
        for name in [metric.name] + ([f"raw_{metric.name}"] if metric.source in GENERATED else []):
            logged = [f"eval/{name}/{slug(c)}" for c in CLASS_NAMES] if metric.per_class else [f"eval/{name}"]
            assert set(logged) <= set(tracker.metrics), name
    assert tracker.artifacts == [str(files.eval_metrics)]

    write_report(files, parse_params({}).flat(), 0.5, 8, "http://127.0.0.1:5000/#/runs/run42")
    page = files.html.read_text()
    spreads = {m.spread: m for m in METRICS if m.spread}
    shown_beside = spreads | {m.real: m for m in METRICS if m.real}
    for metric in METRICS:
        if metric.row:
            assert f"<td>{metric.name}</td><td>{metric.format(metrics[metric.name])}" in page, metric.name
        elif metric.per_class:
            assert metric.format(metrics[metric.name][3]) in page, metric.name
        elif metric.name in spreads:  # beside its value, to the value's decimals
            owner = spreads[metric.name]
            pair = owner.format_with_spread(metrics[owner.name], metrics[metric.name], metric)
            assert pair in page, metric.name
        else:
            assert metric.name in shown_beside and metric.format(metrics[metric.name]) in page, metric.name


def test_the_scorecard_answers_is_this_good_before_the_long_tables(tmp_path):
    from fashion_dcgan.reporting.report import StoreView

    files = pipeline_files(tmp_path)
    references = tmp_path / "reference_points.json"
    rows = [
        {
            "recipe": "tutorial",
            "seed": seed,
            "epoch": 10,
            "epochs": 10,
            "fid": fid,
            "kid": 1.0,
            "precision": 0.6,
            "recall": 0.2,
            "classes_covered": 10,
        }
        for seed, fid in ((1, 280.0), (2, 300.0))
    ]
    rows.append({**rows[0], "epoch": 5, "fid": 400.0})  # not a final epoch: ignored
    write_json(references, reference_points(pd.DataFrame(rows), "tutorial"))  # what makes the file
    files = dataclasses.replace(files, references=references)
    url = "http://127.0.0.1:5000/#/experiments/1/runs/"
    champion = {
        "version": "3",
        "run_id": "best",
        "run_name": "tutorial-r1-e10-s1",
        "url": url + "best",
        "metrics": {"fid": 10.0, "precision": 0.7},
        "this_run": False,
    }
    recent = [
        {"name": "this-one", "url": url + "run42", "recipe": "r1, EMA 0.999, 10 epochs, seed 42",
         "metrics": {"fid": 12.5, "precision": 0.8}, "champion": False, "this_run": True},
        {"name": "tutorial-r1-e10-s1", "url": url + "best", "recipe": "r1, EMA 0.999, 10 epochs, seed 1",
         "metrics": {"fid": 10.0, "precision": 0.7, "recall": 0.5}, "champion": True, "this_run": False},
    ]  # fmt: skip
    write_report(files, parse_params({}).flat(), 0.5, 8, url + "run42", StoreView(champion, recent))
    page = files.html.read_text()
    order = [page.index(heading) for heading in ("Is it good?", "<h2>Curves", "<h2>Images", "Recent runs",
                                                  "<h2>Evaluation", "<h2>Parameters")]  # fmt: skip
    assert order == sorted(order)
    scorecard = page[page.index("Is it good?") : page.index("<h2>Curves")]
    # FID: this run 12.5; the tutorial recipe 290 ± 10 over 2 seeds (worse); the champion 10.0 (better).
    assert "290.0 ± 10.0" in scorecard and "2 seeds" in scorecard and "version 3" in scorecard
    fid_row = scorecard[scorecard.index("FID <small>") : scorecard.index("KID <small>")]
    assert "▲ better" in fid_row.split("290.0")[1].split("</td>")[0]
    assert '10.0 <span class="bad">▼ worse' in fid_row and "0.60" in fid_row  # the real data's floor
    precision_row = scorecard[scorecard.index("precision <small>") : scorecard.index("recall <small>")]
    assert precision_row.count("▲ better") == 2  # 0.8 beats 0.6 and 0.7
    runs = page[page.index("Recent runs") : page.index("<h2>Run<")]
    assert 'href="http://127.0.0.1:5000/#/experiments/1/runs/best"' in runs and "(this run)" in runs
    assert runs.count("champion</td>") == 1
    markdown = files.markdown.read_text()
    assert "## Is it good?" in markdown and "▲ better" in markdown and "[this-one](" in markdown


def test_without_a_store_or_references_the_scorecard_still_shows_this_run(tmp_path):
    files = pipeline_files(tmp_path)
    write_report(files, parse_params({}).flat(), 0.5, 8, "http://127.0.0.1:5000/#/runs/run42")
    page = files.html.read_text()
    assert "Is it good?" in page and "champion<br>" not in page and "Recent runs" not in page


def test_a_kept_earlier_epoch_is_named_in_the_summary_the_run_table_and_the_columns(tmp_path):
    files = pipeline_files(tmp_path)
    rows = [{"epoch": e, **{name: 0.1 * e for name in HINGE}, "monitor_fid": fid, "monitor_classes_covered": 10}
            for e, fid in ((1, 20.0), (2, 30.0))]  # fmt: skip
    write_csv(files.history, rows)
    provenance = json.loads(files.provenance.read_text())
    params = parse_params({"train": {"keep": "best_fid"}}).flat()
    write_json(files.provenance, {**provenance, "kept_epoch": 2, "keep": "best_fid"})
    assert "kept the generator" not in write_report(files, params, 0.5, 8, "")  # the last epoch: nothing to add

    write_json(files.provenance, {**provenance, "kept_epoch": 1, "keep": "best_fid"})
    summary = write_report(files, params, 0.5, 8, "")
    assert "kept the generator of epoch 1 of 2, the lowest monitored FID (20.0) (train.keep: best_fid)" in summary
    page, markdown = files.html.read_text(), files.markdown.read_text()
    for text in ("sampled generator (epoch 1)", "raw generator (epoch 2)", "Sampled generator from"):
        assert text in page and text in markdown, text


HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    '"><svg onload=alert(3)>',
    "[click](javascript:alert(4))",
    "a | b\n<iframe src=javascript:alert(5)>",
]


def test_hostile_run_names_and_params_render_as_text_in_both_reports(tmp_path, browser):
    """Run names, recipes and params from the tracking store are data: neither report runs them, the
    HTML page in Chromium, nor the Markdown rendered by a CommonMark renderer (raw HTML allowed) and
    then opened in Chromium."""
    from markdown_it import MarkdownIt
    from mlflow import MlflowClient

    from fashion_dcgan.reporting.report import read_store
    from tests.conftest import watched_page

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("fashion-dcgan")
    runs = [client.create_run(experiment, run_name=name).info.run_id for name in HOSTILE]
    for run in runs:
        client.log_metric(run, "eval/fid", 100.0)
    files = pipeline_files(tmp_path)
    params = {**parse_params({}).flat(), "train.augment": HOSTILE[1], "model.variant": HOSTILE[0]}
    write_report(files, params, 0.5, 8, "http://127.0.0.1:5000/#/runs/run42", read_store(client, runs[0]))

    markdown = files.markdown.read_text()
    assert "<img" not in markdown and "<script" not in markdown
    rendered = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    tags = re.findall(r"<[a-zA-Z][^>]*>", rendered)  # the elements, not the text between them
    assert not [tag for tag in tags if re.search(r"javascript:|onerror|onload|<(script|iframe|svg)", tag)], tags
    (tmp_path / "markdown.html").write_text(f"<!DOCTYPE html><html><body>{rendered}</body></html>")
    for page_file in (files.html, tmp_path / "markdown.html"):
        page = watched_page(browser)
        dialogs = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))  # noqa: B023
        page.goto(page_file.as_uri(), wait_until="load")
        page.wait_for_timeout(500)
        text = page.inner_text("body")
        assert dialogs == [], (page_file.name, dialogs)
        assert "<img src=x onerror=alert(1)>" in text, page_file.name  # shown as the text it is
        assert page.locator("script, iframe, svg[onload], img[onerror]").count() == 0, page_file.name
        page.close()


def test_the_report_says_how_long_training_took_and_formats_values_as_written(tmp_path):
    """The training time with the machine class and precision; spreads to their value's decimals; params
    as YAML spells them; Markdown alt text and cells without HTML entities for quotes."""
    files = pipeline_files(tmp_path)
    history = pd.read_csv(files.history).assign(epoch_seconds=[100.0, 110.0])
    write_csv(files.history, history.to_dict("records"))
    provenance = json.loads(files.provenance.read_text())
    write_json(files.provenance, {**provenance, "precision": "float32", "machine": "float32 CPU (AMD EPYC 7R13)"})
    evaluation = json.loads(files.eval_metrics.read_text())
    write_json(files.eval_metrics, {**evaluation, "kid": 22.2571, "kid_stderr": 0.70781})
    params = parse_params({}).flat()
    text = write_report(files, params, 0.5, 8, "http://127.0.0.1:5000/#/runs/run42")
    assert "Trained in 3.5 min for 2 epochs (1.8 min an epoch) on a float32 CPU (AMD EPYC 7R13), in float32." in text
    markdown, page = files.markdown.read_text(), files.html.read_text()
    assert "| Training time | 3.5 min for 2 epochs (1.8 min an epoch) on a float32 CPU" in markdown
    assert "22.26 ± 0.71" in markdown and "0.7078" not in markdown and "22.26 ± 0.71" in page
    assert "<td>data.train_limit</td><td>null</td>" in page and "<td>model.conditional</td><td>false</td>" in page
    assert "<td>train.augment</td><td>[]</td>" in page and ">None<" not in page and ">True<" not in page
    assert "![Objective's other metrics per epoch](" in markdown and "&#39;" not in markdown
    assert "&#39;" in page or "Objective's" in page  # HTML escapes as it must, and says the same


def test_a_run_without_epoch_times_has_no_training_time_row(tmp_path):
    files = pipeline_files(tmp_path)
    write_report(files, parse_params({}).flat(), 0.5, 8, "http://127.0.0.1:5000/#/runs/run42")
    assert "Training time" not in files.markdown.read_text()


def test_the_stored_reference_points_are_what_the_recorded_table_gives():
    from pathlib import Path

    from fashion_dcgan.evaluation.reference_points import REFERENCE_POINTS

    stored = json.loads(REFERENCE_POINTS.read_text())
    table = pd.read_csv(Path(__file__).parents[1] / "benchmarks" / "results" / "recipes_10epoch.csv")
    made = reference_points(table, stored["recipe"])
    assert made["mean"].keys() == stored["mean"].keys() == made["spread"].keys() and "fid" in made["mean"]
    assert made == stored
