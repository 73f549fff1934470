"""The self-contained HTML page: :class:`ReportSection` and :func:`build_report`.

:func:`build_report` writes one ``report.html``: figures are embedded as base64 data
URIs, the stylesheet is inline, and nothing is fetched from a network (no external CSS,
JavaScript or fonts), so the file can be mailed, archived or opened offline. All text
and table cells are HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..provenance import atomic_write_text

__all__ = ["ReportSection", "build_report"]

_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #222; background: #fff; max-width: 1100px; margin: 2em auto; padding: 0 1.2em;
       line-height: 1.5; }
h1 { font-size: 1.7em; border-bottom: 2px solid #1f77b4; padding-bottom: .2em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .15em; }
p { margin: .6em 0; }
figure { margin: 1.2em 0; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; }
table { border-collapse: collapse; margin: 1em 0; font-size: .88em; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: .25em .55em; text-align: right; white-space: nowrap; }
th { background: #f2f5f9; }
td:first-child, th:first-child { text-align: left; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: .3em 0; }
table.summary td, table.summary th { text-align: left; }
footer { margin-top: 3em; font-size: .8em; color: #777; border-top: 1px solid #ddd; padding-top: .5em; }
"""


@dataclass
class ReportSection:
    """One section of the report: a title, optional text, figures and tables.

    ``text`` is plain text; blank lines separate paragraphs. ``figures`` are paths to PNG,
    SVG or JPEG files (embedded, captioned with the file name). ``tables`` are
    DataFrames, or ``(caption, DataFrame)`` pairs.
    """

    title: str
    text: str | None = None
    figures: list[str | os.PathLike] = field(default_factory=list)
    tables: list[pd.DataFrame | tuple[str, pd.DataFrame]] = field(default_factory=list)


# --------------------------------------------------------------------------- HTML


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _paragraphs(text: str) -> str:
    """Plain text -> escaped HTML: blank lines separate paragraphs, ``- `` lines are list items."""
    out = []
    for block in str(text).replace("\r\n", "\n").split("\n\n"):
        lines = [line.rstrip() for line in block.strip().split("\n") if line.strip()]
        prose = [line for line in lines if not line.startswith("- ")]
        items = [line[2:] for line in lines if line.startswith("- ")]
        if prose:
            out.append("<p>" + "<br>".join(_esc(line) for line in prose) + "</p>")
        if items:
            out.append("<ul>" + "".join(f"<li>{_esc(item)}</li>" for item in items) + "</ul>")
    return "\n".join(out)


def _format_cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "—"
        return f"{value:.4g}"
    return str(value)


def _figure_html(path: str | os.PathLike) -> str:
    path = Path(path)
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise InputError(f"figure {path} has an unsupported type; use one of {sorted(_MIME)}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read figure {path}: {exc.strerror}; check the path") from exc
    encoded = base64.b64encode(data).decode("ascii")
    name = _esc(path.stem.replace("_", " "))
    return (
        f'<figure><img alt="{name}" src="data:{mime};base64,{encoded}">'
        f"<figcaption>{name}</figcaption></figure>"
    )


def _table_html(table: pd.DataFrame | tuple[str, pd.DataFrame]) -> str:
    caption = None
    if isinstance(table, tuple):
        caption, table = table
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"report tables must be DataFrames or (caption, DataFrame) pairs, got {type(table).__name__}")
    show_index = not isinstance(table.index, pd.RangeIndex)
    body = table.map(_format_cell) if len(table) else table
    # escape=True: pandas escapes every header and cell.
    out = body.to_html(index=show_index, escape=True, border=0, na_rep="—")
    if caption:
        out = out.replace(">\n", f">\n<caption>{_esc(caption)}</caption>\n", 1)
    return out


def _summary_html(summary: Mapping[str, Any]) -> str:
    if not summary:
        return ""
    rows = "\n".join(
        f"<tr><th>{_esc(key)}</th><td>{_esc(_format_cell(value))}</td></tr>" for key, value in summary.items()
    )
    return f'<table class="summary">\n{rows}\n</table>'


def build_report(
    out_dir: str | os.PathLike,
    *,
    title: str,
    summary: Mapping[str, Any],
    sections: Sequence[ReportSection],
) -> Path:
    """Write ``<out_dir>/report.html`` atomically and return its path.

    ``summary`` is a small ``{label: value}`` table of facts shown under the title
    (dataset, number of acquisitions, seeds, ...). Put the plain-language text of
    :func:`etal.experiment.summary.plain_summary` in the first section. Figures are embedded as base64 data
    URIs; the file references nothing outside itself.
    """
    from .. import __version__ as etal_version

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_esc(title)}</h1>",
        _summary_html(summary),
    ]
    for section in sections:
        if not isinstance(section, ReportSection):
            raise InputError(f"report sections must be ReportSection objects, got {type(section).__name__}")
        parts.append(f"<section>\n<h2>{_esc(section.title)}</h2>")
        if section.text:
            parts.append(_paragraphs(section.text))
        parts.extend(_figure_html(p) for p in section.figures)
        parts.extend(_table_html(t) for t in section.tables)
        parts.append("</section>")
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    parts += [
        f"<footer>Generated by etal {_esc(etal_version)} on {_esc(created)}.</footer>",
        "</body>",
        "</html>",
    ]
    return atomic_write_text(Path(out_dir) / "report.html", "\n".join(parts) + "\n")

