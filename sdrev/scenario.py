"""Scenario and parameter stage: which constants a run uses.

A run's constants are the model's own values, overridden by a named
scenario (from the metadata file beside the model), overridden in turn by
explicit parameter values. Names may be given as in the model or in
snake_case; unknown names and non-numeric values are errors that name the
bad input and suggest close valid names.

A value may also be timed (policy timing): :class:`Switch` ``(value,
at=time)``, or the text ``"VALUE@TIME"`` as ``--set NAME=VALUE@TIME`` gives
it, keeps the constant at its scenario or model value before ``time`` and
sets it to ``value`` from ``time`` on, as Vensim's ``STEP`` changes a value
(at the first computation step whose time is past ``time`` minus half a
TIME STEP).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sdrev.errors import InvalidValueError, UnknownNameError
from sdrev.model import (TIME_CONTROLS, Model, Scenario, read_scenarios, resolve_parameter,
                         resolve_variable)
from sdrev.naming import name_key, parse_number

__all__ = ["SWITCH_FORM", "RunSettings", "Scenario", "Switch", "check_samples",
           "parse_switch", "read_scenarios", "resolve_parameter", "resolve_variable",
           "run_settings", "switch_columns"]

#: The written form of a timed setting, for messages.
SWITCH_FORM = "NAME=VALUE@TIME (e.g. \"Policy Switch=1@2012\")"


@dataclass(frozen=True)
class Switch:
    """A constant that changes value at a chosen time (policy timing).

    The constant keeps its scenario or model value before ``at`` and takes
    ``value`` from ``at`` on, the way Vensim's ``STEP(height, stime)``
    changes a value: at the first computation step whose time plus half a
    TIME STEP is past ``at``.

    Parameters
    ----------
    value : float
        The value from ``at`` on.
    at : float
        The switch time, in the model's time unit, within
        ``[INITIAL TIME, FINAL TIME]``.

    Examples
    --------
    >>> import sdrev
    >>> from sdrev.scenario import Switch
    >>> model = sdrev.load("crrc_standards")                         # doctest: +SKIP
    >>> sdrev.simulate(model, params={"Policy Switch": Switch(1, at=2012)})  # doctest: +SKIP
    """

    value: float
    at: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", parse_number(self.value, "a switch's value"))
        object.__setattr__(self, "at", parse_number(self.at, "a switch's time"))

    def __str__(self) -> str:
        return f"{self.value:g}@{self.at:g}"


def parse_switch(raw: object, name: str = "NAME") -> Switch | None:
    """``raw`` as a :class:`Switch` when it is one or reads ``"VALUE@TIME"``;
    ``None`` for any other value (a plain number).

    Raises
    ------
    InvalidValueError
        Text with ``@`` that is not ``VALUE@TIME`` with two finite numbers
        (naming the valid form).
    """
    if isinstance(raw, Switch):
        return raw
    if not isinstance(raw, str) or "@" not in raw:
        return None
    value, _, at = raw.partition("@")
    try:
        return Switch(parse_number(value.strip(), "a switch's value"),
                      parse_number(at.strip(), "a switch's time"))
    except InvalidValueError:
        raise InvalidValueError(
            f"--set {name}={raw}: a timed setting is {SWITCH_FORM}, VALUE and TIME "
            "numbers") from None

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
    switches : mapping of str to Switch
        Timed settings, keyed by Vensim name: the constant has its value in
        ``params`` (or the model's own) before the switch time, the
        switch's value from then on.
    """

    scenario: str | None
    params: Mapping[str, float]
    time: Mapping[str, float]
    switches: Mapping[str, Switch] = field(default_factory=lambda: MappingProxyType({}))

    def before(self, model: Model, name: str) -> float:
        """The value of the switched constant ``name`` before its switch."""
        if name in self.params:
            return self.params[name]
        return float(model.parameter(name).value)  # type: ignore[arg-type]


