"""Figures of sensitivity analyses (matplotlib Figure objects, no pyplot state).

Sobol' bar charts with intervals, Morris mu*-sigma plots, bar charts of the
main index of the other methods, time-resolved stacked indices and the
loop-knockout chart. :func:`write_sensitivity_figures` writes them all for a
:class:`sdrev.sensitivity.SensitivityResult`.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sdrev.figures.drawing import DPI, hbars, new_figure, save_laid_out, save_png
from sdrev.units import time_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["BUILDERS", "DPI", "PARALLEL_FIGURES", "draw_claimed", "draw_figures", "draw_order",
           "draw_share", "figure_tasks", "hbars", "idle_cores", "index_bar_figure",
           "knockout_figure", "metric_title", "morris_figure", "output_figure",
           "prestart_worker", "running_others", "save_laid_out", "serve",
           "save_png", "sobol_figure", "time_resolved_figure", "write_sensitivity_figures"]

#: Most factors shown in one chart; the rest are summarised in the title.
MAX_FACTORS = 15
_GREYS = ("0.15", "0.55", "0.8")


def _select(indices: pd.DataFrame, group: str, output: str, metric: str) -> pd.DataFrame:
    return indices[(indices["group"] == group) & (indices["output"] == output)
                   & (indices["metric"] == metric)]


def _by_factor(part: pd.DataFrame, indices: Iterable[str], column: str = "value"
               ) -> pd.DataFrame:
    """``column`` of ``part`` per factor (rows, sorted by name) and index
    (columns, those of ``indices`` present): what ``pivot_table`` gives for
    one row per factor and index, without its group-by (a tenth of the time)."""
    factor = part["factor"].to_numpy(dtype=object)
    names = np.unique(factor) if len(factor) else np.array([], dtype=object)
    kinds = part["index"].to_numpy(dtype=object)
    values = part[column].to_numpy(dtype=float)
    table = {}
    for index in indices:
        rows = kinds == index
        if rows.any():
            col = np.full(len(names), np.nan)
            col[np.searchsorted(names, factor[rows])] = values[rows]
            table[index] = col
    return pd.DataFrame(table, index=pd.Index(names, name="factor"))


def _over_time(part: pd.DataFrame, index: str) -> pd.DataFrame:
    """Values of ``index`` with times as rows and factors as columns (both
    sorted), as ``pivot_table`` gives for one row per time and factor."""
    rows = part["index"].to_numpy(dtype=object) == index
    factor = part["factor"].to_numpy(dtype=object)[rows]
    time = part["time"].to_numpy(dtype=float)[rows]
    names, times = np.unique(factor), np.unique(time)
    table = np.full((len(times), len(names)), np.nan)
    table[np.searchsorted(times, time), np.searchsorted(names, factor)] = \
        part["value"].to_numpy(dtype=float)[rows]
    return pd.DataFrame(table, index=pd.Index(times, name="time"),
                        columns=pd.Index(names, name="factor"))


#: Where each panel's title sits (axes fraction): given, so that drawing does
#: not measure every tick label again to place it (matplotlib's automatic
#: placement, which only moves a title above tick labels on the top; these
#: are at the bottom), 1.0 being where the automatic placement puts it.
_TITLE_Y = 1.0


def metric_title(metric: str) -> str:
    """A metric id as a panel title: ``value_at_2040`` -> ``value in 2040``,
    ``first_crossing_0.2`` -> ``time it first reaches 0.2``."""
    for prefix, words in (("value_at_", "value in "),
                          ("first_crossing_", "time it first reaches "),
                          ("time_to_", "time to reach ")):
        if metric.startswith(prefix):
            return words + metric[len(prefix):].replace("_", " ")
    return metric.replace("_", " ")


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
    value, conf = _by_factor(part, ("ST", "S1")), _by_factor(part, ("ST", "S1"), "conf")
    order = value["ST"].sort_values(ascending=True, na_position="first")
    shown = order.index[-MAX_FACTORS:]
    fig = new_figure(figsize=(6.4, 0.9 + 0.32 * len(shown) + 0.6), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(shown))
    for k, (index, shift) in enumerate((("ST", -0.2), ("S1", 0.2))):
        if index not in value:
            continue
        hbars(ax, y + shift, value.loc[shown, index], height=0.38,
              xerr=conf.loc[shown, index], color=_GREYS[k], label=index,
              error_kw={"ecolor": "0.3", "capsize": 2, "linewidth": 0.8})
    ax.set_yticks(y, _labels(shown, labels))
    ax.axvline(0, color="0.3", linewidth=0.6)
    ax.set_xlabel("Sobol' index (bars: 95% interval)")
    more = len(order) - len(shown)
    ax.set_title((title or f"{output}: {metric_title(metric)}")
                 + (f"\n({more} smaller factors not shown)" if more > 0 else ""),
                 fontsize=10, y=_TITLE_Y)
    ax.legend(frameon=False, loc="lower right")
    ax.grid(True, axis="x", color="0.88", linewidth=0.6)
    return fig


def morris_figure(indices: pd.DataFrame, *, group: str, output: str, metric: str,
                  labels: Mapping[str, str] | None = None, title: str = "") -> Figure:
    """Morris mu* against sigma, one point per factor; the largest are numbered
    beside their points and named in a key to the right, so that no two labels
    can overlap however close the points lie."""
    part = _select(indices, group, output, metric)
    wide = _by_factor(part, ("mu_star", "sigma"))
    fig = new_figure(figsize=(7.6, 4.6), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(wide["mu_star"], wide["sigma"], color="0.2", s=18)
    top = list(wide["mu_star"].sort_values(ascending=False).index[:8])
    from matplotlib.lines import Line2D
    key = []
    for k, (f, name) in enumerate(zip(top, _labels(top, labels)), start=1):
        ax.annotate(str(k), (wide.at[f, "mu_star"], wide.at[f, "sigma"]), fontsize=7,
                    xytext=(3 + 7 * ((k - 1) % 2), 2 + 6 * ((k - 1) % 3)),
                    textcoords="offset points", color="0.1")
        key.append((Line2D([], [], linestyle="none", marker="$" + str(k) + "$",
                           color="0.1", markersize=6), name))
    lim = float(np.nanmax([wide["mu_star"].max(), wide["sigma"].max(), 1e-12]))
    ax.plot([0, lim], [0, lim], color="0.6", linestyle="--", linewidth=0.8)
    key.append((Line2D([], [], color="0.6", linestyle="--", linewidth=0.8), "sigma = mu*"))
    ax.set_xlabel("mu* (mean absolute elementary effect)")
    ax.set_ylabel("sigma (non-linearity and interactions)")
    ax.set_title(title or f"{output}: {metric_title(metric)}", fontsize=10, y=_TITLE_Y)
    ax.legend(*zip(*key), frameon=False, fontsize=7, loc="center left",
              bbox_to_anchor=(1.0, 0.5))
    ax.grid(True, color="0.88", linewidth=0.6)
    return fig


def index_bar_figure(indices: pd.DataFrame, *, group: str, output: str, metric: str,
                     index: str, labels: Mapping[str, str] | None = None,
                     title: str = "") -> Figure:
    """Horizontal bars of one index per factor, with intervals when given."""
    part = _select(indices, group, output, metric)
    part = part[part["index"] == index].sort_values("value", na_position="first")
    part = part.tail(MAX_FACTORS)
    fig = new_figure(figsize=(6.4, 1.5 + 0.3 * len(part)), layout="constrained")
    ax = fig.add_subplot()
    conf = part["conf"].to_numpy(dtype=float)
    hbars(ax, np.arange(len(part)), part["value"], color=_GREYS[0],
          xerr=None if np.isnan(conf).all() else conf,
          error_kw={"ecolor": "0.4", "capsize": 2, "linewidth": 0.8})
    ax.set_yticks(np.arange(len(part)), _labels(part["factor"], labels))
    ax.set_xlabel(index)
    ax.set_title(title or f"{output}: {metric_title(metric)}", fontsize=10, y=_TITLE_Y)
    ax.grid(True, axis="x", color="0.88", linewidth=0.6)
    return fig


def time_resolved_figure(time_resolved: pd.DataFrame, *, group: str, output: str,
                         index: str = "ST", labels: Mapping[str, str] | None = None,
                         top: int = 5, title: str = "", time_units: str = "") -> Figure:
    """Indices over time as lines, one colour per factor: the ``top`` factors by
    mean ``index``, ``index`` solid and its companion (S1 for ST, ST for S1)
    dashed when the table has it. Lines, not a stack: total-order indices do
    not add up to one. ``time_units`` (the model's) labels the x axis."""
    part = time_resolved[(time_resolved["group"] == group)
                         & (time_resolved["output"] == output)]
    wide = {i: _over_time(part, i) for i in dict.fromkeys(part["index"])}
    if index not in wide:
        raise ValueError(f"index {index!r} is not in the table; valid: {', '.join(wide)}")
    main = wide[index]
    order = main.mean().sort_values(ascending=False).index
    shown = list(order[:top])
    other = {"ST": "S1", "S1": "ST"}.get(index)
    fig = new_figure(figsize=(7.2, 4.0), layout="constrained")
    ax = fig.add_subplot()
    greys = [str(g) for g in np.linspace(0.05, 0.6, max(1, len(shown)))]
    markers = ("o", "s", "^", "D", "v", "x", "+", "*")
    for k, (factor, name) in enumerate(zip(shown, _labels(shown, labels))):
        style: dict[str, Any] = {"color": greys[k], "marker": markers[k % len(markers)],
                                 "markevery": 0.1, "markersize": 4, "linewidth": 1.6}
        ax.plot(main.index.to_numpy(dtype=float), main[factor].to_numpy(dtype=float),
                label=name, **style)
        if other in wide and factor in wide[other]:
            ax.plot(wide[other].index.to_numpy(dtype=float),
                    wide[other][factor].to_numpy(dtype=float), linestyle="--",
                    **{**style, "linewidth": 1.0})
    from matplotlib.lines import Line2D
    handles, names = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.3", linewidth=1.6))
    names.append(f"solid: {index}")
    if other in wide:
        handles.append(Line2D([], [], color="0.3", linewidth=1.0, linestyle="--"))
        names.append(f"dashed: {other}")
    ax.axhline(0, color="0.5", linewidth=0.6)
    ax.set_xlabel(time_label(time_units))
    ax.set_ylabel("Sensitivity index (share of variance)")
    more = len(order) - len(shown)
    ax.set_title((title or f"{output}: sensitivity over time")
                 + (f" ({more} smaller factors not shown)" if more > 0 else ""),
                 fontsize=10, y=_TITLE_Y)
    ax.set_xlim(main.index.min(), main.index.max())
    ax.grid(True, color="0.88", linewidth=0.6)
    ax.legend(handles, names, frameon=False, fontsize=7, loc="center left",
              bbox_to_anchor=(1.0, 0.5))
    return fig


def knockout_figure(knockout: pd.DataFrame, *, title: str = "Loop knockout") -> Figure:
    """Relative change of each scalar output metric when each loop's gain is 0.

    One panel per output metric, one bar per loop.
    """
    finite = knockout[np.isfinite(knockout["relative_change"].astype(float))]
    keys = list(dict.fromkeys(zip(finite["output"], finite["metric"])))  # no empty panel
    cols = min(3, max(1, len(keys)))
    rows = int(np.ceil(len(keys) / cols)) or 1
    loops = list(dict.fromkeys(knockout["loop"]))
    fig = new_figure(figsize=(3.4 * cols, 0.6 + rows * (0.6 + 0.25 * len(loops))),
                 layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    for ax, (output, metric) in zip(axes.flat, keys):
        part = knockout[(knockout["output"] == output) & (knockout["metric"] == metric)]
        part = part.set_index("loop").reindex(loops)
        rel = part["relative_change"].astype(float).fillna(0.0) * 100
        hbars(ax, np.arange(len(loops)), rel, color=["0.25" if v < 0 else "0.65" for v in rel])
        ax.axvline(0, color="0.3", linewidth=0.6)
        ax.set_yticks(np.arange(len(loops)), loops, fontsize=7)
        ax.set_title(f"{output}\n{metric_title(metric)}", fontsize=8, y=_TITLE_Y)
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
    fig = new_figure(figsize=(4.6 * cols, height), layout="constrained")
    axes = fig.subplots(1, cols, squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        part = _select(indices, group, output, metric)
        if method == "sobol":
            _sobol_axes(ax, part, labels)
        elif method == "morris":
            _morris_axes(ax, part, labels)
        else:
            _bar_axes(ax, part, index, labels)
        ax.set_title(metric_title(metric), fontsize=9, y=_TITLE_Y)
    what = "loop strengths" if group == "loops" else "uncertain parameters"
    fig.suptitle(f"{output}: what decides it ({what}, {method})", fontsize=10)
    return fig


def _sobol_axes(ax, part, labels):
    value, conf = _by_factor(part, ("ST", "S1")), _by_factor(part, ("ST", "S1"), "conf")
    shown = value["ST"].sort_values(na_position="first").index[-MAX_FACTORS:]
    y = np.arange(len(shown))
    for k, (index, shift) in enumerate((("ST", -0.2), ("S1", 0.2))):
        if index in value:
            hbars(ax, y + shift, value.loc[shown, index], height=0.38,
                  xerr=conf.loc[shown, index], color=_GREYS[k], label=index,
                  error_kw={"ecolor": "0.3", "capsize": 2, "linewidth": 0.8})
    ax.set_yticks(y, _labels(shown, labels), fontsize=7)
    ax.axvline(0, color="0.3", linewidth=0.6)
    ax.set_xlabel("Sobol' index (95% interval)", fontsize=8)
    ax.legend(frameon=False, fontsize=7, loc="lower right")


def _morris_axes(ax, part, labels):
    wide = _by_factor(part, ("mu_star", "sigma"))
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
    hbars(ax, np.arange(len(part)), part["value"], color=_GREYS[0],
          xerr=None if np.isnan(conf).all() else conf,
          error_kw={"ecolor": "0.4", "capsize": 2, "linewidth": 0.8})
    ax.set_yticks(np.arange(len(part)), _labels(part["factor"], labels), fontsize=7)
    ax.set_xlabel(index, fontsize=8)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_").lower()


def _unique(stem: str, used: set[str]) -> str:
    """``stem``, or ``stem_2``, ``stem_3``, ... when an earlier figure has it
    (two outputs whose names differ only in punctuation: "A-B", "A B")."""
    name, k = stem, 1
    while name in used:
        k += 1
        name = f"{stem}_{k}"
    used.add(name)
    return name


#: Fewest figures drawn in more than one process: a worker starts a Python
#: with numpy, pandas and matplotlib (about a second), which pays only when
#: it takes several figures off the caller.
PARALLEL_FIGURES = 6

#: The figure function of each kind of task (:func:`figure_tasks`).
BUILDERS: dict[str, Callable[..., Figure]] = {
    "output": output_figure, "time_resolved": time_resolved_figure,
    "knockout": knockout_figure}


def figure_tasks(result) -> list[tuple[str, str, dict]]:
    """The figures of a :class:`sdrev.sensitivity.SensitivityResult`, to draw.

    Returns
    -------
    list of (str, str, dict)
        File stem, kind (``"output"``, ``"time_resolved"``, ``"knockout"``)
        and the keyword arguments of its figure function, in the order the
        files are listed; only tables and plain values, so a task can be
        drawn in another process.
    """
    tasks: list[tuple[str, str, dict]] = []
    used: set[str] = set()
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
            part = rows[rows["output"] == output]
            tasks.append((_unique(_slug(f"{method}_{group}_{output}"), used), "output",
                          dict(indices=part, group=group, output=output, metrics=metrics,
                               method=method, index=result.main_index, labels=labels)))
    tr = result.time_resolved
    if len(tr):
        for group, output in dict.fromkeys(zip(tr["group"], tr["output"])):
            labels = {f.name: f.label for f in result.spec.group(group)}
            part = tr[(tr["group"] == group) & (tr["output"] == output)]
            present = set(part["index"])
            index = next((i for i in ("ST", "S1") if i in present), result.main_index)
            tasks.append((_unique(_slug(f"time_resolved_{group}_{output}"), used),
                          "time_resolved",
                          dict(time_resolved=part, group=group, output=output, index=index,
                               labels=labels, time_units=result.model.time.units)))
    if len(result.knockout):
        tasks.append(("loop_knockout", "knockout", dict(knockout=result.knockout)))
    return tasks


def draw_figures(tasks: Iterable[tuple[str, str, dict]], folder: Path, *,
                 formats: Iterable[str] = ("png", "svg")) -> list[Path]:
    """Draw and save ``tasks`` (from :func:`figure_tasks`) into ``folder``.

    Each figure is laid out once (constrained layout: the text extents of
    every label, the costliest part of saving) and every format draws that
    layout (:func:`save_laid_out`), so a figure's SVG and PNG have the same
    layout.
    """
    paths: list[Path] = []
    formats = tuple(formats)
    for stem, kind, kwargs in tasks:
        paths += save_laid_out(BUILDERS[kind](**kwargs), Path(folder) / stem, formats=formats)
    return paths


def write_sensitivity_figures(result, folder: Path, *,
                              formats: Iterable[str] = ("png", "svg"),
                              workers: int | None = None) -> list[Path]:
    """Write every figure of ``result`` into ``folder`` (created); return the paths.

    Parameters
    ----------
    result : SensitivityResult
    folder : Path
    formats : iterable of str, optional
        File formats of each figure.
    workers : int, optional
        Processes drawing the figures, this one included (default: two when
        there are at least ``PARALLEL_FIGURES`` figures and a core is idle,
        else one; matplotlib draws in one thread). Figures do not depend on
        each other; the files are the same either way. A worker starts cold
        (imports, font and text caches): on a busy machine it takes longer
        than this process needs to draw its share (measured: 13 figures at a
        load of 4 on 2 cores, 17 s in one process, 24 s in two). With more
        than one, each process takes the next figure not yet taken, the
        costliest first (:func:`draw_order`), so a worker that starts late
        takes fewer.
    """
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool)
                                or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    formats = tuple(formats)
    tasks = figure_tasks(result)
    warm = _take_prestarted()
    if workers is None:
        workers = 2 if len(tasks) >= PARALLEL_FIGURES and (
            warm is not None or idle_cores() >= 1) else 1
    workers = min(workers, len(tasks)) or 1
    if workers == 1:
        if warm is not None:
            warm.communicate()  # no job: it exits
        return draw_figures(tasks, folder, formats=formats)
    # The others are plain interpreters given the tasks in a file (not
    # multiprocessing: its spawned children import the caller's main script
    # again, and a script without a __main__ guard would run its whole
    # analysis a second time); this process draws meanwhile. A figure is
    # taken by creating its claim file, which only one process can.
    order = draw_order(tasks)
    done: dict[int, list[Path]] = {}
    with tempfile.TemporaryDirectory(prefix="sdrev-figures-") as tmp:
        claims = Path(tmp) / "claims"
        claims.mkdir()
        procs = []
        for k in range(1, workers):
            job = Path(tmp) / f"worker{k}.pickle"
            job.write_bytes(pickle.dumps((tasks, order, folder, formats, claims)))
            if warm is not None and warm.stdin is not None:  # started earlier: its job
                warm.stdin.write(f"{job}\n".encode())
                warm.stdin.flush()
                procs.append((job, warm))
                warm = None
                continue
            procs.append((job, subprocess.Popen(
                [sys.executable, "-c", _WORKER, str(job)], stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, env=_worker_env())))
        try:
            done.update(draw_claimed(tasks, order, folder, formats=formats, claims=claims))
        finally:
            failed = []
            for job, proc in procs:
                _, err = proc.communicate()
                if proc.returncode:
                    lines = err.decode("utf-8", "replace").strip().splitlines()
                    failed.append(lines[-1] if lines else f"exit status {proc.returncode}")
                else:
                    done.update(pickle.loads(job.with_suffix(".done").read_bytes()))
        if failed:
            raise RuntimeError(f"a figure worker failed: {failed[0]}")
    missing = [tasks[i][0] for i in range(len(tasks)) if i not in done]
    if missing:
        raise RuntimeError(f"figures not drawn: {', '.join(missing)}")
    return [path for i in range(len(tasks)) for path in done[i]]


#: A figure worker started by :func:`prestart_worker`, not yet given a job.
_prestarted: list[subprocess.Popen] = []


def prestart_worker(*, when_busy: bool = False) -> bool:
    """Start a figure worker now, for the next :func:`write_sensitivity_figures`.

    A worker's start (Python, pandas, matplotlib and its fonts: about a
    second) then overlaps the caller's simulations and analysis instead of
    delaying the figures; the worker waits for its job on its standard
    input and exits unused when this process ends (``sdrev sensitivity``
    starts one before simulating).

    Parameters
    ----------
    when_busy : bool, optional
        Start one even when no core is idle (by default only with an idle
        core, as :func:`write_sensitivity_figures` decides).

    Returns
    -------
    bool
        Whether a started worker is waiting.
    """
    if not _prestarted and (when_busy or idle_cores() >= 1):
        _prestarted.append(subprocess.Popen(
            [sys.executable, "-c", _WAITING_WORKER], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_worker_env()))
    return bool(_prestarted)


def _take_prestarted() -> subprocess.Popen | None:
    """The waiting worker, if one is still alive (it is then no longer waiting)."""
    while _prestarted:
        proc = _prestarted.pop()
        if proc.poll() is None:
            return proc
        proc.communicate()
    return None


def serve() -> None:
    """Prestarted figure worker: import and warm what drawing needs, then
    draw the job whose path arrives on standard input (none: exit)."""
    import pandas  # noqa: F401 - the tasks hold frames

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = new_figure(figsize=(1, 1))
    FigureCanvasAgg(fig)
    fig.text(0.5, 0.5, "0.5")  # loads the font
    fig.canvas.draw()
    job = sys.stdin.readline().strip()
    if job:
        draw_share(Path(job))


def draw_order(tasks: list[tuple[str, str, dict]]) -> list[int]:
    """Indices of ``tasks``, the costliest figure first.

    The cost of drawing a figure grows with its panels and the labelled
    rows of each (text extents are most of it): measured on 13 figures,
    the knockout chart (10 panels of 8 loops) 3.4 s, a Sobol' figure of 2
    panels of 15 factors 1.6 s, of 2 panels of 8 loops 1.2 s, a
    time-resolved chart 0.8 s. Drawing the large ones first keeps the
    processes' last figures small, so they finish together.
    """
    def cost(task: tuple[str, str, dict]) -> int:
        _, kind, kw = task
        if kind == "knockout":
            ko = kw["knockout"]
            return len(set(zip(ko["output"], ko["metric"]))) * (3 + ko["loop"].nunique())
        if kind == "output":
            rows = min(MAX_FACTORS, kw["indices"]["factor"].nunique())
            return len(kw["metrics"]) * (3 + rows)
        return 3 + int(kw.get("top", 5))

    return sorted(range(len(tasks)), key=lambda i: -cost(tasks[i]))


def draw_claimed(tasks: list[tuple[str, str, dict]], order: list[int], folder: Path, *,
                 formats: Iterable[str], claims: Path) -> dict[int, list[Path]]:
    """Draw, in ``order``, each task no other process has claimed yet.

    A task is claimed by creating ``claims/<index>`` exclusively (an atomic
    file-system operation: of several processes at most one succeeds).

    Returns
    -------
    dict
        Task index -> paths written, for the tasks this call drew.
    """
    drawn: dict[int, list[Path]] = {}
    for i in order:
        try:
            os.close(os.open(Path(claims) / str(i), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        drawn[i] = draw_figures([tasks[i]], folder, formats=formats)
    return drawn


def idle_cores() -> float:
    """Cores not in use: the core count less the 1-minute load average or,
    when fewer, the tasks running right now besides this one
    (:func:`running_others`); 0 where the load average is unknown.

    The load average lags: it still counts, for a minute, work that has
    ended (a command run just before, or this command's own simulations).
    """
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0
    now = running_others()
    if now is not None:
        load = min(load, now)
    return max(0.0, (os.cpu_count() or 1) - load)


def running_others(*, path: str | Path = "/proc/loadavg") -> int | None:
    """Runnable tasks now, this one not counted (the first number of the
    fourth field of Linux's ``/proc/loadavg``, read from ``path``); None
    where unknown."""
    try:
        field = Path(path).read_text().split()[3]
        return max(0, int(field.split("/")[0]) - 1)
    except (OSError, IndexError, ValueError):
        return None


#: What a figure worker runs: draw the tasks in the file named by argv[1]
#: and leave the paths beside it (``.done``).
_WORKER = ("import sys; from pathlib import Path; "
           "from sdrev.figures.sensitivity import draw_share; draw_share(Path(sys.argv[1]))")


#: What a prestarted figure worker runs (:func:`serve`).
_WAITING_WORKER = "from sdrev.figures.sensitivity import serve; serve()"


def _worker_env() -> dict[str, str]:
    """The environment of a figure worker: this sdrev first on its path."""
    import sdrev

    root = str(Path(sdrev.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root] + ([path] if path else []))}


def draw_share(job: Path) -> None:
    """Figure worker: draw the unclaimed tasks of ``job`` (tasks, order,
    folder, formats and claims folder, pickled by
    :func:`write_sensitivity_figures`) and pickle ``{task index: paths}``
    to ``job`` with the suffix ``.done``."""
    tasks, order, folder, formats, claims = pickle.loads(Path(job).read_bytes())
    drawn = draw_claimed(tasks, order, folder, formats=formats, claims=claims)
    Path(job).with_suffix(".done").write_bytes(pickle.dumps(drawn))
