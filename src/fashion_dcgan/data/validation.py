"""Great Expectations (GX Core 1.x) checks for raw and normalised Fashion-MNIST.

Each image becomes one row of a summary table (label, min, max, count of
non-finite pixels, shape), and each class one row of a balance table; the
expectations run on those tables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fashion_dcgan.data.fashion_mnist import NUM_CLASSES
from fashion_dcgan.errors import debugging
from fashion_dcgan.logs import quiet_loggers


@dataclass(frozen=True)
class DataSpec:
    """What one split must look like."""

    name: str
    rows: int
    pixel_min: float
    pixel_max: float
    dtype: str
    channels: int | None
    balance_tolerance: float


@dataclass
class ValidationReport:
    name: str
    success: bool
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        return [r["summary"] for r in self.results if not r["success"]]


def image_table(images: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    flat = images.reshape(len(images), -1)
    finite = np.isfinite(flat) if np.issubdtype(flat.dtype, np.floating) else np.ones(flat.shape, bool)
    # Extremes over finite pixels only: non-finite ones are counted separately.
    lo = np.where(finite, flat, np.inf).min(axis=1)
    hi = np.where(finite, flat, -np.inf).max(axis=1)
    shape = images.shape[1:] + (0,) * (4 - images.ndim)
    return pd.DataFrame(
        {
            "label": labels.astype(np.int64, copy=False),
            "pixel_min": lo,
            "pixel_max": hi,
            "nonfinite": (~finite).sum(axis=1),
            "height": shape[0],
            "width": shape[1],
            "channels": shape[2],
            "dtype": str(images.dtype),
        }
    )


def class_table(labels: np.ndarray) -> pd.DataFrame:
    counts = np.bincount(labels.astype(np.int64), minlength=NUM_CLASSES)[:NUM_CLASSES]
    return pd.DataFrame({"label": np.arange(NUM_CLASSES), "count": counts, "share": counts / max(len(labels), 1)})


def _expectations(spec: DataSpec) -> tuple[list[Any], list[Any]]:
    import great_expectations.expectations as gxe

    per_image = [
        gxe.ExpectTableRowCountToEqual(value=spec.rows),
        gxe.ExpectColumnValuesToBeBetween(column="label", min_value=0, max_value=NUM_CLASSES - 1),
        gxe.ExpectColumnValuesToBeBetween(column="nonfinite", min_value=0, max_value=0),
        gxe.ExpectColumnValuesToBeBetween(column="pixel_min", min_value=spec.pixel_min, max_value=spec.pixel_max),
        gxe.ExpectColumnValuesToBeBetween(column="pixel_max", min_value=spec.pixel_min, max_value=spec.pixel_max),
        gxe.ExpectColumnValuesToBeInSet(column="dtype", value_set=[spec.dtype]),
        gxe.ExpectColumnValuesToBeInSet(column="height", value_set=[28]),
        gxe.ExpectColumnValuesToBeInSet(column="width", value_set=[28]),
        gxe.ExpectColumnValuesToBeInSet(column="channels", value_set=[spec.channels or 0]),
    ]
    share = 1.0 / NUM_CLASSES
    # Rounded: the page shows the bounds as written (0.12, not 0.1 + 0.02 = 0.12000000000000001).
    low, high = round(share - spec.balance_tolerance, 9), round(share + spec.balance_tolerance, 9)
    per_class = [gxe.ExpectColumnValuesToBeBetween(column="share", min_value=low, max_value=high)]
    return per_image, per_class


def _summary(table: str, result: Any) -> dict[str, Any]:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    observed = result.result.get("observed_value")
    unexpected = result.result.get("unexpected_count")
    sample = result.result.get("partial_unexpected_list")
    detail = f"observed {observed!r}" if observed is not None else f"{unexpected or 0} unexpected"
    if sample:
        detail += f", e.g. {sample[:5]}"
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    return {
        "table": table,
        "expectation": config.type,
        "kwargs": kwargs,
        "success": bool(result.success),
        "observed": observed,
        "unexpected_count": unexpected,
        "unexpected_sample": [
            float(x) if isinstance(x, (int, float, np.number)) else str(x) for x in (sample or [])[:10]
        ],
        "summary": f"{table}: {config.type}({args}): {detail}",
    }


def validate(checks: list[tuple[np.ndarray, np.ndarray, DataSpec]]) -> list[ValidationReport]:
    """Run the GX suites for each (images, labels, spec); never raises on a failed expectation."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    if not debugging():
        quiet_loggers("great_expectations")
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    reports = []
    for images, labels, spec in checks:
        source = context.data_sources.add_pandas(f"fashion_mnist_{spec.name}")
        report = ValidationReport(spec.name, success=True)
        tables = {"images": image_table(images, labels), "classes": class_table(labels)}
        for (table, frame), expectations in zip(tables.items(), _expectations(spec), strict=True):
            name = f"{spec.name}_{table}"
            batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("all")
            suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
            definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
            outcome = definition.run(batch_parameters={"dataframe": frame})
            report.success &= bool(outcome.success)
            report.results.extend(_summary(table, r) for r in outcome.results)
        reports.append(report)
    return reports
