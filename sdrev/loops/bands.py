"""The 90% band of relative scores across the runs of an ensemble.

:class:`sdrev.loops.ensemble.EnsembleLoopAnalysis` reports, for each
documented loop and saving time, the median relative score across runs and
the :data:`BAND` quantiles around it: those of ``np.quantile`` (linear
method), found here from one sort of each column (:func:`band_quantiles`).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["BAND", "band_quantiles", "band_table", "threads"]

#: Quantiles of the band around the median relative score (90%).
BAND = (0.05, 0.95)


def threads() -> int:
    """Threads for the band's quantiles (the cores, up to 8)."""
    return min(os.cpu_count() or 1, 8)


def band_table(series: list) -> np.ndarray:
    """The band's quantiles of each array of ``series`` (runs, times) across
    runs, shape ``(3, len(series), times)``."""
    return np.stack([band_quantiles(x) for x in series], axis=1)


def band_quantiles(x: np.ndarray) -> np.ndarray:
    """``np.quantile(x, [BAND[0], 0.5, BAND[1]], axis=0)`` of an array
    without NaN, byte for byte, from one sort of each column (numpy sorts
    with SIMD instructions: about 3x faster than the partition at the six
    places np.quantile's linear method reads).

    The values at those places are the same whichever way they are found,
    except the sign of a zero (0.0 and -0.0 compare equal, so a sort and a
    partition may place them differently): columns where a value read is
    zero and zeros of both signs are take np.quantile itself. The interpolation is numpy's
    (``_lerp``: from below for weights under 0.5, from above otherwise).

    Parameters
    ----------
    x : ndarray, shape (runs, columns)

    Returns
    -------
    ndarray, shape (3, columns)
    """
    x = np.asarray(x, dtype=float)
    quantiles = [BAND[0], 0.5, BAND[1]]
    n = x.shape[0]
    virtual = (n - 1) * np.asarray(quantiles)  # numpy's virtual indexes (linear)
    below = np.floor(virtual)
    above = below + 1
    last = virtual >= n - 1
    below[last] = -1
    above[last] = -1
    below = below.astype(np.intp)
    above = above.astype(np.intp)
    gamma = (virtual - below).reshape(-1, 1)
    ordered = np.sort(x.T, axis=-1)
    a = ordered[:, below].T
    b = ordered[:, above].T
    diff = b - a
    out = np.add(a, diff * gamma)
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    cols = np.flatnonzero(((a == 0) | (b == 0)).any(axis=0))
    if len(cols):  # a zero read: ambiguous only where zeros of both signs are
        zero = x[:, cols] == 0
        negative = np.signbit(x[:, cols])
        mixed = cols[(zero & negative).any(axis=0) & (zero & ~negative).any(axis=0)]
        if len(mixed):
            out[:, mixed] = np.quantile(x[:, mixed], quantiles, axis=0)
    return out
