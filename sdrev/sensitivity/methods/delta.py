"""Borgonovo's delta moment-independent index (and S1), via SALib.

SALib 1.6 computes delta three ways; ``delta`` here is its ``delta_raw``, the
classic estimator on the sample as drawn (a Latin hypercube, so unbiased).

``n`` is the number of runs (Latin hypercube).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from SALib.analyze import delta as _analyze

from sdrev.sensitivity.methods.legacy_rng import isolated
from sdrev.sensitivity.methods import latin
from sdrev.sensitivity.methods.tidy import check_at_least, tidy

INDICES = ("delta", "S1")
MAIN = "delta"
N_MEANING = "runs (Latin hypercube)"
#: Bootstrap resamples for the intervals: SALib's delta is slow (kernel
#: densities for three estimators per resample), so fewer than its default 100.
NUM_RESAMPLES = 30


def check_n(problem: dict, n: int) -> None:
    check_at_least(n, 100, "delta", "the density estimate needs a few dozen runs at N/4")


runs = latin.runs
prefix = latin.prefix


def sample(problem: dict, n: int, *, seed: int, second_order: bool = False) -> np.ndarray:
    check_n(problem, n)
    return latin.sample(problem, n, seed=seed)


def analyze(problem: dict, X: np.ndarray, Y: np.ndarray, *, seed: int,
            second_order: bool = False, resamples: int = 100) -> pd.DataFrame:
    with isolated(seed), warnings.catch_warnings(record=True) as caught:
        # SALib resets the warning filters inside (simplefilter "once"), so its
        # notices are caught here: that its balanced and raw estimates differ
        # and how it merged the balanced estimator's bins (we report raw).
        result = _analyze.analyze(problem, np.asarray(X, dtype=float),
                                  np.asarray(Y, dtype=float), seed=int(seed) % 2**32 or 1,
                                  num_resamples=min(resamples, NUM_RESAMPLES))
    for w in caught:
        if "Notice" not in str(w.message):
            warnings.warn(w.message, w.category, stacklevel=2)
    result = {**result, "delta": result["delta_raw"], "delta_conf": result["delta_raw_conf"]}
    return tidy(problem, result, {"delta": "delta_conf", "S1": "S1_conf"})
