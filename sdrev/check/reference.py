"""Behaviour reproduction: the model against what the paper reports.

Two kinds of reference behaviour are checked on runs of the model:

(a) Observed numbers, the long observation table (``data/<model>.csv`` for a
    library model, :mod:`sdrev.observations`), each on a run of its ``case``
    (empty: the baseline scenario):

    - ``value``: the model's value at ``time`` lies within
      :data:`SD_FACTOR` x ``sd`` of the observed value (without an ``sd``,
      within :data:`RELATIVE_TOLERANCE` of it);
    - ``upper_bound`` / ``lower_bound``: the model's value at ``time`` is on
      the reported side (or equal);
    - ``first_crossing``: the model first reaches ``value`` (rising to it when
      it starts below, falling to it when it starts above) within
      :data:`SD_FACTOR` x ``sd`` of ``time`` (without an ``sd``, within
      :data:`TIME_TOLERANCE` time units).

(b) Qualitative reference modes, the ``[[reference]]`` tables of the model's
    TOML (:mod:`sdrev.check.modes`: S-shapes, peak times, orders of
    scenarios, of crossings and of loop dominance, comparisons).

Passes when every reference behaviour holds; skipped when the model has
none. :func:`behaviours` evaluates them all on runs with extra constants
set, which the ``mechanisms`` check uses for its knockouts.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdrev.check.base import CheckResult, Finding, data_path
from sdrev.check.modes import (Reference, Verdict, evaluate, evaluate_dominance, outputs_of,
                               read_references)

if TYPE_CHECKING:
    from sdrev.check.base import Session
    from sdrev.observations import Observation

__all__ = ["NAME", "RELATIVE_TOLERANCE", "SD_FACTOR", "SUMMARY", "TIME_TOLERANCE",
           "Behaviours", "behaviours", "check", "evaluate_observation", "load_behaviours"]

NAME = "reference"
SUMMARY = "observed numbers (data table) and reference modes ([[reference]]) reproduced"

#: A point or a crossing time passes within this many standard deviations.
SD_FACTOR = 2.0
#: Tolerance of a point without ``sd``: this share of the observed value.
RELATIVE_TOLERANCE = 0.10
#: Tolerance of a crossing time without ``sd``, in the model's time units.
TIME_TOLERANCE = 1.0


@dataclass(frozen=True)
class Behaviours:
    """A model's reference behaviours: observations and reference modes."""

    observations: tuple[Observation, ...]
    references: tuple[Reference, ...]
    data_file: str = ""

    def __len__(self) -> int:
        return len(self.observations) + len(self.references)


def load_behaviours(session: Session) -> Behaviours:
    """Read the model's observation table (if any) and ``[[reference]]`` tables
    (once per session).

    Raises
    ------
    InvalidValueError, UnknownNameError, ModelNotFoundError
        For a bad table or reference (naming the file and the entry).
    """
    from sdrev.observations import read_observations

    if "behaviours" not in session.analyses:
        path = data_path(session.model, session.options.data)
        observations = read_observations(path, model=session.model) if path else ()
        session.analyses["behaviours"] = Behaviours(
            tuple(observations), read_references(session.model), str(path) if path else "")
    return session.analyses["behaviours"]


def _scenario_of(session: Session, obs: Observation) -> str | None:
    return obs.case or session.default_scenario


def evaluate_observation(obs: Observation, times, values) -> Verdict:
    """Whether the trajectory ``(times, values)`` reproduces ``obs``."""
    import numpy as np

    from sdrev.measures import first_crossing, value_at

    label = f"data line {obs.row}"
    head = f"{obs.variable}" + (f" ({obs.case})" if obs.case else "")
    values = np.asarray(values, dtype=float)
    if obs.kind == "first_crossing":
        direction = "up" if values[0] < obs.value else "down"
        tc = float(first_crossing(times, values[None, :], obs.value, direction=direction)[0])
        tol = SD_FACTOR * obs.sd if obs.sd is not None else TIME_TOLERANCE
        if not math.isfinite(tc):
            return Verdict(label, False, f"{head} never reaches {obs.value:g} (observed at "
                           f"{obs.time:g}; {obs.source})")
        ok = abs(tc - obs.time) <= tol
        return Verdict(label, ok, f"{head} reaches {obs.value:g} at {tc:.4g}, observed "
                       f"{obs.time:g} +/- {tol:g}" + ("" if ok else f" ({obs.source})"))
    x = float(value_at(times, values[None, :], obs.time)[0])
    if obs.kind == "value":
        tol = SD_FACTOR * obs.sd if obs.sd is not None else RELATIVE_TOLERANCE * abs(obs.value)
        ok = abs(x - obs.value) <= tol
        return Verdict(label, bool(ok), f"{head} at {obs.time:g}: model {x:.4g}, observed "
                       f"{obs.value:g} +/- {tol:.3g}" + ("" if ok else f" ({obs.source})"))
    upper = obs.kind == "upper_bound"
    ok = x <= obs.value if upper else x >= obs.value
    return Verdict(label, bool(ok), f"{head} at {obs.time:g}: model {x:.4g}, reported "
                   f"{'at most' if upper else 'at least'} {obs.value:g}"
                   + ("" if ok else f" ({obs.source})"))


