"""Run stage, single runs: one simulation with PySD, the reference engine."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sdrev import translate
from sdrev.errors import InvalidValueError
from sdrev.scenario import RunSettings, run_settings

if TYPE_CHECKING:
    import pandas as pd

    from sdrev.model import Model

__all__ = ["MAX_STEPS", "estimate_work", "simulate", "simulate_settings", "output_variables"]

#: Most integration steps one run may take without ``force`` (PySD integrates
#: roughly 10^4-10^5 steps a second: ten million is minutes of work).
MAX_STEPS = 10_000_000
#: Most bytes one run's saved values may take without ``force``.
MAX_BYTES = 2 * 2**30

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
    initial = t.initial
    final = settings.time.get("final_time", t.final)
    step = settings.time.get("time_step", t.step)
    saveper = settings.time.get("saveper", max(t.saveper, step))
    span = max(final - initial, 0.0)
    steps = int(span / step) + 1
    saved = int(span / max(saveper, step)) + 1
    return steps, saved * len(output_variables(model)) * 8


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
    if not force and (steps > MAX_STEPS or size > MAX_BYTES):
        raise InvalidValueError(
            f"this run would take {steps:,} integration steps and keep {_size(size)} of "
            f"values (limits {MAX_STEPS:,} steps, {_size(MAX_BYTES)}): check TIME STEP, "
            "FINAL TIME and SAVEPER, or give --force (force=True) to run it anyway")
    variables = output_variables(model)
    frame = translate.run_pysd(model.translation, params=dict(settings.params),
                               time=dict(settings.time),
                               return_columns=[v.name for v in variables])
    py_names = {v.name: v.py_name for v in variables}
    frame = frame.rename(columns=lambda col: _snake(col, py_names))
    frame.index.name = "time"
    return frame


def _size(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} TiB"  # pragma: no cover - the loop returns


def _snake(column: str, py_names: Mapping[str, str]) -> str:
    match = _SUBSCRIPT.match(column)
    if not match:
        return column
    base = py_names.get(match["name"], match["name"])
    subs = match["subs"] or ""
    return base + subs.replace(" ", "")
