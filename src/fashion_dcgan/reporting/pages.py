"""HTML and Markdown pages from one Jinja2 template set (src/fashion_dcgan/reporting/templates/, one stylesheet)."""

from __future__ import annotations

import functools
from typing import Any

import jinja2


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("fashion_dcgan.reporting", "templates"),
        # Markdown too: a renderer passes raw HTML through, so a run name such as <img onerror=...> would
        # run as script. HTML entities show as the text they stand for in both formats.
        autoescape=jinja2.select_autoescape(["html", "md"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["cell"] = markdown_cell
    return environment


def markdown_cell(value: Any) -> str:
    """``value`` as the text of one Markdown table cell: no column break, no line break, no link syntax
    (HTML is escaped after this, by the environment)."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return text.replace("[", "\\[").replace("]", "\\]")


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


def render_validation(reports: list[Any]) -> str:
    """The Great Expectations results, one table per split, failures first."""
    return render("validation.html", reports=reports)
