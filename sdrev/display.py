"""Concise displays of sdrev's result objects, in a terminal and a notebook.

The frozen dataclasses of the API hold whole tables and every equation's
documentation; their default ``repr`` prints all of it. Each main object
(model, sensitivity result, loop analysis, comparison) instead shows a few
summary lines with :func:`summary_repr` and, in Jupyter, an HTML table with
:func:`summary_html` (optionally a small table of the leading rows of a
frame), as pandas and xarray do.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

__all__ = ["summary_html", "summary_repr"]

#: Characters shown of one value before it is cut with an ellipsis.
MAX_VALUE = 100


def _short(value: object) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE - 1] + "\u2026"


def summary_repr(kind: str, title: str, rows: Sequence[tuple[str, object]]) -> str:
    """``<Kind title>`` and one ``key: value`` line per row (values cut short).

    Parameters
    ----------
    kind : str
        The class name.
    title : str
        What the object is about (the model's name, ...).
    rows : sequence of (str, object)
    """
    width = max((len(k) for k, _ in rows), default=0)
    lines = [f"<{kind} {title}>"]
    lines += [f"  {k:<{width}}  {_short(v)}" for k, v in rows]
    return "\n".join(lines)


def summary_html(kind: str, title: str, rows: Sequence[tuple[str, object]], *,
                 table=None, caption: str = "", max_rows: int = 8) -> str:
    """An HTML summary: a heading, a key/value table and, optionally, the
    first ``max_rows`` rows of a pandas DataFrame (``table``).

    Every value is escaped: model text is untrusted.
    """
    esc = html.escape
    body = "".join(f"<tr><th style='text-align:left'>{esc(k)}</th>"
                   f"<td style='text-align:left'>{esc(_short(v))}</td></tr>"
                   for k, v in rows)
    out = [f"<div><strong>{esc(kind)}</strong> {esc(title)}",
           f"<table>{body}</table>"]
    if table is not None and len(table):
        shown = table.head(max_rows)
        more = f" (first {max_rows} of {len(table)})" if len(table) > max_rows else ""
        out.append(f"<p>{esc(caption)}{esc(more)}</p>")
        out.append(shown.to_html(escape=True, index=False, float_format=lambda v: f"{v:.4g}",
                                 border=0))
    out.append("</div>")
    return "\n".join(out)
