"""Calibration specs: which constants are estimated, from which observations.

A spec is a TOML file, ``calibration/<model>.toml`` for library models or any
path for a user's model. Its ``[[factor]]`` entries are those of the
sensitivity specs (:mod:`sdrev.factors`): the range and distribution are the
prior::

    [calibration]
    description = "What is fitted, to what."
    scenario = "china_2000s"     # constants not estimated take this scenario's values
    method = "mcmc"              # or "mle" (the CLI's --method overrides)
    seed = 1                     # (--seed overrides)
    steps = 2000                 # MCMC steps per walker (-N overrides)
    walkers = 32                 # MCMC walkers (default: 32, at least 2 per parameter)
    # holdout = [2007, 2008]     # leave out observations in [t0, t1] (--holdout overrides)

    [[factor]]                   # an estimated constant
    name = "Contact Infectivity"
    range = [0.05, 1.0]
    distribution = "uniform"
    # per_case = true            # estimated separately for each case

    [[data]]                     # observations
    file = "obs.csv"             # relative to the spec: wide (time + one column per
                                 # series) or the long table of sdrev.observations
    variable = "Infectious"      # model variable (for a long table: keep only it)
    # column = "cases"           # wide table column holding it, if named otherwise
    error = "normal"             # normal | lognormal (relative errors)
    sd = 5.0                     # known measurement error; omit it to use the table's
                                 # sd column, or else to estimate the noise
    # case = "dalian_east"       # the case these observations belong to

    [[case]]                     # joint calibration of several cases
    name = "dalian_east"
    scenario = "dalian_east"     # default: the scenario of that name, else [calibration]'s
    # data = "data/ets.csv"      # a long table; its rows of this case (or with no case)

Rows of a long table name their case in its ``case`` column. A case with no
``[[case]]`` entry runs the scenario of its name.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sdrev import budget
from sdrev.errors import InvalidValueError, ModelNotFoundError, UnknownNameError, suggest
from sdrev.factors import FACTOR_KEYS, Factor, check_keys, number, parse_factor
from sdrev.observations import Observation, read_observations

if TYPE_CHECKING:
    from sdrev.model import Model

__all__ = ["ERRORS", "METHODS", "CalibrationSpec", "Case", "Estimated", "load_spec",
           "parse_spec", "spec_path"]

#: Estimation methods.
METHODS = ("mcmc", "mle")
#: Measurement error models.
ERRORS = ("normal", "lognormal")
#: Default MCMC steps per walker and walkers.
DEFAULT_STEPS = 2000
DEFAULT_WALKERS = 32
#: Default sd of an event time with none given (a year-resolution report,
#: in the model's time unit).
DEFAULT_EVENT_SD = 0.5

_TOP_KEYS = {"calibration", "factor", "data", "case"}
_SETTINGS = {"description", "scenario", "method", "seed", "steps", "walkers", "holdout"}
_DATA_KEYS = {"file", "variable", "column", "error", "sd", "case"}
_CASE_KEYS = {"name", "scenario", "data"}


@dataclass(frozen=True)
class Estimated:
    """One estimated quantity: a factor (for one case, if per case) or a noise sd.

    Attributes
    ----------
    label : str
        Column name in the posterior: the constant's name, ``"Name[case]"``
        for a per-case factor, ``"sd[Variable]"`` for an estimated noise.
    factor : Factor
        The prior (for a noise sd: a log-uniform factor over its scale).
    case : str or None
        The case of a per-case factor.
    noise : str or None
        For a noise sd: the variable whose observations it scales.
    """

    label: str
    factor: Factor
    case: str | None = None
    noise: str | None = None


@dataclass(frozen=True)
class Case:
    """A scenario with its own observations."""

    name: str
    scenario: str | None
    params: Mapping[str, float]


@dataclass(frozen=True)
class CalibrationSpec:
    """A validated calibration spec for one model.

    Attributes
    ----------
    model : str
    path : Path or None
    description : str
    scenario : str or None
    method : str
    seed : int
    steps, walkers : int
    holdout : tuple of float or None
    factors : tuple of Factor
        The estimated constants.
    per_case : frozenset of str
        Names of the factors estimated per case.
    cases : tuple of Case
    observations : tuple of Observation
        With ``sd`` filled in where it is known.
    errors : mapping of str to str
        Error model (``normal``/``lognormal``) per observed variable.
    parameters : tuple of Estimated
        Everything estimated, in the column order of the posterior.
    """

    model: str
    path: Path | None
    description: str
    scenario: str | None
    method: str
    seed: int
    steps: int
    walkers: int
    holdout: tuple[float, float] | None
    factors: tuple[Factor, ...]
    per_case: frozenset
    cases: tuple[Case, ...]
    observations: tuple[Observation, ...]
    errors: Mapping[str, str]
    parameters: tuple[Estimated, ...] = field(default=())
    text: str = field(default="", repr=False)

    @property
    def labels(self) -> tuple[str, ...]:
        """Column names of the estimated quantities."""
        return tuple(p.label for p in self.parameters)


def spec_path(model: Model) -> Path:
    """Where the library keeps the calibration spec of ``model``."""
    from sdrev.library import calibration_dir
    return calibration_dir() / f"{model.name}.toml"


def load_spec(model: Model, path: str | Path | None = None) -> CalibrationSpec:
    """Read and validate the calibration spec of ``model``.

    Parameters
    ----------
    model : Model
    path : str or Path, optional
        A spec file; by default the library's ``calibration/<model>.toml``.

    Raises
    ------
    ModelNotFoundError
        If there is no spec file (or a data file it names is missing).
    InvalidValueError, UnknownNameError
        Naming the bad entry and the valid values.
    """
    file = Path(path) if path is not None else spec_path(model)
    if not file.is_file():
        hint = ("" if path is not None else
                "; the model has no library calibration spec, give one with --spec FILE")
        raise ModelNotFoundError(f"calibration spec {str(file)!r} does not exist{hint}")
    budget.check_file(file, what="calibration spec")
    try:
        text = file.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidValueError(f"cannot read calibration spec {file.name}: "
                                f"{' '.join(str(exc).split())[:200]}") from None
    return parse_spec(model, data, path=file, text=text)


def parse_spec(model: Model, data: Mapping, *, path: Path | None = None,
               text: str = "") -> CalibrationSpec:
    """Validate a spec already read into a mapping; see :func:`load_spec`."""
    where = path.name if path is not None else "spec"
    base = path.parent if path is not None else Path.cwd()
    check_keys(data, _TOP_KEYS, where)
    settings = _table(data.get("calibration", {}), f"{where} [calibration]")
    check_keys(settings, _SETTINGS, f"{where} [calibration]")
    method = str(settings.get("method", "mcmc"))
    check_method(method)
    seed = _int(settings.get("seed", 0), f"{where}: seed", low=0)
    steps = _int(settings.get("steps", DEFAULT_STEPS), f"{where}: steps", low=1)
    scenario = settings.get("scenario")
    if scenario is not None and scenario not in model.scenarios:
        raise UnknownNameError(f"{where}: unknown scenario {scenario!r} for model {model.name}; "
                               f"known scenarios: {', '.join(model.scenarios) or 'none'}")
    holdout = parse_holdout(settings["holdout"], where) if "holdout" in settings else None

    factors: list[Factor] = []
    per_case: set[str] = set()
    for i, entry in enumerate(_tables(data, "factor", where)):
        at = f"{where} [[factor]] #{i + 1}"
        entry = dict(_table(entry, at))
        flag = entry.pop("per_case", False)
        if not isinstance(flag, bool):
            raise InvalidValueError(f"{at}: per_case must be true or false, got {flag!r}")
        check_keys(entry, set(FACTOR_KEYS), at)
        factor = parse_factor(model, entry, at)
        if any(f.name == factor.name for f in factors):
            raise InvalidValueError(f"{at}: {factor.name!r} is estimated twice; list it once")
        factors.append(factor)
        if flag:
            per_case.add(factor.name)
    if not factors:
        raise InvalidValueError(f"{where}: no [[factor]] entries; nothing to estimate")

    observations: list[Observation] = []
    errors: dict[str, str] = {}
    for i, entry in enumerate(_tables(data, "data", where)):
        at = f"{where} [[data]] #{i + 1}"
        obs, error = _data(model, _table(entry, at), at, base)
        for o in obs:
            if errors.setdefault(o.variable, error) != error:
                raise InvalidValueError(f"{at}: {o.variable!r} is given {error} errors here "
                                        f"and {errors[o.variable]} errors elsewhere")
        observations.extend(obs)
    declared: dict[str, Case] = {}
    for i, entry in enumerate(_tables(data, "case", where)):
        at = f"{where} [[case]] #{i + 1}"
        case, obs = _case(model, _table(entry, at), at, base, scenario)
        if case.name in declared:
            raise InvalidValueError(f"{at}: case {case.name!r} is declared twice")
        declared[case.name] = case
        for o in obs:
            errors.setdefault(o.variable, "normal")
        observations.extend(obs)
    if not observations:
        raise InvalidValueError(f"{where}: no observations; add [[data]] entries (or [[case]] "
                                "entries with data = ...)")
    cases = _cases(model, observations, declared, scenario, where)
    for o in observations:
        if errors[o.variable] == "lognormal" and o.kind != "first_crossing" and o.value <= 0:
            raise InvalidValueError(f"{where}: lognormal errors need positive observations; "
                                    f"{o.variable} at {o.time:g} is {o.value:g}")
    if per_case and len(cases) < 2:
        raise InvalidValueError(f"{where}: per_case factors need at least two cases, found "
                                f"{len(cases)}")
    observations = [o if o.sd is not None or o.kind != "first_crossing"
                    else _replace(o, sd=DEFAULT_EVENT_SD) for o in observations]
    parameters = _estimated(factors, per_case, cases, observations, errors)
    walkers = _int(settings.get("walkers", max(DEFAULT_WALKERS, 2 * len(parameters) + 2)),
                   f"{where}: walkers", low=2 * len(parameters) + 2 if method == "mcmc" else 1)
    if walkers % 2:
        raise InvalidValueError(f"{where}: walkers must be even (emcee moves half of them "
                                f"at a time), got {walkers}")
    return CalibrationSpec(
        model=model.name, path=path, description=str(settings.get("description", "")),
        scenario=scenario, method=method, seed=seed, steps=steps, walkers=walkers,
        holdout=holdout, factors=tuple(factors), per_case=frozenset(per_case),
        cases=tuple(cases), observations=tuple(observations), errors=dict(errors),
        parameters=parameters, text=text)


def check_method(method: str) -> str:
    """Return ``method`` if it is one of :data:`METHODS`, else raise naming the valid ones."""
    if method not in METHODS:
        raise InvalidValueError(f"unknown calibration method {method!r}; valid methods: "
                                f"{', '.join(METHODS)}" + suggest(str(method), METHODS))
    return method


def parse_holdout(value, where: str = "--holdout") -> tuple[float, float]:
    """``"T0:T1"`` or ``[t0, t1]`` -> ``(t0, t1)`` with ``t0 <= t1``."""
    if isinstance(value, str):
        lo, sep, hi = value.partition(":")
        try:
            pair = (float(lo), float(hi)) if sep else None
        except ValueError:
            pair = None
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        pair = (number(value[0], f"{where} start"), number(value[1], f"{where} end"))
    else:
        pair = None
    if pair is None or not all(math.isfinite(v) for v in pair):
        raise InvalidValueError(f"{where}: expected T0:T1 (two times), got {value!r}")
    if pair[0] > pair[1]:
        raise InvalidValueError(f"{where}: holdout start {pair[0]:g} is after its end "
                                f"{pair[1]:g}")
    return pair


def _replace(obs: Observation, **changes) -> Observation:
    return Observation(**{**obs.__dict__, **changes})


def _table(entry, where: str) -> Mapping:
    if not isinstance(entry, Mapping):
        raise InvalidValueError(f"{where}: must be a table")
    return entry


def _tables(data: Mapping, key: str, where: str) -> list:
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise InvalidValueError(f"{where}: {key} must be an array of tables ([[{key}]])")
    return entries


def _int(value, what: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidValueError(f"{what} must be an integer of at least {low}, got {value!r}")
    return value


def _file(entry: Mapping, key: str, where: str, base: Path) -> Path:
    raw = entry.get(key)
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidValueError(f"{where}: {key} must name a CSV file")
    file = Path(raw).expanduser()
    file = file if file.is_absolute() else base / file
    if not file.is_file():
        raise ModelNotFoundError(f"{where}: data file {str(file)!r} does not exist")
    return file


def _data(model: Model, entry: Mapping, where: str, base: Path):
    check_keys(entry, _DATA_KEYS, where)
    file = _file(entry, "file", where, base)
    error = entry.get("error", "normal")
    if error not in ERRORS:
        raise InvalidValueError(f"{where}: unknown error model {error!r}; valid: "
                                f"{', '.join(ERRORS)}" + suggest(str(error), ERRORS))
    sd = entry.get("sd")
    if sd is not None:
        sd = number(sd, f"{where}: sd")
        if not sd > 0:
            raise InvalidValueError(f"{where}: sd must be positive (omit it to estimate the "
                                    f"noise), got {sd:g}")
    variable = entry.get("variable")
    column = entry.get("column")
    for key, value in (("variable", variable), ("column", column), ("case", entry.get("case"))):
        if value is not None and not isinstance(value, str):
            raise InvalidValueError(f"{where}: {key} must be a string, got {value!r}")
    try:
        obs = read_observations(file, model=model, variable=variable, column=column)
    except (InvalidValueError, UnknownNameError) as exc:
        raise type(exc)(f"{where}: {exc}") from None
    case = entry.get("case")
    if case is not None:
        if case not in model.scenarios:
            raise UnknownNameError(f"{where}: case {case!r} is not a scenario of {model.name}; "
                                   f"scenarios: {', '.join(model.scenarios) or 'none'}")
        obs = tuple(_replace(o, case=case) if not o.case else o for o in obs)
    if sd is not None:
        obs = tuple(_replace(o, sd=sd) for o in obs)
    return obs, error


def _case(model: Model, entry: Mapping, where: str, base: Path, default):
    check_keys(entry, _CASE_KEYS, where)
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidValueError(f"{where}: name must be a non-empty string")
    scenario = entry.get("scenario", name if name in model.scenarios else default)
    if scenario is not None and scenario not in model.scenarios:
        raise UnknownNameError(f"{where}: unknown scenario {scenario!r} for model {model.name}; "
                               f"known scenarios: {', '.join(model.scenarios) or 'none'}")
    obs: tuple = ()
    if "data" in entry:
        file = _file(entry, "data", where, base)
        try:
            rows = read_observations(file, model=model)
        except (InvalidValueError, UnknownNameError) as exc:
            raise type(exc)(f"{where}: {exc}") from None
        obs = tuple(_replace(o, case=name) for o in rows if o.case in ("", name))
        if not obs:
            raise InvalidValueError(f"{where}: {file.name} has no observations of case {name!r}")
    params = dict(model.scenarios[scenario].params) if scenario else {}
    return Case(name, scenario, params), obs


def _cases(model: Model, observations, declared: dict, scenario, where: str):
    names = list(dict.fromkeys(o.case for o in observations))
    out = []
    for name in names:
        if name in declared:
            out.append(declared[name])
        elif name == "":
            params = dict(model.scenarios[scenario].params) if scenario else {}
            out.append(Case("", scenario, params))
        else:  # read_observations checked it names a scenario
            out.append(Case(name, name, dict(model.scenarios[name].params)))
    unused = [n for n in declared if n not in names]
    if unused:
        raise InvalidValueError(f"{where}: case {unused[0]!r} has no observations")
    return out


def _estimated(factors, per_case, cases, observations, errors) -> tuple[Estimated, ...]:
    out: list[Estimated] = []
    for f in factors:
        if f.name in per_case:
            out.extend(Estimated(f"{f.name}[{c.name}]", f, case=c.name) for c in cases)
        else:
            out.append(Estimated(f.name, f))
    unknown = list(dict.fromkeys(o.variable for o in observations
                                 if o.sd is None and o.kind != "first_crossing"))
    for variable in unknown:
        values = [abs(o.value) for o in observations if o.variable == variable]
        if errors[variable] == "lognormal":
            lo, hi = 0.01, 2.0
        else:
            scale = max(values) or 1.0
            lo, hi = 1e-3 * scale, 2.0 * scale
        prior = Factor(f"sd[{variable}]", f"sd_{variable}", (lo, hi), "loguniform", (lo, hi),
                       group="noise", label=f"sd[{variable}]")
        out.append(Estimated(prior.name, prior, noise=variable))
    return tuple(out)
