"""Structure that matters: every documented mechanism changes a reference behaviour.

Each loop documented in the model's TOML (``[[loops]]`` with a ``gain``
parameter, ``... Loop Gain``) is knocked out by setting its gain to 0 on top
of every scenario, and the model's reference behaviours (observations and
``[[reference]]`` modes, :mod:`sdrev.check.reference`) are evaluated again.
A knockout *matters* when at least one behaviour that holds in the intact
model no longer holds, i.e. the knockout moves it beyond its tolerance. The
check fails for every documented loop whose knockout leaves all reference
behaviours holding: nothing the paper reports depends on that mechanism, so
it is either removed or given the reference that shows what it does.

Loops documented without a gain cannot be knocked out and are noted.
Skipped when the model documents no loop with a gain, or has no reference
behaviour that holds in the intact model to judge by. All knockout runs go
to the ensemble engine in one call.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from sdrev.check.base import CheckResult, Finding
from sdrev.check.reference import behaviours, load_behaviours

if TYPE_CHECKING:
    from sdrev.check.base import Session

__all__ = ["NAME", "SUMMARY", "check"]

NAME = "mechanisms"
SUMMARY = "knocking out each documented loop (gain 0) changes a reference behaviour"


def check(session: Session) -> CheckResult:
    """Run the mechanisms check on ``session.model``."""
    start = time.perf_counter()
    model = session.model
    loops = [loop for loop in model.loops if loop.gain]
    findings = [Finding("note", loop.id, f"loop {loop.id} ({loop.name}) has no gain "
                        "parameter and cannot be knocked out")
                for loop in model.loops if not loop.gain]
    if not loops:
        return CheckResult(NAME, "skip", f"{model.name} documents no loop with a gain "
                           "parameter ([[loops]] gain in its TOML)", tuple(findings),
                           time.perf_counter() - start)
    found = load_behaviours(session)
    if not len(found):
        return CheckResult(NAME, "skip", "no reference behaviour to judge knockouts by "
                           "(see the reference check)", tuple(findings),
                           time.perf_counter() - start)
    intact = behaviours(session, found)[0]
    n_obs = len(found.observations)
    keep = [i for i, v in enumerate(intact) if v.passed]
    if not keep:
        return CheckResult(NAME, "skip", f"none of the {len(intact)} reference behaviours "
                           "holds in the intact model (see the reference check)",
                           tuple(findings), time.perf_counter() - start)
    holding = replace(found, observations=tuple(found.observations[i] for i in keep
                                                if i < n_obs),
                      references=tuple(found.references[i - n_obs] for i in keep
                                       if i >= n_obs))
    gains = sorted({loop.gain for loop in loops})
    results = behaviours(session, holding, [{gain: 0.0} for gain in gains])
    idle = []
    for loop in loops:
        broken = [v for v in results[gains.index(loop.gain)] if not v.passed]
        if broken:
            findings.append(Finding("pass", loop.id, (
                f"{loop.id} ({loop.name}) knocked out: {len(broken)} behaviour(s) change, "
                f"e.g. {broken[0].message}")))
        else:
            idle.append(loop.id)
            findings.append(Finding("failure", loop.id, (
                f"{loop.id} ({loop.name}): {loop.gain} = 0 changes none of the "
                f"{len(keep)} reference behaviours that hold")))
    elapsed = time.perf_counter() - start
    if idle:
        return CheckResult(NAME, "fail", f"{len(idle)} of {len(loops)} documented loops "
                           f"change no reference behaviour when knocked out: "
                           f"{', '.join(idle)}", tuple(findings), elapsed)
    return CheckResult(NAME, "pass", f"each of {len(loops)} documented loops changes at least "
                       f"one of {len(keep)} reference behaviours", tuple(findings), elapsed)
