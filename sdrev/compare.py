"""Compare stage: scenarios side by side, and regime maps over two conditions.

:func:`compare_scenarios` runs a model under several scenarios (or several
values of one or more parameters) with PySD, the reference engine, and
tabulates outcome metrics per scenario and output: final value, time to a
threshold, area between each scenario's curve and the first scenario's, and
the years in which the leading scenario changes.

:func:`regime_map` runs two values of a regime parameter (for
``machine_tool_io``, ``IO Regime`` 0 = large integrated enterprises and
1 = innovation network) over a grid of two conditions in one call of the
ensemble engine, and finds, per grid point, which regime reaches the higher
value of an output by a given year, the boundary between the two areas, and
the year in which the leader changes (the crossover year).

Both are pure functions returning frozen dataclasses. Defaults come from an
optional ``[compare]`` table of the model's metadata file (see
``models/README.md``). :func:`write` and :func:`read` store results in, and
read them back from, a run folder.

Examples
--------
>>> import sdrev
>>> from sdrev import compare
>>> model = sdrev.load("machine_tool_io")
>>> comp = compare.compare_scenarios(model, ["lie", "network"])     # doctest: +SKIP
>>> comp.metrics[["output", "label", "final_value", "time_to_threshold"]]  # doctest: +SKIP
>>> rmap = compare.regime_map(model, grid=(30, 30))                   # doctest: +SKIP
>>> rmap.share_won(1), rmap.boundary()[:3]                           # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import json
import math
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sdrev.errors import InvalidValueError, UnknownNameError, suggest

if TYPE_CHECKING:
    from sdrev.model import Model

__all__ = ["Axis", "Comparison", "ComparedRun", "CompareDefaults", "RegimeMap",
           "compare_defaults", "compare_scenarios", "leader_changes", "parse_grid",
           "parse_range", "parse_vary", "read", "regime_map", "summary_text",
           "time_to_threshold", "write"]

#: Relative tolerance (of the largest absolute value of an output) below which
#: two trajectories count as equal when deciding which one leads.
TIE_TOLERANCE = 1e-6
#: Keys allowed in a model's ``[compare]`` metadata table.
_COMPARE_KEYS = {"regime_parameter", "regimes", "regime_labels", "output", "year", "x", "y",
                 "grid", "scenario", "scenarios", "thresholds", "description"}

_METRIC_COLUMNS = ["output", "label", "scenario", "units", "initial_value", "final_value",
                   "change", "peak_value", "peak_time", "threshold", "direction",
                   "time_to_threshold", "area_between", "net_area", "rank_final"]
_LEADER_COLUMNS = ["output", "year", "before", "after"]


# -- defaults from the model's metadata ---------------------------------------

@dataclass(frozen=True)
class CompareDefaults:
    """The ``[compare]`` table of a model's metadata, validated.

    Every field is ``None`` (or empty) where the table does not set it.
    """

    regime_parameter: str | None = None
    regimes: tuple[float, float] | None = None
    regime_labels: tuple[str, str] | None = None
    output: str | None = None
    year: float | None = None
    x: tuple[str, float, float] | None = None
    y: tuple[str, float, float] | None = None
    grid: tuple[int, int] | None = None
    scenario: str | None = None
    scenarios: tuple[str, ...] = ()
    thresholds: Mapping[str, float | str] = field(default_factory=dict)
    description: str = ""

    @property
    def has_regime_map(self) -> bool:
        """Whether the model documents a regime map (a regime parameter and two conditions)."""
        return bool(self.regime_parameter and self.x and self.y)


def compare_defaults(model: Model) -> CompareDefaults:
    """Read and check the optional ``[compare]`` table beside ``model``.

    Raises
    ------
    InvalidValueError
        For unknown keys or badly formed entries (naming the entry).
    """
    from sdrev.library import read_metadata

    table = read_metadata(model.path).get("compare")
    if table is None:
        return CompareDefaults()
    where = f"{model.path.with_suffix('.toml').name} [compare]"
    if not isinstance(table, Mapping):
        raise InvalidValueError(f"{where} must be a table")
    unknown = set(table) - _COMPARE_KEYS
    if unknown:
        bad = sorted(unknown)[0]
        raise InvalidValueError(f"{where}: unknown key {bad!r}"
                                + (suggest(bad, _COMPARE_KEYS) or
                                   f"; valid keys: {', '.join(sorted(_COMPARE_KEYS))}"))

    def pair(key, kind):
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or len(value) != 2:
            raise InvalidValueError(f"{where}: {key} must be a list of two values, got {value!r}")
        try:
            return tuple(kind(v) for v in value)
        except (TypeError, ValueError):
            raise InvalidValueError(f"{where}: bad {key} {value!r}") from None

    def axis(key):
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping) or "name" not in value:
            raise InvalidValueError(f"{where}: {key} must be a table "
                                    '{ name = "...", range = [lo, hi] }')
        name = model.parameter(str(value["name"])).name
        rng = value.get("range") or model.parameter(name).range
        if rng is None or len(rng) != 2:
            raise InvalidValueError(f"{where}: {key} {name!r} needs a range [lo, hi]")
        return (name, float(rng[0]), float(rng[1]))

    regime = table.get("regime_parameter")
    if regime is not None:
        regime = model.parameter(str(regime)).name
    output = table.get("output")
    if output is not None:
        output = _variable(model, str(output)).name
    for name in table.get("scenarios", []):
        if name not in model.scenarios:
            raise UnknownNameError(f"{where}: unknown scenario {name!r}"
                                   + suggest(name, model.scenarios))
    scenario = table.get("scenario")
    if scenario is not None and scenario not in model.scenarios:
        raise UnknownNameError(f"{where}: unknown scenario {scenario!r}"
                               + suggest(scenario, model.scenarios))
    thresholds = {}
    for name, value in dict(table.get("thresholds", {})).items():
        var = _variable(model, name)
        if isinstance(value, str):
            model.parameter(value)  # must be a constant of the model
        elif not isinstance(value, (int, float)) or isinstance(value, bool):
            raise InvalidValueError(f"{where}: threshold of {name!r} must be a number or a "
                                    f"parameter name, got {value!r}")
        thresholds[var.name] = value
    year = table.get("year")
    return CompareDefaults(
        regime_parameter=regime, regimes=pair("regimes", float),
        regime_labels=pair("regime_labels", str), output=output,
        year=None if year is None else float(year), x=axis("x"), y=axis("y"),
        grid=pair("grid", int), scenario=scenario,
        scenarios=tuple(table.get("scenarios", ())),
        thresholds=MappingProxyType(thresholds),
        description=str(table.get("description", "")))


# -- scenario comparison -------------------------------------------------------

@dataclass(frozen=True)
class ComparedRun:
    """One run of a comparison: a label, the scenario and the constants set on top."""

    label: str
    scenario: str | None
    params: Mapping[str, float]


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
    time_units: str = "Year"

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
        Constants set on top of every run.

    Returns
    -------
    Comparison

    Raises
    ------
    UnknownNameError, InvalidValueError
    """
    from sdrev.model import Model, load
    from sdrev.scenario import run_settings
    from sdrev.simulate import simulate_settings

    if not isinstance(model, Model):
        model = load(model)
    defaults = compare_defaults(model)
    runs = _plan_runs(model, scenarios, vary, defaults)
    requested = [_requested(model, o) for o in (outputs or model.key_outputs)]
    if not requested:
        raise InvalidValueError("name at least one output to compare")
    requested = list(dict.fromkeys(requested))
    frames, settings_of = [], {}
    for run in runs:
        settings = run_settings(model, scenario=run.scenario,
                                params={**dict(params or {}), **dict(run.params)})
        settings_of[run.label] = settings
        frames.append(simulate_settings(model, settings))
    series = [s for var, element in requested
              for s in _output_series(model, var, frames[0], element)]
    columns = {(s.name, run.label): frame[s.column].astype(float)
               for s in series for run, frame in zip(runs, frames)}
    traj = pd.DataFrame(columns)
    traj.columns = pd.MultiIndex.from_tuples(traj.columns, names=["output", "label"])
    traj.index.name = "time"
    wanted = {**dict(defaults.thresholds), **{_variable(model, k).name: v
                                              for k, v in dict(thresholds or {}).items()}}
    rows, changes, used = [], [], {}
    for s in series:
        table = traj[s.name]
        limit = wanted.get(s.name, wanted.get(s.variable))
        per_run = {}
        for run in runs:
            per_run[run.label] = _threshold_value(model, limit, settings_of[run.label])
        if limit is None:
            per_run = dict.fromkeys(per_run, _default_threshold(table))
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
        thresholds=MappingProxyType(used))


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
    return _variable(model, base), element


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