def behaviours(session: Session, found: Behaviours,
               overrides: Sequence[Mapping[str, float]] = ({},)) -> list[list[Verdict]]:
    """Evaluate every reference behaviour once per set of ``overrides``.

    All runs (every scenario the behaviours need, times every set of
    overrides) are made in one call of the ensemble engine; a
    ``dominance_order`` reference takes a loop analysis of its run.

    Parameters
    ----------
    session : Session
    found : Behaviours
    overrides : sequence of mapping
        Constants set on top of each behaviour's scenario (``{}``: the model
        as it is; ``{"X Loop Gain": 0}``: a knockout).

    Returns
    -------
    list of list of Verdict
        One list per set of overrides, observations first, then references,
        in file order.
    """
    import numpy as np

    needed: dict[str | None, set[str]] = {}
    for obs in found.observations:
        needed.setdefault(_scenario_of(session, obs), set()).add(obs.variable)
    for ref in found.references:
        if ref.kind == "dominance_order":
            continue
        for scenario in ref.scenarios:
            needed.setdefault(scenario, set()).update(outputs_of(ref, session.model))
    scenarios = list(needed)
    names = sorted({n for group in needed.values() for n in group})
    rows = [session.row(s, ov) for ov in overrides for s in scenarios]
    data = session.run(rows, session.output_names(names)) if rows and names else None
    times = np.asarray(data["time"].values, dtype=float) if data is not None else None
    out = []
    for k, ov in enumerate(overrides):
        cache: dict = {}

        def get(scenario, name, k=k, cache=cache):
            if name not in cache:
                cache[name] = session.series(data, name)
            i = k * len(scenarios) + scenarios.index(scenario)
            return times, cache[name][i]

        def row_of(scenario, k=k):
            return rows[k * len(scenarios) + scenarios.index(scenario)]

        verdicts = [evaluate_observation(obs, *get(_scenario_of(session, obs), obs.variable))
                    for obs in found.observations]
        for ref in found.references:
            if ref.kind == "dominance_order":
                verdicts.append(evaluate_dominance(ref, session, ov))
            else:
                verdicts.append(evaluate(ref, session, get, row_of))
        out.append(verdicts)
    return out


def check(session: Session) -> CheckResult:
    """Run the reference check on ``session.model``."""
    start = _time.perf_counter()
    found = load_behaviours(session)
    if not len(found):
        return CheckResult(NAME, "skip", (
            f"{session.model.name} declares no reference behaviour (no [[reference]] in "
            f"{session.model.path.with_suffix('.toml').name}, no observation table)"),
            seconds=_time.perf_counter() - start)
    verdicts = behaviours(session, found)[0]
    findings = tuple(Finding("pass" if v.passed else "failure", v.id, v.message)
                     for v in verdicts)
    failed = [v for v in verdicts if not v.passed]
    what = (f"{len(found.observations)} observation(s)"
            + (f" from {found.data_file.rsplit('/', 1)[-1]}" if found.data_file else "")
            + f" and {len(found.references)} reference mode(s)")
    elapsed = _time.perf_counter() - start
    if failed:
        return CheckResult(NAME, "fail", f"{len(failed)} of {len(verdicts)} not reproduced "
                           f"({what})", findings, elapsed)
    return CheckResult(NAME, "pass", f"all {len(verdicts)} reproduced ({what})", findings,
                       elapsed)
