"""Vensim's RANDOM functions over arrays with a leading run axis.

Every draw is a pure function of its *key*: the ensemble's seed, the run's
index, the call site in the model, the time step and (for a subscripted
call) the element. The key is hashed into 64 random bits by SplitMix64's
finaliser (Steele, Lea & Flood 2014), the counter-based construction of
Philox and Threefry (Salmon et al. 2011): no generator state is carried,
so the runs of a chunk draw independently and at once, a run replayed
alone (same seed, same run index) draws the same numbers, and a variable
evaluated twice in one time step (initialisation and the first step, or
the loop analysis recomputing it) gets the same value, as in Vensim,
which computes each variable once per time step.

Each distribution is drawn by its inverse CDF restricted to the
truncation interval, so a draw costs one uniform number and the result
follows the truncated distribution exactly (Vensim redraws until the value
falls between the minimum and the maximum: the same distribution). The
arguments follow Vensim's reference (RANDOM Number Functions): minimum
``m`` and maximum ``x`` truncate the value after it has been stretched by
``r`` and shifted by ``h``; the last argument, Vensim's stream ID, is
folded into the call's key (PySD ignores it).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "RUN",
    "SEED",
    "draw_bits",
    "has_noise",
    "labels_are_streams",
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
    "site_key",
    "stream_constants",
    "stream_indices",
    "uniform",
]

#: Python names of the per-run constants every RANDOM call reads: the
#: ensemble's seed and the run's index (its stream); set by the engine
#: (:mod:`sdrev.ensemble.execute`) and by the loop analyses
SEED, RUN = "_noise_seed", "_noise_run"

#: 2**64 / golden ratio: the Weyl increment of SplitMix64
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z):
    """SplitMix64's finaliser: a bijection of 64-bit words with full
    avalanche (every input bit flips each output bit with probability 1/2)."""
    z = z ^ (z >> np.uint64(30))
    z = z * _M1
    z = z ^ (z >> np.uint64(27))
    z = z * _M2
    return z ^ (z >> np.uint64(31))


def _word(x) -> np.ndarray:
    """A non-negative integer given as a float (or array) as uint64."""
    return np.asarray(np.rint(x), dtype=np.float64).astype(np.int64).astype(np.uint64)


def has_noise(program) -> bool:
    """Whether a compiled program (:func:`sdrev.ensemble.compile.compile_model`)
    calls Vensim's RANDOM functions: it reads the per-run stream constants."""
    return RUN in program.constants


def stream_indices(index) -> np.ndarray:
    """The noise stream of each run of a samples table, as
    :func:`sdrev.ensemble.run` keys them: the table's row labels when they
    are non-negative integers (so a row replays alone with its draws),
    else the rows' positions.

    Parameters
    ----------
    index : pandas.Index
        The samples table's index.

    Returns
    -------
    ndarray of int64
    """
    if labels_are_streams(index):
        return np.asarray(index, dtype=np.int64)
    return np.arange(len(index), dtype=np.int64)


def labels_are_streams(index) -> bool:
    """Whether a samples table's row labels key its runs' noise streams:
    non-negative integers (else the rows' positions do)."""
    import pandas as pd

    return bool(pd.api.types.is_integer_dtype(index.dtype) and len(index)
                and index.min() >= 0)


def stream_constants(seed: int, runs) -> dict:
    """The per-run constants of the RANDOM calls (by Python name): the seed
    and each run's stream index (a number or an array, one per run)."""
    return {SEED: float(seed), RUN: np.asarray(runs, dtype=float)}


def site_key(element: str, k: int, stream: float = 0.0) -> int:
    """Key of the ``k``-th RANDOM call of ``element`` with Vensim's stream
    ID ``stream``: stable across processes and compilations of the file."""
    import zlib

    value = zlib.crc32(f"{element}\0{k}\0{float(stream)!r}".encode())
    return int(value)


