"""Factors: the vocabulary of every spec that puts a distribution on a constant.

Sensitivity specs (``[[factor]]`` varied over a range) and calibration specs
(``[[factor]]`` estimated, its range and distribution the prior) share one
format and one validation, so a user learns one::

    [[factor]]
    name = "R and D Spending"    # Vensim or snake_case name
    range = [0.0, 0.2]           # optional: defaults to the model's documented range
    distribution = "uniform"     # uniform | loguniform | triangular | normal
                                 # | truncnormal | lognormal
    # mode = 0.1                 # triangular: the peak, inside range
    # mean = 0.1, sd = 0.02      # normal, truncnormal (range truncates), lognormal (of ln x)

:func:`parse_factor` validates one entry against a model; :func:`prior` gives
its distribution as a frozen :mod:`scipy.stats` object (density, quantiles,
draws) for the stages that need more than SALib's bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdrev.errors import InvalidValueError, UnknownNameError, suggest

if TYPE_CHECKING:
    from sdrev.model import Model, Parameter

__all__ = ["DISTRIBUTIONS", "FACTOR_KEYS", "Factor", "check_keys", "constant",
           "latin_hypercube", "number", "parse_factor", "ppf", "prior"]

#: Spec distribution name -> SALib ``dists`` code.
DISTRIBUTIONS = {"uniform": "unif", "loguniform": "logunif", "triangular": "triang",
                 "normal": "norm", "truncnormal": "truncnorm", "lognormal": "lognorm"}
#: Keys of a ``[[factor]]`` entry.
FACTOR_KEYS = frozenset({"name", "range", "distribution", "mode", "mean", "sd"})
#: Keys of a loop-gain entry (``[[loop]]`` of a sensitivity spec).
LOOP_KEYS = frozenset({"id", "gain", "range", "distribution", "mode", "mean", "sd"})


@dataclass(frozen=True)
class Factor:
    """One varied constant.

    Attributes
    ----------
    name, py_name : str
        Vensim and snake_case name of the constant.
    range : tuple of float
        Lower and upper bound (for ``normal`` and ``lognormal``, the bounds
        within which sampled values are expected, used for plots only).
    distribution : str
        One of :data:`DISTRIBUTIONS`.
    salib_bounds : tuple of float
        The bounds as SALib's ``problem["bounds"]`` wants them for the
        distribution.
    group : str
        ``"parameters"`` or ``"loops"``.
    label : str
        Name shown in tables: the constant, or ``"R1 strategic guiding"`` for
        a loop gain.
    """

    name: str
    py_name: str
    range: tuple[float, float]
    distribution: str
    salib_bounds: tuple[float, ...]
    group: str = "parameters"
    label: str = ""


def check_keys(entry: Mapping, valid: AbstractSet[str], where: str) -> None:
    """Raise naming the first key of ``entry`` not in ``valid`` (and the valid ones)."""
    for key in entry:
        if key not in valid:
            raise InvalidValueError(
                f"{where}: unknown key {key!r}; valid keys: {', '.join(sorted(valid))}"
                + suggest(key, valid))


def number(value, what: str) -> float:
    """``value`` as a float; raise naming ``what`` unless it is a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def constant(model: Model, name, where: str) -> Parameter:
    """The scalar constant ``name`` of ``model``; errors are prefixed with ``where``."""
    from sdrev.scenario import resolve_parameter
    if not isinstance(name, str):
        raise InvalidValueError(f"{where}: name must be a string, got {name!r}")
    try:
        param = resolve_parameter(model, name)
    except UnknownNameError as exc:
        raise UnknownNameError(f"{where}: {exc}") from None
    if isinstance(param.value, Mapping):
        raise InvalidValueError(f"{where}: {param.name!r} is subscripted; factors must be "
                                "scalar constants")
    return param