def _variable(model, name: str):
    key = " ".join(str(name).replace("_", " ").split()).lower()
    for var in model.variables:
        if key in (var.name.lower(), var.py_name.replace("_", " ")):
            return var
    names = [v.name for v in model.variables if v.kind in ("stock", "flow", "auxiliary")]
    raise UnknownNameError(f"unknown output {name!r} in model {model.name}"
                           + suggest(str(name), names))


def _threshold_value(model, limit, settings) -> float | None:
    if limit is None:
        return None
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
    out, current, last_k = [], None, None
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


# -- regime map -------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Axis:
    """One condition of a regime map: a constant and its grid values."""

    name: str
    values: tuple[float, ...]
    units: str = ""

    @property
    def lo(self) -> float:
        return self.values[0]

    @property
    def hi(self) -> float:
        return self.values[-1]


@dataclass(frozen=True, eq=False)
class RegimeMap:
    """Which of two regimes reaches the higher output, over a grid of two conditions.

    Attributes
    ----------
    model, model_sha256 : str
    scenario : str or None
        Scenario of the constants neither mapped nor the regime.
    regime_param : str
    regimes : tuple of float
        The two regime values, ``(a, b)``.
    labels : tuple of str
        Their names.
    output, units : str
    year : float
        Year at which the regimes are compared.
    x, y : Axis
    times : numpy.ndarray
        Saved times.
    values : numpy.ndarray
        Output trajectories, shape ``(2, nx, ny, len(times))``.
    base : tuple of float or None
        The scenario's own ``(x, y)`` values, if inside the map.
    engine : str
    seconds : float
    time_units : str
    """

    model: str
    model_sha256: str
    scenario: str | None
    regime_param: str
    regimes: tuple[float, float]
    labels: tuple[str, str]
    output: str
    units: str
    year: float
    x: Axis
    y: Axis
    times: np.ndarray
    values: np.ndarray
    base: tuple[float, float] | None = None
    engine: str = "sdrev"
    seconds: float = 0.0
    time_units: str = "Year"

    @property
    def runs(self) -> int:
        """Simulations made: grid points x regimes."""
        return int(np.prod(self.values.shape[:3]))

    def at(self, year: float | None = None) -> np.ndarray:
        """Output of both regimes at ``year`` (default :attr:`year`), shape ``(2, nx, ny)``."""
        year = self.year if year is None else float(year)
        t = self.times
        if not t[0] <= year <= t[-1]:
            raise InvalidValueError(f"year {year:g} is outside the simulated horizon "
                                    f"{t[0]:g}-{t[-1]:g}")
        k = int(np.searchsorted(t, year))
        if t[k] == year or k == 0:
            return self.values[..., k]
        w = (year - t[k - 1]) / (t[k] - t[k - 1])
        return (1 - w) * self.values[..., k - 1] + w * self.values[..., k]

    @property
    def difference(self) -> np.ndarray:
        """Second regime minus first at :attr:`year`, shape ``(nx, ny)``."""
        a, b = self.at()
        return b - a

    @property
    def tolerance(self) -> float:
        """Differences smaller than this count as ties."""
        return TIE_TOLERANCE * max(float(np.nanmax(np.abs(self.values))), 1e-300)

    @property
    def winner(self) -> np.ndarray:
        """Per grid point at :attr:`year`: 0 (first regime higher), 1 (second), -1 (tie)."""
        d = self.difference
        out = np.where(d > 0, 1, 0)
        out[np.abs(d) <= self.tolerance] = -1
        return out

    def share_won(self, regime: int) -> float:
        """Share of grid points (0-1) where regime 0 or 1 is ahead at :attr:`year`."""
        return float((self.winner == regime).mean())

    @property
    def crossover(self) -> np.ndarray:
        """Per grid point, the year the leading regime last changes; NaN if it never does.

        Shape ``(nx, ny)``. Before the regimes separate (difference within
        :attr:`tolerance`) no regime leads.
        """
        d = self.values[1] - self.values[0]
        s = np.sign(d) * (np.abs(d) > self.tolerance)
        out = np.full(d.shape[:2], np.nan)
        t = self.times
        for i, j in zip(*np.nonzero((s > 0).any(axis=2) & (s < 0).any(axis=2))):
            row = s[i, j]
            nz = np.flatnonzero(row)
            final = row[nz[-1]]
            before = nz[row[nz] == -final][-1]
            after = nz[nz > before][0]
            d0, d1 = d[i, j, before], d[i, j, after]
            out[i, j] = t[before] + (-d0) / (d1 - d0) * (t[after] - t[before])
        return out

    @property
    def final_leader(self) -> np.ndarray:
        """Per grid point, the regime (0, 1; -1 tie) ahead at the end of the horizon."""
        d = self.values[1, ..., -1] - self.values[0, ..., -1]
        out = np.where(d > 0, 1, 0)
        out[np.abs(d) <= self.tolerance] = -1
        return out

    def boundary(self) -> np.ndarray:
        """Points ``(x, y)`` where the two regimes are equal at :attr:`year`.

        Found by linear interpolation of the difference along every grid
        line whose neighbouring points have different winners; shape
        ``(k, 2)``, empty if one regime wins everywhere.
        """
        d = self.difference
        xs, ys = np.asarray(self.x.values), np.asarray(self.y.values)
        pts = []
        for i in range(d.shape[0] - 1):  # along x
            for j in range(d.shape[1]):
                a, b = d[i, j], d[i + 1, j]
                if a * b < 0:
                    pts.append((xs[i] + a / (a - b) * (xs[i + 1] - xs[i]), ys[j]))
        for i in range(d.shape[0]):  # along y
            for j in range(d.shape[1] - 1):
                a, b = d[i, j], d[i, j + 1]
                if a * b < 0:
                    pts.append((xs[i], ys[j] + a / (a - b) * (ys[j + 1] - ys[j])))
        return np.array(pts, dtype=float).reshape(-1, 2)

    def summary(self) -> dict:
        """Plain numbers about the map (for text and JSON)."""
        cross = self.crossover
        finite = cross[np.isfinite(cross)]
        return {
            "year": self.year,
            "grid": [len(self.x.values), len(self.y.values)],
            "share_first_ahead": self.share_won(0),
            "share_second_ahead": self.share_won(1),
            "share_second_ahead_at_end": float((self.final_leader == 1).mean()),
            "boundary_points": int(len(self.boundary())),
            "crossover_points": int(finite.size),
            "crossover_min": float(finite.min()) if finite.size else None,
            "crossover_median": float(np.median(finite)) if finite.size else None,
            "crossover_max": float(finite.max()) if finite.size else None,
        }


