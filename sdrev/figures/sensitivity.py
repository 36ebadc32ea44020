"""Figures of sensitivity analyses (matplotlib Figure objects, no pyplot state).

Sobol' bar charts with intervals, Morris mu*-sigma plots, bar charts of the
main index of the other methods, time-resolved stacked indices and the
loop-knockout chart. :func:`write_sensitivity_figures` writes them all for a
:class:`sdrev.sensitivity.SensitivityResult`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sdrev.figures.trajectories import save_figure
from sdrev.units import time_label

__all__ = ["index_bar_figure", "knockout_figure", "morris_figure", "output_figure",
           "sobol_figure",
           "time_resolved_figure", "write_sensitivity_figures"]

#: Most factors shown in one chart; the rest are summarised in the title.
MAX_FACTORS = 15
_GREYS = ("0.15", "0.55", "0.8")


def _select(indices: pd.DataFrame, group: str, output: str, metric: str) -> pd.DataFrame:
    return indices[(indices["group"] == group) & (indices["output"] == output)
                   & (indices["metric"] == metric)]


def _labels(factors, labels: Mapping[str, str] | None):
    return [(labels or {}).get(f, f) for f in factors]


def sobol_figure(indices: pd.DataFrame, *, group: str, output: str, metric: str,
                 labels: Mapping[str, str] | None = None, title: str = "") -> Figure:
    """Horizontal bars of S1 and ST per factor with their 95% intervals.

    Parameters
    ----------
    indices : pandas.DataFrame
        Tidy indices (:attr:`SensitivityResult.indices`).
    group, output, metric : str
        Which rows to plot.
    labels : mapping, optional
        Factor name -> label shown.
    title : str, optional
    """
    part = _select(indices, group, output, metric)
    wide = part.pivot_table(index="factor", columns="index", values=["value", "conf"],
                            dropna=False)
    order = wide[("value", "ST")].sort_values(ascending=True, na_position="first")
    shown = order.index[-MAX_FACTORS:]
    fig = Figure(figsize=(6.4, 0.9 + 0.32 * len(shown) + 0.6), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(shown))
    for k, (index, shift) in enumerate((("ST", -0.2), ("S1", 0.2))):
        if ("value", index) not in wide:
            continue
        ax.barh(y + shift, wide.loc[shown, ("value", index)], height=0.38,
                xerr=wide.loc[shown, ("conf", index)], color=_GREYS[k], label=index,
                error_kw={"ecolor": "0.3", "capsize": 2, "linewidth": 0.8})
    ax.set_yticks(y, _labels(shown, labels))
    ax.axvline(0, color="0.3", linewidth=0.6)
    ax.set_xlabel("Sobol' index (bars: 95% interval)")
    more = len(order) - len(shown)
    ax.set_title((title or f"{output}: {metric}") + (f"\n({more} smaller factors not shown)"
                                                    if more > 0 else ""), fontsize=10)
    ax.legend(frameon=False, loc="lower right")
    ax.grid(True, axis="x", color="0.88", linewidth=0.6)
    return fig


def morris_figure(indices: pd.DataFrame, *, group: str, output: str, metric: str,
                  labels: Mapping[str, str] | None = None, title: str = "") -> Figure:
    """Morris mu* against sigma, one point per factor, the largest labelled."""
    part = _select(indices, group, output, metric)
    wide = part.pivot_table(index="factor", columns="index", values="value", dropna=False)
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(wide["mu_star"], wide["sigma"], color="0.2", s=18)
    top = wide["mu_star"].sort_values(ascending=False).index[:8]
    for f in top:
        ax.annotate(_labels([f], labels)[0], (wide.at[f, "mu_star"], wide.at[f, "sigma"]),
                    fontsize=7, xytext=(3, 3), textcoords="offset points")
    lim = float(np.nanmax([wide["mu_star"].max(), wide["sigma"].max(), 1e-12]))
    ax.plot([0, lim], [0, lim], color="0.6", linestyle="--", linewidth=0.8,
            label="sigma = mu*")
    ax.set_xlabel("mu* (mean absolute elementary effect)")
    ax.set_ylabel("sigma (non-linearity and interactions)")
    ax.set_title(title or f"{output}: {metric}", fontsize=10)
    ax.legend(frameon=False)
    ax.grid(True, color="0.88", linewidth=0.6)
    return fig


def index_bar_figure(indices: pd.DataFrame, *, group: str, output: str, metric: str,
                     index: str, labels: Mapping[str, str] | None = None,
                     title: str = "") -> Figure:
    """Horizontal bars of one index per factor, with intervals when given."""
    part = _select(indices, group, output, metric)
    part = part[part["index"] == index].sort_values("value", na_position="first")
    part = part.tail(MAX_FACTORS)
    fig = Figure(figsize=(6.4, 1.5 + 0.3 * len(part)), layout="constrained")
    ax = fig.add_subplot()
    conf = part["conf"].to_numpy(dtype=float)
    ax.barh(np.arange(len(part)), part["value"], color=_GREYS[0],
            xerr=None if np.isnan(conf).all() else conf,
            error_kw={"ecolor": "0.4", "capsize": 2, "linewidth": 0.8})
    ax.set_yticks(np.arange(len(part)), _labels(part["factor"], labels))
    ax.set_xlabel(index)
    ax.set_title(title or f"{output}: {metric}", fontsize=10)
    ax.grid(True, axis="x", color="0.88", linewidth=0.6)
    return fig


def time_resolved_figure(time_resolved: pd.DataFrame, *, group: str, output: str,
                         index: str = "S1", labels: Mapping[str, str] | None = None,
                         top: int = 6, title: str = "", time_units: str = "") -> Figure:
    """Indices over time, stacked: the ``top`` factors, the others, and for S1
    the share left to interactions (1 - sum of S1); ``time_units`` (the
    model's) labels the x axis."""
    part = time_resolved[(time_resolved["group"] == group)
                         & (time_resolved["output"] == output)
                         & (time_resolved["index"] == index)]
    wide = part.pivot_table(index="time", columns="factor", values="value", dropna=False)
    wide = wide.clip(lower=0).fillna(0.0)
    order = wide.mean().sort_values(ascending=False).index
    shown = list(order[:top])
    layers = [wide[f].to_numpy() for f in shown]
    names = _labels(shown, labels)
    rest = wide[list(order[top:])].sum(axis=1).to_numpy()
    if len(order) > top:
        layers.append(rest)
        names.append(f"{len(order) - top} other factors")
    if index == "S1":
        layers.append(np.clip(1 - wide.sum(axis=1).to_numpy(), 0, None))
        names.append("interactions (1 - sum S1)")
    fig = Figure(figsize=(7.2, 4.0), layout="constrained")
    ax = fig.add_subplot()
    colors = [str(g) for g in np.linspace(0.1, 0.85, len(layers))]
    hatches = ["", "//", "..", "\\\\", "xx", "--", "++", "oo"]
    polys = ax.stackplot(wide.index.to_numpy(), *layers, labels=names, colors=colors,
                         edgecolor="white", linewidth=0.4)
    for k, poly in enumerate(polys):
        poly.set_hatch(hatches[k % len(hatches)])
    ax.set_xlabel(time_label(time_units))
    ax.set_ylabel(f"{index} (stacked)")
    ax.set_title(title or f"{output}: time-resolved {index}", fontsize=10)
    ax.set_xlim(wide.index.min(), wide.index.max())
    ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def knockout_figure(knockout: pd.DataFrame, *, title: str = "Loop knockout") -> Figure:
    """Relative change of each scalar output metric when each loop's gain is 0.

    One panel per output metric, one bar per loop.
    """
    keys = list(dict.fromkeys(zip(knockout["output"], knockout["metric"])))
    cols = min(3, max(1, len(keys)))
    rows = int(np.ceil(len(keys) / cols)) or 1
    loops = list(dict.fromkeys(knockout["loop"]))
    fig = Figure(figsize=(3.4 * cols, 0.6 + rows * (0.6 + 0.25 * len(loops))),
                 layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    for ax, (output, metric) in zip(axes.flat, keys):
        part = knockout[(knockout["output"] == output) & (knockout["metric"] == metric)]
        part = part.set_index("loop").reindex(loops)
        rel = part["relative_change"].astype(float).fillna(0.0) * 100
        ax.barh(np.arange(len(loops)), rel, color=["0.25" if v < 0 else "0.65" for v in rel])
        ax.axvline(0, color="0.3", linewidth=0.6)
        ax.set_yticks(np.arange(len(loops)), loops, fontsize=7)
        ax.set_title(f"{output}\n{metric}", fontsize=8)
        ax.set_xlabel("change (%)", fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    return fig


def output_figure(indices: pd.DataFrame, *, group: str, output: str, metrics: list[str],
                  method: str, index: str, labels: Mapping[str, str] | None = None) -> Figure:
    """All metrics of one output side by side: Sobol' bars (S1, ST with
    intervals), Morris mu*-sigma points, or bars of ``index`` for the other
    methods. One figure per output keeps the number of files (and the time
    to render them) down."""
    cols = len(metrics)
    part = _select(indices, group, output, metrics[0])
    nf = min(MAX_FACTORS, part["factor"].nunique())
    height = 4.4 if method == "morris" else 1.4 + 0.3 * nf
    fig = Figure(figsize=(4.6 * cols, height), layout="constrained")
    axes = fig.subplots(1, cols, squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        part = _select(indices, group, output, metric)
        if method == "sobol":
            _sobol_axes(ax, part, labels)
        elif method == "morris":
            _morris_axes(ax, part, labels)
        else:
            _bar_axes(ax, part, index, labels)
        ax.set_title(metric, fontsize=9)
    fig.suptitle(f"{output} ({group}, {method})", fontsize=10)
    return fig


def _sobol_axes(ax, part, labels):
    wide = part.pivot_table(index="factor", columns="index", values=["value", "conf"],
                            dropna=False)
    shown = wide[("value", "ST")].sort_values(na_position="first").index[-MAX_FACTORS:]
    y = np.arange(len(shown))
    for k, (index, shift) in enumerate((("ST", -0.2), ("S1", 0.2))):
        if ("value", index) in wide:
            ax.barh(y + shift, wide.loc[shown, ("value", index)], height=0.38,
                    xerr=wide.loc[shown, ("conf", index)], color=_GREYS[k], label=index,
                    error_kw={"ecolor": "0.3", "capsize": 2, "linewidth": 0.8})
    ax.set_yticks(y, _labels(shown, labels), fontsize=7)
    ax.axvline(0, color="0.3", linewidth=0.6)
    ax.set_xlabel("Sobol' index (95% interval)", fontsize=8)
    ax.legend(frameon=False, fontsize=7, loc="lower right")


def _morris_axes(ax, part, labels):
    wide = part.pivot_table(index="factor", columns="index", values="value", dropna=False)
    ax.scatter(wide["mu_star"], wide["sigma"], color="0.2", s=14)
    for f in wide["mu_star"].sort_values(ascending=False).index[:6]:
        ax.annotate(_labels([f], labels)[0], (wide.at[f, "mu_star"], wide.at[f, "sigma"]),
                    fontsize=6, xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel("mu*", fontsize=8)
    ax.set_ylabel("sigma", fontsize=8)


def _bar_axes(ax, part, index, labels):
    part = part[part["index"] == index].sort_values("value", na_position="first")
    part = part.tail(MAX_FACTORS)
    conf = part["conf"].to_numpy(dtype=float)
    ax.barh(np.arange(len(part)), part["value"], color=_GREYS[0],
            xerr=None if np.isnan(conf).all() else conf,
            error_kw={"ecolor": "0.4", "capsize": 2, "linewidth": 0.8})
    ax.set_yticks(np.arange(len(part)), _labels(part["factor"], labels), fontsize=7)
    ax.set_xlabel(index, fontsize=8)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_").lower()


def write_sensitivity_figures(result, folder: Path, *,
                              formats: Iterable[str] = ("png", "svg")) -> list[Path]:
    """Write every figure of ``result`` into ``folder`` (created); return the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    formats = tuple(formats)
    paths: list[Path] = []
    idx = result.indices
    method = result.method
    for group in dict.fromkeys(idx["group"]):
        labels = {f.name: f.label for f in result.spec.group(group)}
        rows = idx[idx["group"] == group]
        for output in dict.fromkeys(rows["output"]):
            metrics = [m for m in dict.fromkeys(rows.loc[rows["output"] == output, "metric"])
                       if not _select(idx, group, output, m)["value"].isna().all()]
            if not metrics:
                continue
            fig = output_figure(idx, group=group, output=output, metrics=metrics,
                                method=method, index=result.main_index, labels=labels)
            stem = folder / _slug(f"{method}_{group}_{output}")
            paths += save_figure(fig, stem, formats=formats)
    tr = result.time_resolved
    if len(tr):
        for group, output in dict.fromkeys(zip(tr["group"], tr["output"])):
            labels = {f.name: f.label for f in result.spec.group(group)}
            for index in [i for i in ("S1", "ST") if i in set(tr["index"])] or \
                    [result.main_index]:
                fig = time_resolved_figure(
                    tr, group=group, output=output, index=index, labels=labels,
                    time_units=result.model.time.units)
                stem = folder / _slug(f"time_resolved_{index}_{group}_{output}")
                paths += save_figure(fig, stem, formats=formats)
    if len(result.knockout):
        paths += save_figure(knockout_figure(result.knockout), folder / "loop_knockout",
                             formats=formats)
    return paths
