"""Shared parts of the methods analysed on a plain Latin hypercube sample
(RBD-FAST, PAWN, delta): N is the number of runs, and the first N/k rows of a
sample are a valid smaller sample for the convergence check."""

from __future__ import annotations

import numpy as np
from SALib.sample import latin as _sample

__all__ = ["prefix", "runs", "sample"]


def runs(problem: dict, n: int, *, second_order: bool = False) -> int:
    """Runs needed for sample size ``n``: ``n`` itself."""
    return n


def prefix(problem: dict, n: int, *, second_order: bool = False) -> int | None:
    """Rows of the full sample that form the sample of size ``n``: the first ``n``."""
    return n


def sample(problem: dict, n: int, *, seed: int) -> np.ndarray:
    """SALib's Latin hypercube sample of ``n`` rows."""
    return _sample.sample(problem, n, seed=seed)