def parse_range(text: str, model: Model | None = None) -> tuple[str, float, float]:
    """``"NAME=lo:hi"`` (the CLI's ``--regime-map`` items) to ``(NAME, lo, hi)``.

    ``"NAME"`` alone takes the parameter's documented range (needs ``model``).

    Raises
    ------
    InvalidValueError
    """
    name, sep, rng = str(text).partition("=")
    name = name.strip()
    if not name:
        raise InvalidValueError(f"{text!r}: expected NAME=lo:hi")
    if not sep:
        if model is None or model.parameter(name).range is None:
            raise InvalidValueError(f"{text!r}: expected NAME=lo:hi (the parameter "
                                    "documents no range)")
        lo, hi = model.parameter(name).range
        return (model.parameter(name).name, float(lo), float(hi))
    lo_s, colon, hi_s = rng.partition(":")
    try:
        lo, hi = float(lo_s), float(hi_s)
    except ValueError:
        lo = hi = math.nan
    if not colon or not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise InvalidValueError(f"{text!r}: expected NAME=lo:hi with numbers lo < hi")
    return (name, lo, hi)


def parse_grid(text: str) -> tuple[int, int]:
    """``"50x50"`` to ``(50, 50)``.

    Raises
    ------
    InvalidValueError
    """
    a, sep, b = str(text).lower().partition("x")
    if not sep or not a.strip().isdigit() or not b.strip().isdigit():
        raise InvalidValueError(f"--grid {text!r}: expected NXxNY, e.g. 50x50")
    return _grid((int(a), int(b)))


