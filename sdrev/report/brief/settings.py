"""A brief for chosen settings: constants set on top of every scenario.

``sdrev report MODEL --set NAME=VALUE`` (and the explorer's "open as a
brief") asks for the brief of the model with some constants fixed at the
user's values, the way ``sdrev simulate --set`` sets them on top of a
scenario. Rather than thread the values through every stage, the brief runs
on a copy of the model whose scenarios all carry them: the comparison, the
loop analysis, the regime map and scenario discovery then see them as they
see any scenario value; the samplers of the uncertainty and sensitivity
parts are told to leave them out (a set constant is not uncertain).

A timed setting (``NAME=VALUE@TIME``, policy timing) cannot live in a
scenario, which holds constant values: the brief's scenario runs, its
uncertainty runs and its loop analysis take it on top of each scenario (the
constant keeps the scenario's value before the switch time); the parts that
cannot run it say so in the brief.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from sdrev.errors import InvalidValueError

if TYPE_CHECKING:
    from sdrev.model import Model
    from sdrev.scenario import Switch

__all__ = ["SETTINGS_SCENARIO", "setting_text", "switches_of", "with_settings"]

#: Scenario id of the runs of a model without scenarios under chosen settings.
SETTINGS_SCENARIO = "your_settings"


def with_settings(model: Model, params: Mapping[str, object]
                  ) -> tuple[Model, dict[str, float | Switch]]:
    """A copy of ``model`` whose every scenario sets ``params`` on top.

    Parameters
    ----------
    model : Model
    params : mapping
        Constants (Vensim or snake_case names) to their values, numbers or
        number strings as ``--set`` gives them; a value may be timed
        (``"VALUE@TIME"`` or a :class:`~sdrev.scenario.Switch`).

    Returns
    -------
    model : Model
        The copy. A model without scenarios gets one, ``your_settings``
        ("Your settings"), so that its runs carry the values.
    settings : dict of str to float or Switch
        The values by Vensim name, in the order given. A timed setting is
        not written into the scenarios (a scenario holds constant values):
        the brief's stages that run it take it from here (:func:`switches_of`),
        on top of each scenario, whose value the constant keeps before the
        switch time.

    Raises
    ------
    UnknownNameError
        A name that is not a constant of the model (with suggestions).
    InvalidValueError
        A value that is not a finite number (or ``VALUE@TIME``), a time
        control (a brief keeps the model's time axis), a subscripted
        constant, or a switch time outside the run.
    """
    from sdrev.model import Scenario
    from sdrev.scenario import run_settings

    settings = run_settings(model, params=params, timed=True)
    if settings.time:
        names = ", ".join(k.replace("_", " ").upper() for k in settings.time)
        raise InvalidValueError(f"--set {names}: a brief keeps the model's time axis; set "
                                "constants only (use `sdrev simulate --set` for the time axis)")
    values = dict(settings.params)
    for name in values:
        if isinstance(model.parameter(name).value, Mapping):
            raise InvalidValueError(f"--set {name}: a subscripted constant cannot be set as "
                                    "one number in a brief; set its elements in a scenario")
    switches = dict(settings.switches)
    order = [model.parameter(name).name for name in params]
    chosen: dict[str, float | Switch] = {name: switches.get(name, values.get(name))
                                         for name in dict.fromkeys(order)}
    if not chosen:
        return model, {}
    scenarios = {key: replace(s, params=MappingProxyType({**s.params, **values}))
                 for key, s in model.scenarios.items()}
    if not scenarios:
        scenarios = {SETTINGS_SCENARIO: Scenario(
            SETTINGS_SCENARIO, "the model's own constants with the settings of this brief",
            MappingProxyType(values), label="Your settings")}
    return replace(model, scenarios=MappingProxyType(scenarios)), chosen


def switches_of(settings: Mapping[str, object]) -> dict[str, Switch]:
    """The timed settings among a brief's ``settings`` (Vensim name to Switch)."""
    from sdrev.scenario import Switch

    return {name: value for name, value in settings.items() if isinstance(value, Switch)}


def setting_text(name: str, value: float | Switch) -> str:
    """One setting for readers: ``"R and D Spending = 2.5"``, or for a timed
    one ``"Policy Switch = 1 from 2012"`` (the time in the model's unit)."""
    from sdrev.scenario import Switch

    if isinstance(value, Switch):
        return f"{name} = {value.value:g} from {value.at:g}"
    return f"{name} = {value:g}"
