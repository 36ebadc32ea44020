"""What an ensemble varies: factors sampled by their distributions, reported
and checked before the runs.

:func:`sample_factors` draws a Latin hypercube over factors (the
``[[factor]]`` entries of a sensitivity spec, or a model's documented
ranges taken as uniform) and maps its uniforms through each factor's
distribution (:func:`sdrev.factors.prior`, ``ppf``), so a triangular or
normal factor is sampled as the spec says. :func:`varied` describes the
varied parameters of any samples table, for the command line and the run
manifest; :func:`short_time_constants` finds sampled time constants below
TIME STEP, where Euler integration overshoots (negative stocks,
oscillation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sdrev.errors import InvalidValueError
from sdrev.factors import Factor, latin_hypercube, ppf

if TYPE_CHECKING:
    import pandas as pd

    from sdrev.model import Model

__all__ = ["Varied", "documented_factors", "sample_factors", "short_time_constants",
           "varied", "varied_text"]


@dataclass(frozen=True)
class Varied:
    """One varied parameter of an ensemble.

    Attributes
    ----------
    name : str
        Vensim name (as given in the samples).
    distribution : str
        ``"uniform"``, ``"triangular"``, ... for sampled factors;
        ``"given"`` for a samples file or posterior draws.
    low, high : float
        The factor's range, or the smallest and largest value given.
    source : str
        Where the range comes from: ``"spec NAME"``, ``"documented range"``,
        ``"samples file"``, ``"posterior"``.
    """

    name: str
    distribution: str
    low: float
    high: float
    source: str

    def as_dict(self) -> dict:
        """Plain dictionary (for the manifest)."""
        return {"name": self.name, "distribution": self.distribution,
                "range": [self.low, self.high], "source": self.source}


def documented_factors(model: Model) -> tuple[Factor, ...]:
    """Every parameter with a documented range (Vensim ``[lo, hi]``), uniform.

    Raises
    ------
    InvalidValueError
        When the model documents no usable range: the message says to give
        ``--ranges`` or ``--samples``.
    """
    factors = tuple(Factor(p.name, p.py_name, (float(p.range[0]), float(p.range[1])),
                           "uniform", (float(p.range[0]), float(p.range[1])))
                    for p in model.parameters
                    if p.range is not None and p.range[0] < p.range[1])
    if not factors:
        raise InvalidValueError(
            f"{model.name} documents no parameter range to sample (Vensim's "
            "units field [lo, hi]); give --ranges SPEC (a sensitivity spec whose "
            "[[factor]] entries name the ranges) or --samples FILE.csv (one "
            "column per varied constant)")
    return factors


def sample_factors(factors: Sequence[Factor], n: int, *, seed: int) -> pd.DataFrame:
    """Latin hypercube over ``factors``, each through its own distribution.

    Parameters
    ----------
    factors : sequence of Factor
        From a spec (:func:`sdrev.sensitivity.load_spec`) or
        :func:`documented_factors`.
    n : int
        Number of runs.
    seed : int
        Random seed (the same seed gives the same table).

    Returns
    -------
    pandas.DataFrame
        ``n`` rows, one column per factor (Vensim names): stratified
        uniforms mapped through ``prior(factor).ppf``.

    Raises
    ------
    InvalidValueError
        For ``n`` below 1 or no factor.
    """
    import pandas as pd

    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise InvalidValueError(f"n must be a positive integer, got {n!r}")
    if not factors:
        raise InvalidValueError(
            "no factor to sample; give --ranges SPEC or --samples FILE.csv")
    unit = latin_hypercube(int(n), len(factors), seed=seed)  # scipy's, value for value
    columns = {}
    for k, factor in enumerate(factors):
        values = ppf(factor, unit[:, k])
        if not np.all(np.isfinite(values)):
            raise InvalidValueError(
                f"factor {factor.name!r}: its {factor.distribution} distribution "
                "gives non-finite values")
        columns[factor.name] = values
    return pd.DataFrame(columns)


def varied(samples: pd.DataFrame, *, factors: Sequence[Factor] = (),
           source: str = "samples file") -> tuple[Varied, ...]:
    """The parameters a samples table varies, with their ranges.

    Columns that are factors get the factor's distribution and range;
    the others (a samples file, posterior draws) the values given.
    """
    by_name = {f.name: f for f in factors}
    out = []
    for column in samples.columns:
        factor = by_name.get(column)
        if factor is not None:
            out.append(Varied(factor.name, factor.distribution, *factor.range,
                              source))
            continue
        # text or empty cells read as NaN: the samples check names them
        values = _numbers(samples[column])
        if np.isfinite(values).any() and np.nanmin(values) < np.nanmax(values):
            out.append(Varied(str(column), "given", float(np.nanmin(values)),
                              float(np.nanmax(values)), source))
    return tuple(out)


def _numbers(column) -> np.ndarray:
    import pandas as pd

    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)


def varied_text(items: Sequence[Varied], *, runs: int) -> str:
    """The varied parameters as a short table, for the command line."""
    if not items:
        return f"{runs} runs; no parameter varies"
    width = max(len(v.name) for v in items)
    lines = [f"{runs} runs varying {len(items)} parameter(s):"]
    for v in items:
        lines.append(f"  {v.name:<{width}}  {v.distribution:<11} "
                     f"[{v.low:.4g}, {v.high:.4g}]  ({v.source})")
    return "\n".join(lines)


def _unit_key(units: str) -> str:
    word = " ".join(str(units).split()).lower()
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def short_time_constants(model: Model, samples: pd.DataFrame, *,
                         time_step: float) -> list[str]:
    """Warnings for sampled time constants that fall below TIME STEP.

    A time constant is a parameter whose units are the model's time unit
    (``Year``, ``Weeks``, ...). Below TIME STEP, Euler integration of the
    first-order adjustments it sets overshoots: stocks turn negative or
    oscillate.

    Returns
    -------
    list of str
        One message per parameter (empty when none is below or the model
        has no time unit).
    """
    unit = _unit_key(model.time.units)
    if not unit:
        return []
    constants = {}
    for p in model.parameters:
        if _unit_key(p.units) == unit:
            constants[p.name] = p
            constants[p.py_name] = p
    out = []
    for column in samples.columns:
        param = constants.get(str(column))
        if param is None:
            continue
        values = np.asarray(samples[column], dtype=float)
        below = values < time_step
        if below.any():
            out.append(
                f"time constant {param.name!r} ({param.units}) is sampled below "
                f"TIME STEP {time_step:g} in {int(below.sum())} of {len(values)} "
                f"runs (down to {np.nanmin(values):.3g}); Euler integration "
                "overshoots there (negative stocks, oscillation): narrow its range "
                "(--ranges SPEC) or lower TIME STEP (--set \"TIME STEP=...\")")
    return out
