"""Scenario and parameter stage: which constants a run uses.

A run's constants are the model's own values, overridden by a named
scenario (from the metadata file beside the model), overridden in turn by
explicit parameter values. Names may be given as in the model or in
snake_case; unknown names and non-numeric values are errors that name the
bad input and suggest close valid names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sdrev.errors import InvalidValueError, UnknownNameError
from sdrev.model import (TIME_CONTROLS, Model, Scenario, read_scenarios, resolve_parameter,
                         resolve_variable)
from sdrev.naming import name_key, parse_number

__all__ = ["RunSettings", "Scenario", "check_samples", "read_scenarios",
           "resolve_parameter", "resolve_variable", "run_settings"]

@dataclass(frozen=True)
class RunSettings:
    """Everything that defines one run of a model.

    Attributes
    ----------
    scenario : str or None
    params : mapping of str to float
        The constants that differ from the model's own values (scenario
        values, then explicit values), keyed by Vensim name.
    time : mapping of str to float
        Overridden control variables, keyed by PySD keyword
        (``final_time``, ``time_step``, ``saveper``).
    """

    scenario: str | None
    params: Mapping[str, float]
    time: Mapping[str, float]


def run_settings(model: Model, *, scenario: str | None = None,
                 params: Mapping[str, object] | None = None) -> RunSettings:
    """Resolve a scenario and explicit parameter values into run settings.

    Parameters
    ----------
    model : Model
    scenario : str, optional
        Name of one of ``model.scenarios``.
    params : mapping, optional
        Values keyed by Vensim or snake_case names; control variables
        ``FINAL TIME``, ``TIME STEP`` and ``SAVEPER`` are accepted too.

    Raises
    ------
    UnknownNameError, InvalidValueError
    """
    values: dict[str, float] = {}
    if scenario is not None:
        if scenario not in model.scenarios:
            known = ", ".join(model.scenarios) or "none"
            raise UnknownNameError(
                f"unknown scenario {scenario!r} for model {model.name}; "
                f"known scenarios: {known}")
        values.update(model.scenarios[scenario].params)
    time: dict[str, float] = {}
    for name, raw in dict(params or {}).items():
        control = _control(name)
        value = parse_number(raw, f"value of {name!r}")
        if control:
            if not value > 0:
                raise InvalidValueError(f"{name} must be positive, got {raw!r}")
            time[control] = value
        else:
            values[resolve_parameter(model, name).name] = value
    _check_time(model, time)
    return RunSettings(scenario, MappingProxyType(values), MappingProxyType(time))


def _check_time(model: Model, time: Mapping[str, float]) -> None:
    final = time.get("final_time", model.time.final)
    step = time.get("time_step", model.time.step)
    if final <= model.time.initial:
        raise InvalidValueError(
            f"FINAL TIME {final:g} must be after INITIAL TIME {model.time.initial:g}")
    if step > final - model.time.initial:
        raise InvalidValueError(f"TIME STEP {step:g} is longer than the simulated horizon")


def _control(name: str) -> str | None:
    key = name_key(name)
    for vensim, keyword in TIME_CONTROLS.items():
        if key in (name_key(vensim), keyword):
            return keyword
    return None


def check_samples(model: Model, samples) -> None:
    """Refuse ensemble samples that cannot give meaningful runs.

    Parameters
    ----------
    model : Model
    samples : pandas.DataFrame
        One row per run, one column per varied constant or control
        variable.

    Raises
    ------
    InvalidValueError
        If there are no runs, a value is missing, not a number, infinite or
        beyond float range (naming the column and the first runs), or a
        control variable would give a run without a horizon (FINAL TIME not
        after INITIAL TIME, TIME STEP or SAVEPER not positive, TIME STEP
        longer than the horizon).
    """
    import numpy as np
    import pandas as pd

    if len(samples) == 0:
        raise InvalidValueError("the samples hold no runs (a header only?); "
                                "give at least one row of values")
    columns = {}
    for column in samples.columns:
        values = pd.to_numeric(samples[column], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            runs = ", ".join(str(i) for i in bad[:5]) + (", ..." if bad.size > 5 else "")
            raise InvalidValueError(
                f"sample column {str(column)!r} holds {bad.size} value(s) that are "
                f"missing, not numbers, infinite or beyond float range (run(s) "
                f"{runs}, e.g. {samples[column].iloc[bad[0]]!r}); every value must "
                "be a finite number")
        control = _control(str(column))
        if control:
            columns[control] = values
    for keyword in ("time_step", "saveper"):
        if keyword in columns and not (columns[keyword] > 0).all():
            raise InvalidValueError(
                f"{keyword.upper().replace('_', ' ')} must be positive in every run, "
                f"got {columns[keyword].min():g}")
    final = columns.get("final_time", np.array([model.time.final]))
    step = columns.get("time_step", np.array([model.time.step]))
    horizon = final - model.time.initial
    if (horizon <= 0).any():
        raise InvalidValueError(
            f"FINAL TIME {final[horizon <= 0][0]:g} must be after INITIAL TIME "
            f"{model.time.initial:g} in every run")
    step, horizon = np.broadcast_arrays(step, horizon)
    if (step > horizon).any():
        first = np.flatnonzero(step > horizon)[0]
        raise InvalidValueError(
            f"TIME STEP {step[first]:g} is longer than the simulated horizon "
            f"{horizon[first]:g} in run {first}")
