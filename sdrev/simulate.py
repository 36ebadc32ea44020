"""Run stage, single runs: one simulation with PySD, the reference engine."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sdrev import translate
from sdrev.scenario import RunSettings, run_settings

if TYPE_CHECKING:
    import pandas as pd

    from sdrev.model import Model

__all__ = ["simulate", "simulate_settings", "output_variables"]

_SUBSCRIPT = re.compile(r"^(?P<name>[^\[]+?)\s*(?P<subs>\[.*\])?$")


def output_variables(model: Model):
    """The variables a run returns: stocks, flows and auxiliaries."""
    return tuple(v for v in model.variables if v.kind in ("stock", "flow", "auxiliary"))


def simulate(model: Model, *, scenario: str | None = None,
             params: Mapping[str, object] | None = None) -> pd.DataFrame:
    """Run ``model`` once; see :meth:`sdrev.Model.simulate`."""
    return simulate_settings(model, run_settings(model, scenario=scenario, params=params))


def simulate_settings(model: Model, settings: RunSettings) -> pd.DataFrame:
    """Run ``model`` once with resolved :class:`~sdrev.scenario.RunSettings`.

    Returns
    -------
    pandas.DataFrame
        Indexed by time (named ``time``), columns in snake_case.
    """
    variables = output_variables(model)
    frame = translate.run_pysd(model.translation, params=dict(settings.params),
                               time=dict(settings.time),
                               return_columns=[v.name for v in variables])
    py_names = {v.name: v.py_name for v in variables}
    frame = frame.rename(columns=lambda col: _snake(col, py_names))
    frame.index.name = "time"
    return frame


def _snake(column: str, py_names: Mapping[str, str]) -> str:
    match = _SUBSCRIPT.match(column)
    if not match:
        return column
    base = py_names.get(match["name"], match["name"])
    subs = match["subs"] or ""
    return base + subs.replace(" ", "")
