"""The run report: reports/index.html (opened from disk or served) and reports/report.md.

All links are relative to the reports/ folder and only name files that exist.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from fashion_dcgan.config import Params

EVALUATION_NOTES = {
    "fid": "Fréchet distance between generated and test-set features (lower is better).",
    "fid_real_floor": "The same FID between training and test images: the best a perfect generator could expect.",
    "kid": "Kernel Inception Distance (unbiased MMD², cubic kernel); ± its standard error over subsets.",
    "inception_score": "exp E[KL(p(y|x) ‖ p(y))]: high when samples are confidently classified and varied (max 10).",
    "classes_covered": "Classes predicted for at least the coverage threshold of the samples (10 = no missing mode).",
    "kl_to_uniform": "KL divergence of the predicted-class histogram to uniform (0 = balanced, 2.30 = one class).",
    "probe_accuracy": "DCGAN paper's probe: linear L2-SVM on max-pooled (4x4) discriminator features, test accuracy.",
    "probe_accuracy_random_weights": "The same probe on the same discriminator architecture with random weights.",
    "probe_accuracy_raw_pixels": "The same linear SVM on raw pixels.",
}
FEATURE_SPACE_NOTE = (
    "FID, KID and the Inception Score use our own Fashion-MNIST classifier's penultimate features instead of "
    "Inception-v3 (whose weights cannot be downloaded here): compare them between runs of this project, "
    "not with published values."
)


@dataclass
class ReportInputs:
    params: Params
    run_id: str
    run_url: str
    tracking_uri: str
    run_tags: dict[str, str]
    history: list[dict[str, Any]]
    validation: dict[str, Any]
    evaluation: dict[str, Any] | None
    classifier_accuracy: float | None
    min_classes_covered: int
    images: dict[str, str] = field(default_factory=dict)  # caption -> path relative to reports/


def collapse_warnings(history: list[dict[str, Any]], min_classes: int) -> list[str]:
    return [
        f"epoch {int(row['epoch'])}: only {int(row['monitor_classes_covered'])} classes covered (minimum {min_classes})"
        for row in history
        if row.get("monitor_classes_covered") not in (None, "") and float(row["monitor_classes_covered"]) < min_classes
    ]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _summary_rows(inputs: ReportInputs) -> list[tuple[str, str]]:
    final = inputs.history[-1] if inputs.history else {}
    rows = [
        ("MLflow run", inputs.run_id),
        ("Tracking store", inputs.tracking_uri),
        ("Git commit", inputs.run_tags.get("git_commit", "unknown")),
        ("Epochs", str(len(inputs.history))),
    ]
    rows += [(f"Final {k}", _fmt(final[k])) for k in ("d_loss", "g_loss", "d_real", "d_fake") if k in final]
    rows += [(k, v) for k, v in sorted(inputs.run_tags.items()) if k.startswith("data.sha256.")]
    return rows


def _validation_rows(validation: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for split, result in validation.items():
        checks = result["results"]
        passed = sum(r["success"] for r in checks)
        status = "passed" if result["success"] else "FAILED"
        rows.append((split, status, f"{passed}/{len(checks)} expectations"))
    return rows


def _evaluation_rows(evaluation: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for key, note in EVALUATION_NOTES.items():
        if key not in evaluation:
            continue
        value = _fmt(evaluation[key])
        if key == "kid":
            value += f" ± {_fmt(evaluation['kid_stderr'])}"
        if key == "inception_score":
            value += f" (real test images: {_fmt(evaluation['inception_score_real'])})"
        rows.append((key, value, note))
    return rows


def render_html(inputs: ReportInputs) -> str:
    e = html.escape

    def table(rows, header=None) -> str:
        head = "<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>" if header else ""
        body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        return f"<table>{head}{body}</table>"

    parts = [
        "<h1>fashion-dcgan run report</h1>",
        "<h2>Run</h2>",
        table(_summary_rows(inputs)),
        f"<p>Open the run: <code>mlflow ui --host 127.0.0.1 --port 5000</code> from the project root, then "
        f'<a href="{e(inputs.run_url)}">{e(inputs.run_url)}</a>.</p>',
    ]
    warnings = collapse_warnings(inputs.history, inputs.min_classes_covered)
    if warnings:
        items = "".join(f"<li>{e(w)}</li>" for w in warnings)
        parts.append(f"<div class='warning'><strong>Mode-collapse alarm</strong><ul>{items}</ul></div>")
    if inputs.evaluation is not None:
        if inputs.evaluation.get("mode_collapse"):
            parts.append(
                "<div class='warning'><strong>The final generator covers too few classes: "
                "likely mode collapse.</strong></div>"
            )
        parts += [
            "<h2>Evaluation</h2>",
            table(_evaluation_rows(inputs.evaluation), ("metric", "value", "meaning")),
            f"<p>{e(FEATURE_SPACE_NOTE)}</p>",
        ]
        if inputs.classifier_accuracy is not None:
            parts.append(f"<p>Feature classifier test accuracy: {inputs.classifier_accuracy:.2%}.</p>")
    parts += ["<h2>Images and curves</h2>"]
    for caption, path in inputs.images.items():
        parts.append(f'<figure><img src="{e(path)}" alt="{e(caption)}"><figcaption>{e(caption)}</figcaption></figure>')
    parts += [
        "<h2>Data validation</h2>",
        table(_validation_rows(inputs.validation), ("split", "status", "checks")),
        '<p>Details: <a href="validation/index.html">validation/index.html</a>.</p>',
        "<h2>Parameters</h2>",
        table(sorted((k, _fmt(v)) for k, v in inputs.params.flat().items())),
    ]
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}figure{display:inline-block;margin:1em}"
        "img{max-width:36em;image-rendering:pixelated}.warning{background:#fee;border:2px solid #c00;padding:0.5em 1em}"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>fashion-dcgan report</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def render_markdown(inputs: ReportInputs) -> str:
    def table(rows, header) -> list[str]:
        def cell(value: Any) -> str:
            return str(value).replace("|", "\\|")

        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows] + [""]

    lines = ["# fashion-dcgan run report", "", "## Run", ""]
    lines += table(_summary_rows(inputs), ("", "value"))
    lines += [f"Open the run with `mlflow ui --host 127.0.0.1 --port 5000`, then {inputs.run_url}", ""]
    for warning in collapse_warnings(inputs.history, inputs.min_classes_covered):
        lines += [f"> **Mode-collapse alarm:** {warning}", ""]
    if inputs.evaluation is not None:
        lines += ["", "## Evaluation", ""]
        lines += table(_evaluation_rows(inputs.evaluation), ("metric", "value", "meaning"))
        lines += [FEATURE_SPACE_NOTE, ""]
    lines += ["## Images and curves", ""]
    lines += [f"![{caption}]({path})" for caption, path in inputs.images.items()]
    lines += ["", "## Data validation", ""]
    lines += table(_validation_rows(inputs.validation), ("split", "status", "checks"))
    lines += ["Details: [validation/index.html](validation/index.html)", ""]
    return "\n".join(lines) + "\n"
