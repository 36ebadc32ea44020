"""Qualitative reference modes: the ``[[reference]]`` tables of a model's TOML.

A reference mode is a claim the paper makes about the model's behaviour,
checked against a run. Format (documented for modellers in
``models/README.md``)::

    [[reference]]
    id = "influence_s_shape"            # unique (default "<kind> <n>")
    kind = "s_shape"
    variable = "Standards Influence"    # "Name[element]" for one element
    scenario = "baseline"               # default "baseline" (else the model's constants)
    window = [2005, 2015]
    tolerance = 0.01
    source = "Zhou et al. (n.d.), section 4.2 and Fig. 3"   # required
    note = "optional words"

Kinds, their keys and when they pass:

``s_shape`` (``window`` optional, ``tolerance`` a fraction, default 0.01)
    The variable rises (end above start) and never falls by more than
    ``tolerance`` x its range; its slope between saved times rises to one
    peak and falls after it (each within ``tolerance`` x the peak slope),
    the peak strictly inside the run with the slopes at both ends below
    :data:`END_SLOPE_FRACTION` of it (an S, not exponential growth or
    saturation); the steepest time lies in ``window`` if given.
``peak_time`` (``window`` required, ``tolerance`` in time units, default 0)
    The maximum falls in ``window`` widened by ``tolerance`` and is above the
    first and the last value by :data:`PEAK_PROMINENCE` x the range or more.
``scenario_order`` (``scenarios`` list, ``time`` default FINAL TIME, ``margin``)
    At ``time`` the variable under each scenario exceeds it under the next
    by more than ``margin`` (variable's units, default 0).
``crossing_order`` (``variables`` list, ``threshold`` number or constant name,
or ``thresholds`` list; ``direction`` "up"/"down"; ``margin`` time units)
    Each variable first reaches its threshold within the run, in the listed
    order, each more than ``margin`` before the next.
``dominance_order`` (``loops`` list of documented ids, ``margin`` time units)
    Among the documented loops (:func:`sdrev.loops.analyze`, documented
    periods), each listed loop leads at some time and they first lead in the
    listed order, each more than ``margin`` before the next.
``greater_than``, ``less_than`` (``than`` variable or constant name, or
``value``; ``time`` default FINAL TIME; ``margin`` variable's units)
    At ``time`` the variable exceeds (is below) the other by more than ``margin``.

A reference must be able to fail: it may not name a constant or a variable
that depends on no stock (both only restate inputs), and a comparison with a
number that the variable's documented range implies is rejected as restating
a bound. Orderings never tolerate a reversal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdrev.check.base import split_element
from sdrev.errors import InvalidValueError, UnknownNameError, suggest

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from sdrev.check.base import Session
    from sdrev.model import Model

    #: ``get(scenario, name) -> (times, values)`` of one variable (or element)
    Getter = Callable[[str | None, str], tuple[np.ndarray, np.ndarray]]

__all__ = ["END_SLOPE_FRACTION", "KINDS", "PEAK_PROMINENCE", "Reference", "Verdict",
           "endogenous", "evaluate", "evaluate_dominance", "outputs_of", "parse_references",
           "read_references"]

#: Kinds of reference mode.
KINDS = ("s_shape", "peak_time", "scenario_order", "crossing_order", "dominance_order",
         "greater_than", "less_than")
#: ``s_shape``: the slopes at both ends of the run stay below this share of the peak slope.
END_SLOPE_FRACTION = 0.5
#: ``peak_time``: a peak rises above the first and last values by this share of the range.
PEAK_PROMINENCE = 0.05
_DEFAULT_TOLERANCE = {"s_shape": 0.01, "peak_time": 0.0}
_COMMON = {"id", "kind", "source", "note"}
_KEYS = {
    "s_shape": {"variable", "scenario", "window", "tolerance"},
    "peak_time": {"variable", "scenario", "window", "tolerance"},
    "scenario_order": {"variable", "scenarios", "time", "margin"},
    "crossing_order": {"variables", "scenario", "threshold", "thresholds", "direction",
                       "margin"},
    "dominance_order": {"loops", "scenario", "margin"},
    "greater_than": {"variable", "scenario", "than", "value", "time", "margin"},
    "less_than": {"variable", "scenario", "than", "value", "time", "margin"},
}


@dataclass(frozen=True)
class Reference:
    """One ``[[reference]]`` table, validated against the model.

    Attributes
    ----------
    id, kind, source, note : str
    variables : tuple of str
        The variable (or, for ``crossing_order``, the variables), Vensim
        names, with ``[element]`` where given.
    scenarios : tuple of (str or None)
        The scenario (or ``scenario_order``'s scenarios); ``None`` runs the
        model's own constants.
    time : float or None
    window : tuple of float or None
    tolerance, margin : float
    thresholds : tuple of (float or str)
        One per variable (a number, or a constant's Vensim name).
    direction : str
    than : str or None
        Vensim name of the variable or constant compared with.
    value : float or None
    loops : tuple of str
    """

    id: str
    kind: str
    variables: tuple[str, ...]
    scenarios: tuple[str | None, ...]
    source: str
    note: str = ""
    time: float | None = None
    window: tuple[float, float] | None = None
    tolerance: float = 0.0
    margin: float = 0.0
    thresholds: tuple[float | str, ...] = ()
    direction: str = "up"
    than: str | None = None
    value: float | None = None
    loops: tuple[str, ...] = ()

    def describe(self) -> str:
        """Short words for the reference: ``id (kind of variables)``."""
        what = ", ".join(self.loops or self.variables)
        return f"{self.id} ({self.kind.replace('_', ' ')} of {what})"


@dataclass(frozen=True)
class Verdict:
    """Whether one reference (or observation) holds in a run.

    Attributes
    ----------
    id : str
        The reference id, or ``"data line N"`` for an observation.
    passed : bool
    message : str
        What was measured against what was expected.
    """

    id: str
    passed: bool
    message: str


def read_references(model: Model) -> tuple[Reference, ...]:
    """The ``[[reference]]`` tables of ``model``'s TOML, validated.

    Raises
    ------
    InvalidValueError, UnknownNameError
        Naming the TOML file, the reference and the bad key or value.
    """
    from sdrev.library import read_metadata
    return parse_references(model, read_metadata(model.path).get("reference", ()))


def parse_references(model: Model, entries) -> tuple[Reference, ...]:
    """Validate ``[[reference]]`` entries (a list of tables) against ``model``."""
    where_file = model.path.with_suffix(".toml").name
    if isinstance(entries, Mapping) or not isinstance(entries, (list, tuple)):
        raise InvalidValueError(f"{where_file}: 'reference' must be an array of tables "
                                "([[reference]])")
    out: list[Reference] = []
    for n, entry in enumerate(entries, start=1):
        if not isinstance(entry, Mapping):
            raise InvalidValueError(f"{where_file}: reference {n} is not a table")
        kind = str(entry.get("kind", ""))
        ident = str(entry.get("id", f"{kind} {n}"))
        where = f"{where_file}: reference {ident!r}"
        if kind not in KINDS:
            raise InvalidValueError(f"{where}: unknown kind {kind!r}; valid kinds: "
                                    f"{', '.join(KINDS)}")
        unknown = set(entry) - _COMMON - _KEYS[kind]
        if unknown:
            key = sorted(unknown)[0]
            raise InvalidValueError(f"{where}: unknown key {key!r} for kind {kind}; valid "
                                    f"keys: {', '.join(sorted(_COMMON | _KEYS[kind]))}"
                                    + suggest(key, _COMMON | _KEYS[kind]))
        if any(r.id == ident for r in out):
            raise InvalidValueError(f"{where}: the id is used twice")
        out.append(_parse(model, entry, kind, ident, where))
    return tuple(out)


def _parse(model: Model, entry: Mapping, kind: str, ident: str, where: str) -> Reference:
    source = str(entry.get("source", "")).strip()
    if not source:
        raise InvalidValueError(f"{where}: 'source' is required (author (year) and where "
                                "in the paper the claim stands)")
    fields: dict = {"id": ident, "kind": kind, "source": source,
                    "note": str(entry.get("note", ""))}
    if kind == "scenario_order":
        scenarios = entry.get("scenarios")
        if not isinstance(scenarios, list) or len(scenarios) < 2:
            raise InvalidValueError(f"{where}: 'scenarios' must list two or more scenarios")
        fields["scenarios"] = tuple(_scenario(model, s, where) for s in scenarios)
    else:
        default = "baseline" if "baseline" in model.scenarios else None
        fields["scenarios"] = (_scenario(model, entry.get("scenario", default), where),)
    if kind == "crossing_order":
        names = entry.get("variables")
        if not isinstance(names, list) or len(names) < 2:
            raise InvalidValueError(f"{where}: 'variables' must list two or more variables")
        fields["variables"] = tuple(_variable(model, v, where) for v in names)
        fields["thresholds"] = _thresholds(model, entry, len(names), where)
        direction = entry.get("direction", "up")
        if direction not in ("up", "down"):
            raise InvalidValueError(f"{where}: direction must be 'up' or 'down', "
                                    f"got {direction!r}")
        fields["direction"] = direction
    elif kind == "dominance_order":
        loops = entry.get("loops")
        if not isinstance(loops, list) or len(loops) < 2:
            raise InvalidValueError(f"{where}: 'loops' must list two or more documented loops")
        ids = [loop.id for loop in model.loops]
        for loop in loops:
            if loop not in ids:
                raise UnknownNameError(f"{where}: {loop!r} is not a documented loop of "
                                       f"{model.name}; documented: {', '.join(ids) or 'none'}")
        fields["loops"] = tuple(str(x) for x in loops)
        fields["variables"] = ()
    else:
        if "variable" not in entry:
            raise InvalidValueError(f"{where}: 'variable' is required")
        fields["variables"] = (_variable(model, entry["variable"], where),)
    if "window" in entry or kind == "peak_time":
        fields["window"] = _window(model, entry.get("window"), where)
    if kind in _DEFAULT_TOLERANCE:
        fields["tolerance"] = _number(entry.get("tolerance", _DEFAULT_TOLERANCE[kind]),
                                      where, "tolerance", minimum=0)
    if "margin" in entry:
        fields["margin"] = _number(entry["margin"], where, "margin", minimum=0)
    if "time" in entry:
        fields["time"] = _time(model, entry["time"], where)
    if kind in ("greater_than", "less_than"):
        fields.update(_comparand(model, entry, fields["variables"][0], kind, where))
    for name in fields["variables"]:
        if not endogenous(model, split_element(name)[0]):
            raise InvalidValueError(f"{where}: {name} depends on no stock, so it only "
                                    "restates the model's inputs; a reference must be about "
                                    "what the model's structure makes of them")
    return Reference(**fields)


def endogenous(model: Model, name: str) -> bool:
    """Whether variable ``name`` is a stock or depends on one (``True`` also when
    the model's causal graph cannot be built)."""
    import networkx as nx

    from sdrev import loops
    from sdrev.ensemble import UnsupportedConstructError
    from sdrev.scenario import resolve_variable

    py = resolve_variable(model, name).py_name
    try:
        _, graph = loops.causal_structure(model.path)
    except UnsupportedConstructError:
        return True
    stocks = set(graph.stocks)
    nodes = [n for n in graph.graph.nodes if n == py or str(n).startswith(py + "[")]
    return any(n in stocks or nx.ancestors(graph.graph, n) & stocks for n in nodes)


def _number(raw, where: str, what: str, *, minimum: float | None = None) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise InvalidValueError(f"{where}: {what} must be a finite number, got {raw!r}")
    if minimum is not None and raw < minimum:
        raise InvalidValueError(f"{where}: {what} must be at least {minimum:g}, got {raw!r}")
    return float(raw)


def _time(model: Model, raw, where: str) -> float:
    value = _number(raw, where, "time")
    t0, t1 = model.time.initial, model.time.final
    if not t0 <= value <= t1:
        raise InvalidValueError(f"{where}: time {value:g} is outside the run [{t0:g}, {t1:g}]")
    return value


def _window(model: Model, raw, where: str) -> tuple[float, float]:
    if not isinstance(raw, list) or len(raw) != 2:
        raise InvalidValueError(f"{where}: 'window' must be [t0, t1], got {raw!r}")
    lo, hi = (_time(model, x, where) for x in raw)
    if not lo <= hi:
        raise InvalidValueError(f"{where}: window [{lo:g}, {hi:g}] must have t0 <= t1")
    return lo, hi


def _scenario(model: Model, name, where: str) -> str | None:
    if name is None:
        return None
    if name not in model.scenarios:
        raise UnknownNameError(f"{where}: unknown scenario {name!r}; scenarios: "
                               f"{', '.join(model.scenarios) or 'none'}")
    return str(name)


def _variable(model: Model, name, where: str) -> str:
    from sdrev.scenario import resolve_variable

    base, elements = split_element(str(name))
    if any(base.lower() == p.name.lower() or base == p.py_name for p in model.parameters):
        raise InvalidValueError(f"{where}: {base!r} is a constant (an input); a reference "
                                "must be about the model's behaviour")
    try:
        var = resolve_variable(model, base)
    except UnknownNameError as exc:
        raise UnknownNameError(f"{where}: {exc}") from None
    return var.name + (f"[{','.join(elements)}]" if elements else "")


def _thresholds(model: Model, entry: Mapping, count: int, where: str) -> tuple:
    if "thresholds" in entry:
        raw = entry["thresholds"]
        if not isinstance(raw, list) or len(raw) != count:
            raise InvalidValueError(f"{where}: 'thresholds' must list one threshold per "
                                    f"variable ({count})")
    elif "threshold" in entry:
        raw = [entry["threshold"]] * count
    else:
        raise InvalidValueError(f"{where}: 'threshold' (or 'thresholds') is required")
    out: list[float | str] = []
    for item in raw:
        if isinstance(item, str):
            try:
                out.append(model.parameter(item).name)
            except UnknownNameError as exc:
                raise UnknownNameError(f"{where}: threshold: {exc}") from None
        else:
            out.append(_number(item, where, "threshold"))
    return tuple(out)


def _comparand(model: Model, entry: Mapping, variable: str, kind: str, where: str) -> dict:
    from sdrev.check.base import declared_limits

    if ("than" in entry) == ("value" in entry):
        raise InvalidValueError(f"{where}: give either 'than' (a variable or constant) or "
                                "'value' (a number)")
    if "value" in entry:
        value = _number(entry["value"], where, "value")
        lo, hi = declared_limits(model).get(split_element(variable)[0], (None, None))
        implied = (kind == "greater_than" and lo is not None and value < lo) or (
            kind == "less_than" and hi is not None and value > hi)
        if implied:
            raise InvalidValueError(
                f"{where}: {variable} {kind.replace('_', ' ')} {value:g} restates its "
                f"documented range [{_bound(lo)}, {_bound(hi)}], so it cannot fail")
        return {"value": value}
    name = str(entry["than"])
    base = split_element(name)[0]
    if any(base.lower() == p.name.lower() or base == p.py_name for p in model.parameters):
        return {"than": model.parameter(base).name}
    return {"than": _variable(model, name, where)}


def _bound(value) -> str:
    return "?" if value is None else f"{value:g}"


# -- evaluation ---------------------------------------------------------------

def outputs_of(ref: Reference, model: Model) -> tuple[str, ...]:
    """The variables a run must save to evaluate ``ref``."""
    names = list(ref.variables)
    if ref.than and not any(p.name == ref.than for p in model.parameters):
        names.append(ref.than)
    return tuple(names)


def evaluate(ref: Reference, session: Session, get: Getter, row_of) -> Verdict:
    """Evaluate ``ref`` on runs already made.

    Parameters
    ----------
    ref : Reference
    session : Session
    get : callable
        ``get(scenario, name) -> (times, values)`` of one variable (or element).
    row_of : callable
        ``row_of(scenario) -> dict`` of the constants that run set.
    """
    try:
        if ref.kind == "s_shape":
            return _s_shape(ref, *get(ref.scenarios[0], ref.variables[0]))
        if ref.kind == "peak_time":
            return _peak_time(ref, *get(ref.scenarios[0], ref.variables[0]))
        if ref.kind == "scenario_order":
            return _scenario_order(ref, session, get)
        if ref.kind == "crossing_order":
            return _crossing_order(ref, session, get, row_of)
        if ref.kind in ("greater_than", "less_than"):
            return _compare(ref, session, get, row_of)
    except FloatingPointError as exc:  # pragma: no cover - numpy set to raise
        return Verdict(ref.id, False, f"{ref.describe()}: {exc}")
    raise InvalidValueError(f"reference {ref.id!r}: kind {ref.kind} is evaluated from a "
                            "loop analysis (see evaluate_dominance)")


def _at(times: np.ndarray, values: np.ndarray, time: float) -> float:
    from sdrev.measures import value_at
    return float(value_at(times, values[None, :], time)[0])


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _s_shape(ref: Reference, t: np.ndarray, y: np.ndarray) -> Verdict:
    import numpy as np

    head = ref.describe()
    if not np.all(np.isfinite(y)):
        return Verdict(ref.id, False, f"{head}: not finite")
    span = float(y.max() - y.min())
    if not y[-1] > y[0] or span <= 0:
        return Verdict(ref.id, False, f"{head}: does not rise ({_fmt(y[0])} -> {_fmt(y[-1])})")
    fall = float(np.max(np.maximum.accumulate(y) - y))
    if fall > ref.tolerance * span:
        return Verdict(ref.id, False, f"{head}: falls back by {_fmt(fall)}, "
                       f"{fall / span:.1%} of its range (tolerance {ref.tolerance:.1%})")
    slope = np.diff(y) / np.diff(t)
    k = int(np.argmax(slope))
    peak = float(slope[k])
    when = float((t[k] + t[k + 1]) / 2)
    if k in (0, len(slope) - 1) or slope[0] >= END_SLOPE_FRACTION * peak or (
            slope[-1] >= END_SLOPE_FRACTION * peak):
        return Verdict(ref.id, False, (
            f"{head}: steepest at {when:g}; slopes at the ends are {slope[0] / peak:.0%} and "
            f"{slope[-1] / peak:.0%} of the peak (an S needs both below "
            f"{END_SLOPE_FRACTION:.0%})"))
    before = float(np.max(np.maximum.accumulate(slope[:k + 1]) - slope[:k + 1]))
    after = float(np.max(slope[k:] - np.minimum.accumulate(slope[k:])))
    if max(before, after) > ref.tolerance * peak:
        return Verdict(ref.id, False, (
            f"{head}: more than one inflection (its slope "
            f"{'falls before' if before >= after else 'rises after'} the steepest time "
            f"{when:g} by {max(before, after) / peak:.1%} of the peak slope; tolerance "
            f"{ref.tolerance:.1%})"))
    if ref.window and not ref.window[0] <= when <= ref.window[1]:
        return Verdict(ref.id, False, f"{head}: inflection at {when:g}, outside "
                       f"[{ref.window[0]:g}, {ref.window[1]:g}]")
    return Verdict(ref.id, True, f"{head}: rises {_fmt(y[0])} -> {_fmt(y[-1])}, one "
                   f"inflection at {when:g}")


def _peak_time(ref: Reference, t: np.ndarray, y: np.ndarray) -> Verdict:
    import numpy as np

    head = ref.describe()
    if not np.all(np.isfinite(y)):
        return Verdict(ref.id, False, f"{head}: not finite")
    k = int(np.argmax(y))
    span = float(y.max() - y.min())
    assert ref.window is not None  # required for peak_time (parse_references)
    lo, hi = ref.window[0] - ref.tolerance, ref.window[1] + ref.tolerance
    if span <= 0 or y[k] - y[0] < PEAK_PROMINENCE * span or (
            y[k] - y[-1] < PEAK_PROMINENCE * span):
        return Verdict(ref.id, False, f"{head}: no peak (maximum {_fmt(y[k])} at {t[k]:g}; "
                       f"first {_fmt(y[0])}, last {_fmt(y[-1])})")
    if not lo <= t[k] <= hi:
        return Verdict(ref.id, False, f"{head}: peaks at {t[k]:g}, outside [{lo:g}, {hi:g}]")
    return Verdict(ref.id, True, f"{head}: peaks at {t[k]:g} ({_fmt(y[k])})")


def _scenario_order(ref: Reference, session: Session, get: Getter) -> Verdict:
    time = session.model.time.final if ref.time is None else ref.time
    values = [_at(*get(s, ref.variables[0]), time) for s in ref.scenarios]
    shown = " > ".join(f"{s} {_fmt(v)}" for s, v in zip(ref.scenarios, values))
    for a, b in zip(values, values[1:]):
        if not a - b > ref.margin:
            return Verdict(ref.id, False, f"{ref.describe()} at {time:g}: expected {shown}"
                           + (f" (margin {ref.margin:g})" if ref.margin else ""))
    return Verdict(ref.id, True, f"{ref.describe()} at {time:g}: {shown}")


def _crossing_order(ref: Reference, session: Session, get: Getter, row_of) -> Verdict:
    import numpy as np

    from sdrev.measures import first_crossing
    scenario = ref.scenarios[0]
    row = row_of(scenario)
    times = []
    for name, threshold in zip(ref.variables, ref.thresholds):
        level = (float(row.get(threshold, session.constant(threshold)))
                 if isinstance(threshold, str) else threshold)
        t, y = get(scenario, name)
        times.append((name, level, float(first_crossing(t, y[None, :], level,
                                                        direction=ref.direction)[0])))
    shown = ", ".join(f"{n} reaches {_fmt(lv)} at "
                      + (f"{tc:.4g}" if np.isfinite(tc) else "never") for n, lv, tc in times)
    ok = all(np.isfinite(tc) for _, _, tc in times) and all(
        b[2] - a[2] > ref.margin for a, b in zip(times, times[1:]))
    return Verdict(ref.id, bool(ok), f"{ref.describe()}: {shown}"
                   + ("" if ok else " (expected in this order)"))


def _compare(ref: Reference, session: Session, get: Getter, row_of) -> Verdict:
    scenario = ref.scenarios[0]
    time = session.model.time.final if ref.time is None else ref.time
    x = _at(*get(scenario, ref.variables[0]), time)
    than = ref.than
    if ref.value is not None:
        other, label = ref.value, _fmt(ref.value)
    else:
        assert than is not None  # a comparison names 'value' or 'than' (_comparand)
        if any(p.name == than for p in session.model.parameters):
            other = float(row_of(scenario).get(than, session.constant(than)))
        else:
            other = _at(*get(scenario, than), time)
        label = f"{than} ({_fmt(other)})"
    gap = x - other if ref.kind == "greater_than" else other - x
    word = ">" if ref.kind == "greater_than" else "<"
    ok = gap > ref.margin
    return Verdict(ref.id, bool(ok), f"{ref.variables[0]} at {time:g}: {_fmt(x)} "
                   f"{word if ok else 'not ' + word} {label}"
                   + (f" by more than {ref.margin:g}" if ref.margin else ""))


def evaluate_dominance(ref: Reference, session: Session,
                       overrides: Mapping[str, float] | None = None) -> Verdict:
    """Evaluate a ``dominance_order`` reference by a loop analysis of its run."""
    import numpy as np

    from sdrev import loops
    from sdrev.ensemble import UnsupportedConstructError

    scenario = ref.scenarios[0]
    params = dict(overrides or {})
    key = ("loops", scenario, tuple(sorted(params.items())))
    try:
        if key not in session.analyses:
            with np.errstate(all="ignore"):
                session.analyses[key] = loops.analyze(session.model, scenario=scenario,
                                                      params=params)
    except UnsupportedConstructError as exc:
        return Verdict(ref.id, False, f"{ref.describe()}: no loop analysis of this model "
                       f"({' '.join(str(exc).split())[:160]})")
    periods = session.analyses[key].documented_periods
    first = []
    for loop in ref.loops:
        starts = [float(p.start) for p in periods.itertuples(index=False)
                  if any(x == loop or x.startswith(loop + "[") for x in p.loops)]
        first.append(min(starts) if starts else math.nan)
    shown = ", ".join(f"{loop} first leads at " + (f"{t:g}" if math.isfinite(t) else "never")
                      for loop, t in zip(ref.loops, first))
    ok = all(math.isfinite(t) for t in first) and all(
        b - a > ref.margin for a, b in zip(first, first[1:]))
    return Verdict(ref.id, bool(ok), f"{ref.describe()}: {shown}"
                   + ("" if ok else " (expected in this order)"))
