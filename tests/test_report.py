"""The report is assembled from the pipeline's files for whatever metrics the objective declared."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np

from fashion_dcgan.config import parse_params
from fashion_dcgan.files import write_csv, write_json
from fashion_dcgan.imaging import save_png
from fashion_dcgan.report import ReportFiles, write_report

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
        "hinge objective" in summary and "generator EMA 0.999" in summary and "FID 12.5 (raw generator 14.0)" in summary
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
    assert "| fid | 12.5 | 14 |" in markdown and json.loads(files.provenance.read_text())["mlflow_run_id"] in markdown
