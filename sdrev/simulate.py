"""Run stage, single runs: one simulation with PySD, the reference engine."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sdrev import budget, translate
from sdrev.scenario import RunSettings, run_settings

if TYPE_CHECKING:
    import pandas as pd

    from sdrev.model import Model

__all__ = ["MAX_STEPS", "estimate_work", "simulate", "simulate_settings", "output_variables"]

#: Most integration steps one run may take without ``force`` (the shared
#: limits and estimator live in :mod:`sdrev.budget`).
MAX_STEPS = budget.MAX_STEPS
#: Most bytes one run's saved values may take without ``force``.
MAX_BYTES = budget.MAX_RUN_BYTES

_SUBSCRIPT = re.compile(r"^(?P<name>[^\[]+?)\s*(?P<subs>\[.*\])?$")


def output_variables(model: Model):
    """The variables a run returns: stocks, flows and auxiliaries."""
    return tuple(v for v in model.variables if v.kind in ("stock", "flow", "auxiliary"))


def simulate(model: Model, *, scenario: str | None = None,
             params: Mapping[str, object] | None = None) -> pd.DataFrame:
    """Run ``model`` once; see :meth:`sdrev.Model.simulate`."""
    return simulate_settings(model, run_settings(model, scenario=scenario, params=params))


def estimate_work(model: Model, settings: RunSettings) -> tuple[int, int]:
    """Integration steps and bytes of saved values of one run with ``settings``."""
    t = model.time
    steps, saved = budget.time_points(t.initial, settings.time.get("final_time", t.final),
                                      settings.time.get("time_step", t.step),
                                      settings.time.get("saveper", t.saveper))
    return steps, saved * len(output_variables(model)) * budget.FLOAT


def simulate_settings(model: Model, settings: RunSettings, *,
                      force: bool = False) -> pd.DataFrame:
    """Run ``model`` once with resolved :class:`~sdrev.scenario.RunSettings`.

    Parameters
    ----------
    model : Model
    settings : RunSettings
    force : bool, optional
        Run even when :func:`estimate_work` is over :data:`MAX_STEPS` steps
        or ``MAX_BYTES`` of saved values (a TIME STEP or FINAL TIME typed
        wrong by orders of magnitude): without it such a run is refused
        with the estimate.

    Returns
    -------
    pandas.DataFrame
        Indexed by time (named ``time``), columns in snake_case.
    """
    steps, size = estimate_work(model, settings)
    budget.check(budget.Estimate("this run", 1, steps, size), force=force, max_work=MAX_STEPS,
                 max_memory=min(MAX_BYTES, budget.memory_limit()),
                 hint="check TIME STEP, FINAL TIME and SAVEPER")
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