def parse_factor(model: Model, entry: Mapping, where: str, *, group: str = "parameters",
            default_range=None, label: str = "") -> Factor:
    check_keys(entry, LOOP_KEYS if group == "loops" else FACTOR_KEYS, where)
    param = constant(model, entry.get("gain" if group == "loops" else "name"), where)
    where = f"{where} ({param.name})"
    raw = entry.get("range", default_range if default_range is not None else param.range)
    if raw is None:
        raise InvalidValueError(f"{where}: no range given and the model documents none; "
                                "add range = [low, high]")
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        raise InvalidValueError(f"{where}: range must be [low, high], got {raw!r}")
    lo, hi = (number(v, f"{where}: range bound") for v in raw)
    if not lo < hi:
        kind = "empty" if lo == hi else "inverted"
        raise InvalidValueError(f"{where}: range [{lo:g}, {hi:g}] is {kind}; "
                                "the low bound must be below the high bound")
    dist = entry.get("distribution", "uniform")
    if dist not in DISTRIBUTIONS:
        raise InvalidValueError(f"{where}: unknown distribution {dist!r}; valid distributions: "
                                f"{', '.join(DISTRIBUTIONS)}" + suggest(str(dist), DISTRIBUTIONS))
    extra = {"triangular": {"mode"}, "normal": {"mean", "sd"}, "truncnormal": {"mean", "sd"},
             "lognormal": {"mean", "sd"}}.get(dist, set())
    for key in ("mode", "mean", "sd"):
        if key in entry and key not in extra:
            raise InvalidValueError(f"{where}: {key!r} does not apply to a {dist} distribution")
        if key in extra and key not in entry:
            raise InvalidValueError(f"{where}: a {dist} distribution needs {key!r}")
    if dist in ("uniform", "loguniform"):
        if dist == "loguniform" and lo <= 0:
            raise InvalidValueError(f"{where}: a loguniform range must be positive, got "
                                    f"[{lo:g}, {hi:g}]")
        bounds: tuple[float, ...] = (lo, hi)
    elif dist == "triangular":
        mode = number(entry["mode"], f"{where}: mode")
        if not lo <= mode <= hi:
            raise InvalidValueError(f"{where}: mode {mode:g} is outside the range "
                                    f"[{lo:g}, {hi:g}]")
        bounds = (lo, hi, (mode - lo) / (hi - lo))
    else:
        mean = number(entry["mean"], f"{where}: mean")
        sd = number(entry["sd"], f"{where}: sd")
        if sd <= 0:
            raise InvalidValueError(f"{where}: sd must be positive, got {sd:g}")
        bounds = (lo, hi, mean, sd) if dist == "truncnormal" else (mean, sd)
    return Factor(param.name, param.py_name, (lo, hi), dist, bounds, group,
                  label or param.name)


def latin_hypercube(n: int, d: int, *, seed: int | None):
    """A Latin hypercube of ``n`` points in ``[0, 1)^d``.

    The values of ``scipy.stats.qmc.LatinHypercube(d=d, seed=seed).random(n)``
    (McKay, Beckman & Conover 1979; scipy's default: each point placed at
    random within its cell, the cells of each dimension permuted at random),
    drawn here the same way from ``numpy.random.default_rng(seed)``: importing
    ``scipy.stats`` costs more than the whole sample (0.5 to 1.5 s), and
    ``sdrev ensemble --sample lhs:N`` needs nothing else from it.

    Parameters
    ----------
    n, d : int
        Points and dimensions.
    seed : int or None

    Returns
    -------
    numpy.ndarray
        Shape ``(n, d)``.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    within = rng.uniform(size=(n, d))
    cells = np.tile(np.arange(1, n + 1), (d, 1))
    for i in range(d):
        rng.shuffle(cells[i, :])
    return (cells.T - within) / n


def ppf(factor: Factor, q):
    """``prior(factor).ppf(q)``: the values at quantiles ``q`` of the factor's
    distribution; a uniform one's computed here as scipy does (``q * (hi -
    lo) + lo``), without importing :mod:`scipy.stats`."""
    import numpy as np

    lo, hi = factor.range
    if factor.distribution == "uniform" and hi - lo > 0:
        q = np.asarray(q, dtype=float)
        if np.all((q >= 0) & (q <= 1)):
            return q * (hi - lo) + lo
    return prior(factor).ppf(q)


def prior(factor: Factor):
    """The distribution of ``factor`` as a frozen :mod:`scipy.stats` object.

    ``uniform`` and ``loguniform`` span the range; ``triangular`` peaks at
    its mode; ``truncnormal`` is truncated to the range; ``normal`` and
    ``lognormal`` (``mean`` and ``sd`` of ln x, as in SALib) are not.
    """
    from scipy import stats

    lo, hi = factor.range
    b = factor.salib_bounds
    if factor.distribution == "uniform":
        return stats.uniform(loc=lo, scale=hi - lo)
    if factor.distribution == "loguniform":
        return stats.loguniform(lo, hi)
    if factor.distribution == "triangular":
        return stats.triang(b[2], loc=lo, scale=hi - lo)
    if factor.distribution == "normal":
        return stats.norm(loc=b[0], scale=b[1])
    if factor.distribution == "truncnormal":
        mean, sd = b[2], b[3]
        return stats.truncnorm((lo - mean) / sd, (hi - mean) / sd, loc=mean, scale=sd)
    if factor.distribution == "lognormal":
        return stats.lognorm(s=b[1], scale=math.exp(b[0]))
    raise InvalidValueError(f"unknown distribution {factor.distribution!r}; valid "
                            f"distributions: {', '.join(DISTRIBUTIONS)}")
