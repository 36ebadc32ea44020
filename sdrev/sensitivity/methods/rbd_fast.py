"""RBD-FAST first-order indices from a Latin hypercube sample, via SALib.

``n`` is the number of runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from SALib.analyze import rbd_fast as _analyze

from sdrev.sensitivity.methods import latin
from sdrev.sensitivity.methods.tidy import check_at_least, tidy

INDICES = ("S1",)
MAIN = "S1"
N_MEANING = "runs (Latin hypercube)"
M = 10


def check_n(problem: dict, n: int) -> None:
    check_at_least(n, 8 * 2 * M, "rbd_fast", f"RBD-FAST needs N > 2 M with M = {M}, also at N/4")


runs = latin.runs
prefix = latin.prefix


def sample(problem: dict, n: int, *, seed: int, second_order: bool = False) -> np.ndarray:
    check_n(problem, n)
    return latin.sample(problem, n, seed=seed)


def analyze(problem: dict, X: np.ndarray, Y: np.ndarray, *, seed: int,
            second_order: bool = False, resamples: int = 100) -> pd.DataFrame:
    result = _analyze.analyze(problem, np.asarray(X, dtype=float), np.asarray(Y, dtype=float),
                              M=M, seed=seed,
                              num_resamples=resamples)
    return tidy(problem, result, {"S1": "S1_conf"})
