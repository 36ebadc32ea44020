"""Maximum likelihood by differential evolution, polished locally, with profiles.

scipy's :func:`~scipy.optimize.differential_evolution` with
``vectorized=True`` and ``updating="deferred"`` evaluates a whole generation
in one call: one batch of the ensemble engine. Its best member is polished
with L-BFGS-B. Each parameter's profile likelihood (Raue et al. 2009) then
shows whether the data identify it: the log likelihood maximised over the
other parameters, on a grid across the parameter's range. The 95% interval
is where twice the drop from the maximum stays below the chi-square(1)
quantile 3.84; a profile that stays within it at a range end leaves that
side open.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdrev.calibrate.likelihood import Problem

__all__ = ["CHI2_95", "MleFit", "fit"]

#: Half the chi-square(1) 95% quantile: the log-likelihood drop of a 95%
#: profile-likelihood interval.
CHI2_95 = 3.841458820694124 / 2


@dataclass(frozen=True)
class MleFit:
    """A maximum-likelihood fit.

    Attributes
    ----------
    estimate : ndarray, shape (parameters,)
    log_likelihood : float
    profiles : dict of str to (ndarray, ndarray)
        Per parameter, the grid and the profile log likelihood on it.
    lower, upper : ndarray
        The 95% profile-likelihood interval (range ends where it is open).
    open_lower, open_upper : ndarray of bool
        Whether the interval reaches the range end on that side.
    evaluations : int
    """

    estimate: np.ndarray
    log_likelihood: float
    profiles: dict
    lower: np.ndarray
    upper: np.ndarray
    open_lower: np.ndarray
    open_upper: np.ndarray
    evaluations: int


def fit(problem: Problem, *, seed: int, maxiter: int = 200, popsize: int = 16,
        grid: int = 21, progress: bool = True) -> MleFit:
    """Maximise the likelihood of ``problem`` within the factors' ranges.

    Parameters
    ----------
    problem : Problem
    seed : int
    maxiter : int, optional
        Differential-evolution generations at most.
    popsize : int, optional
        Population per parameter.
    grid : int, optional
        Points of each profile.
    progress : bool, optional
        Show a progress bar over the profiles.
    """
    from scipy.optimize import differential_evolution, minimize

    bounds = problem.bounds

    def negative(x):
        x = np.asarray(x, dtype=float)
        theta = x.T if x.ndim == 2 else x[None, :]
        value = -problem.log_likelihood(theta)
        value = np.where(np.isfinite(value), value, 1e300)
        return value if x.ndim == 2 else float(value[0])

    result = differential_evolution(negative, bounds, seed=seed, maxiter=maxiter,
                                    popsize=popsize, vectorized=True, updating="deferred",
                                    polish=False, tol=1e-8)
    best = minimize(negative, result.x, method="L-BFGS-B", bounds=bounds)
    x = best.x if best.fun <= result.fun else result.x
    ll = -min(best.fun, result.fun)
    profiles, lower, upper, open_lo, open_hi = {}, [], [], [], []
    rng = np.random.default_rng(seed)
    bar = _bar(len(problem.labels), progress)
    for i, label in enumerate(problem.labels):
        values, prof = _profile(problem, negative, x, i, grid, rng)
        profiles[label] = (values, prof)
        target = max(ll, float(np.max(prof))) - CHI2_95
        lo_i, lo_open = _interval_end(problem, negative, x, i, problem.bounds[i, 0], target)
        hi_i, hi_open = _interval_end(problem, negative, x, i, problem.bounds[i, 1], target)
        lower.append(lo_i)
        upper.append(hi_i)
        open_lo.append(lo_open)
        open_hi.append(hi_open)
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    return MleFit(estimate=x, log_likelihood=ll, profiles=profiles, lower=np.array(lower),
                  upper=np.array(upper), open_lower=np.array(open_lo),
                  open_upper=np.array(open_hi), evaluations=problem.evaluations)


def _profile_at(problem: Problem, negative, x: np.ndarray, i: int, value: float) -> float:
    """The profile log likelihood of parameter ``i`` at ``value``: the others
    optimised locally from the maximum-likelihood estimate."""
    from scipy.optimize import minimize

    others = [k for k in range(len(x)) if k != i]
    full = x.copy()
    full[i] = value
    if not others:
        return -negative(full)

    def partial(z):
        full[others] = z
        return negative(full)

    res = minimize(partial, x[others], method="L-BFGS-B", bounds=problem.bounds[others],
                   options={"maxfun": 100})
    return -float(min(res.fun, negative(np.where(np.arange(len(x)) == i, value, x))))


def _interval_end(problem: Problem, negative, x: np.ndarray, i: int, edge: float,
                  target: float, *, iterations: int = 30) -> tuple[float, bool]:
    """Where the profile of parameter ``i`` falls to ``target`` between the
    estimate and ``edge`` (bisection), and whether it stays above (open side)."""
    if _profile_at(problem, negative, x, i, edge) >= target:
        return float(edge), True
    inside, outside = float(x[i]), float(edge)
    for _ in range(iterations):
        mid = 0.5 * (inside + outside)
        if _profile_at(problem, negative, x, i, mid) >= target:
            inside = mid
        else:
            outside = mid
        if abs(outside - inside) <= 1e-6 * (abs(problem.bounds[i, 1] - problem.bounds[i, 0])):
            break
    return 0.5 * (inside + outside), False


def _profile(problem: Problem, negative, x: np.ndarray, i: int, grid: int, rng,
             samples: int = 256):
    """Profile of parameter ``i``: at each grid value, the best of the MLE's other
    values and of a Latin-hypercube sample of them, polished by a short local search."""
    from scipy.optimize import minimize
    from scipy.stats import qmc

    lo, hi = problem.bounds[i]
    values = np.linspace(lo, hi, grid)
    others = [k for k in range(len(x)) if k != i]
    if not others:
        return values, problem.log_likelihood(values[:, None])
    unit = qmc.LatinHypercube(d=len(others), seed=rng).random(samples)
    sample = problem.bounds[others, 0] + unit * np.diff(problem.bounds[others], axis=1).T
    candidates = np.vstack([x[others][None, :], sample])
    theta = np.repeat(x[None, :], grid * len(candidates), axis=0)
    theta[:, i] = np.repeat(values, len(candidates))
    theta[:, others] = np.tile(candidates, (grid, 1))
    ll = problem.log_likelihood(theta).reshape(grid, len(candidates))
    prof = ll.max(axis=1)
    for g in range(grid):
        start = candidates[int(np.argmax(ll[g]))]

        def partial(z, g=g):
            full = x.copy()
            full[i], full[others] = values[g], z
            return negative(full)

        res = minimize(partial, start, method="L-BFGS-B", bounds=problem.bounds[others],
                       options={"maxfun": 60})
        prof[g] = max(prof[g], -res.fun)
    return values, prof


def _bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="calibrate (profiles)", unit="parameter")
