"""Sobol' variance-based indices (Saltelli sampling), via SALib.

``n`` is the number of base samples (a power of 2); the ensemble has
``n * (D + 2)`` runs, ``n * (2D + 2)`` with second-order indices.

First- and total-order indices (the default, second order off) are
estimated by :func:`first_and_total`: SALib's own estimators (Saltelli et
al. 2010, normalised by the sample variance, bootstrap intervals as in
``SALib.analyze.sobol.analyze``) with the same operations in the same order,
so the indices and intervals equal SALib's bit for bit for the same seed
(tested). What it saves is repetition: SALib recomputes the resampled base
outputs, their concatenation, range and variance for every factor and both
indices (four times per factor); they do not depend on the factor, so they
are computed once per output. With second-order indices, groups of factors
or seed 0 (SALib then draws from numpy's global generator) SALib's
``analyze`` runs itself.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from SALib.analyze import sobol as _analyze
from SALib.sample import sobol as _sample

from sdrev.sensitivity.methods.tidy import check_power_of_two, tidy

INDICES = ("S1", "ST", "S2")
MAIN = "ST"
N_MEANING = "base samples (power of 2); runs = N (D + 2), N (2D + 2) with S2"
_EPS = np.finfo(float).eps
#: Most values gathered at once for the bootstrap (runs x resamples x factors).
_BLOCK_VALUES = 2**22


def check_n(problem: dict, n: int) -> None:
    check_power_of_two(n, "sobol")


def runs(problem: dict, n: int, *, second_order: bool = False) -> int:
    d = problem["num_vars"]
    return n * (2 * d + 2 if second_order else d + 2)


def prefix(problem: dict, n: int, *, second_order: bool = False) -> int | None:
    return runs(problem, n, second_order=second_order)


def sample(problem: dict, n: int, *, seed: int, second_order: bool = False) -> np.ndarray:
    check_n(problem, n)
    if second_order or "groups" in problem:
        return _sample.sample(problem, n, calc_second_order=second_order, scramble=True,
                              seed=seed)
    return saltelli_sample(problem, n, seed=seed)


def saltelli_sample(problem: dict, n: int, *, seed: int) -> np.ndarray:
    """Saltelli's sample of ``n`` base points without second order.

    The matrix ``SALib.sample.sobol.sample(problem, n, calc_second_order=False,
    scramble=True, seed=seed)`` returns, value for value: the same scrambled
    Sobol' sequence of ``2 D`` dimensions (A in the first D columns, B in the
    last), then for each base point the rows A, A with column k from B
    (k = 1..D), and B, scaled to the bounds by SALib. SALib fills the matrix
    one value at a time in Python loops (``N D^2`` steps: 2.9 million for
    crrc_standards' 53 factors at N = 1024); here whole columns are copied.

    Parameters
    ----------
    problem : dict
        SALib problem without groups.
    n : int
        Base points (a power of 2).
    seed : int
        Seed of the scrambling.

    Returns
    -------
    numpy.ndarray
        ``n (D + 2)`` rows, ``D`` columns.
    """
    from scipy.stats import qmc
    from SALib.util import scale_samples

    d = problem["num_vars"]
    base = qmc.Sobol(d=2 * d, scramble=True, seed=seed).random(n)
    a, b = base[:, :d], base[:, d:]
    rows = np.empty((n, d + 2, d))
    rows[:, :d + 1, :] = a[:, None, :]
    idx = np.arange(d)
    rows[:, idx + 1, idx] = b
    rows[:, d + 1, :] = b
    return scale_samples(rows.reshape(n * (d + 2), d), problem)


def thread_safe(problem: dict, *, seed: int, second_order: bool = False) -> bool:
    """Whether :func:`analyze` may run in several threads at once: with
    :func:`first_and_total` (its resamples from a generator of its own),
    not SALib's ``analyze`` (numpy's global generator for seed 0)."""
    return bool(seed) and not second_order and "groups" not in problem


def analyze(problem: dict, X: np.ndarray, Y: np.ndarray, *, seed: int,
            second_order: bool = False, resamples: int = 100) -> pd.DataFrame:
    Y = np.asarray(Y, dtype=float)
    if second_order or not seed or "groups" in problem:
        result = _analyze.analyze(problem, Y, calc_second_order=second_order, seed=seed,
                                  num_resamples=resamples)
    else:
        result = first_and_total(Y, problem["num_vars"], seed=seed, resamples=resamples)
    table = tidy(problem, result, {"S1": "S1_conf", "ST": "ST_conf"})
    if second_order:
        names = problem["names"]
        rows = [(f"{names[i]} | {names[j]}", "S2", float(result["S2"][i, j]),
                 float(result["S2_conf"][i, j]))
                for i in range(len(names)) for j in range(i + 1, len(names))]
        table = pd.concat([table, pd.DataFrame(rows, columns=table.columns)],
                          ignore_index=True)
    return table


def _ratio(numerator, y_var):
    """SALib's division by the sample variance (0 where the variance is ~0);
    ``y_var`` of shape (resamples,) divides each column of (resamples, factors)."""
    if np.ndim(numerator) == 2:
        y_var = y_var[:, None]
    numerator, y_var = np.broadcast_arrays(numerator, y_var)
    return np.divide(numerator, y_var, out=np.zeros(numerator.shape), where=y_var > _EPS)


def first_and_total(Y: np.ndarray, d: int, *, seed: int, resamples: int = 100,
                    conf_level: float = 0.95) -> dict[str, np.ndarray]:
    """First- and total-order Sobol' indices with bootstrap intervals.

    Saltelli et al. (2010) estimators normalised by the sample variance, as
    ``SALib.analyze.sobol.analyze(problem, Y, calc_second_order=False,
    seed=seed, num_resamples=resamples)`` computes them, bit for bit, with
    the factor-independent parts computed once.

    Parameters
    ----------
    Y : numpy.ndarray
        Model outputs in the order of SALib's Sobol' sample without second
        order: ``N * (d + 2)`` values.
    d : int
        Number of factors.
    seed : int
        Seed of the bootstrap resamples (positive; SALib uses numpy's
        global generator for 0).
    resamples : int, optional
        Bootstrap resamples.
    conf_level : float, optional
        Confidence level of the intervals.

    Returns
    -------
    dict
        ``S1``, ``S1_conf``, ``ST``, ``ST_conf``: arrays of length ``d``.

    Raises
    ------
    ValueError
        If ``Y`` has not ``N * (d + 2)`` values, or ``seed`` is not positive.
    """
    from scipy.stats import norm

    Y = np.asarray(Y, dtype=float)
    if Y.size % (d + 2):
        raise ValueError(f"{Y.size} outputs are not N * (D + 2) for D = {d} factors")
    if not seed or seed < 0:
        raise ValueError(f"seed must be a positive integer, got {seed!r}")
    n = Y.size // (d + 2)
    rng = np.random.default_rng(seed).integers
    Y = (Y - Y.mean()) / Y.std()
    step = d + 2
    A = Y[0:Y.size:step]
    B = Y[step - 1:Y.size:step]
    AB = np.zeros((n, d))
    for j in range(d):
        AB[:, j] = Y[j + 1:Y.size:step]
    r = rng(n, size=(n, resamples))
    Z = norm.ppf(0.5 + conf_level / 2)
    Ar, Br = A[r], B[r]
    # the parts SALib's first_order/total_order compute anew for each factor
    y, yr = np.r_[A, B], np.r_[Ar, Br]
    constant, constant_r = np.ptp(y) <= _EPS, np.ptp(yr) <= _EPS
    if constant or constant_r:
        warnings.warn(_analyze.CONST_RESULT_MSG, stacklevel=2)
    y_var, yr_var = np.var(y, axis=0), np.var(yr, axis=0)
    var_diff = np.ptp(yr)
    S = {k: np.zeros(d) for k in ("S1", "S1_conf", "ST", "ST_conf")}
    # Each estimator is a mean over base points of a value per point; the
    # values are computed per point and then gathered by the resamples (the
    # same numbers in the same places as gathering the outputs first), for
    # a block of factors at a time.
    g1 = B[:, None] * (AB - A[:, None])
    g2 = (A[:, None] - AB) ** 2
    block = max(1, _BLOCK_VALUES // max(1, n * resamples))
    for lo in range(0, d, block):
        cols = slice(lo, min(d, lo + block))
        if constant:
            S["S1"][cols] = S["ST"][cols] = 0.0
        else:
            S["S1"][cols] = [_ratio(np.mean(g1[:, j], axis=0), y_var)
                             for j in range(cols.start, cols.stop)]
            S["ST"][cols] = [_ratio(0.5 * np.mean(g2[:, j], axis=0), y_var)
                             for j in range(cols.start, cols.stop)]
        if constant_r:
            s1_r = st_r = np.zeros((resamples, cols.stop - cols.start))
        else:
            s1_r = _ratio(np.mean(g1[r, cols], axis=0), yr_var)
            st_r = _ratio(0.5 * np.mean(g2[r, cols], axis=0), yr_var)
        if var_diff != 0.0:
            # per factor over its resamples, contiguous as in SALib (numpy
            # sums a contiguous row pairwise, a column one value at a time)
            S["S1_conf"][cols] = Z * np.ascontiguousarray(s1_r.T).std(axis=1, ddof=1)
            S["ST_conf"][cols] = Z * np.ascontiguousarray(st_r.T).std(axis=1, ddof=1)
    return S