def draw_bits(seed, run, site: int, time, t0, dt, shape: tuple = ()):
    """64 random bits per run (and element) for one call at one time.

    Parameters
    ----------
    seed : float or ndarray
        The ensemble's seed (a non-negative integer).
    run : float or ndarray
        Index of each run, shape ``(runs,)`` or a number.
    site : int
        The call's key (:func:`site_key`).
    time, t0, dt : float or ndarray
        Current time, INITIAL TIME and TIME STEP (the step's index is
        ``round((time - t0) / dt)``).
    shape : tuple of int
        Subscript shape of the call's value (one draw per element).
    """
    with np.errstate(over="ignore"):
        h = _mix(_word(seed) + GOLDEN)
        h = _mix(h + _word(run) * GOLDEN)
        h = _mix(h + np.uint64(site) * GOLDEN)
        h = _mix(h + _word((np.asarray(time) - t0) / dt) * GOLDEN)
        if shape:
            h = np.reshape(h, np.shape(h) + (1,) * len(shape))
            cells = np.arange(int(np.prod(shape)), dtype=np.uint64).reshape(shape)
            h = _mix(h + (cells + np.uint64(1)) * GOLDEN)
    return h


def uniform(seed, run, site, time, t0, dt, shape=()):
    """Uniform numbers in the open interval (0, 1), 53 random bits each."""
    bits = draw_bits(seed, run, site, time, t0, dt, shape)
    return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53


def _between(u, lo, hi):
    """``lo + u * (hi - lo)``: a uniform number mapped into ``[lo, hi]``."""
    return lo + u * (hi - lo)


def _scaled(base, h, r):
    return h + r * base


