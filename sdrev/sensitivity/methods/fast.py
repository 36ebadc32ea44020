"""Extended FAST (eFAST) first and total order indices, via SALib.

``n`` is the number of runs per factor (more than 4 M^2 = 64); the ensemble
has ``n * D`` runs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from SALib.analyze import fast as _analyze
from SALib.sample import fast_sampler as _sample

from sdrev.sensitivity.methods.tidy import check_at_least, tidy

INDICES = ("S1", "ST")
MAIN = "ST"
N_MEANING = "runs per factor (> 64); runs = N D"
M = 4
#: Said once per analysis (SALib warns on every call).
NOTE = ("fast: the confidence intervals are bootstrap estimates that SALib marks as "
        "unreliable for eFAST (SALib issue 649); treat them as indicative only")


def check_n(problem: dict, n: int) -> None:
    check_at_least(n, 4 * M * M + 1, "fast", f"eFAST needs N > 4 M^2 with M = {M}")


def runs(problem: dict, n: int, *, second_order: bool = False) -> int:
    return n * problem["num_vars"]


def prefix(problem: dict, n: int, *, second_order: bool = False) -> int | None:
    return None  # eFAST samples are one search curve per factor: no nested prefix


def sample(problem: dict, n: int, *, seed: int, second_order: bool = False) -> np.ndarray:
    check_n(problem, n)
    return _sample.sample(problem, n, M=M, seed=seed)


def analyze(problem: dict, X: np.ndarray, Y: np.ndarray, *, seed: int,
            second_order: bool = False, resamples: int = 100) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="FAST confidence intervals",
                                category=UserWarning)  # reported once as NOTE
        result = _analyze.analyze(problem, np.asarray(Y, dtype=float), M=M, seed=seed,
                                  num_resamples=resamples)
    return tidy(problem, result, {"S1": "S1_conf", "ST": "ST_conf"})
