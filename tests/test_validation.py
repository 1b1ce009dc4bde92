"""Great Expectations catches each planted defect and passes clean data."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import pytest

from fashion_dcgan.data.prepare import normalize
from fashion_dcgan.data.validation import DataSpec, validate
from fashion_dcgan.reporting.pages import render_validation
from tests.conftest import synthetic_split

ROWS = 200


def processed_spec(rows: int = ROWS) -> DataSpec:
    return DataSpec("train_processed", rows, -1, 1, "float32", 1, 0.02)


@pytest.fixture(scope="module")
def clean() -> tuple[np.ndarray, np.ndarray]:
    images, labels = synthetic_split(ROWS)
    return normalize(images), labels


def failures(images, labels, spec=None) -> list[str]:
    (report,) = validate([(images, labels, spec or processed_spec())])
    assert report.success == (not report.failures)
    return report.failures


def test_clean_data_passes(clean):
    images, labels = clean
    raw, _ = synthetic_split(ROWS)
    assert failures(images, labels) == []
    assert failures(raw, labels, DataSpec("train_raw", ROWS, 0, 255, "uint8", None, 0.02)) == []


def _planted(clean, defect):
    images, labels = clean[0].copy(), clean[1].copy()
    if defect == "pixel out of range":
        images[3, 5, 5, 0] = 1.5
    elif defect == "label 10":
        labels[7] = 10
    elif defect == "NaN":
        images[11, 0, 0, 0] = np.nan
    elif defect == "inf":
        images[12, 0, 0, 0] = -np.inf
    elif defect == "wrong row count":
        images, labels = images[:-1], labels[:-1]
    elif defect == "float64":
        images = images.astype(np.float64)
    elif defect == "wrong shape":
        images = images[:, :, :, 0]
    elif defect == "class imbalance":
        labels = np.where(labels == 9, 0, labels).astype(np.uint8)
    return images, labels


@pytest.mark.parametrize(
    ("defect", "expectation"),
    [
        ("pixel out of range", "column=pixel_max"),
        ("label 10", "column=label"),
        ("NaN", "column=nonfinite"),
        ("inf", "column=nonfinite"),
        ("wrong row count", "expect_table_row_count_to_equal"),
        ("float64", "column=dtype"),
        ("wrong shape", "column=channels"),
        ("class imbalance", "column=share"),
    ],
)
def test_each_planted_defect_is_named(clean, defect, expectation):
    found = failures(*_planted(clean, defect))
    assert found, defect
    assert any(expectation in failure for failure in found), found


def test_html_report_parses_and_shows_failures(clean):
    reports = validate([(*_planted(clean, "label 10"), processed_spec())])
    page = render_validation(reports)
    HTMLParser().feed(page)
    assert "FAILED" in page and "expect_column_values_to_be_between" in page


def test_the_page_shows_the_class_balance_bounds_as_written(clean):
    """0.1 ± 0.02 shows as 0.08 and 0.12, not 0.12000000000000001."""
    page = render_validation(validate([(*clean, processed_spec())]))
    assert "0.12" in page and "0.08" in page and "0.12000000000000001" not in page and "0.08000000000000002" not in page