def _grid(grid) -> tuple[int, int]:
    nx, ny = (int(g) for g in grid)
    if nx < 2 or ny < 2 or nx * ny > 250_000:
        raise InvalidValueError(f"grid {nx}x{ny}: each side needs at least 2 points and "
                                "the grid at most 250,000")
    return nx, ny


def regime_map(model: Model | str, *, x: tuple[str, float, float] | None = None,
               y: tuple[str, float, float] | None = None,
               grid: tuple[int, int] | None = None, regime_param: str | None = None,
               regimes: tuple[float, float] | None = None,
               labels: tuple[str, str] | None = None, output: str | None = None,
               year: float | None = None, scenario: str | None = None,
               progress: bool = True, workers: int | None = None) -> RegimeMap:
    """Map which of two regimes reaches the higher output over two conditions.

    Runs the model once per grid point and regime in one call of the
    ensemble engine (:func:`sdrev.ensemble.run`).

    Parameters
    ----------
    model : Model or str
    x, y : (name, lo, hi), optional
        The two conditions and their ranges. Default: the ``[compare]``
        table's ``x`` and ``y``.
    grid : (nx, ny), optional
        Grid points per condition (default the table's, else 50 x 50).
    regime_param : str, optional
        The constant that selects the regime (default the table's, else
        ``"IO Regime"``).
    regimes : (a, b), optional
        Its two values (default the table's, else ``(0, 1)``).
    labels : (str, str), optional
        Names of the regimes (default the table's, else ``"NAME=a"``).
    output : str, optional
        The outcome compared (default the table's, else the first key output).
    year : float, optional
        When the regimes are compared (default the table's, else FINAL TIME).
    scenario : str, optional
        Scenario of the other constants (default the table's, else
        ``baseline`` if the model has one).
    progress : bool
        Show the ensemble engine's progress bar.
    workers : int, optional
        Worker processes of the ensemble engine.

    Returns
    -------
    RegimeMap

    Raises
    ------
    UnknownNameError, InvalidValueError
    """
    from sdrev import ensemble
    from sdrev.model import Model, load
    from sdrev.scenario import run_settings

    if not isinstance(model, Model):
        model = load(model)
    d = compare_defaults(model)
    x = x or d.x
    y = y or d.y
    if x is None or y is None:
        raise InvalidValueError(
            f"model {model.name} documents no regime-map conditions ([compare] x and y); "
            "give both, e.g. --regime-map 'IP Protection=0:1' 'Inter Firm Trust=0:1'")
    regime = model.parameter(regime_param or d.regime_parameter or "IO Regime")
    regimes = tuple(float(r) for r in (regimes or d.regimes or (0.0, 1.0)))
    if len(regimes) != 2 or regimes[0] == regimes[1]:
        raise InvalidValueError(f"regimes must be two different values, got {regimes}")
    if labels is None:
        labels = d.regime_labels if d.regime_labels and regimes == tuple(d.regimes or ()) \
            else tuple(f"{regime.name}={r:g}" for r in regimes)
    var = _variable(model, output or d.output or model.key_outputs[0])
    nx, ny = _grid(grid or d.grid or (50, 50))
    if scenario is None:
        scenario = d.scenario or ("baseline" if "baseline" in model.scenarios else None)
    settings = run_settings(model, scenario=scenario)
    t0, t1 = model.time.initial, model.time.final
    year = float(year if year is not None else (d.year if d.year is not None else t1))
    if not t0 < year <= t1:
        raise InvalidValueError(f"year {year:g} must be within the horizon {t0:g}-{t1:g}")
    axes = []
    for name, lo, hi in (x, y):
        param = model.parameter(name)
        if param.name == regime.name:
            raise InvalidValueError(f"{param.name} is the regime parameter; map two other "
                                    "conditions")
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise InvalidValueError(f"range of {param.name} must be lo < hi, got {lo}:{hi}")
        axes.append(Axis(param.name, tuple(np.linspace(float(lo), float(hi),
                                                       nx if not axes else ny).tolist()),
                         param.units))
    ax_x, ax_y = axes
    if ax_x.name == ax_y.name:
        raise InvalidValueError("x and y must be two different conditions")
    gx, gy = np.meshgrid(np.asarray(ax_x.values), np.asarray(ax_y.values), indexing="ij")
    frames = []
    for r in regimes:
        frame = pd.DataFrame({ax_x.name: gx.ravel(), ax_y.name: gy.ravel(), regime.name: r})
        for name, value in settings.params.items():
            if name not in frame:
                frame[name] = value
        frames.append(frame)
    samples = pd.concat(frames, ignore_index=True)
    start = _time.perf_counter()
    data = ensemble.run(model, samples, outputs=[var.name], progress=progress,
                        workers=workers)
    seconds = _time.perf_counter() - start
    values = np.asarray(data[var.py_name].values, dtype=float)
    if not np.isfinite(values).all():
        raise InvalidValueError(f"{var.name} is not finite in some runs of the map; "
                                "narrow the ranges")
    values = values.reshape(2, nx, ny, -1)
    bx = settings.params.get(ax_x.name, model.parameter(ax_x.name).value)
    by = settings.params.get(ax_y.name, model.parameter(ax_y.name).value)
    base = None
    if isinstance(bx, float) and isinstance(by, float) and ax_x.lo <= bx <= ax_x.hi \
            and ax_y.lo <= by <= ax_y.hi:
        base = (bx, by)
    return RegimeMap(model=model.name, model_sha256=model.sha256, scenario=scenario,
                     regime_param=regime.name, regimes=regimes, labels=tuple(labels),
                     output=var.name, units=var.units, year=year, x=ax_x, y=ax_y,
                     times=np.asarray(data["time"].values, dtype=float), values=values,
                     base=base, engine=str(data.attrs.get("engine", "sdrev")),
                     seconds=round(seconds, 3))


