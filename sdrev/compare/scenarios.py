"""Scenario comparison: several scenarios (or parameter values) side by side,
outcome metrics per scenario, and the years the leading scenario changes."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sdrev.compare.defaults import output_variable, compare_defaults
from sdrev.errors import InvalidValueError, UnknownNameError, suggest

if TYPE_CHECKING:
    from sdrev.model import Model


#: Relative tolerance (of the largest absolute value of an output) below which
#: two trajectories count as equal when deciding which one leads.
TIE_TOLERANCE = 1e-6

_METRIC_COLUMNS = ["output", "label", "scenario", "units", "initial_value", "final_value",
                   "change", "peak_value", "peak_time", "threshold", "direction",
                   "time_to_threshold", "area_between", "net_area", "rank_final"]
_LEADER_COLUMNS = ["output", "year", "before", "after"]


@dataclass(frozen=True)
class ComparedRun:
    """One run of a comparison: a label, the scenario and the constants set on top.

    ``engine`` is the engine that computed the run (``"sdrev"``, the compiled
    engine; ``"pysd"`` or ``"pysd-fallback"``, PySD; ``""`` where not
    recorded, a comparison read from an older run folder)."""

    label: str
    scenario: str | None
    params: Mapping[str, float]
    engine: str = ""


@dataclass(frozen=True, eq=False)
class Comparison:
    """Several runs of one model side by side.

    Attributes
    ----------
    model, model_sha256 : str
    runs : tuple of ComparedRun
        In order; the first is the reference of the area metrics.
    outputs : tuple of str
        Vensim names of the compared outputs.
    units : mapping of str to str
        Units of each output.
    trajectories : pandas.DataFrame
        Indexed by time; columns a MultiIndex ``(output, label)``.
    metrics : pandas.DataFrame
        One row per output and run: ``initial_value``, ``final_value``,
        ``change``, ``peak_value``, ``peak_time``, ``threshold`` and its
        ``direction`` (``up`` or ``down``), ``time_to_threshold`` (first
        crossing, interpolated; NaN if never), ``area_between``
        (integral of ``|y - y_ref|`` over time, output units x years),
        ``net_area`` (integral of ``y - y_ref``), ``rank_final`` (1 = highest
        final value).
    leader_changes : pandas.DataFrame
        ``output``, ``year``, ``before``, ``after``: when one run overtakes
        the leading one (runs with equal trajectories lead together, their
        labels joined by " = ").
    thresholds : mapping of str to float
    time_units : str
    """

    model: str
    model_sha256: str
    runs: tuple[ComparedRun, ...]
    outputs: tuple[str, ...]
    units: Mapping[str, str]
    trajectories: pd.DataFrame
    metrics: pd.DataFrame
    leader_changes: pd.DataFrame
    thresholds: Mapping[str, float]
    time_units: str = ""

    @property
    def labels(self) -> tuple[str, ...]:
        """Labels of the runs, in order."""
        return tuple(r.label for r in self.runs)

    def trajectory(self, output: str) -> pd.DataFrame:
        """Trajectories of one output (Vensim name): one column per run."""
        if output not in self.outputs:
            raise UnknownNameError(f"output {output!r} is not compared"
                                   + suggest(output, self.outputs))
        return self.trajectories[output]

    def leader_at_end(self, output: str) -> str:
        """Label(s) of the run(s) with the highest final value of ``output``."""
        rows = self.metrics[self.metrics["output"] == output]
        return " = ".join(rows.loc[rows["rank_final"] == 1, "label"])

    def _summary(self) -> list[tuple[str, object]]:
        return [("runs", ", ".join(self.labels)),
                ("outputs", ", ".join(self.outputs)),
                ("leading at the end", "; ".join(f"{o}: {self.leader_at_end(o)}"
                                                 for o in self.outputs[:3])),
                ("leader changes", len(self.leader_changes)),
                ("time unit", self.time_units or "missing")]

    def __repr__(self) -> str:
        from sdrev.display import summary_repr
        return summary_repr("Comparison", self.model, self._summary())

    def _repr_html_(self) -> str:
        from sdrev.display import summary_html
        cols = [c for c in ("output", "label", "final_value", "time_to_threshold",
                            "net_area") if c in self.metrics]
        return summary_html("Comparison", self.model, self._summary(),
                            table=self.metrics[cols], caption="Outcomes")


def parse_vary(items: Sequence[str] | None) -> dict[str, list[float]]:
    """``["PARAM=v1,v2", ...]`` (the CLI's ``--vary``) to ``{PARAM: [v1, v2]}``.

    Raises
    ------
    InvalidValueError
    """
    out: dict[str, list[float]] = {}
    for item in items or ():
        name, sep, values = str(item).partition("=")
        try:
            numbers = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            numbers = []
        if not sep or not name.strip() or not numbers:
            raise InvalidValueError(f"--vary {item!r}: expected PARAM=v1,v2[,...] with numbers")
        out[name.strip()] = numbers
    return out


def compare_scenarios(model: Model | str, scenarios: Sequence[str] | None = None, *,
                      vary: Mapping[str, Sequence[float]] | None = None,
                      outputs: Sequence[str] | None = None,
                      thresholds: Mapping[str, float | str] | None = None,
                      params: Mapping[str, object] | None = None) -> Comparison:
    """Run ``model`` under several scenarios and compare the outcomes.

    Parameters
    ----------
    model : Model or str
        A loaded model or a library name / ``.mdl`` path.
    scenarios : sequence of str, optional
        Scenario names, the first being the reference for the area metrics.
        Default: the ``scenarios`` of the model's ``[compare]`` table, else
        every scenario of the model (the model's own constants if it has
        none); with ``vary``, the ``baseline`` scenario if there is one.
    vary : mapping of str to sequence of float, optional
        Parameter values to compare: every combination of the values, on
        top of each scenario (labels such as ``"IO Regime=1"``).
    outputs : sequence of str, optional
        Variables to compare (Vensim or snake_case names; default the
        model's key outputs).
    thresholds : mapping, optional
        Output -> threshold (a number, or the name of a constant of the
        model whose value in each run is the threshold). Default: the
        ``[compare]`` table's, else halfway from the initial value to the
        most extreme final value of all runs.
    params : mapping, optional
        Constants set on top of every run; a value may be timed (a
        :class:`~sdrev.scenario.Switch` or ``"VALUE@TIME"``: the constant
        takes VALUE from TIME on, its scenario or model value before).

    Returns
    -------
    Comparison
        Each run records the engine that computed it (``ComparedRun.engine``).

    Raises
    ------
    UnknownNameError, InvalidValueError
    """
    from sdrev.model import Model, load
    from sdrev.scenario import run_settings
    from sdrev.simulate import trajectories

    if not isinstance(model, Model):
        model = load(model)
    defaults = compare_defaults(model)
    runs = _plan_runs(model, scenarios, vary, defaults)
    requested = [_requested(model, o) for o in (outputs or model.key_outputs)]
    if not requested:
        raise InvalidValueError(
            f"nothing to compare: {model.name} has no stock, flow or auxiliary to show by "
            "default; name outputs with --outputs A,B")
    requested = list(dict.fromkeys(requested))
    frames, settings_of = [], {}
    for k, run in enumerate(runs):
        settings = run_settings(model, scenario=run.scenario,
                                params={**dict(params or {}), **dict(run.params)}, timed=True)
        settings_of[run.label] = settings
        result = trajectories(model, settings)
        runs[k] = replace(run, engine=result.engine)
        frames.append(result.to_frame())
    series = [s for var, element in requested
              for s in _output_series(model, var, frames[0], element)]
    columns = {(s.name, run.label): frame[s.column].astype(float)
               for s in series for run, frame in zip(runs, frames)}
    traj = pd.DataFrame(columns)
    traj.columns = pd.MultiIndex.from_tuples(traj.columns, names=["output", "label"])
    traj.index.name = "time"
    wanted = {**dict(defaults.thresholds), **{output_variable(model, k).name: v
                                              for k, v in dict(thresholds or {}).items()}}
    rows, changes, used = [], [], {}
    for s in series:
        table = traj[s.name]
        limit = wanted.get(s.name, wanted.get(s.variable))
        if limit is None:
            per_run = dict.fromkeys((run.label for run in runs), _default_threshold(table))
        else:
            per_run = {run.label: _threshold_value(model, limit, settings_of[run.label])
                       for run in runs}
        used[s.name] = per_run[runs[0].label]
        rows += _metric_rows(s, runs, table, per_run)
        changes += [(s.name, *c) for c in leader_changes(table)]
    metrics = pd.DataFrame(rows, columns=_METRIC_COLUMNS)
    return Comparison(
        model=model.name, model_sha256=model.sha256, runs=tuple(runs),
        outputs=tuple(s.name for s in series),
        units=MappingProxyType({s.name: s.units for s in series}),
        trajectories=traj, metrics=metrics,
        leader_changes=pd.DataFrame(changes, columns=_LEADER_COLUMNS),
        thresholds=MappingProxyType(used), time_units=model.time.units)


def _plan_runs(model, scenarios, vary, defaults) -> list[ComparedRun]:
    if scenarios is None:
        if vary:
            scenarios = ["baseline"] if "baseline" in model.scenarios else [None]
        else:
            scenarios = list(defaults.scenarios or model.scenarios) or [None]
    scenarios = list(scenarios)
    if not scenarios:
        raise InvalidValueError("name at least one scenario to compare")
    for name in scenarios:
        if name is not None and name not in model.scenarios:
            raise UnknownNameError(
                f"unknown scenario {name!r} for model {model.name}; known scenarios: "
                f"{', '.join(model.scenarios) or 'none'}" + suggest(name, model.scenarios))
    combos: list[dict[str, float]] = [{}]
    if vary:
        names = [model.parameter(n).name for n in vary]
        values = [[float(v) for v in vary[n]] for n in vary]
        if any(not v for v in values):
            raise InvalidValueError("each varied parameter needs at least one value")
        combos = [dict(zip(names, c)) for c in itertools.product(*values)]
    runs = []
    for scenario in scenarios:
        for combo in combos:
            parts = [scenario] if scenario is not None and (len(scenarios) > 1 or not combo) \
                else []
            parts += [f"{k}={v:g}" for k, v in combo.items()]
            label = ", ".join(parts) or "model constants"
            runs.append(ComparedRun(label, scenario, MappingProxyType(combo)))
    labels = [r.label for r in runs]
    if len(set(labels)) != len(labels):
        raise InvalidValueError(f"the same run is listed twice: {labels}")
    if len(runs) > 50:
        raise InvalidValueError(f"{len(runs)} runs to compare; at most 50 fit side by side")
    return runs


@dataclass(frozen=True)
class _Series:
    """One compared output: a scalar variable or one element of a subscripted one."""

    name: str
    variable: str
    column: str
    units: str


def _requested(model, name: str) -> tuple:
    """``"Name"`` or ``"Name[element]"`` to (variable, element or None)."""
    base, sep, rest = str(name).partition("[")
    element = rest.rstrip("]").strip() if sep else None
    return output_variable(model, base), element


def _output_series(model, var, frame: pd.DataFrame, element: str | None) -> list[_Series]:
    """The columns of ``frame`` holding ``var``: itself, or each of its elements
    (``Name[element]``) when it is subscripted (only ``element`` if given)."""
    if var.py_name in frame and element is None:
        return [_Series(var.name, var.name, var.py_name, var.units)]
    prefix = f"{var.py_name}["
    found = [c for c in frame.columns if c.startswith(prefix)]
    if not found:
        raise InvalidValueError(f"{var.name} is not an output of the runs of {model.name}; "
                                "compare a stock, flow or auxiliary")
    if element is not None:
        labels = {c[len(prefix):-1]: c for c in found}
        key = element.lower().replace(" ", "_")
        match = [c for lab, c in labels.items() if lab.lower().replace(" ", "_") == key]
        if not match:
            raise UnknownNameError(f"unknown element {element!r} of {var.name}; its elements: "
                                   f"{', '.join(labels)}" + suggest(element, list(labels)))
        found = match
    return [_Series(f"{var.name}{c[len(var.py_name):]}", var.name, c, var.units)
            for c in found]


def _threshold_value(model, limit, settings) -> float:
    if isinstance(limit, str):
        param = model.parameter(limit)
        return float(settings.params.get(param.name, param.value))
    return float(limit)


def _default_threshold(table: pd.DataFrame) -> float:
    start = float(table.iloc[0].mean())
    finals = table.iloc[-1].to_numpy(dtype=float)
    extreme = finals[np.argmax(np.abs(finals - start))]
    return start + 0.5 * (extreme - start)


def time_to_threshold(times, values, threshold: float, direction: str = "up") -> float:
    """First time ``values`` reaches ``threshold`` (linear interpolation), NaN if never.

    ``direction`` ``"up"`` looks for ``values >= threshold``, ``"down"`` for
    ``values <= threshold``.
    """
    t = np.asarray(times, dtype=float)
    y = np.asarray(values, dtype=float)
    hit = y >= threshold if direction == "up" else y <= threshold
    idx = np.flatnonzero(hit)
    if idx.size == 0:
        return math.nan
    i = int(idx[0])
    if i == 0 or y[i] == y[i - 1]:
        return float(t[i])
    frac = (threshold - y[i - 1]) / (y[i] - y[i - 1])
    return float(t[i - 1] + frac * (t[i] - t[i - 1]))


def _metric_rows(var, runs, table: pd.DataFrame, per_run: Mapping[str, float]) -> list:
    times = table.index.to_numpy(dtype=float)
    ref = table[runs[0].label].to_numpy(dtype=float)
    finals = table.iloc[-1]
    scale = _scale(table)
    rows = []
    for run in runs:
        y = table[run.label].to_numpy(dtype=float)
        threshold = per_run[run.label]
        direction = "up" if threshold >= y[0] else "down"
        higher = (finals > finals[run.label] + TIE_TOLERANCE * scale).sum()
        peak = int(np.argmax(y))
        rows.append({
            "output": var.name, "label": run.label, "scenario": run.scenario,
            "units": var.units, "initial_value": float(y[0]), "final_value": float(y[-1]),
            "change": float(y[-1] - y[0]), "peak_value": float(y[peak]),
            "peak_time": float(times[peak]), "threshold": float(threshold),
            "direction": direction,
            "time_to_threshold": time_to_threshold(times, y, threshold, direction),
            "area_between": float(np.trapezoid(np.abs(y - ref), times)),
            "net_area": float(np.trapezoid(y - ref, times)),
            "rank_final": int(higher) + 1,
        })
    return rows


def _scale(table) -> float:
    values = np.abs(np.asarray(table, dtype=float))
    return float(np.nanmax(values)) if values.size and np.isfinite(values).any() else 1.0


def leader_changes(table: pd.DataFrame, *, tolerance: float = TIE_TOLERANCE
                   ) -> list[tuple[float, str, str]]:
    """When the leading column of ``table`` (indexed by time) changes.

    The leaders at a time are the columns within ``tolerance`` (relative to
    the largest absolute value) of the maximum. Times when every column
    leads (no separation yet) are skipped, and a change counts only when the
    new leaders are all different from the old ones (an overtaking, not a tie
    resolving). The year is the interpolated crossing of the old and the new
    leader's curves.

    Returns
    -------
    list of (year, before, after)
        Labels of tied leaders are joined by " = ".
    """
    if table.shape[1] < 2:
        return []
    values = table.to_numpy(dtype=float)
    times = table.index.to_numpy(dtype=float)
    tol = tolerance * max(_scale(table), 1e-300)
    labels = [str(c) for c in table.columns]
    out: list[tuple[float, str, str]] = []
    current: frozenset | None = None
    last_k = 0  # where the current leaders took the lead (read once there are some)
    for k in range(len(times)):
        row = values[k]
        if not np.isfinite(row).all():
            continue
        top = frozenset(np.flatnonzero(row >= row.max() - tol))
        if len(top) == len(labels):
            continue
        if current is not None and not (top & current):
            a, b = min(current), min(top)
            gap = values[last_k:k + 1, b] - values[last_k:k + 1, a]
            m = int(np.argmax(gap >= 0))  # first saved time the new leader has caught up
            if gap[m] == 0 or m == 0:
                year = float(times[last_k + m])
            else:
                d0, d1 = gap[m - 1], gap[m]
                t0, t1 = times[last_k + m - 1], times[last_k + m]
                year = float(t0 + (-d0) / (d1 - d0) * (t1 - t0))
            out.append((year, " = ".join(labels[i] for i in sorted(current)),
                        " = ".join(labels[i] for i in sorted(top))))
        current, last_k = top, k
    return out
