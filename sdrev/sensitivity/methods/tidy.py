"""Turn SALib's result dicts into tidy tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sdrev.errors import InvalidValueError

__all__ = ["tidy", "check_power_of_two", "check_at_least"]


def tidy(problem: dict, result, indices: dict[str, str | None]) -> pd.DataFrame:
    """A tidy table of ``result``.

    Parameters
    ----------
    problem : dict
    result : mapping
        SALib's analysis result.
    indices : dict
        Index name -> key of its confidence half-width in ``result`` (or None).
    """
    rows = []
    names = problem["names"]
    for index, conf_key in indices.items():
        values = np.asarray(result[index], dtype=float)
        confs = (np.asarray(result[conf_key], dtype=float) if conf_key
                 else np.full(len(names), np.nan))
        for name, value, conf in zip(names, values, confs):
            rows.append((name, index, float(value), float(conf)))
    return pd.DataFrame(rows, columns=["factor", "index", "value", "conf"])


def check_power_of_two(n: int, method: str) -> None:
    if n < 4 or n & (n - 1):
        lower = 1 << max(2, n.bit_length() - 1)
        raise InvalidValueError(
            f"N = {n} for {method}: N must be a power of 2 of at least 4 (its Sobol' "
            f"sequence converges only then), e.g. {lower} or {lower * 2}")


def check_at_least(n: int, least: int, method: str, why: str) -> None:
    if n < least:
        raise InvalidValueError(f"N = {n} for {method}: N must be at least {least} ({why})")
