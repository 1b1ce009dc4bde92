"""DVC stage `prepare`: decode, subset, normalise and validate the raw files into processed arrays.

Validation runs before anything is committed: when an expectation fails the
stage writes the validation report and stops, leaving no processed data.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from fashion_dcgan.config import load_params
from fashion_dcgan.data.fashion_mnist import SPLIT_SIZES
from fashion_dcgan.data.prepare import load_split, normalize, subset
from fashion_dcgan.data.validation import DataSpec, validate
from fashion_dcgan.errors import DataError, entry_point
from fashion_dcgan.files import atomic_dir, write_json, write_text
from fashion_dcgan.imaging import make_grid, save_png, to_uint8
from fashion_dcgan.reporting.pages import render_validation
from fashion_dcgan.stages import parse_args

log = logging.getLogger("fashion_dcgan.stages.prepare")
PARAMS = ("data.train_limit", "data.test_limit", "data.class_balance_tolerance")
SPLITS = {"train": "train", "test": "t10k"}


@entry_point
def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__, argv, "raw", "out", "validation", "preview")
    data = load_params(args.params, PARAMS).data
    # Stale output from an earlier run must not outlive a failed validation (DVC does the same).
    shutil.rmtree(args.out, ignore_errors=True)
    limits = {"train": data.train_limit or SPLIT_SIZES["train"], "test": data.test_limit or SPLIT_SIZES["test"]}

    arrays, checks = {}, []
    for split, file_prefix in SPLITS.items():
        raw = subset(load_split(args.raw, file_prefix), limits[split])
        images = normalize(raw.images)
        tolerance = data.class_balance_tolerance
        checks += [
            (raw.images, raw.labels, DataSpec(f"{split}_raw", limits[split], 0, 255, "uint8", None, tolerance)),
            (images, raw.labels, DataSpec(f"{split}_processed", limits[split], -1, 1, "float32", 1, tolerance)),
        ]
        arrays[split] = (images, raw.labels)

    reports = validate(checks)
    validation_dir = Path(args.validation)
    write_json(
        validation_dir / "validation.json", {r.name: {"success": r.success, "results": r.results} for r in reports}
    )
    write_text(validation_dir / "index.html", render_validation(reports))
    failures = [f for r in reports for f in r.failures]
    if failures:
        raise DataError(f"data validation failed (see {validation_dir / 'index.html'}):\n  " + "\n  ".join(failures))

    with atomic_dir(args.out) as tmp:
        for split, (images, labels) in arrays.items():
            np.save(tmp / f"{split}_images.npy", images)
            np.save(tmp / f"{split}_labels.npy", labels)
    save_png(args.preview, make_grid(to_uint8(arrays["train"][0][:25]), cols=5))
    for split, (images, _) in arrays.items():
        log.info("%s: %d images, mean %.4f, validated", split, len(images), float(images.mean()))


if __name__ == "__main__":
    main()
