"""Loop dominance over an ensemble (matplotlib, no global pyplot state).

:func:`dominance_probability_figure` draws, for each documented loop of an
:class:`~sdrev.loops.EnsembleLoopAnalysis`, the share of runs in which it
dominates at each time: one band per loop, stacked top to bottom, filled
from 0 to the probability, with a 50% guide line. A loop outside the
partition holding most documented loops is marked "own partition": it is
compared only with the loops sharing its stocks.
"""

from __future__ import annotations

from matplotlib.figure import Figure

__all__ = ["dominance_probability_figure"]


def dominance_probability_figure(result, *, documented: bool = True,
                                 loops=None, title: str | None = None) -> Figure:
    """Probability of dominance of each documented loop over time.

    Parameters
    ----------
    result : sdrev.loops.EnsembleLoopAnalysis
    documented : bool
        Dominance among the documented loops (default: the model's
        mechanisms compared among themselves) or among all loops.
    loops : sequence of str, optional
        Loop ids or names to draw (default: every documented loop).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    ids = list(result.documented) if loops is None else [result.loop_id(x) for x in loops]
    column = "documented_probability" if documented else "probability"
    names = dict(zip(result.loops["id"], result.loops["name"]))
    rows = max(1, len(ids))
    fig = Figure(figsize=(8.0, 0.75 * rows + 1.3), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    colours = _colours(len(ids))
    table = result.dominance
    parts = dict(zip(result.loops["id"], result.loops["partition"]))
    main = result.main_partition()
    for ax, loop_id, colour in zip(axes, ids, colours):
        part = table[table["loop"] == loop_id]
        t = part["time"].to_numpy(dtype=float)
        p = part[column].to_numpy(dtype=float)
        ax.fill_between(t, 0.0, p, color=colour, alpha=0.75, linewidth=0)
        ax.plot(t, p, color=colour, linewidth=1.0)
        ax.axhline(0.5, color="0.5", linewidth=0.6, linestyle=":")
        ax.set_ylim(0, 1)
        ax.set_yticks([0, 0.5, 1])
        ax.set_yticklabels(["0", "50%", "100%"], fontsize=7)
        label = f"{loop_id} {names.get(loop_id, '')}".strip()
        if parts.get(loop_id) != main:  # competes only with loops of its own stocks
            label += "\n(own partition)"
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    if not ids:
        axes[0].text(0.5, 0.5, "no documented loop", ha="center", va="center",
                     transform=axes[0].transAxes)
    axes[-1].set_xlabel("time")
    among = "among the documented loops" if documented else "among all loops"
    fig.suptitle(title or f"{result.model}: share of {result.runs:,} runs in which each "
                 f"loop dominates ({among})", fontsize=10)
    return fig


def _colours(n: int):
    from matplotlib import colormaps
    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(max(n, 1))][:n] if n else []

