"""Figures of a calibration: the fit with predictive bands, the posterior, the chain."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

__all__ = ["all_figures", "close", "fit_figure", "pairs_figure", "profile_figure",
           "trace_figure"]

_BAND = "#4c72b0"
_OBS = "#c44e52"


def close(fig: Figure) -> None:
    """Free a figure's memory (figures are not registered with pyplot)."""
    fig.clear()


def all_figures(result) -> dict[str, Figure]:
    """Every figure of a :class:`~sdrev.calibrate.CalibrationResult`, by file stem."""
    out = {"fit": fit_figure(result)}
    if result.method == "mcmc":
        out["posterior"] = pairs_figure(result)
        out["trace"] = trace_figure(result)
    else:
        out["profiles"] = profile_figure(result)
    return out


def fit_figure(result) -> Figure:
    """Observations against the model's posterior predictive median and bands.

    One panel per observed variable and case: the 90% and 50% bands, the
    median, points (fitted: filled; held out: open), reported bounds as
    triangles pointing to the reported side, events as horizontal intervals
    (observed time plus/minus two sd) at their threshold.
    """
    bands, obs = result.bands, result.observations
    panels = list(dict.fromkeys(zip(bands["variable"], bands["case"])))
    cols = min(3, len(panels))
    rows = int(np.ceil(len(panels) / cols))
    fig = Figure(figsize=(4.6 * cols, 3.3 * rows), layout="constrained")
    for k, (variable, case) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, k + 1)
        b = bands[(bands["variable"] == variable) & (bands["case"] == case)]
        ax.fill_between(b["time"], b["q05"], b["q95"], color=_BAND, alpha=0.18, lw=0,
                        label="90% band")
        ax.fill_between(b["time"], b["q25"], b["q75"], color=_BAND, alpha=0.35, lw=0,
                        label="50% band")
        ax.plot(b["time"], b["q50"], color=_BAND, lw=1.6, label="median")
        o = obs[(obs["variable"] == variable) & (obs["case"] == case)]
        for row in o.itertuples(index=False):
            face = _OBS if row.fitted else "white"
            if row.kind == "value":
                ax.errorbar(row.time, row.value, yerr=2 * row.sd if row.sd == row.sd else None,
                            fmt="o", color=_OBS, mfc=face, ms=6, capsize=3, zorder=5)
            elif row.kind in ("upper_bound", "lower_bound"):
                ax.plot(row.time, row.value, "v" if row.kind == "upper_bound" else "^",
                        color=_OBS, mfc=face, ms=8, zorder=5)
            else:
                sd = row.sd if row.sd == row.sd else 0.0
                ax.errorbar(row.time, row.value, xerr=2 * sd, fmt="D", color=_OBS, mfc=face,
                            ms=6, capsize=3, zorder=5)
        ax.set_title(variable + (f" ({case})" if case else ""), fontsize=10)
        ax.set_xlabel("Time")
        ax.grid(True, color="0.9", lw=0.6)
        if k == 0:
            ax.legend(frameon=False, fontsize=8)
    fig.suptitle(f"{result.model}: observations and posterior predictive bands"
                 if result.method == "mcmc" else
                 f"{result.model}: observations and the maximum-likelihood run", fontsize=11)
    return fig


def pairs_figure(result, *, max_parameters: int = 8) -> Figure:
    """Posterior pair plot: marginal histograms on the diagonal, draws below it."""
    labels = list(result.spec.labels)[:max_parameters]
    draws = result.posterior[labels].to_numpy()
    if len(draws) > 2000:  # the scatter shows the shape as well with 2,000 points
        draws = draws[np.random.default_rng(0).choice(len(draws), 2000, replace=False)]
    k = len(labels)
    fig = Figure(figsize=(1.9 * k + 1, 1.9 * k + 1), layout="constrained")
    summary = result.summary.set_index("parameter")
    for i in range(k):
        for j in range(i + 1):
            ax = fig.add_subplot(k, k, i * k + j + 1)
            if i == j:
                ax.hist(draws[:, i], bins=30, color=_BAND, alpha=0.8)
                ax.axvspan(summary.loc[labels[i], "prior_lower"],
                           summary.loc[labels[i], "prior_upper"], color="0.9", zorder=0)
                ax.set_yticks([])
            else:
                ax.plot(draws[:, j], draws[:, i], ".", ms=1.5, alpha=0.3, color=_BAND)
            if i == k - 1:
                ax.set_xlabel(labels[j], fontsize=8)
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(labels[i], fontsize=8)
            ax.tick_params(labelsize=7)
    fig.suptitle("Posterior (grey: prior 95% interval)", fontsize=10)
    return fig


def trace_figure(result) -> Figure:
    """Each parameter's walkers over the steps (16 of them, and the median of
    all in black), burn-in shaded."""
    chain = result.chain
    labels = list(result.spec.labels)
    fig = Figure(figsize=(7.5, 1.5 * len(labels) + 0.6), layout="constrained")
    burn = result.diagnostics.get("burn", 0)
    every = max(1, len(chain) // 400)  # a readable trace needs no more points
    steps = np.arange(0, len(chain), every)
    for i, label in enumerate(labels):
        ax = fig.add_subplot(len(labels), 1, i + 1)
        ax.plot(steps, chain[::every, :16, i], color=_BAND, alpha=0.25, lw=0.5)
        ax.plot(steps, np.median(chain[::every, :, i], axis=1), color="black", lw=1)
        ax.axvspan(0, burn, color="0.92", zorder=0)
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.axes[-1].set_xlabel("step (shaded: burn-in, discarded)")
    return fig


def profile_figure(result) -> Figure:
    """Profile log likelihood of each parameter, with the 95% threshold."""
    labels = list(result.profiles)
    cols = min(3, len(labels))
    rows = int(np.ceil(len(labels) / cols))
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows), layout="constrained")
    best = float(result.posterior["log_likelihood"].iloc[0])
    drop = result.diagnostics["profile_drop"]  # the 95% threshold below the maximum
    for k, label in enumerate(labels):
        x, y = result.profiles[label]
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.plot(x, y, "-o", ms=3, color=_BAND)
        ax.axhline(best - drop, color=_OBS, ls="--", lw=1, label="95% threshold")
        ax.set_title(label, fontsize=9)
        ax.set_ylim(max(np.nanmin(y[np.isfinite(y)], initial=best - 20), best - 20), best + 1)
        ax.grid(True, color="0.9", lw=0.6)
        if k == 0:
            ax.legend(frameon=False, fontsize=8)
    fig.suptitle("Profile likelihoods (flat: not identified by the data)", fontsize=10)
    return fig
