"""Figures of model runs (matplotlib, no global pyplot state)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from sdrev.units import time_label, units_label

__all__ = ["save_figure", "trajectory_figure"]

#: Grey-scale friendly line styles, cycled over series.
_STYLES = ("-", "--", "-.", ":")


def trajectory_figure(series: Mapping[str, pd.Series], *, title: str, units: str,
                      time_units: str = "") -> Figure:
    """One variable over time, one line per labelled series.

    Parameters
    ----------
    series : mapping of str to pandas.Series
        Label (e.g. a scenario name) to a series indexed by time.
    title : str
        The variable's name.
    units : str
        The variable's units, shown on the y axis (``"units missing"``
        when blank).
    time_units : str, optional
        The model's time unit (``model.time.units``), shown on the x axis
        (``"units missing"`` when blank).
    """
    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.add_subplot()
    for i, (label, values) in enumerate(series.items()):
        ax.plot(values.index, values.to_numpy(), linestyle=_STYLES[i % len(_STYLES)],
                color=str(0.1 + 0.5 * (i % 3) / 2), label=label, linewidth=1.8)
    ax.set_title(title)
    ax.set_xlabel(time_label(time_units))
    ax.set_ylabel(f"{title} ({units_label(units)})")
    ax.grid(True, color="0.85", linewidth=0.6)
    if len(series) > 1:
        ax.legend(frameon=False)
    return fig


def save_figure(fig: Figure, stem: Path, *, formats: Iterable[str] = ("png",)) -> list[Path]:
    """Save ``fig`` as ``stem.<format>`` for each format; return the paths."""
    paths = []
    for fmt in formats:
        path = Path(stem).with_suffix(f".{fmt}")
        fig.savefig(path, dpi=150)
        paths.append(path)
    return paths
