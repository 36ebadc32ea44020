"""A brief for chosen settings: constants set on top of every scenario.

``sdrev report MODEL --set NAME=VALUE`` (and the explorer's "open as a
brief") asks for the brief of the model with some constants fixed at the
user's values, the way ``sdrev simulate --set`` sets them on top of a
scenario. Rather than thread the values through every stage, the brief runs
on a copy of the model whose scenarios all carry them: the comparison, the
loop analysis, the regime map and scenario discovery then see them as they
see any scenario value; the samplers of the uncertainty and sensitivity
parts are told to leave them out (a set constant is not uncertain).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from sdrev.errors import InvalidValueError

if TYPE_CHECKING:
    from sdrev.model import Model

__all__ = ["SETTINGS_SCENARIO", "with_settings"]

#: Scenario id of the runs of a model without scenarios under chosen settings.
SETTINGS_SCENARIO = "your_settings"


def with_settings(model: Model, params: Mapping[str, object]) -> tuple[Model, dict[str, float]]:
    """A copy of ``model`` whose every scenario sets ``params`` on top.

    Parameters
    ----------
    model : Model
    params : mapping
        Constants (Vensim or snake_case names) to their values, numbers or
        number strings as ``--set`` gives them.

    Returns
    -------
    model : Model
        The copy. A model without scenarios gets one, ``your_settings``
        ("Your settings"), so that its runs carry the values.
    settings : dict of str to float
        The values by Vensim name, in the order given.

    Raises
    ------
    UnknownNameError
        A name that is not a constant of the model (with suggestions).
    InvalidValueError
        A value that is not a finite number, a time control (a brief keeps
        the model's time axis) or a subscripted constant.
    """
    from sdrev.model import Scenario
    from sdrev.scenario import run_settings

    settings = run_settings(model, params=params)
    if settings.time:
        names = ", ".join(k.replace("_", " ").upper() for k in settings.time)
        raise InvalidValueError(f"--set {names}: a brief keeps the model's time axis; set "
                                "constants only (use `sdrev simulate --set` for the time axis)")
    values = dict(settings.params)
    for name in values:
        if isinstance(model.parameter(name).value, Mapping):
            raise InvalidValueError(f"--set {name}: a subscripted constant cannot be set as "
                                    "one number in a brief; set its elements in a scenario")
    if not values:
        return model, {}
    scenarios = {key: replace(s, params=MappingProxyType({**s.params, **values}))
                 for key, s in model.scenarios.items()}
    if not scenarios:
        scenarios = {SETTINGS_SCENARIO: Scenario(
            SETTINGS_SCENARIO, "the model's own constants with the settings of this brief",
            MappingProxyType(values), label="Your settings")}
    return replace(model, scenarios=MappingProxyType(scenarios)), values

