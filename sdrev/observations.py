"""Observed numbers: the one table that calibration, checks and briefs share.

A case study reports few numbers: two points of a share series, a bound
("under 40% in 2000"), the year of an event. They live in one long table per
model, ``data/<model>.csv`` for library models (any path for a user's)::

    case,variable,time,kind,value,sd,unit,source
    ,Domestic Market Share,2000,upper_bound,0.40,0.01,share,"He & Wang (n.d.), section 3"
    ,Domestic Market Share,2007,value,0.56,0.01,share,"He & Wang (n.d.), section 3"
    dalian_east,Reverse Export Readiness,2008,first_crossing,1,0.5,Dmnl,"Xu & Xu (2015), Table I"

Columns:

``case``
    The scenario the observation belongs to (empty: the model's baseline or
    the calibration's own scenario).
``variable``
    The model variable it is compared with (Vensim or snake_case name).
``time``
    In the model's own time unit and origin. For ``first_crossing`` it is the
    observed time of the event.
``kind``
    ``value`` (a point), ``upper_bound`` / ``lower_bound`` (a reported bound:
    a censored observation) or ``first_crossing`` (the time the variable first
    reaches ``value``, an event, as the sensitivity specs' metric of that name).
``value``
    The number (for ``first_crossing``: the threshold that defines the event).
``sd``
    Measurement error: of the value, or for ``first_crossing`` of the time.
    Empty when unknown (a calibration then estimates it).
``unit``, ``source``
    The unit as reported, and the paper (author, year) and where in it the
    number stands.

A *wide* table is read too (a ``time`` column and one column per variable,
as Vensim and Stella export data): every cell is a ``value`` observation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sdrev import budget
from sdrev.errors import InvalidValueError, ModelNotFoundError, UnknownNameError
from sdrev.naming import name_key

if TYPE_CHECKING:
    from sdrev.model import Model

__all__ = ["COLUMNS", "KINDS", "Observation", "by_case", "library_data_path", "read_observations"]

#: Columns of the long observation table.
COLUMNS = ("case", "variable", "time", "kind", "value", "sd", "unit", "source")
#: Kinds of observation.
KINDS = ("value", "upper_bound", "lower_bound", "first_crossing")
_REQUIRED = ("variable", "time", "kind", "value")


@dataclass(frozen=True)
class Observation:
    """One observed number.

    Attributes
    ----------
    case : str
        Scenario it belongs to (``""``: the default one).
    variable : str
        Vensim name of the model variable (as written in the file when no
        model was given).
    py_name : str
        The variable's snake_case name (``""`` when no model was given).
    time : float
    kind : str
        One of :data:`KINDS`.
    value : float
    sd : float or None
        Measurement error (of the time, for ``first_crossing``).
    unit, source : str
    row : int
        Line of the file it was read from (for messages).
    """

    case: str
    variable: str
    py_name: str
    time: float
    kind: str
    value: float
    sd: float | None
    unit: str = ""
    source: str = ""
    row: int = 0


def library_data_path(model: Model) -> Path | None:
    """The library's observation table of ``model``, or ``None`` if it has none."""
    from sdrev.library import data_dir

    if model.path.parent.resolve() != _library_models().resolve():
        return None
    path = data_dir() / f"{model.name}.csv"
    return path if path.is_file() else None


def _library_models() -> Path:
    from sdrev.library import library_dir
    return library_dir()


