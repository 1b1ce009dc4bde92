"""HTML and Markdown pages from one Jinja2 template set (src/fashion_dcgan/reporting/templates/, one stylesheet)."""

from __future__ import annotations

import functools
from typing import Any

import jinja2


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("fashion_dcgan.reporting", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["cell"] = lambda value: str(value).replace("|", "\\|").replace("\n", " ")
    return environment


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


def render_validation(reports: list[Any]) -> str:
    """The Great Expectations results, one table per split, failures first."""
    return render("validation.html", reports=reports)
