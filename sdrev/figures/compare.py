"""Figures of scenario comparisons and regime maps (matplotlib Figure, no pyplot).

:func:`comparison_figure` puts the key outputs of a
:class:`sdrev.compare.Comparison` side by side, one line per scenario;
:func:`regime_map_figure` draws a :class:`sdrev.compare.RegimeMap`: which
regime is ahead at the map's year with the boundary between them, and the
crossover year per grid point. Both read in grey-scale print: line styles
and markers tell the scenarios apart, and the map uses greys and hatching.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sdrev.figures.trajectories import save_figure
from sdrev.units import axis_label, time_label, units_label

__all__ = ["comparison_figure", "regime_map_figure", "uncertainty_figure",
           "write_compare_figures"]

#: Largest number of outputs drawn side by side.
MAX_PANELS = 4
_STYLES = ("-", "--", "-.", ":")
_MARKERS = ("", "o", "s", "^", "D", "v", "x", "+")
_GREYS = ("0.05", "0.45", "0.65", "0.3")


def _style(i: int) -> dict:
    """Line style of the ``i``-th series: distinct in grey-scale print."""
    return {"linestyle": _STYLES[i % len(_STYLES)], "color": _GREYS[i % len(_GREYS)],
            "marker": _MARKERS[(i // len(_STYLES)) % len(_MARKERS)], "markevery": 0.1,
            "markersize": 4, "linewidth": 1.8}


def comparison_figure(comparison, *, outputs: Sequence[str] | None = None,
                      max_panels: int = MAX_PANELS, thresholds: bool = True,
                      bands=None) -> Figure:
    """Key outputs side by side, one line per scenario.

    Parameters
    ----------
    comparison : sdrev.compare.Comparison
    outputs : sequence of str, optional
        Outputs to draw (default: the first ``max_panels`` compared).
    max_panels : int
    thresholds : bool
        Draw each output's threshold (dotted) where all runs share it.
    bands : pandas.DataFrame, optional
        ``scenario`` (a run label), ``output``, ``time``, ``q05``, ``q95``
        (:attr:`sdrev.compare.ScenarioUncertainty.bands`): each run's 90%
        band over many parameter sets, shaded in its line's grey.
    """
    outputs = list(outputs or comparison.outputs)[:max_panels]
    n = max(1, len(outputs))
    cols = n if n <= 2 else 2
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(4.2 * cols + 0.4, 3.0 * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    handles = None
    t_units = comparison.time_units
    for k, (ax, output) in enumerate(zip(axes.flat, outputs)):
        table = comparison.trajectory(output)
        for i, label in enumerate(table.columns):
            style = _style(i)
            if bands is not None:
                b = bands[(bands["output"] == output) & (bands["scenario"] == str(label))]
                if len(b):
                    ax.fill_between(b["time"].to_numpy(dtype=float),
                                    b["q05"].to_numpy(dtype=float),
                                    b["q95"].to_numpy(dtype=float), color=style["color"],
                                    alpha=0.16, linewidth=0, gid=f"band-{k}-{i}")
                    for q in ("q05", "q95"):  # band edges in the line's style
                        ax.plot(b["time"].to_numpy(dtype=float), b[q].to_numpy(dtype=float),
                                color=style["color"], linestyle=style["linestyle"],
                                linewidth=0.6, alpha=0.8)
            ax.plot(table.index.to_numpy(dtype=float), table[label].to_numpy(dtype=float),
                    label=str(label), **style)
        rows_ = comparison.metrics[comparison.metrics["output"] == output]
        limits = rows_["threshold"].to_numpy(dtype=float)
        if thresholds and len(limits) and np.allclose(limits, limits[0]):
            ax.axhline(limits[0], color="0.5", linestyle=":", linewidth=1.0)
            ax.annotate(f"threshold {limits[0]:.3g}", (0.01, limits[0]),
                        xycoords=("axes fraction", "data"), xytext=(0, 2),
                        textcoords="offset points", fontsize=7, color="0.35")
        ax.set_title(output, fontsize=10)
        ax.set_xlabel(time_label(t_units))
        ax.set_ylabel(axis_label(output, comparison.units.get(output, "")), fontsize=8)
        ax.grid(True, color="0.88", linewidth=0.6)
        handles = ax.get_legend_handles_labels()
    for ax in list(axes.flat)[len(outputs):]:
        ax.set_visible(False)
    if handles and (len(comparison.runs) > 1 or bands is not None):
        lines, names = list(handles[0]), list(handles[1])
        if bands is not None:
            from matplotlib.patches import Patch
            lines.append(Patch(facecolor="0.45", alpha=0.3, linewidth=0))
            names.append("shaded: 90% range over plausible parameter sets")
        fig.legend(lines, names, loc="outside lower center", frameon=False,
                   ncols=min(2, len(names)), fontsize=8)
    return fig


def regime_map_figure(rmap) -> Figure:
    """The regime map: who is ahead at the map's year, and the crossover year.

    Left panel: grid points where each regime reaches the higher output at
    :attr:`RegimeMap.year`, light grey for the first regime and dark grey
    for the second, the boundary (equal output) as a black line and the
    scenario's own conditions as a star. Right panel: the year the leading
    regime last changes; hatched where it never changes.
    """
    xs, ys = np.asarray(rmap.x.values), np.asarray(rmap.y.values)
    fig = Figure(figsize=(10.6, 4.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    shades = ("0.88", "0.42")
    winner = rmap.winner.astype(float)
    winner[winner < 0] = np.nan
    left.imshow(winner.T, cmap=ListedColormap(list(shades)), vmin=0, vmax=1,
                origin="lower", extent=_extent(xs, ys), aspect="auto", interpolation="nearest")
    diff = rmap.difference
    if (diff > 0).any() and (diff < 0).any():
        left.contour(xs, ys, diff.T, levels=[0.0], colors="black", linewidths=1.8)
    patches: list[Patch | Line2D] = [
        Patch(facecolor=shades[k], edgecolor="0.2",
              label=f"{rmap.labels[k]} ahead ({rmap.share_won(k):.0%} of map)")
        for k in (0, 1)]
    patches.append(Line2D([], [], color="black", linewidth=1.8, label="boundary (equal)"))
    if rmap.base is not None:
        for ax in (left, right):
            ax.plot(*rmap.base, marker="*", markersize=13, color="white",
                    markeredgecolor="black", linestyle="none")
        patches.append(Line2D([], [], marker="*", markersize=10, color="white",
                              markeredgecolor="black", linestyle="none",
                              label=f"{rmap.scenario or 'model'} conditions"))
    left.legend(handles=patches, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                frameon=False, fontsize=7, ncols=2)
    left.set_title(f"Higher {rmap.output} in {rmap.year:g}", fontsize=10)
    cross = rmap.crossover
    right.add_patch(_hatched_background(xs, ys))
    finite = cross[np.isfinite(cross)]
    if finite.size:
        mesh = right.imshow(np.ma.masked_invalid(cross).T, cmap="Greys_r", origin="lower",
                            extent=_extent(xs, ys), aspect="auto", interpolation="nearest",
                            vmin=float(finite.min()), vmax=float(finite.max()), zorder=1)
        bar = fig.colorbar(mesh, ax=right, shrink=0.9)
        bar.set_label(f"Crossover time ({units_label(rmap.time_units)})")
        if finite.min() < rmap.year < finite.max():
            right.contour(xs, ys, np.where(np.isfinite(cross), cross, np.inf).T,
                          levels=[rmap.year], colors="black", linewidths=1.2,
                          linestyles="--")
    right.legend(handles=[Patch(facecolor="white", edgecolor="0.3", hatch="///",
                                label="leader never changes"),
                          Line2D([], [], color="black", linestyle="--", linewidth=1.2,
                                 label=f"crossover in {rmap.year:g}")],
                 loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False,
                 fontsize=7, ncols=2)
    right.set_title(f"When the leading regime changes ({units_label(rmap.time_units)})",
                    fontsize=10)
    for ax in (left, right):
        ax.set_xlabel(axis_label(rmap.x.name, rmap.x.units))
        ax.set_ylabel(axis_label(rmap.y.name, rmap.y.units))
        ax.set_xlim(*_extent(xs, ys)[:2])
        ax.set_ylim(*_extent(xs, ys)[2:])
    fig.suptitle(f"{rmap.model}: {rmap.labels[0]} vs {rmap.labels[1]} "
                 f"({axis_label(rmap.output, rmap.units)})", fontsize=11)
    return fig


def _extent(xs, ys) -> list[float]:
    """Image extent with each grid value at the centre of its cell."""
    dx, dy = (xs[-1] - xs[0]) / (len(xs) - 1), (ys[-1] - ys[0]) / (len(ys) - 1)
    return [xs[0] - dx / 2, xs[-1] + dx / 2, ys[0] - dy / 2, ys[-1] + dy / 2]


def _hatched_background(xs, ys):
    from matplotlib.patches import Rectangle
    x0, x1, y0, y1 = _extent(xs, ys)
    return Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor="white",
                     edgecolor="0.55", hatch="///", linewidth=0, zorder=0)


def uncertainty_figure(uncertainty, *, max_panels: int = MAX_PANELS) -> Figure:
    """Each output's median and 90% band per scenario over many parameter sets
    (a :class:`sdrev.compare.ScenarioUncertainty`)."""
    outputs = list(uncertainty.outputs)[:max_panels]
    cols = min(2, len(outputs))
    rows = int(np.ceil(len(outputs) / cols))
    fig = Figure(figsize=(6.2 * cols, 3.6 * rows), layout="constrained")
    bands = uncertainty.bands
    for k, output in enumerate(outputs):
        ax = fig.add_subplot(rows, cols, k + 1)
        for i, scenario in enumerate(uncertainty.scenarios):
            b = bands[(bands["output"] == output) & (bands["scenario"] == scenario)]
            style = _style(i)
            ax.fill_between(b["time"], b["q05"], b["q95"], color=style["color"], alpha=0.15,
                            lw=0)
            ax.plot(b["time"], b["q50"], label=scenario, **style)
        ax.set_title(output, fontsize=10)
        ax.set_ylabel(axis_label(output, uncertainty.units.get(output, "")), fontsize=8)
        ax.grid(True, color="0.9", lw=0.6)
        if k == 0:
            ax.legend(frameon=False, fontsize=8)
    fig.suptitle(f"{uncertainty.model}: median and 90% band over {uncertainty.sets:,} "
                 f"parameter sets", fontsize=10)
    return fig


def write_compare_figures(folder: Path, *, comparison=None, regime_map=None,
                          uncertainty=None,
                          formats: Iterable[str] = ("png", "svg")) -> list[Path]:
    """Write the comparison, regime-map and uncertainty figures into ``folder`` (created)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    formats = tuple(formats)
    paths: list[Path] = []
    if comparison is not None:
        paths += save_figure(comparison_figure(comparison), folder / "comparison",
                             formats=formats)
    if regime_map is not None:
        paths += save_figure(regime_map_figure(regime_map), folder / "regime_map",
                             formats=formats)
    if uncertainty is not None:
        paths += save_figure(uncertainty_figure(uncertainty), folder / "uncertainty",
                             formats=formats)
    return paths
