"""Morris elementary effects (screening), via SALib.

``n`` is the number of trajectories; the ensemble has ``n * (D + 1)`` runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from SALib.analyze import morris as _analyze
from SALib.sample import morris as _sample

from sdrev.sensitivity.methods.tidy import check_at_least, tidy

INDICES = ("mu", "mu_star", "sigma")
MAIN = "mu_star"
N_MEANING = "trajectories; runs = N (D + 1)"
NUM_LEVELS = 4


def check_n(problem: dict, n: int) -> None:
    check_at_least(n, 4, "morris", "trajectories needed to estimate sigma, also at N/4")


def runs(problem: dict, n: int, *, second_order: bool = False) -> int:
    return n * (problem["num_vars"] + 1)


def prefix(problem: dict, n: int, *, second_order: bool = False) -> int | None:
    return runs(problem, n)


def sample(problem: dict, n: int, *, seed: int, second_order: bool = False) -> np.ndarray:
    check_n(problem, n)
    return _sample.sample(problem, n, num_levels=NUM_LEVELS, seed=seed)


def analyze(problem: dict, X: np.ndarray, Y: np.ndarray, *, seed: int,
            second_order: bool = False, resamples: int = 100) -> pd.DataFrame:
    result = _analyze.analyze(problem, np.asarray(X, dtype=float), np.asarray(Y, dtype=float),
                              num_levels=NUM_LEVELS, seed=seed,
                              num_resamples=resamples)
    return tidy(problem, result, {"mu": None, "mu_star": "mu_star_conf", "sigma": None})
