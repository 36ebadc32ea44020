"""Figures of scenario discovery (matplotlib Figure, no pyplot).

:func:`trajectory_figure` draws PRIM's peeling trajectories (coverage
against density, the number of restricted factors as the marker's shade,
the chosen box ringed), or CART's boxes as points; :func:`limits_figure`
each box's restricted factors as intervals on their sampled ranges, with
the quasi-p-values; :func:`scatter_figure` the runs over each pair of a
box's restricted factors, by outcome, with the box drawn. They read a
:class:`sdrev.discover.DiscoveryResult` (duck-typed: the figures layer
imports no stage above it) and read in grey-scale print.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from sdrev.figures.trajectories import save_figure

__all__ = ["limits_figure", "scatter_figure", "trajectory_figure", "write_discover_figures"]

#: Most restricted factors drawn in one pairwise scatter.
MAX_SCATTER_DIMS = 4
#: Most runs drawn in a scatter (a random subset beyond).
MAX_POINTS = 3000
_CLASSES = ((True, "outcome holds"), (False, "outcome fails"))


def _class_title(result, target: bool) -> str:
    label = result.label if target else result.label_fails
    return label or ("outcome holds" if target else "outcome fails")


def trajectory_figure(result) -> Figure:
    """Coverage against density along PRIM's peeling trajectories, chosen boxes ringed.

    One panel per class (runs where the outcome holds, where it fails);
    for CART, the boxes as points.
    """
    fig = Figure(figsize=(9.6, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True)
    traj = result.trajectory
    for ax, (target, _) in zip(axes, _CLASSES):
        share = float(np.mean(result.holds == target)) if len(result.holds) else 0.0
        if not traj.empty:
            mine = traj[traj["target"] == target]
            for k, (rank, part) in enumerate(mine.groupby("rank")):
                peel = part[~part["dropped"].astype(bool)]
                chosen = part[part["chosen"].astype(bool)]
                sc = ax.scatter(peel["coverage"], peel["density"], c=peel["res_dim"],
                                cmap="Greys", vmin=0, vmax=max(2, int(traj["res_dim"].max())),
                                marker="os^D"[k % 4], s=18, edgecolors="0.2", linewidths=0.4,
                                label=f"box {rank}" + ("" if len(chosen) else " (none kept)"))
                ax.scatter(chosen["coverage"], chosen["density"], s=160, facecolors="none",
                           edgecolors="black", linewidths=1.6)
                for r in chosen.itertuples(index=False):
                    ax.annotate(f"box {rank}: {int(r.res_dim)} restricted",
                                (r.coverage, r.density), xytext=(-6, 10),
                                textcoords="offset points", ha="right", fontsize=8)
            if not mine.empty:
                fig.colorbar(sc, ax=ax, label="restricted factors", shrink=0.8)
                ax.legend(loc="lower left", fontsize=8, frameon=False)
        for box in (b for b in result.boxes if b.target == target):
            if traj.empty:
                ax.scatter([box.coverage], [box.density], s=60, color="0.2", marker="s")
                ax.annotate(f"box {box.rank}: {len(box.limits)} restricted",
                            (box.coverage, box.density), xytext=(-6, 8),
                            textcoords="offset points", ha="right", fontsize=8)
        ax.axhline(share, color="0.5", linestyle=":", linewidth=1)
        ax.text(0.98, share, f"share of all runs {share:.0%}", va="bottom", ha="right",
                fontsize=8, color="0.3", transform=ax.get_yaxis_transform())
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("coverage (share of the class's runs in the box)")
        ax.set_ylabel("density (share of the box's runs in the class)")
        ax.set_title(_wrap(_class_title(result, target)), fontsize=10)
        ax.grid(True, color="0.9", linewidth=0.6)
    fig.suptitle(f"{result.model}: {result.method.upper()} "
                 + ("peeling trajectories" if not traj.empty else "boxes"), fontsize=11)
    return fig


def limits_figure(result) -> Figure:
    """Each box's restricted factors as intervals on their sampled ranges (0 to 1)."""
    boxes = list(result.boxes)
    rows = max(1, sum(len(b.limits) for b in boxes) + len(boxes))
    fig = Figure(figsize=(8.4, 1.0 + 0.32 * rows), layout="constrained")
    ax = fig.add_subplot()
    y, ticks, labels = 0, [], []
    for box in boxes:
        ax.text(0, y, f"{'holds' if box.target else 'fails'}, box {box.rank}: coverage "
                f"{box.coverage:.0%}, density {box.density:.0%}, mass {box.mass:.0%}",
                fontsize=8, fontweight="bold", va="center")
        y -= 1
        for r in box.limits.itertuples(index=False):
            lo, hi = result.ranges[r.factor]
            a, b = (r.low - lo) / (hi - lo), (r.high - lo) / (hi - lo)
            ax.plot([0, 1], [y, y], color="0.85", linewidth=6, solid_capstyle="butt")
            ax.plot([a, b], [y, y], color="0.15" if box.target else "0.5", linewidth=6,
                    solid_capstyle="butt")
            ax.text(a, y + 0.3, f"{r.low:.3g}", fontsize=7, ha="center")
            ax.text(b, y + 0.3, f"{r.high:.3g}", fontsize=7, ha="center")
            ax.text(1.02, y, f"qp {r.qp:.1g}", fontsize=7, va="center")
            ticks.append(y)
            labels.append(r.factor)
            y -= 1
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_ylim(y + 0.2, 0.8)
    ax.set_xlim(-0.02, 1.15)
    ax.set_xlabel("position in the sampled range (0 = low end, 1 = high end)")
    ax.set_title(f"{result.model}: restricted factors of each box ({result.method.upper()})",
                 fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if not boxes:
        ax.text(0.5, 0.5, "no box found", ha="center", transform=ax.transAxes)
    return fig


def scatter_figure(result, box, *, seed: int = 0) -> Figure:
    """The runs over each pair of ``box``'s restricted factors, by outcome, the box drawn.

    At most :data:`MAX_SCATTER_DIMS` factors (the most significant) and
    :data:`MAX_POINTS` runs (a random subset).
    """
    dims = list(box.limits["factor"])[:MAX_SCATTER_DIMS]
    X = result.samples
    idx = np.arange(len(X))
    if len(idx) > MAX_POINTS:
        idx = np.sort(np.random.default_rng(seed).choice(idx, MAX_POINTS, replace=False))
    holds = np.asarray(result.holds)[idx]
    n = max(len(dims) - 1, 1)
    fig = Figure(figsize=(2.6 * n + 1.2, 2.6 * n + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n, n, squeeze=False))
    limits = {r.factor: (r.low, r.high) for r in box.limits.itertuples(index=False)}
    pairs = [(i, j) for i in range(1, len(dims)) for j in range(i)] if len(dims) > 1 else []
    for ax in axes.ravel():
        ax.set_visible(False)
    for i, j in pairs:
        ax = axes[i - 1, j]
        ax.set_visible(True)
        xs, ys = X[dims[j]].to_numpy()[idx], X[dims[i]].to_numpy()[idx]
        mine = holds == box.target  # the box's class on top, in black
        ax.scatter(xs[~mine], ys[~mine], s=4, marker="o", color="0.8", linewidths=0)
        ax.scatter(xs[mine], ys[mine], s=7, marker="x", color="0.05", linewidths=0.7)
        (x0, x1), (y0, y1) = limits[dims[j]], limits[dims[i]]
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="black",
                               linewidth=1.8, linestyle="--"))
        if i == len(dims) - 1:
            ax.set_xlabel(dims[j], fontsize=8)
        if j == 0:
            ax.set_ylabel(dims[i], fontsize=8)
        ax.tick_params(labelsize=7)
    if not pairs:  # one restricted factor: its values against the outcome
        ax = axes[0, 0]
        ax.set_visible(True)
        xs = X[dims[0]].to_numpy()[idx]
        jitter = np.random.default_rng(seed).uniform(-0.15, 0.15, len(xs))
        ax.scatter(xs, holds.astype(float) + jitter, s=5, color="0.2")
        ax.axvspan(*limits[dims[0]], color="0.85", zorder=0)
        ax.set_yticks([0, 1], ["fails", "holds"])
        ax.set_xlabel(dims[0], fontsize=8)
    mine, other = ("holds", "fails") if box.target else ("fails", "holds")
    fig.legend(handles=[Line2D([], [], marker="x", linestyle="", color="0.05",
                               label=f"outcome {mine}"),
                        Line2D([], [], marker="o", linestyle="", color="0.8",
                               label=f"outcome {other}"),
                        Line2D([], [], linestyle="--", color="black", label="box")],
               loc="outside upper right", fontsize=8, frameon=False)
    fig.suptitle(_wrap(f"{'Holds' if box.target else 'Fails'}, box {box.rank}: "
                       f"{_class_title(result, box.target)}"), fontsize=10)
    return fig


def _wrap(text: str, width: int = 60) -> str:
    import textwrap
    return "\n".join(textwrap.wrap(text, width))


def write_discover_figures(result, folder: Path, *,
                           formats: Iterable[str] = ("png", "svg")) -> list[Path]:
    """Write the trajectory, limits and scatter figures into ``folder``; return the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    formats = tuple(formats)
    paths = save_figure(trajectory_figure(result), folder / "trajectory", formats=formats)
    paths += save_figure(limits_figure(result), folder / "limits", formats=formats)
    for box in result.boxes:
        stem = f"scatter_{'holds' if box.target else 'fails'}_{box.rank}"
        paths += save_figure(scatter_figure(result, box), folder / stem, formats=formats)
    return paths
