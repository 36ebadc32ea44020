"""Sobol' variance-based indices (Saltelli sampling), via SALib.

``n`` is the number of base samples (a power of 2); the ensemble has
``n * (D + 2)`` runs, ``n * (2D + 2)`` with second-order indices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from SALib.analyze import sobol as _analyze
from SALib.sample import sobol as _sample

from sdrev.sensitivity.methods.tidy import check_power_of_two, tidy

INDICES = ("S1", "ST", "S2")
MAIN = "ST"
N_MEANING = "base samples (power of 2); runs = N (D + 2), N (2D + 2) with S2"


def check_n(problem: dict, n: int) -> None:
    check_power_of_two(n, "sobol")


def runs(problem: dict, n: int, *, second_order: bool = False) -> int:
    d = problem["num_vars"]
    return n * (2 * d + 2 if second_order else d + 2)


def prefix(problem: dict, n: int, *, second_order: bool = False) -> int | None:
    return runs(problem, n, second_order=second_order)


def sample(problem: dict, n: int, *, seed: int, second_order: bool = False) -> np.ndarray:
    check_n(problem, n)
    return _sample.sample(problem, n, calc_second_order=second_order, scramble=True, seed=seed)


def analyze(problem: dict, X: np.ndarray, Y: np.ndarray, *, seed: int,
            second_order: bool = False, resamples: int = 100) -> pd.DataFrame:
    result = _analyze.analyze(problem, np.asarray(Y, dtype=float),
                              calc_second_order=second_order, seed=seed,
                              num_resamples=resamples)
    table = tidy(problem, result, {"S1": "S1_conf", "ST": "ST_conf"})
    if second_order:
        names = problem["names"]
        rows = [(f"{names[i]} | {names[j]}", "S2", float(result["S2"][i, j]),
                 float(result["S2_conf"][i, j]))
                for i in range(len(names)) for j in range(i + 1, len(names))]
        table = pd.concat([table, pd.DataFrame(rows, columns=table.columns)],
                          ignore_index=True)
    return table
