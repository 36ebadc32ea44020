"""Loop-dominance figures (matplotlib, no global pyplot state).

:func:`loop_score_figure` draws the relative loop scores of an analysis
(:func:`sdrev.loops.analyze`) stacked over time, reinforcing shares above
zero and balancing shares below, one panel per cycle partition.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from sdrev.units import time_label

__all__ = ["loop_score_figure"]

#: Loops drawn individually per panel; the rest are summed as "other loops".
TOP_LOOPS = 8


def _label(row) -> str:
    name = f" {row.name}" if row.name else ""
    return f"{row.id}{name}"


def loop_score_figure(analysis, *, top: int = TOP_LOOPS,
                      partitions=None, time_units: str | None = None,
                      named: bool = False, title: str = "") -> Figure:
    """Stacked relative loop scores over time.

    Parameters
    ----------
    analysis : sdrev.loops.LoopAnalysis
    top : int
        Loops shown individually in each panel (by mean ``|score|``).
    partitions : iterable of int, optional
        Cycle partitions to draw (default: every partition with more than
        one loop, or the only one).
    time_units : str, optional
        Shown on the x axis; default the analysis's own
        (``analysis.time_units``, the model's time unit).
    named : bool
        Show only the loops the model documents (those with a name)
        individually; every other loop is summed into "other loops".
    title : str, optional
        The panel title (default ``"MODEL: loop dominance"``).
    """
    loops = analysis.loops
    rel = analysis.relative_scores
    if partitions is None:
        counts = loops["partition"].value_counts()
        partitions = sorted(counts[counts > 1].index) or sorted(counts.index)
    partitions = list(partitions)[:4]
    n = max(1, len(partitions))
    fig = Figure(figsize=(8.0, 3.2 * n + 0.6), layout="constrained")
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    t = rel.index.to_numpy(dtype=float)
    cmap = _colours()
    for ax, part in zip(axes, partitions):
        table = loops[loops["partition"] == part].sort_values(
            "mean_abs_score", ascending=False)
        if named:
            documented = table[table["name"].astype(str).str.len() > 0]
            shown = list(documented.head(top).itertuples(index=False))
        else:
            shown = list(table.head(top).itertuples(index=False))
        ids = {r.id for r in shown}
        rest = [r.id for r in table.itertuples(index=False) if r.id not in ids]
        series = [(_label(r), rel[r.id].to_numpy(dtype=float)[:, None]) for r in shown]
        if rest:
            series.append((f"other loops ({len(rest)})", rel[rest].to_numpy(dtype=float)))
        colours = [cmap[i % len(cmap)] for i in range(len(series))]
        pos = [np.clip(s, 0, None).sum(axis=1) for _, s in series]
        neg = [np.clip(s, None, 0).sum(axis=1) for _, s in series]
        if series:
            upper = ax.stackplot(t, *pos, colors=colours, labels=[s[0] for s in series],
                                 linewidth=0.3, edgecolor="0.2")
            lower = ax.stackplot(t, *neg, colors=colours, linewidth=0.3, edgecolor="0.2")
            for i, (a, b) in enumerate(zip(upper, lower)):
                a.set_hatch(_HATCHES[i % len(_HATCHES)])
                b.set_hatch(_HATCHES[i % len(_HATCHES)])
        ax.axhline(0, color="0.2", linewidth=0.8)
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel("Share of the change explained\n(relative loop score)", fontsize=8)
        ax.set_title((title or f"{analysis.model}: loop dominance")
                     + (f" (partition {part})" if len(partitions) > 1 else ""), fontsize=10)
        ax.grid(True, color="0.85", linewidth=0.6)
        ax.text(0.005, 0.98, "reinforcing", transform=ax.transAxes, va="top",
                fontsize=8, color="0.3")
        ax.text(0.005, 0.02, "balancing", transform=ax.transAxes, va="bottom",
                fontsize=8, color="0.3")
        if series:
            ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5),
                      frameon=False, fontsize=8)
    if time_units is None:
        time_units = getattr(analysis, "time_units", "")
    axes[-1].set_xlabel(time_label(time_units))
    return fig


def _colours():
    """Colours that stay distinct in grey-scale print: lightness steps of the
    perceptually uniform cividis map, alternating dark and light so that
    neighbouring layers contrast; hatches (:data:`_HATCHES`) separate the rest."""
    from matplotlib import colormaps
    cmap = colormaps["cividis"]
    steps = [0.05, 0.75, 0.3, 0.95, 0.5, 0.15, 0.85, 0.4, 0.6, 0.25]
    return [cmap(x) for x in steps]


#: Hatch patterns, one per layer, so layers are told apart without colour.
_HATCHES = ["", "//", "..", "\\\\", "xx", "--", "++", "oo", "||", "**"]