# -- plain text ----------------------------------------------------------------------

def summary_text(comparison: Comparison | None = None,
                 regime_map: RegimeMap | None = None) -> str:
    """The metrics table, leader changes and regime-map summary as plain text."""
    lines = []
    if comparison is not None:
        cols = ["output", "label", "final_value", "threshold", "time_to_threshold",
                "area_between", "net_area", "rank_final"]
        table = comparison.metrics[cols].copy()
        table["output"] = [f"{o} ({comparison.units.get(o) or 'Dmnl'})" for o in table["output"]]
        lines.append(f"Scenarios of {comparison.model} (areas vs "
                     f"{comparison.runs[0].label!r}, output units x {comparison.time_units}):")
        lines.append(table.to_string(index=False, float_format=lambda v: f"{v:.4g}",
                                     na_rep="never"))
        lines.append("")
        if len(comparison.leader_changes):
            for r in comparison.leader_changes.itertuples(index=False):
                lines.append(f"{r.output}: {r.after!r} overtakes {r.before!r} in {r.year:.1f}")
        else:
            lines.append("The leading scenario never changes.")
    if regime_map is not None:
        s = regime_map.summary()
        a, b = regime_map.labels
        if lines:
            lines.append("")
        lines.append(
            f"Regime map of {regime_map.model}: {regime_map.regime_param} "
            f"{regime_map.regimes[0]:g} ({a}) vs {regime_map.regimes[1]:g} ({b}) over "
            f"{regime_map.x.name} [{regime_map.x.lo:g}, {regime_map.x.hi:g}] x "
            f"{regime_map.y.name} [{regime_map.y.lo:g}, {regime_map.y.hi:g}], "
            f"{s['grid'][0]}x{s['grid'][1]} grid, {regime_map.runs} runs "
            f"({regime_map.seconds:.1f} s, {regime_map.engine})")
        lines.append(f"  higher {regime_map.output} in {regime_map.year:g}: {a} "
                     f"{s['share_first_ahead']:.0%}, {b} {s['share_second_ahead']:.0%}; "
                     f"boundary {'inside the map' if s['boundary_points'] else 'absent'}")
        lines.append(f"  at {regime_map.times[-1]:g}: {b} ahead in "
                     f"{s['share_second_ahead_at_end']:.0%}")
        if s["crossover_points"]:
            lines.append(f"  the leader changes at {s['crossover_points']} grid points, in "
                         f"{s['crossover_min']:.1f}-{s['crossover_max']:.1f} "
                         f"(median {s['crossover_median']:.1f})")
    return "\n".join(lines)


