"""Dimensional consistency of every equation (Sterman 2000, ch. 21.4.1).

The checker is pysimlin's (Simlin's unit inference over the ``.mdl``), not
sdrev's own: every ``UNIT_MISMATCH`` it reports is a failure naming the
variable, its equation, the units the equation computes to and the units
the variable declares; units pysimlin cannot read at all (its other unit
error codes) are failures too. Variables and constants without units are
listed in a note: a finding, not a failure (Vensim treats them as
unchecked).

Passes when pysimlin finds no unit problem; skipped only when pysimlin
cannot read the model.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from sdrev.check.base import CheckResult, Finding

if TYPE_CHECKING:
    from sdrev.check.base import Session

__all__ = ["NAME", "SUMMARY", "check", "unit_issues"]

NAME = "units"
SUMMARY = "dimensional consistency of every equation (pysimlin's unit checker)"

_COMPUTED = re.compile(r"computes to units '(?P<rhs>[^']*)', but the variable's specified "
                       r"units are '(?P<lhs>[^']*)'")


def _key(name: str) -> str:
    return " ".join(str(name).replace("_", " ").split()).lower()


def unit_issues(session: Session) -> tuple[list[Finding], int]:
    """pysimlin's unit problems of the model, as failures.

    Returns
    -------
    findings : list of Finding
    unit_errors : int
        How many unit problems pysimlin reported.

    Raises
    ------
    simlin.SimlinError
        When pysimlin cannot read the model.
    """
    import simlin

    model = session.model
    names = {_key(v.name): v.name for v in model.variables}
    names.update({_key(p.name): p.name for p in model.parameters})
    sm = simlin.load(str(model.path))
    unit_codes = {code for code in simlin.ErrorCode if "UNIT" in code.name}
    findings = []
    count = 0
    for detail in sm.project.get_errors():
        if detail.code not in unit_codes:
            continue
        count += 1
        text = " ".join(str(detail.details or detail.message).split())
        if not detail.variable_name:  # inference over a group of variables
            findings.append(Finding("failure", "", f"unit inference: {text}"))
            continue
        name = names.get(_key(detail.variable_name), detail.variable_name)
        try:
            equation = " ".join(sm.get_variable(detail.variable_name).equation.split())
        except Exception:  # noqa: BLE001 - a variable pysimlin cannot show
            equation = "?"
        equation = equation.replace("_", " ")
        match = _COMPUTED.search(text)
        if match:
            message = (f"{name} = {equation}: the right side is in {match['rhs']}, "
                       f"the left side is declared in {match['lhs']}")
        else:
            message = f"{name} = {equation}: {text}"
        findings.append(Finding("failure", name, message))
    return findings, count


def check(session: Session) -> CheckResult:
    """Run the units check on ``session.model``."""
    start = time.perf_counter()
    import simlin

    model = session.model
    try:
        findings, count = unit_issues(session)
    except (simlin.SimlinError, OSError, ValueError) as exc:
        return CheckResult(NAME, "skip", "pysimlin cannot read the model: "
                           + " ".join(str(exc).split())[:200],
                           seconds=time.perf_counter() - start)
    missing = [v.name for v in model.variables
               if not v.units.strip() and v.kind in ("stock", "flow", "auxiliary")]
    missing += [p.name for p in model.parameters if not p.units.strip()]
    if missing:
        findings.append(Finding("note", "", f"{len(missing)} variable(s) without units: "
                                + ", ".join(missing)))
    equations = len(model.variables) + len(model.parameters)
    elapsed = time.perf_counter() - start
    if count:
        return CheckResult(NAME, "fail", f"{count} unit problem(s) among {equations} equations",
                           tuple(findings), elapsed)
    extra = f"; {len(missing)} without units" if missing else ""
    return CheckResult(NAME, "pass", f"{equations} equations dimensionally consistent{extra}",
                       tuple(findings), elapsed)
