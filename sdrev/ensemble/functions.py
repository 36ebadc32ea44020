"""Vensim builtins over arrays with a leading run axis.

Each function reproduces PySD's (and so Vensim's) numerics for one run,
applied element-wise to every run at once: the value ``SMALL_VENSIM``
that Vensim treats as zero, the half-step tolerance of ``STEP``, lookups
that hold their end values outside the table, and so on. Arguments may be
Python floats or numpy arrays of shape ``(runs,)``; results broadcast.
"""

from __future__ import annotations

import numpy as np

from sdrev.ensemble.noise import (
    random_0_1,
    random_beta,
    random_binomial,
    random_exponential,
    random_gamma,
    random_lookup,
    random_negative_binomial,
    random_normal,
    random_poisson,
    random_triangular,
    random_uniform,
    random_weibull,
)
from sdrev.errors import InvalidValueError

__all__ = [
    "SMALL_VENSIM",
    "full",
    "if_then_else",
    "integer",
    "lookup",
    "lookup_nd",
    "modulo",
    "pulse",
    "pulse_train",
    "quantum",
    "ramp",
    "random_0_1",
    "random_beta",
    "random_binomial",
    "random_exponential",
    "random_gamma",
    "random_lookup",
    "random_negative_binomial",
    "random_normal",
    "random_poisson",
    "random_triangular",
    "random_uniform",
    "random_weibull",
    "series",
    "step",
    "vector_select",
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
    kind : {"interpolate", "hold_backward", "look_forward", "extrapolate"}
        Linear interpolation holding the end values (Vensim's default),
        step-wise holding the previous point (``LOOKUP BACKWARD``),
        step-wise taking the next point (``LOOKUP FORWARD``), or linear
        extrapolation beyond the ends (``LOOKUP EXTRAPOLATE``, XMILE).
    """
    if kind == "hold_backward":
        index = np.clip(np.searchsorted(xs, x, side="right") - 1, 0, len(xs) - 1)
        return ys[index]
    if kind == "look_forward":
        return ys[np.clip(np.searchsorted(xs, x, side="left"), 0, len(xs) - 1)]
    out = np.interp(x, xs, ys)
    if kind == "extrapolate" and len(xs) > 1:
        low = ys[0] + (ys[1] - ys[0]) / (xs[1] - xs[0]) * (x - xs[0])
        high = ys[-1] + (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]) * (x - xs[-1])
        out = np.where(x < xs[0], low, np.where(x > xs[-1], high, out))
    return out


def lookup_nd(x, xs: np.ndarray, ys: np.ndarray, kind: str = "interpolate"):
    """Evaluate one lookup table per element at ``x`` (Vensim's rules).

    Parameters
    ----------
    x : float or ndarray
        Input values, shape ``(runs, *sizes)`` (or broadcastable).
    xs : ndarray
        Table x values, increasing, shared by every element.
    ys : ndarray
        Table y values, shape ``(len(xs), *sizes)`` (or broadcastable).
    kind : {"interpolate", "hold_backward", "look_forward", "extrapolate"}
        As in :func:`lookup`.
    """
    x = np.asarray(x, dtype=float)
    ys = np.asarray(ys, dtype=float)
    xs = np.asarray(xs, dtype=float)
    n = len(xs)
    shape = np.broadcast_shapes(x.shape, (1,) + ys.shape[1:],
                                (1,) + xs.shape[1:])
    x = np.broadcast_to(x, shape)
    table = np.broadcast_to(ys[:, None], (n,) + shape)

    def at(values, index):
        return np.take_along_axis(values, index[None], axis=0)[0]

    if xs.ndim == 1:
        count = np.searchsorted(xs, x, side="right")
        points = np.broadcast_to(xs.reshape((n,) + (1,) * len(shape)),
                                 (n,) + shape)
    else:  # one table per element
        points = np.broadcast_to(xs[:, None], (n,) + shape)
        count = np.sum(points <= x[None], axis=0)
    if n == 1:
        return at(table, np.zeros(shape, dtype=int))
    if kind == "hold_backward":
        return at(table, np.clip(count - 1, 0, n - 1))
    if kind == "look_forward":  # the first point at or after x
        return at(table, np.clip(np.sum(points < x[None], axis=0), 0, n - 1))
    j = np.clip(count - 1, 0, n - 2)
    x0, x1 = at(points, j), at(points, j + 1)
    low, high = at(table, j), at(table, j + 1)
    dx = x1 - x0
    w = np.where(dx > 0, (x - x0) / np.where(dx > 0, dx, 1.0), 1.0)
    if kind != "extrapolate":
        w = np.clip(w, 0.0, 1.0)
    return np.where(w == 0.0, low, low + w * (high - low))


def series(time: float, times: np.ndarray, values: np.ndarray,
           interp: str = "interpolate"):
    """Value at ``time`` of data tabulated over ``times``, as PySD's data.

    Parameters
    ----------
    time : float
    times : ndarray
        Times of the data, increasing.
    values : ndarray
        Shape ``(len(times), *sizes)``.
    interp : {"interpolate", "look_forward", "hold_backward", "raw"}
        Linear between times; the next time's value; the previous time's
        value; or only at the given times (NaN between). Outside the
        times the first or last value is held (``raw`` gives NaN).

    Returns
    -------
    ndarray
        Shape ``values.shape[1:]``.
    """
    hit = np.nonzero(times == time)[0]
    if len(hit):
        return values[hit[0]]
    if interp == "raw":
        return np.full(values.shape[1:], np.nan)
    if time > times[-1]:
        return values[-1]
    if time < times[0]:
        return values[0]
    k = int(np.searchsorted(times, time, side="right"))  # times[k-1] < time < times[k]
    if interp == "look_forward":
        return values[k]
    if interp == "hold_backward":
        return values[k - 1]
    w = (time - times[k - 1]) / (times[k] - times[k - 1])
    return values[k - 1] + w * (values[k] - values[k - 1])


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
    if (type(x) is np.ndarray and x.dtype == np.float64 and x.ndim == len(shape) + 1
            and x.shape[1:] == shape):
        # already of that shape (a stock, a subscripted value): the view alone, without
        # broadcast_to's checks, which cost more than the arithmetic at a few runs
        view = x.view()
        view.flags.writeable = False
        return view
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


def vector_select(selection, values, missing, action: int, axes: tuple,
                  ndim: int):
    """``VECTOR SELECT`` over the ``Range!`` axes (the trailing ``axes``),
    as PySD's ``vector_select``.

    Parameters
    ----------
    selection, values : ndarray
        Selection and expression arrays (broadcast together).
    missing : float or ndarray
        Value where the selection is zero everywhere.
    action : float or ndarray
        Vensim's numerical action (the same in every run): 0 weighted sum, 1 weighted product, 2
        weighted minimum, 3 weighted maximum, 4 weighted mean, 5 product of
        ``values ** selection``, 6-10 sum, product, minimum, maximum and mean
        of the selected values.
    axes : tuple of int
        Axes to reduce.
    ndim : int
        Number of axes after the run axis.
    """
    actions = np.unique(np.asarray(action, dtype=float))
    if len(actions) != 1 or actions[0] not in range(11):
        raise InvalidValueError(
            "VECTOR SELECT's numerical action must be one of 0-10, the same "
            f"in every run; got {actions[:3].tolist()}")
    action = int(actions[0])
    sel = np.asarray(selection, dtype=float)
    val = np.asarray(values, dtype=float)
    sel = sel.reshape(sel.shape + (1,) * (ndim + 1 - sel.ndim))
    val = val.reshape(val.shape + (1,) * (ndim + 1 - val.ndim))
    sel, val = np.broadcast_arrays(sel, val)
    off = sel == 0
    zeros = np.all(off, axis=axes)
    if action <= 4:
        picked = sel * val
    elif action == 5:
        picked = val ** sel
    else:
        picked = val
    op = action if action <= 4 else (1 if action == 5 else action - 6)
    if op == 0:
        out = np.sum(np.where(off, 0.0, picked), axis=axes)
    elif op == 1:
        out = np.prod(np.where(off, 1.0, picked), axis=axes)
    elif op == 2:
        out = np.min(np.where(off, np.inf, picked), axis=axes)
    elif op == 3:
        out = np.max(np.where(off, -np.inf, picked), axis=axes)
    else:
        count = np.sum(~off, axis=axes)
        out = np.sum(np.where(off, 0.0, picked), axis=axes) / np.where(
            count == 0, 1, count)
    return np.where(zeros, missing, out)
