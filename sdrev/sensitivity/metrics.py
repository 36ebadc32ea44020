"""Output metrics: a spec's metric computed from trajectories, one number per run.

The measures themselves live in :mod:`sdrev.measures` (re-exported here).
"""

from __future__ import annotations

import numpy as np

from sdrev.measures import first_crossing, maximum, time_average, value_at
from sdrev.sensitivity.spec import Metric

__all__ = ["compute", "first_crossing", "maximum", "time_average", "value_at"]


def compute(metric: Metric, times, Y, *, never: float = np.nan) -> np.ndarray:
    """The scalar ``metric`` for each trajectory (not for ``trajectory`` metrics).

    Parameters
    ----------
    metric : Metric
    times, Y : array_like
    never : float, optional
        Value of a first crossing that never happens.
    """
    if metric.kind == "value_at":
        return value_at(times, Y, metric.time)
    if metric.kind == "time_average":
        return time_average(times, Y, metric.start, metric.end)
    if metric.kind == "maximum":
        return maximum(times, Y)
    if metric.kind == "first_crossing":
        return first_crossing(times, Y, metric.threshold, direction=metric.direction,
                              never=never)
    raise ValueError(f"metric {metric.kind!r} is not a scalar metric")
