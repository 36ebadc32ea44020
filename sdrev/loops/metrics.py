"""Loop-score outputs for sensitivity analysis: plain functions of an analysis.

Each takes a :class:`~sdrev.loops.LoopAnalysis` and returns one number, so a
sensitivity run can analyse each sample and feed the numbers to SALib.
Loops are named by id (``"R1"``), by documented name (``"strategic
guiding"``) or by their variables (any iterable of Vensim or Python names,
in any order).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["dominance_share", "dominance_shift_time", "relative_score_at"]


def relative_score_at(analysis, loop, time: float) -> float:
    """Relative score of ``loop`` at ``time`` (linear between saved times).

    Returns a value in ``[-1, 1]``; negative means the loop acts as
    balancing at that time.
    """
    series = analysis.relative_scores[analysis.loop_id(loop)]
    t = series.index.to_numpy(dtype=float)
    if not t[0] <= time <= t[-1]:
        raise ValueError(f"time {time} is outside the run ({t[0]:g} to {t[-1]:g})")
    return float(np.interp(time, t, series.to_numpy(dtype=float)))


def dominance_shift_time(analysis, from_loop, to_loop, *,
                         after: float | None = None,
                         default: float = math.nan) -> float:
    """First time at which ``to_loop`` takes over from ``from_loop``.

    The time is the first downward crossing of
    ``d(t) = |RS_from(t)| - |RS_to(t)|`` from positive to non-positive
    (``RS``: relative loop score), linearly interpolated between saved
    times, after a time at which ``from_loop`` was the stronger one; a
    continuous measure, suited to variance-based sensitivity analysis.

    Parameters
    ----------
    analysis : LoopAnalysis
    from_loop, to_loop
        Loop ids, documented names, or variable lists.
    after : float, optional
        Ignore crossings before this time.
    default : float
        Returned when the shift never happens (``nan`` by default).
    """
    a = analysis.relative_scores[analysis.loop_id(from_loop)].to_numpy(dtype=float)
    b = analysis.relative_scores[analysis.loop_id(to_loop)].to_numpy(dtype=float)
    t = analysis.relative_scores.index.to_numpy(dtype=float)
    d = np.abs(a) - np.abs(b)
    led = False
    for k in range(len(t)):
        if after is not None and t[k] < after:
            continue
        if d[k] > 0:
            led = True
            continue
        if led and (a[k] != 0.0 or b[k] != 0.0):
            d0, d1 = d[k - 1], d[k]
            return float(t[k - 1] + (t[k] - t[k - 1]) * d0 / (d0 - d1))
    return default


def dominance_share(analysis, loop, *, start: float | None = None,
                    end: float | None = None) -> float:
    """Fraction of saved times in ``[start, end]`` at which ``loop`` is in
    its partition's dominant set."""
    loop_id = analysis.loop_id(loop)
    times = analysis.relative_scores.index.to_numpy(dtype=float)
    lo = times[0] if start is None else start
    hi = times[-1] if end is None else end
    mask = (times >= lo) & (times <= hi)
    if not mask.any():
        raise ValueError(f"no saved time between {lo:g} and {hi:g}")
    hits = np.zeros(len(times), dtype=bool)
    for row in analysis.dominant_periods.itertuples(index=False):
        if loop_id in row.loops:
            hits |= (times >= row.start) & (times <= row.end)
    return float(hits[mask].mean())
