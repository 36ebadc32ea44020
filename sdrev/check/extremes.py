"""Extreme conditions (Sterman 2000, ch. 21.4.4): the model stays meaningful.

Every constant of the model (the control variables excepted) is set, one at
a time on top of the baseline scenario, to

- 0, where its documented range includes 0 or it documents none;
- each end of its documented range;
- 10 times its default (for a subscripted constant, 10 times its largest
  element, set on every element);

and the constants with a documented range are also sampled jointly, a Latin
hypercube of ``samples`` runs (seeded) over their ranges. Every run must
finish (no crash), keep every stock, flow and auxiliary finite (no NaN,
no infinity) and keep every stock the model declares non-negative at or
above 0 (``NEGATIVE_TOLERANCE`` allows for rounding).

A stock declares itself non-negative by a range minimum of 0 or more in its
Vensim units field, e.g. ``~ person [0,?]`` (see ``models/README.md``).

All runs go to the ensemble engine in one call (one more per subscripted
constant, whose default cannot be filled in for the other runs); a call
that crashes is re-run setting by setting to find the runs that crash.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sdrev.check.base import CheckResult, Finding, declared_limits

if TYPE_CHECKING:
    from sdrev.check.base import Session

__all__ = ["NAME", "NEGATIVE_TOLERANCE", "SUMMARY", "check", "settings"]

NAME = "extremes"
SUMMARY = "every constant at 0, its range ends and 10x, and jointly over ranges: no NaN, " \
          "no negative non-negative stock, no crash"

#: A declared non-negative stock fails below ``-NEGATIVE_TOLERANCE`` x its
#: largest absolute value in the run (and below ``-NEGATIVE_TOLERANCE`` when that is below 1).
NEGATIVE_TOLERANCE = 1e-9


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def settings(session: Session) -> list[tuple[str, dict[str, float]]]:
    """The extreme-condition runs: ``(label, constants)`` pairs.

    One-at-a-time settings first, then the joint Latin hypercube over the
    documented ranges (labelled ``joint sample i``), each on top of the
    baseline scenario.
    """
    from sdrev import ensemble

    base = session.row(session.default_scenario)
    out = []
    ranges = {}
    for p in session.model.parameters:
        default = base.get(p.name, p.value)
        values = []
        if p.range is None or p.range[0] <= 0 <= p.range[1]:
            values.append((0.0, ""))
        if p.range is not None:
            values += [(p.range[0], "range minimum"), (p.range[1], "range maximum")]
            if p.range[0] < p.range[1]:
                ranges[p.name] = p.range
        if isinstance(default, Mapping):
            ten = 10 * max(default.values(), key=abs)
            values.append((ten, "10x its largest element"))
        else:
            values.append((10 * float(default), "10x default"))
        seen = set()
        for value, why in values:
            if value in seen:
                continue
            seen.add(value)
            label = f"{p.name} = {_fmt(value)}" + (f" ({why})" if why else "")
            out.append((label, {**base, p.name: float(value)}))
    if ranges and session.options.samples > 0:
        sample = ensemble.sample_lhs(ranges, session.options.samples, seed=session.options.seed)
        for i, row in enumerate(sample.to_dict("records")):
            out.append((f"joint sample {i} of {len(sample)} (seed {session.options.seed})",
                        {**base, **row}))
    return out


def _problems(data, names: dict[str, str], non_negative: set[str]) -> list[list[str]]:
    """What goes wrong in each run of ``data``: one list of messages per run.

    ``names`` maps the Python names of the outputs to their Vensim names.
    """
    import numpy as np

    times = np.asarray(data["time"].values, dtype=float)
    n = data.sizes["run"]
    bad: list[list[tuple[float, str]]] = [[] for _ in range(n)]
    negative: list[list[str]] = [[] for _ in range(n)]
    for var in names:
        block = np.asarray(data[var].values, dtype=float).reshape(n, len(times), -1)
        finite = np.isfinite(block).all(axis=2)
        for r in np.flatnonzero(~finite.all(axis=1)):
            bad[r].append((times[int(np.argmax(~finite[r]))], names[var]))
        if var not in non_negative:
            continue
        with np.errstate(invalid="ignore"):
            clean = np.where(np.isfinite(block), block, 0.0)
            scale = np.maximum(1.0, np.abs(clean).max(axis=(1, 2)))
            low = clean.min(axis=2)
        for r in np.flatnonzero(low.min(axis=1) < -NEGATIVE_TOLERANCE * scale):
            k = int(np.argmin(low[r]))
            negative[r].append(f"non-negative stock {names[var]} falls to {low[r, k]:.4g} "
                               f"at t={times[k]:g}")
    out = []
    for run in range(n):
        found = []
        if bad[run]:
            hits = sorted(bad[run])
            shown = ", ".join(v for _, v in hits[:4]) + (
                f" and {len(hits) - 4} more" if len(hits) > 4 else "")
            found.append(f"NaN or infinity in {shown} from t={hits[0][0]:g}")
        out.append(found + negative[run])
    return out


def check(session: Session) -> CheckResult:
    """Run the extreme-conditions check on ``session.model``."""
    start = time.perf_counter()
    model = session.model
    runs = settings(session)
    variables = [v for v in model.variables if v.kind in ("stock", "flow", "auxiliary")]
    if not runs or not variables:
        return CheckResult(NAME, "skip", "the model has no constant to vary or no variable "
                           "to watch", seconds=time.perf_counter() - start)
    outputs = [v.name for v in variables]
    py = {v.name: v.py_name for v in variables}
    limits = declared_limits(model)
    declared = {v.name for v in model.stocks
                if (lo := limits.get(v.name, (None, None))[0]) is not None and lo >= 0}
    non_negative = {py[n] for n in declared}
    names = {py[n]: n for n in outputs}
    findings = []
    rows = [row for _, row in runs]
    crashed: dict[int, str] = {}
    try:
        data = session.run(rows, outputs)
    except Exception:  # noqa: BLE001 - PySD's run errors too: find the runs that crash
        data = None
    if data is None:
        problems_of = {}
        for i, row in enumerate(rows):
            try:
                problems_of[i] = _problems(session.run([row], outputs), names, non_negative)[0]
            except Exception as exc:  # noqa: BLE001 - a crash is what we look for
                crashed[i] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
    else:
        problems_of = dict(enumerate(_problems(data, names, non_negative)))
    one_at_a_time = sum(not label.startswith("joint") for label, _ in runs)
    failing = 0
    for i, (label, _) in enumerate(runs):
        problems = ([f"the run crashes ({crashed[i]})"] if i in crashed
                    else problems_of[i])
        if problems:
            failing += 1
            findings.append(Finding("failure", label, f"{label}: {'; '.join(problems)}"))
    if not declared:
        findings.append(Finding("note", "", "no stock declares itself non-negative (a range "
                                "minimum of 0 in its units field, e.g. [0,?])"))
    what = (f"{one_at_a_time} one-at-a-time settings of {len(model.parameters)} constants and "
            f"{len(runs) - one_at_a_time} joint samples; {len(declared)} non-negative stocks")
    elapsed = time.perf_counter() - start
    if failing:
        return CheckResult(NAME, "fail", f"{failing} of {len(runs)} runs fail ({what})",
                           tuple(findings), elapsed)
    return CheckResult(NAME, "pass", f"all {len(runs)} runs finite ({what})", tuple(findings),
                       elapsed)
