"""DVC stage `report`: the training GIF, curves, reports/index.html and reports/report.md.

Everything is also logged to the training run in MLflow under `report/`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from fashion_dcgan.config import load_params
from fashion_dcgan.errors import DataError, entry_point
from fashion_dcgan.stages import parse_args

log = logging.getLogger("fashion_dcgan.stages.report")


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: cannot read {what} ({error}); run `dvc repro` to produce it") from None


def _read_csv(path: Path) -> list[dict[str, Any]]:
    import csv

    try:
        with open(path, newline="") as handle:
            return [{k: float(v) if v != "" else None for k, v in row.items()} for row in csv.DictReader(handle)]
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: cannot read training history ({error}); run the train stage") from None


@entry_point
def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__, argv, reports="reports")
    params = load_params(args.params)
    reports = Path(args.reports)

    from fashion_dcgan.tracking import check_reachable, tracking_uri

    uri = tracking_uri()
    check_reachable(uri)

    import numpy as np
    from PIL import Image

    from fashion_dcgan.files import write_text
    from fashion_dcgan.imaging import save_gif
    from fashion_dcgan.plots import line_plot
    from fashion_dcgan.report import ReportInputs, render_html, render_markdown
    from fashion_dcgan.tracking import RunLogger

    train_metrics = _read_json(reports / "train_metrics.json", "training metrics")
    history = _read_csv(reports / "train_history.csv")
    steps = _read_csv(reports / "train_steps.csv")
    grids = sorted((reports / "epochs").glob("epoch_*.png"))
    if len(grids) != len(history):
        raise DataError(
            f"{reports / 'epochs'}: {len(grids)} epoch grids for {len(history)} epochs; rerun the train stage"
        )
    save_gif(reports / "training.gif", [np.asarray(Image.open(p)) for p in grids], params.report.gif_frame_seconds)

    figures = reports / "figures"
    epochs = [row["epoch"] for row in history]
    line_plot(
        figures / "losses.png",
        [r["step"] for r in steps],
        {k: [r[k] for r in steps] for k in ("d_loss", "g_loss")},
        "step",
        "Losses (mean over each logging window)",
    )
    line_plot(
        figures / "discriminator_outputs.png",
        epochs,
        {"D(x)": [r["d_real"] for r in history], "D(G(z))": [r["d_fake"] for r in history]},
        "epoch",
        "Mean discriminator output",
    )
    images = {
        "Training progress (fixed noise, one frame per epoch)": "training.gif",
        "Final fixed-noise grid": "samples/fixed_noise_grid.png",
        "Fresh samples": "samples/random_grid.png",
        "Latent-space walk (spherical interpolation, one row per walk)": "samples/latent_walk.png",
        "Latent-space walk, animated": "samples/latent_walk.gif",
        "Losses": "figures/losses.png",
        "D(x) and D(G(z))": "figures/discriminator_outputs.png",
        "First 25 training images": "preview.png",
    }
    if history and history[0].get("monitor_fid") is not None:
        line_plot(
            figures / "monitor_fid.png",
            epochs,
            {"FID (monitor sample)": [r["monitor_fid"] for r in history]},
            "epoch",
            "Per-epoch FID (small sample)",
        )
        line_plot(
            figures / "monitor_coverage.png",
            epochs,
            {"classes covered": [r["monitor_classes_covered"] for r in history]},
            "epoch",
            "Per-epoch mode coverage",
        )
        images |= {
            "Per-epoch FID": "figures/monitor_fid.png",
            "Per-epoch mode coverage": "figures/monitor_coverage.png",
        }

    evaluation_file, classifier_file = reports / "eval_metrics.json", reports / "classifier_metrics.json"
    tracker = RunLogger(uri, train_metrics["mlflow_run_id"], reopen=False)
    inputs = ReportInputs(
        params=params,
        run_id=tracker.run_id,
        run_url=tracker.run_url(),
        tracking_uri=uri,
        run_tags=tracker.tags(),
        history=history,
        validation=_read_json(reports / "validation" / "validation.json", "the validation results"),
        evaluation=_read_json(evaluation_file, "evaluation metrics") if evaluation_file.exists() else None,
        classifier_accuracy=_read_json(classifier_file, "classifier metrics")["test_accuracy"]
        if classifier_file.exists()
        else None,
        min_classes_covered=params.evaluate.min_classes_covered,
        images={caption: path for caption, path in images.items() if (reports / path).exists()},
    )
    write_text(reports / "index.html", render_html(inputs))
    write_text(reports / "report.md", render_markdown(inputs))
    for name in ("index.html", "report.md", "training.gif", "figures", "samples"):
        tracker.log_artifact(reports / name, "report")
    log.info("wrote %s (MLflow run %s)", reports / "index.html", tracker.run_id)


if __name__ == "__main__":
    main()
