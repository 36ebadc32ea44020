"""PAWN density-based indices (Kolmogorov-Smirnov statistics), via SALib.

``n`` is the number of runs (Latin hypercube).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from SALib.analyze import pawn as _analyze

from sdrev.sensitivity.methods.legacy_rng import isolated
from sdrev.sensitivity.methods import latin
from sdrev.sensitivity.methods.tidy import check_at_least, tidy

INDICES = ("minimum", "mean", "median", "maximum", "CV")
MAIN = "median"
N_MEANING = "runs (Latin hypercube)"
S = 10


def check_n(problem: dict, n: int) -> None:
    check_at_least(n, 8 * S, "pawn", f"PAWN splits each factor into S = {S} slices, also at N/4")


runs = latin.runs
prefix = latin.prefix


def sample(problem: dict, n: int, *, seed: int, second_order: bool = False) -> np.ndarray:
    check_n(problem, n)
    return latin.sample(problem, n, seed=seed)


def analyze(problem: dict, X: np.ndarray, Y: np.ndarray, *, seed: int,
            second_order: bool = False, resamples: int = 100) -> pd.DataFrame:
    with isolated(seed):
        result = _analyze.analyze(problem, np.asarray(X, dtype=float),
                                  np.asarray(Y, dtype=float), S=S, seed=int(seed) % 2**32 or 1)
    return tidy(problem, result, {name: None for name in INDICES})