# -- run folders ---------------------------------------------------------------------

def write(folder: Path, model: Model, *, comparison: Comparison | None = None,
          regime_map: RegimeMap | None = None, command: str = "",
          figures: bool = True, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write a comparison and/or a regime map into a new run folder, atomically.

    Files: ``comparison.json``, ``trajectories.csv`` (long: time, output,
    label, value), ``metrics.csv``, ``leader_changes.csv``;
    ``regime_map.nc`` (netCDF: the output per regime, grid point and time)
    and ``regime_map.json`` (the map's settings and summary); ``figures/``;
    ``manifest.json``. :func:`read` reads the folder back.

    Returns
    -------
    list of Path
        The files written, under their final names.

    Raises
    ------
    OutputError
        If ``folder`` exists and is not empty, or cannot be written.
    """
    from sdrev import runs
    from sdrev.scenario import run_settings

    if comparison is None and regime_map is None:
        raise InvalidValueError("nothing to write: give a comparison or a regime map")
    folder = Path(folder)
    written: list[str] = []
    with runs.staged_folder(folder) as stage:
        if comparison is not None:
            written += _write_comparison(stage, comparison)
        if regime_map is not None:
            written += _write_regime_map(stage, regime_map)
        if figures:
            from sdrev.report.compare_figures import write_compare_figures
            paths = write_compare_figures(stage / "figures", comparison=comparison,
                                          regime_map=regime_map, formats=formats)
            written += [str(p.relative_to(stage)) for p in paths]
        extra = {"analysis": "compare", "files": written}
        if comparison is not None:
            extra["comparison"] = {"runs": [_run_dict(r) for r in comparison.runs],
                                   "outputs": list(comparison.outputs)}
        if regime_map is not None:
            extra["regime_map"] = _map_settings(regime_map)
        scenario = regime_map.scenario if regime_map is not None else None
        runs.write_json(stage / "manifest.json", runs.manifest(
            model, run_settings(model, scenario=scenario), command=command, extra=extra))
    return [folder / name for name in written] + [folder / "manifest.json"]


def _run_dict(run: ComparedRun) -> dict:
    return {"label": run.label, "scenario": run.scenario, "params": dict(run.params)}


def _write_comparison(stage: Path, comp: Comparison) -> list[str]:
    from sdrev import runs
    long = comp.trajectories.stack(["output", "label"], future_stack=True)
    long = long.rename("value").reset_index()[["time", "output", "label", "value"]]
    long.to_csv(stage / "trajectories.csv", index=False)
    comp.metrics.to_csv(stage / "metrics.csv", index=False)
    comp.leader_changes.to_csv(stage / "leader_changes.csv", index=False)
    runs.write_json(stage / "comparison.json", {
        "model": comp.model, "model_sha256": comp.model_sha256,
        "runs": [_run_dict(r) for r in comp.runs], "outputs": list(comp.outputs),
        "units": dict(comp.units), "thresholds": dict(comp.thresholds),
        "time_units": comp.time_units})
    return ["comparison.json", "trajectories.csv", "metrics.csv", "leader_changes.csv"]


def _map_settings(rmap: RegimeMap) -> dict:
    return {"model": rmap.model, "model_sha256": rmap.model_sha256,
            "scenario": rmap.scenario, "regime_param": rmap.regime_param,
            "regimes": list(rmap.regimes), "labels": list(rmap.labels),
            "output": rmap.output, "units": rmap.units, "year": rmap.year,
            "x": {"name": rmap.x.name, "lo": rmap.x.lo, "hi": rmap.x.hi,
                  "n": len(rmap.x.values), "units": rmap.x.units},
            "y": {"name": rmap.y.name, "lo": rmap.y.lo, "hi": rmap.y.hi,
                  "n": len(rmap.y.values), "units": rmap.y.units},
            "base": list(rmap.base) if rmap.base else None, "runs": rmap.runs,
            "engine": rmap.engine, "seconds": rmap.seconds, "time_units": rmap.time_units}


def _write_regime_map(stage: Path, rmap: RegimeMap) -> list[str]:
    import xarray as xr

    from sdrev import runs
    ds = xr.Dataset(
        {"value": (("regime", "x", "y", "time"), rmap.values)},
        coords={"regime": list(rmap.regimes), "x": list(rmap.x.values),
                "y": list(rmap.y.values), "time": rmap.times},
        attrs={"settings": json.dumps(_map_settings(rmap))})
    ds.to_netcdf(stage / "regime_map.nc", engine="scipy")
    runs.write_json(stage / "regime_map.json", {**_map_settings(rmap),
                                                "summary": rmap.summary()})
    return ["regime_map.nc", "regime_map.json"]


def read(folder: str | Path) -> tuple[Comparison | None, RegimeMap | None]:
    """Read a run folder written by :func:`write` (``sdrev compare``).

    Returns
    -------
    (Comparison or None, RegimeMap or None)

    Raises
    ------
    ModelNotFoundError
        If the folder holds neither.
    """
    from sdrev.errors import ModelNotFoundError

    folder = Path(folder)
    comp = rmap = None
    if (folder / "comparison.json").is_file():
        info = json.loads((folder / "comparison.json").read_text(encoding="utf-8"))
        long = pd.read_csv(folder / "trajectories.csv")
        traj = long.pivot_table(index="time", columns=["output", "label"], values="value",
                                sort=False)
        runs_ = tuple(ComparedRun(r["label"], r["scenario"], MappingProxyType(r["params"]))
                      for r in info["runs"])
        traj = traj.reindex(columns=pd.MultiIndex.from_product(
            [info["outputs"], [r.label for r in runs_]], names=["output", "label"]))
        metrics = pd.read_csv(folder / "metrics.csv", keep_default_na=True)
        metrics["scenario"] = metrics["scenario"].astype(object).where(
            metrics["scenario"].notna(), None)
        comp = Comparison(
            model=info["model"], model_sha256=info["model_sha256"], runs=runs_,
            outputs=tuple(info["outputs"]), units=MappingProxyType(info["units"]),
            trajectories=traj, metrics=metrics,
            leader_changes=pd.read_csv(folder / "leader_changes.csv"),
            thresholds=MappingProxyType(info["thresholds"]),
            time_units=info.get("time_units", "Year"))
    if (folder / "regime_map.nc").is_file():
        import xarray as xr
        with xr.open_dataset(folder / "regime_map.nc", engine="scipy") as ds:
            ds = ds.load()
        s = json.loads(ds.attrs["settings"])
        rmap = RegimeMap(
            model=s["model"], model_sha256=s["model_sha256"], scenario=s["scenario"],
            regime_param=s["regime_param"], regimes=tuple(s["regimes"]),
            labels=tuple(s["labels"]), output=s["output"], units=s["units"], year=s["year"],
            x=Axis(s["x"]["name"], tuple(float(v) for v in ds["x"].values), s["x"]["units"]),
            y=Axis(s["y"]["name"], tuple(float(v) for v in ds["y"].values), s["y"]["units"]),
            times=np.asarray(ds["time"].values, dtype=float),
            values=np.asarray(ds["value"].values, dtype=float),
            base=tuple(s["base"]) if s.get("base") else None, engine=s["engine"],
            seconds=s["seconds"], time_units=s.get("time_units", "Year"))
    if comp is None and rmap is None:
        raise ModelNotFoundError(f"{str(folder)!r} holds no comparison or regime map "
                                 "(written by `sdrev compare`)")
    return comp, rmap
