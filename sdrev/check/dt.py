"""Integration error (Sterman 2000, ch. 21.4.6): the time step is small enough.

Every scenario of the model (or its own constants, when it has none) is run
at its TIME STEP and at half of it, saving at the model's SAVEPER. The check
fails when halving the step moves any stock (every element of a
subscripted stock), at any saved time, by more than :data:`RTOL` of that
stock's range over the run (max - min at the model's own step). A stock that
does not move at all may change by rounding only (:data:`ATOL` x its size).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sdrev.check.base import CheckResult, Finding

if TYPE_CHECKING:
    from sdrev.check.base import Session

__all__ = ["ATOL", "NAME", "RTOL", "SUMMARY", "check"]

NAME = "dt"
SUMMARY = "halving TIME STEP moves no stock by more than 1% of its range"

#: Largest change allowed, as a share of the stock's range over the run.
RTOL = 0.01
#: Change allowed for a stock whose range is 0, as a share of max(1, its size).
ATOL = 1e-9


def check(session: Session) -> CheckResult:
    """Run the integration-error check on ``session.model``."""
    import numpy as np

    start = time.perf_counter()
    model = session.model
    stocks = model.stocks
    if not stocks:
        return CheckResult(NAME, "skip", "the model has no stock",
                           seconds=time.perf_counter() - start)
    scenarios: list[str | None] = list(model.scenarios) or [None]
    rows = [session.row(s) for s in scenarios]
    names = [v.name for v in stocks]
    step = model.time.step
    coarse = session.run(rows, names)
    try:
        fine = session.run(rows, names, time_step=step / 2)
    except Exception as exc:  # noqa: BLE001 - a model that cannot run at a finer step
        return CheckResult(NAME, "fail", f"the model does not run at TIME STEP {step / 2:g}: "
                           f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
                           seconds=time.perf_counter() - start)
    tc = np.asarray(coarse["time"].values, dtype=float)
    tf = np.asarray(fine["time"].values, dtype=float)
    ic = [i for i, t in enumerate(tc) if np.isclose(tf, t, rtol=0, atol=step * 1e-6).any()]
    jf = [int(np.argmin(np.abs(tf - tc[i]))) for i in ic]
    findings = []
    worst = (0.0, "", None)
    for var in stocks:
        a = np.asarray(coarse[var.py_name].values, dtype=float)
        b = np.asarray(fine[var.py_name].values, dtype=float)
        a = a.reshape(a.shape[0], a.shape[1], -1)
        b = b.reshape(b.shape[0], b.shape[1], -1)
        for r, scenario in enumerate(scenarios):
            x, y = a[r], b[r][jf]
            x = x[ic]
            label = var.name + (f" ({scenario})" if scenario and len(scenarios) > 1 else "")
            if not (np.isfinite(x).all() and np.isfinite(y).all()):
                findings.append(Finding("failure", var.name,
                                        f"{label}: not finite at one of the two time steps"))
                continue
            span = a[r].max(axis=0) - a[r].min(axis=0)
            allowed = np.where(span > 0, RTOL * span,
                               ATOL * np.maximum(1.0, np.abs(a[r]).max(axis=0)))
            change = np.abs(y - x).max(axis=0)
            share = np.where(span > 0, change / np.where(span > 0, span, 1.0), 0.0)
            k = int(np.argmax(share))
            if share[k] > worst[0]:
                worst = (float(share[k]), label, None)
            if (change > allowed).any():
                k = int(np.argmax(change - allowed))
                at = tc[ic][int(np.argmax(np.abs(y - x)[:, k]))]
                findings.append(Finding("failure", var.name, (
                    f"{label}: halving TIME STEP ({step:g} -> {step / 2:g}) moves it by "
                    f"{change[k]:.4g}, {share[k]:.1%} of its range {span[k]:.4g} "
                    f"(largest at t={at:g})")))
    elapsed = time.perf_counter() - start
    what = f"{len(stocks)} stocks, {len(scenarios)} scenario(s), TIME STEP {step:g} vs {step / 2:g}"
    if findings:
        return CheckResult(NAME, "fail", f"{len(findings)} stock run(s) move by more than "
                           f"{RTOL:.0%} of their range ({what})", tuple(findings), elapsed)
    largest = f"; largest change {worst[0]:.2%} of range ({worst[1]})" if worst[1] else ""
    return CheckResult(NAME, "pass", what + largest, (), elapsed)
