"""HTML and Markdown pages from one Jinja2 template set (src/fashion_dcgan/reporting/templates/, one stylesheet)."""

from __future__ import annotations

import functools
from typing import Any

import jinja2


@functools.cache
def _environment(markdown: bool = False) -> jinja2.Environment:
    # HTML pages escape every value. A Markdown page escapes only what makes HTML (&, <, >): a renderer
    # passes raw HTML through, so a run name such as <img onerror=...> would run as script, while an
    # apostrophe or a quote must stay as written (alt text shows entities literally in many viewers).
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("fashion_dcgan.reporting", "templates"),
        autoescape=not markdown,
        finalize=_markdown_text if markdown else None,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["cell"] = markdown_cell
    return environment


def _markdown_text(value: Any) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown_cell(value: Any) -> str:
    """``value`` as the text of one Markdown table cell: no column break, no line break, no link syntax
    (HTML is escaped after this, by the environment)."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return text.replace("[", "\\[").replace("]", "\\]")


def render(template: str, **context: Any) -> str:
    return _environment(template.endswith(".md")).get_template(template).render(**context)


def render_validation(reports: list[Any]) -> str:
    """The Great Expectations results, one table per split, failures first."""
    return render("validation.html", reports=reports)