def run_settings(model: Model, *, scenario: str | None = None,
                 params: Mapping[str, object] | None = None,
                 timed: bool = False) -> RunSettings:
    """Resolve a scenario and explicit parameter values into run settings.

    Parameters
    ----------
    model : Model
    scenario : str, optional
        Name of one of ``model.scenarios``.
    params : mapping, optional
        Values keyed by Vensim or snake_case names; control variables
        ``FINAL TIME``, ``TIME STEP`` and ``SAVEPER`` are accepted too. A
        constant's value may be a :class:`Switch` or its text
        ``"VALUE@TIME"`` (a timed setting) where ``timed`` allows it.
    timed : bool, optional
        Whether the caller runs timed settings (``sdrev simulate``, ``sdrev
        ensemble``, ``sdrev loops``, ``sdrev report``, the explorer); where
        not (a stage that reads only ``params``), a timed setting is refused
        rather than ignored.

    Raises
    ------
    UnknownNameError, InvalidValueError
        An unknown name, a bad value, a timed setting of a control variable
        or of a subscripted constant, or a switch time outside
        ``[INITIAL TIME, FINAL TIME]``.
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
    switches: dict[str, Switch] = {}
    for name, raw in dict(params or {}).items():
        control = _control(name)
        switch = parse_switch(raw, name)
        if switch is not None:
            if not timed:
                raise InvalidValueError(
                    f"--set {name}={raw}: timed settings ({SWITCH_FORM}) are taken by "
                    "`sdrev simulate`, `ensemble`, `loops`, `report` and `explore`; here "
                    "set constants as NAME=VALUE")
            if control:
                raise InvalidValueError(
                    f"--set {name}={raw}: {name} cannot be timed; a timed setting "
                    f"({SWITCH_FORM}) sets a constant of the model")
            try:
                param = resolve_parameter(model, name)
            except UnknownNameError as exc:
                raise UnknownNameError(f"{exc}; a timed setting ({SWITCH_FORM}) sets a "
                                       "constant of the model") from None
            if isinstance(param.value, Mapping):
                raise InvalidValueError(
                    f"--set {name}={raw}: {param.name} is subscripted; a timed setting "
                    f"({SWITCH_FORM}) sets a scalar constant")
            switches[param.name] = switch
            continue
        value = parse_number(raw, f"value of {name!r}")
        if control:
            if not value > 0:
                raise InvalidValueError(f"{name} must be positive, got {raw!r}")
            time[control] = value
        else:
            values[resolve_parameter(model, name).name] = value
    _check_time(model, time)
    final = time.get("final_time", model.time.final)
    for name, switch in switches.items():
        if not model.time.initial <= switch.at <= final:
            raise InvalidValueError(
                f"--set {name}={switch}: the switch time {switch.at:g} is outside "
                f"[INITIAL TIME, FINAL TIME] = [{model.time.initial:g}, {final:g}] "
                f"({model.time.units or 'the model time unit'}); write {SWITCH_FORM}")
    return RunSettings(scenario, MappingProxyType(values), MappingProxyType(time),
                       MappingProxyType(switches))


def switch_columns(name: str) -> tuple[str, str]:
    """Sample columns of a timed setting of constant ``name`` in an ensemble:
    ``(NAME@value, NAME@time)``, the value from the switch time on and the
    switch time of each run (the column ``NAME`` itself, or the model's
    value, gives the value before)."""
    return f"{name}@value", f"{name}@time"


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
        beyond float range (naming the column and the first runs), a
        control variable would give a run without a horizon (FINAL TIME not
        after INITIAL TIME, TIME STEP or SAVEPER not positive, TIME STEP
        longer than the horizon), or a switch time (column ``NAME@time``) is
        outside ``[INITIAL TIME, FINAL TIME]``.
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
        if str(column).rpartition("@")[2].strip().lower() == "time":  # a switch time
            columns.setdefault("switch times", {})[str(column)] = values
    for keyword in ("time_step", "saveper"):
        if keyword in columns and not (columns[keyword] > 0).all():
            raise InvalidValueError(
                f"{keyword.upper().replace('_', ' ')} must be positive in every run, "
                f"got {columns[keyword].min():g}")
    final = columns.get("final_time", np.array([model.time.final]))
    step = columns.get("time_step", np.array([model.time.step]))
    for column, at in columns.get("switch times", {}).items():
        outside = np.flatnonzero((at < model.time.initial) | (at > final))
        if outside.size:
            raise InvalidValueError(
                f"sample column {column!r}: switch time {at[outside[0]]:g} (run "
                f"{outside[0]}) is outside [INITIAL TIME, FINAL TIME] = "
                f"[{model.time.initial:g}, {np.min(final):g}]")
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
