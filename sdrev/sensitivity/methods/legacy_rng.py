"""Run SALib analysers that use numpy's global random state without side effects."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["isolated"]


@contextmanager
def isolated(seed: int) -> Iterator[None]:
    """Seed numpy's global generator with ``seed``, restore it and the warning
    settings afterwards (SALib's delta and PAWN seed the global generator, and
    delta changes the global warning filters and format)."""
    state = np.random.get_state()
    fmt = warnings.formatwarning
    np.random.seed(int(seed) % 2**32)
    try:
        with warnings.catch_warnings():
            yield
    finally:
        warnings.formatwarning = fmt
        np.random.set_state(state)
