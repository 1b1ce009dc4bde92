"""DVC stage `report`: the training GIF, curves, the HTML report and its Markdown twin.

The report opens with a scorecard: this run beside the tutorial recipe (the committed recipe table),
the registry's champion and the real data; then the curves and images; then the recent runs of the
tracking store and the long tables.

Everything is also logged to the training run in MLflow under `report/`, with the report's
summary as the run's description.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fashion_dcgan.config import load_params
from fashion_dcgan.errors import entry_point
from fashion_dcgan.stages import parse_args

log = logging.getLogger("fashion_dcgan.stages.report")
# The report shows every parameter.
PARAMS = ("data", "model", "train", "runtime", "sample", "classifier", "evaluate", "report")
FILES = ("history", "steps", "provenance", "epochs", "samples", "validation", "preview",
         "eval_metrics", "classifier_metrics", "html", "markdown", "gif", "figures", "references")  # fmt: skip


@entry_point
def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__, argv, *FILES)
    params = load_params(args.params, PARAMS)

    from fashion_dcgan.reporting.report import ReportFiles, read_store, write_report
    from fashion_dcgan.tracking import RunLogger, check_reachable, recorded_run_id, tracking_uri

    uri = tracking_uri()
    check_reachable(uri)
    files = ReportFiles(**{name: Path(getattr(args, name)) for name in FILES})
    tracker = RunLogger(uri, recorded_run_id(files.provenance), reopen=False)
    store = read_store(tracker.client, tracker.run_id)
    text = write_report(files, params.flat(), params.report.gif_frame_seconds, params.evaluate.min_classes_covered,
                        tracker.run_url(), store)  # fmt: skip
    tracker.set_tags({"mlflow.note.content": text})
    for path in (files.html, files.markdown, files.gif, files.figures, files.samples):
        tracker.log_artifact(path, "report")
    log.info("wrote %s (MLflow run %s)", files.html, tracker.run_id)


if __name__ == "__main__":
    main()
