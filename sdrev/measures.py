"""Trajectory measures: pure functions from trajectories to one number per run.

Every function takes ``times`` (shape ``(T,)``, increasing) and ``Y`` (shape
``(runs, T)``, one trajectory per row) and returns an array of shape
``(runs,)`` (:func:`values_at`: ``(runs, len(at))``). Values between saved
times are interpolated linearly. One home for these: sensitivity metrics,
calibration likelihoods and the check battery's references all use them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["first_crossing", "maximum", "time_average", "value_at", "values_at"]


def _check(times, Y) -> tuple[np.ndarray, np.ndarray]:
    times = np.asarray(times, dtype=float)
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    if Y.shape[1] != times.shape[0]:
        raise ValueError(f"trajectories have {Y.shape[1]} times, expected {times.shape[0]}")
    return times, Y


def values_at(times, Y, at) -> np.ndarray:
    """Y interpolated linearly at the times ``at``: shape ``(runs, len(at))``
    (held constant beyond the first and last saved times)."""
    times, Y = _check(times, Y)
    at = np.atleast_1d(np.asarray(at, dtype=float))
    k = np.clip(np.searchsorted(times, at, side="right") - 1, 0, len(times) - 2)
    if len(times) == 1:
        return np.repeat(Y[:, :1], len(at), axis=1)
    t0, t1 = times[k], times[k + 1]
    w = np.clip((at - t0) / (t1 - t0), 0.0, 1.0)
    # Y[:, k] * (1 - w) + Y[:, k + 1] * w, in place in the gathered copies
    # (two temporaries of runs x len(at) fewer; the same numbers, same layout)
    out = Y[:, k]
    out *= 1 - w
    after = Y[:, k + 1]
    after *= w
    out += after
    return out


def value_at(times, Y, time: float) -> np.ndarray:
    """Each trajectory's value at ``time``."""
    times, Y = _check(times, Y)
    return values_at(times, Y, np.array([float(time)]))[:, 0]


def time_average(times, Y, start: float, end: float) -> np.ndarray:
    """Each trajectory's mean over ``[start, end]`` (trapezoidal rule)."""
    times, Y = _check(times, Y)
    if not end > start:
        raise ValueError(f"time_average needs start < end, got {start} and {end}")
    inside = np.nonzero((times > start) & (times < end))[0]
    grid = np.concatenate(([start], times[inside], [end]))
    # saved values inside, interpolated only at the two ends (one gather of
    # Y instead of two and their weighting: the same numbers where Y is finite)
    values = np.empty((Y.shape[0], len(grid)), order="F")  # as the gather gives it
    values[:, [0, -1]] = values_at(times, Y, grid[[0, -1]])
    values[:, 1:-1] = Y[:, inside]
    dt = np.diff(grid)
    trapezoids = values[:, 1:] + values[:, :-1]
    trapezoids /= 2
    trapezoids *= dt
    return trapezoids.sum(axis=1) / (end - start)


def maximum(times, Y) -> np.ndarray:
    """Each trajectory's largest saved value."""
    _, Y = _check(times, Y)
    return Y.max(axis=1)


def first_crossing(times, Y, threshold: float, *, direction: str = "up",
                   never: float = np.nan) -> np.ndarray:
    """The first time each trajectory reaches ``threshold``.

    Parameters
    ----------
    times, Y : array_like
    threshold : float
    direction : {"up", "down"}
        ``"up"``: first time ``Y >= threshold``; ``"down"``: first time
        ``Y <= threshold``.
    never : float, optional
        Value for trajectories that never cross (default NaN).

    Returns
    -------
    ndarray
        Crossing times, interpolated between the saved times; the initial
        time for trajectories that start beyond the threshold.
    """
    times, Y = _check(times, Y)
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
    Z = Y - threshold if direction == "up" else threshold - Y
    hit = Z >= 0
    crossed = hit.any(axis=1)
    k = np.argmax(hit, axis=1)
    out = np.full(Y.shape[0], float(never))
    rows = np.nonzero(crossed)[0]
    kk = k[rows]
    first = kk == 0
    out[rows[first]] = times[0]
    r, j = rows[~first], kk[~first]
    z0, z1 = Z[r, j - 1], Z[r, j]
    frac = np.where(z1 > z0, -z0 / np.where(z1 > z0, z1 - z0, 1.0), 1.0)
    out[r] = times[j - 1] + frac * (times[j] - times[j - 1])
    return out
