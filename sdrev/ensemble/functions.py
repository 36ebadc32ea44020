"""Vensim builtins over arrays with a leading run axis.

Each function reproduces PySD's (and so Vensim's) numerics for one run,
applied element-wise to every run at once: the value ``SMALL_VENSIM``
that Vensim treats as zero, the half-step tolerance of ``STEP``, lookups
that hold their end values outside the table, and so on. Arguments may be
Python floats or numpy arrays of shape ``(runs,)``; results broadcast.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SMALL_VENSIM",
    "full",
    "if_then_else",
    "integer",
    "lookup",
    "modulo",
    "pulse",
    "pulse_train",
    "quantum",
    "ramp",
    "step",
    "xidz",
    "zidz",
]

#: What Vensim (and PySD) consider zero.
SMALL_VENSIM: float = 1e-6


def full(value, n: int, tail: tuple = ()) -> np.ndarray:
    """Return ``value`` broadcast to a fresh float array of shape ``(n, *tail)``."""
    return np.array(np.broadcast_to(np.asarray(value, dtype=float),
                                    (n,) + tuple(tail)))


def if_then_else(condition, if_true, if_false):
    """``IF THEN ELSE``: element-wise choice (both branches are evaluated)."""
    return np.where(condition, if_true, if_false)


def xidz(numerator, denominator, x):
    """``XIDZ``: ``numerator / denominator``, or ``x`` where the divisor is ~0."""
    small = np.abs(denominator) < SMALL_VENSIM
    return np.where(small, x, numerator / np.where(small, 1.0, denominator))


def zidz(numerator, denominator):
    """``ZIDZ``: ``numerator / denominator``, or 0 where the divisor is ~0."""
    return xidz(numerator, denominator, 0.0)


def integer(x):
    """``INTEGER``: truncation towards zero."""
    return np.trunc(x)


def quantum(a, b):
    """``QUANTUM``: ``b * INTEGER(a / b)``, or ``a`` where ``b`` is ~0."""
    small = b < SMALL_VENSIM
    return np.where(small, a, b * np.trunc(a / np.where(small, 1.0, b)))


def modulo(x, m):
    """``MODULO`` as PySD computes it: ``x - QUANTUM(x, m)``."""
    return x - quantum(x, m)


def step(time: float, dt: float, value, start):
    """``STEP(value, start)``: ``value`` from ``start`` on (half-step tolerance)."""
    return value * (time + dt / 2 > start)


def ramp(time: float, slope, start, finish=None):
    """``RAMP(slope, start, finish)``: linear from ``start``, flat after ``finish``."""
    final = time if finish is None else np.minimum(finish, time)
    return (time + SMALL_VENSIM > start) * slope * (final - start)


def pulse(time: float, dt: float, start, width=None, *, magnitude=None):
    """``PULSE(start, width)``: 1 while ``start <= time < start + width``."""
    width = 0.5 * dt if width is None else width
    out = 1.0 if magnitude is None else magnitude / dt
    on = (start - SMALL_VENSIM <= time) & (time < start + width)
    return np.where(on, out, 0.0)


def pulse_train(time: float, dt: float, start, repeat_time, width, end):
    """``PULSE TRAIN(start, width, repeat, end)`` as PySD computes it."""
    single = pulse(time, dt, start, width)
    after = (start <= time) & (time < end)
    safe = np.where(repeat_time == 0, 1.0, repeat_time)
    train = np.where(
        after & (np.mod(time - start + SMALL_VENSIM, safe) < width), 1.0, 0.0)
    return np.where(repeat_time == 0, single, train)


def lookup(x, xs: np.ndarray, ys: np.ndarray, kind: str = "interpolate"):
    """Evaluate a lookup table at ``x`` with Vensim's rules.

    Parameters
    ----------
    x : float or ndarray
        Input values.
    xs, ys : ndarray
        Table points, ``xs`` increasing.
    kind : {"interpolate", "hold_backward", "extrapolate"}
        Linear interpolation holding the end values (Vensim's default),
        step-wise holding the previous point, or linear extrapolation
        beyond the ends (XMILE).
    """
    if kind == "hold_backward":
        index = np.clip(np.searchsorted(xs, x, side="right") - 1, 0, len(xs) - 1)
        return ys[index]
    out = np.interp(x, xs, ys)
    if kind == "extrapolate" and len(xs) > 1:
        low = ys[0] + (ys[1] - ys[0]) / (xs[1] - xs[0]) * (x - xs[0])
        high = ys[-1] + (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]) * (x - xs[-1])
        out = np.where(x < xs[0], low, np.where(x > xs[-1], high, out))
    return out


# ------------------------------------------------------------- subscripts
# A subscripted value has shape (runs, *sizes) where the run axis may be 1
# (the same in every run); a scalar value in a subscripted equation is
# reshaped to (runs, 1, ..., 1) so that numpy broadcasting aligns axes.

def up(x, k: int):
    """Scalar ``x`` (a float or shape ``(runs,)``) with ``k`` unit axes added."""
    if np.ndim(x) == 0:
        return x
    return np.reshape(x, np.shape(x) + (1,) * k)


def bcast(x, shape: tuple):
    """``x`` broadcast to ``(runs, *shape)`` (a read-only view)."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:
        x = x.reshape((1,) * (1 + len(shape)))
    return np.broadcast_to(x, (x.shape[0],) + tuple(shape))


def region(x, fixed: tuple, shape: tuple):
    """Values of one equation of a subscripted element over its region.

    ``x`` has one axis per ranged subscript; ``fixed`` lists the positions
    given as single elements, which get unit axes.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:
        x = x.reshape((1,) * (1 + len(shape)))
    else:
        for f in fixed:
            x = np.expand_dims(x, 1 + f)
    return np.broadcast_to(x, (x.shape[0],) + tuple(shape))


def assemble(shape: tuple, parts) -> np.ndarray:
    """A subscripted element from the regions its equations define.

    ``parts`` holds ``(region, (target, source))``: the region's values and
    the index arrays of its cells in the element and in the region. Cells
    no equation defines are NaN.
    """
    runs = max(p[0].shape[0] for p in parts)
    out = np.full((runs,) + tuple(shape), np.nan)
    for values, (target, source) in parts:
        out[(slice(None),) + target] = values[(slice(None),) + source]
    return out


def reduce(func, x, axes: tuple, ndim: int):
    """SUM/PROD/VMIN/VMAX over the ``Range!`` axes (the trailing ``axes``)."""
    x = np.asarray(x, dtype=float)
    if x.ndim < ndim + 1:
        x = x.reshape(x.shape + (1,) * (ndim + 1 - x.ndim))
    return func(x, axis=axes)