def read_observations(path: str | Path, *, model: Model | None = None,
                      variable: str | None = None, column: str | None = None,
                      sd: float | None = None) -> tuple[Observation, ...]:
    """Read an observation table, long or wide, and validate it.

    Parameters
    ----------
    path : str or Path
        A CSV file.
    model : Model, optional
        Validate against this model: variables must exist (names are
        resolved to their Vensim spelling), times must lie within the run,
        cases must be scenarios of the model.
    variable : str, optional
        Keep only the observations of this variable. In a wide table, the
        column of that name (or ``column``) is read as this variable.
    column : str, optional
        Column of a wide table holding ``variable`` (when named otherwise).
    sd : float, optional
        Measurement error given to observations that have none.

    Returns
    -------
    tuple of Observation

    Raises
    ------
    ModelNotFoundError
        If the file does not exist.
    InvalidValueError, UnknownNameError
        Naming the file, the row and the bad cell.
    """
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise ModelNotFoundError(f"data file {str(file)!r} does not exist")
    budget.check_file(file, what="data file")
    try:
        frame = pd.read_csv(file, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidValueError(f"cannot read data file {file.name}: "
                                f"{' '.join(str(exc).split())}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    lower = {c.lower(): c for c in frame.columns}
    if all(k in lower for k in _REQUIRED):
        observations = _long(frame.rename(columns={v: k for k, v in lower.items()}), file)
        if variable is not None:
            observations = [o for o in observations if name_key(o.variable) == name_key(variable)]
            if not observations:
                raise InvalidValueError(f"{file.name}: no observations of {variable!r}")
    else:
        observations = _wide(frame, file, variable=variable, column=column)
    if not observations:
        raise InvalidValueError(f"{file.name}: no observations")
    if sd is not None:
        observations = [o if o.sd is not None else _with(o, sd=float(sd)) for o in observations]
    if model is not None:
        observations = [_validate(o, model, file) for o in observations]
    return tuple(observations)


def _with(obs: Observation, **changes) -> Observation:
    return Observation(**{**obs.__dict__, **changes})


def _optional_cell_number(text: object, where: str, what: str) -> float | None:
    """``None`` for an empty cell, else its number as :func:`_cell_number` reads it."""
    return _cell_number(text, where, what) if str(text).strip() else None


def _cell_number(text: object, where: str, what: str) -> float:
    """A cell's finite number; raise naming the cell (``where``) and column (``what``)."""
    text = str(text).strip()
    try:
        value = float(text)
    except ValueError:
        raise InvalidValueError(f"{where}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InvalidValueError(f"{where}: {what} must be finite, got {text!r}")
    return value


def _long(frame, file: Path) -> list[Observation]:
    out = []
    for i, row in enumerate(frame.to_dict("records")):
        where = f"{file.name} line {i + 2}"
        kind = str(row["kind"]).strip()
        if kind not in KINDS:
            raise InvalidValueError(f"{where}: unknown kind {kind!r}; valid kinds: "
                                    f"{', '.join(KINDS)}")
        name = str(row["variable"]).strip()
        if not name:
            raise InvalidValueError(f"{where}: the variable is empty")
        sd = _optional_cell_number(row.get("sd", ""), where, "sd")
        if sd is not None and not sd > 0:
            raise InvalidValueError(f"{where}: sd must be positive (or empty to estimate "
                                    f"it), got {sd:g}")
        out.append(Observation(
            case=str(row.get("case", "")).strip(), variable=name, py_name="",
            time=_cell_number(row["time"], where, "time"), kind=kind,
            value=_cell_number(row["value"], where, "value"), sd=sd,
            unit=str(row.get("unit", "")).strip(), source=str(row.get("source", "")).strip(),
            row=i + 2))
    return out


def _wide(frame, file: Path, *, variable: str | None, column: str | None) -> list[Observation]:
    time_col = next((c for c in frame.columns if c.lower() == "time"), None)
    if time_col is None:
        raise InvalidValueError(
            f"{file.name}: expected a long observation table (columns "
            f"{', '.join(COLUMNS)}) or a wide one with a 'time' column; got columns "
            f"{', '.join(frame.columns) or 'none'}")
    columns = [c for c in frame.columns if c != time_col]
    names = {c: c for c in columns}
    if variable is not None:
        wanted = column or variable
        match = [c for c in columns if name_key(c) == name_key(wanted)]
        if not match:
            raise UnknownNameError(f"{file.name}: no column {wanted!r}; columns: "
                                   f"{', '.join(columns) or 'none'}")
        names = {match[0]: variable}
    out = []
    for i, row in enumerate(frame.to_dict("records")):
        where = f"{file.name} line {i + 2}"
        time = _cell_number(row[time_col], where, "time")
        for col, name in names.items():
            value = _optional_cell_number(row[col], where, f"column {col!r}")
            if value is not None:
                out.append(Observation("", name, "", time, "value", value, None, row=i + 2))
    return out


def _validate(obs: Observation, model: Model, file: Path) -> Observation:
    from sdrev.scenario import resolve_variable

    where = f"{file.name} line {obs.row}"
    try:
        var = resolve_variable(model, obs.variable)
    except UnknownNameError as exc:
        raise UnknownNameError(f"{where}: {exc}") from None
    t0, t1 = model.time.initial, model.time.final
    if not t0 <= obs.time <= t1:
        raise InvalidValueError(f"{where}: time {obs.time:g} is outside the run "
                                f"[{t0:g}, {t1:g}] of {model.name}")
    if obs.case and obs.case not in model.scenarios:
        raise UnknownNameError(f"{where}: case {obs.case!r} is not a scenario of "
                               f"{model.name}; scenarios: {', '.join(model.scenarios) or 'none'}")
    return _with(obs, variable=var.name, py_name=var.py_name)


def by_case(observations) -> Mapping[str, tuple[Observation, ...]]:
    """Observations grouped by case, in order of first appearance."""
    groups: dict[str, list[Observation]] = {}
    for obs in observations:
        groups.setdefault(obs.case, []).append(obs)
    return {k: tuple(v) for k, v in groups.items()}