def _bounds(m, x, h, r):
    """The truncation interval ``[m, x]`` in units of the base distribution
    (before stretch ``r`` and shift ``h``), ordered."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (np.asarray(m, dtype=float) - h) / r
        b = (np.asarray(x, dtype=float) - h) / r
    return np.minimum(a, b), np.maximum(a, b)


def random_0_1(seed, run, site, time, t0, dt, shape=()):
    """``RANDOM 0 1()``: uniform on (0, 1)."""
    return uniform(seed, run, site, time, t0, dt, shape)


def random_uniform(seed, run, site, time, t0, dt, m, x, shape=()):
    """``RANDOM UNIFORM(m, x, s)``: uniform between ``m`` and ``x``."""
    u = uniform(seed, run, site, time, t0, dt, shape)
    return _between(u, m, x)


def random_normal(seed, run, site, time, t0, dt, m, x, h, r, shape=()):
    """``RANDOM NORMAL(m, x, h, r, s)``: normal with mean ``h`` and standard
    deviation ``r``, truncated to ``[m, x]`` (PySD: ``truncnorm``).

    Drawn in the lower tail of the interval (reflected when the interval
    lies above the mean), where the normal CDF keeps its precision.
    """
    from scipy.special import ndtr, ndtri

    u = uniform(seed, run, site, time, t0, dt, shape)
    h = np.asarray(h, dtype=float)
    r = np.asarray(r, dtype=float)
    zero = np.abs(r) < 1e-300
    a, b = _bounds(m, x, h, np.where(zero, 1.0, r))
    flip = a > 0
    lo, hi = np.where(flip, -b, a), np.where(flip, -a, b)
    p_lo, p_hi = ndtr(lo), ndtr(hi)
    z = np.clip(ndtri(_between(u, p_lo, p_hi)), lo, hi)
    z = np.where(flip, -z, z)
    return np.where(zero, np.clip(h, m, x), _scaled(z, h, np.abs(r)))


def random_exponential(seed, run, site, time, t0, dt, m, x, h, r, shape=()):
    """``RANDOM EXPONENTIAL(m, x, h, r, s)``: exponential with mean 1,
    stretched by ``r``, shifted by ``h``, truncated to ``[m, x]``.

    As PySD (``truncexpon``), a minimum above the shift starts the
    distribution at the minimum: by the exponential's lack of memory that
    is the truncated distribution itself.
    """
    u = uniform(seed, run, site, time, t0, dt, shape)
    loc = np.maximum(m, h)
    with np.errstate(divide="ignore", invalid="ignore"):
        width = (np.asarray(x, dtype=float) - loc) / r
    mass = -np.expm1(-width)  # P(E <= width)
    return loc + r * -np.log1p(-u * mass)


def random_triangular(seed, run, site, time, t0, dt, m, x, start, peak, end,
                      shape=()):
    """``RANDOM TRIANGULAR(m, x, S, P, T, s)``: triangular between ``S`` and
    ``T`` with its peak at ``P``, truncated to ``[m, x]``."""
    u = uniform(seed, run, site, time, t0, dt, shape)
    start, peak, end = (np.asarray(v, dtype=float) for v in (start, peak, end))
    span = end - start
    with np.errstate(divide="ignore", invalid="ignore"):
        split = np.where(span > 0, (peak - start) / span, 0.5)

        def cdf(v):
            v = np.clip(v, start, end)
            left = (v - start) ** 2 / (span * (peak - start))
            right = 1 - (end - v) ** 2 / (span * (end - peak))
            return np.where(span > 0, np.where(v <= peak, np.nan_to_num(left),
                                               np.nan_to_num(right, nan=1.0)),
                            0.5)

        p = _between(u, cdf(m), cdf(x))
        low = start + np.sqrt(p * span * (peak - start))
        high = end - np.sqrt((1 - p) * span * (end - peak))
    out = np.where(p <= split, low, high)
    return np.clip(np.where(span > 0, out, start), m, x)


def _continuous(u, cdf, ppf, m, x, h, r):
    """A stretched, shifted base distribution truncated to ``[m, x]``."""
    a, b = _bounds(m, x, h, r)
    q = ppf(_between(u, cdf(a), cdf(b)))
    return np.clip(_scaled(q, h, r), m, x)


def _discrete(u, cdf, ppf, m, x, h, r):
    """The same for a distribution on the integers: the values ``k`` with
    ``h + r * k`` in ``[m, x]``."""
    a, b = _bounds(m, x, h, r)
    k_lo, k_hi = np.ceil(a - 1e-9), np.floor(b + 1e-9)
    p = _between(u, cdf(k_lo - 1), cdf(k_hi))
    k = np.clip(ppf(p), k_lo, k_hi)
    return _scaled(k, h, r)


def random_gamma(seed, run, site, time, t0, dt, m, x, order, h, r, shape=()):
    """``RANDOM GAMMA(m, x, O, h, r, s)``: gamma of order ``O`` (scale 1,
    mean ``O``), stretched, shifted and truncated; an order below 1 counts
    as 1 (an exponential), as Vensim sets it."""
    from scipy.special import gammainc, gammaincinv

    u = uniform(seed, run, site, time, t0, dt, shape)
    k = np.maximum(order, 1.0)
    return _continuous(u, lambda v: gammainc(k, np.maximum(v, 0)),
                       lambda p: gammaincinv(k, p), m, x, h, r)


def random_weibull(seed, run, site, time, t0, dt, m, x, shape_, h, r, shape=()):
    """``RANDOM WEIBULL(m, x, S, h, r, s)``: Weibull of shape ``S`` scaled to
    mean 1, stretched, shifted and truncated."""
    from scipy.special import gamma

    u = uniform(seed, run, site, time, t0, dt, shape)
    k = np.asarray(shape_, dtype=float)
    scale = 1.0 / gamma(1.0 + 1.0 / k)
    return _continuous(
        u, lambda v: -np.expm1(-(np.maximum(v, 0) / scale) ** k),
        lambda p: scale * (-np.log1p(-p)) ** (1.0 / k), m, x, h, r)


def random_beta(seed, run, site, time, t0, dt, m, x, alpha, beta, h, r,
                shape=()):
    """``RANDOM BETA(m, x, A, B, h, r, s)``: beta with ``alpha = A`` and
    ``beta = B`` on [0, 1], stretched, shifted and truncated."""
    from scipy.special import betainc, betaincinv

    u = uniform(seed, run, site, time, t0, dt, shape)
    return _continuous(u, lambda v: betainc(alpha, beta, np.clip(v, 0, 1)),
                       lambda p: betaincinv(alpha, beta, p), m, x, h, r)


def random_poisson(seed, run, site, time, t0, dt, m, x, mean, h, r, shape=()):
    """``RANDOM POISSON(m, x, M, h, r, s)``: Poisson with mean ``M`` (an
    integer), stretched, shifted and truncated."""
    from scipy.stats import poisson

    u = uniform(seed, run, site, time, t0, dt, shape)
    return _discrete(u, lambda k: poisson.cdf(k, mean),
                     lambda p: poisson.ppf(p, mean), m, x, h, r)


def random_binomial(seed, run, site, time, t0, dt, m, x, prob, trials, h, r,
                    shape=()):
    """``RANDOM BINOMIAL(m, x, P, N, h, r, s)``: successes in ``N`` trials
    of probability ``P``, stretched, shifted and truncated."""
    from scipy.stats import binom

    u = uniform(seed, run, site, time, t0, dt, shape)
    n = np.rint(trials)
    return _discrete(u, lambda k: binom.cdf(k, n, prob),
                     lambda p: binom.ppf(p, n, prob), m, x, h, r)


def random_negative_binomial(seed, run, site, time, t0, dt, m, x, prob,
                             successes, h, r, shape=()):
    """``RANDOM NEGATIVE BINOMIAL(m, x, P, N, h, r, s)``: the number of
    trials (from ``N`` on) until ``N`` successes of probability ``P``,
    stretched, shifted and truncated."""
    from scipy.stats import nbinom

    u = uniform(seed, run, site, time, t0, dt, shape)
    n = np.rint(successes)
    # nbinom counts the failures: trials = failures + N
    return _discrete(u, lambda k: nbinom.cdf(k - n, n, prob),
                     lambda p: nbinom.ppf(p, n, prob) + n, m, x, h, r)


def _lookup_cdf(v, xs, ys, cum):
    """CDF (unnormalised) at ``v`` of the density given by a lookup table:
    linear between its points, zero outside them."""
    v = np.clip(v, xs[0], xs[-1])
    k = np.clip(np.searchsorted(xs, v, side="right") - 1, 0, len(xs) - 2)
    t = v - xs[k]
    width = xs[k + 1] - xs[k]
    slope = np.where(width > 0, (ys[k + 1] - ys[k]) / np.where(width > 0, width, 1.0), 0.0)
    return cum[k] + ys[k] * t + slope * t * t / 2


def _lookup_ppf(q, xs, ys, cum):
    """Inverse of :func:`_lookup_cdf` (``q`` in unnormalised mass): the
    segment holding ``q``, then the root of its quadratic area."""
    k = np.clip(np.searchsorted(cum, q, side="right") - 1, 0, len(xs) - 2)
    width = xs[k + 1] - xs[k]
    y0 = ys[k]
    slope = np.where(width > 0, (ys[k + 1] - y0) / np.where(width > 0, width, 1.0), 0.0)
    need = np.maximum(q - cum[k], 0.0)
    flat = np.abs(slope) * width < 1e-12 * np.maximum(y0, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        root = (np.sqrt(np.maximum(y0 * y0 + 2 * slope * need, 0.0)) - y0) / slope
        t = np.where(flat, need / y0, root)
    return xs[k] + np.clip(np.nan_to_num(t), 0.0, width)


def random_lookup(seed, run, site, time, t0, dt, xs, ys, kind, m, x, h, r,
                  shape=()):
    """``RANDOM LOOKUP(look, m, x, h, r, s)``: a number drawn with the lookup
    table ``look`` as its probability density (linear between the table's
    points, negative values taken as zero), stretched by ``r``, shifted by
    ``h`` and truncated to ``[m, x]``."""
    u = uniform(seed, run, site, time, t0, dt, shape)
    xs = np.asarray(xs, dtype=float)
    ys = np.maximum(np.asarray(ys, dtype=float), 0.0)
    widths = np.diff(xs)
    cum = np.concatenate([[0.0], np.cumsum(widths * (ys[:-1] + ys[1:]) / 2)])
    a, b = _bounds(m, x, h, r)
    lo, hi = _lookup_cdf(a, xs, ys, cum), _lookup_cdf(b, xs, ys, cum)
    base = _lookup_ppf(_between(u, lo, hi), xs, ys, cum)
    return np.clip(_scaled(base, h, r), m, x)
