"""The figures of a brief, drawn with :mod:`sdrev.figures` and embedded as SVG.

Vector figures print sharp in the PDF and scale in the browser; each is a
``data:image/svg+xml;base64,...`` URI, so the HTML stays one self-contained
file.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

from sdrev.report.brief.words import metric_words

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sdrev.report.brief.record import Brief

__all__ = ["brief_figures", "figure_uri"]


def figure_uri(fig: Figure, *, format: str = "svg", dpi: int = 130) -> str:
    """A figure as a ``data:`` URI (``svg`` or ``png``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=format, dpi=dpi, metadata={"Date": None} if format == "svg"
                else None)
    mime = "image/svg+xml" if format == "svg" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def brief_figures(brief: Brief) -> dict[str, str]:
    """Figure key -> data URI, in the order the brief shows them."""
    from sdrev.figures.compare import comparison_figure, regime_map_figure
    from sdrev.figures.loop_scores import loop_score_figure
    from sdrev.figures.sensitivity import index_bar_figure, sobol_figure

    bands = brief.uncertainty.bands if brief.uncertainty is not None else None
    figs = {"trajectories": figure_uri(comparison_figure(brief.comparison, bands=bands))}
    lev = brief.levers
    if lev is not None and len(lev.parameters) and lev.parameters["value"].notna().any():
        labels = dict(zip(lev.parameters["factor"], lev.parameters["label"]))
        kw = {"group": "parameters", "output": lev.output, "metric": lev.metric,
              "labels": labels, "title": f"What decides {lev.output} "
                                         f"{metric_words(lev.metric, brief.model.time.units)}"}
        fig = (sobol_figure(lev.indices, **kw) if lev.method == "sobol" else
               index_bar_figure(lev.indices, index=lev.main_index, **kw))
        figs["levers"] = figure_uri(fig)
    if brief.loops is not None and len(brief.loops.loops):
        figs["loops"] = figure_uri(loop_score_figure(
            brief.loops, top=6, partitions=[brief.loops.main_partition()], named=True,
            title="Which feedback loops drive the model, over time"))
    if brief.loop_ensemble is not None:
        from sdrev.figures.loops import dominance_probability_figure
        figs["dominance"] = figure_uri(dominance_probability_figure(
            brief.loop_ensemble, title="How often each documented mechanism leads, over "
                                       "the " + (brief.uncertainty.sets_words
                                                 if brief.uncertainty is not None
                                                 else "plausible parameter sets")))
    if brief.regime_map is not None:
        figs["regime"] = figure_uri(regime_map_figure(brief.regime_map))
    return figs
