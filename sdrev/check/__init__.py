"""Check stage: a model-validity battery (Sterman 2000, ch. 21; Barlas 1996).

One module per check, all with the same shape (``NAME``, ``SUMMARY``,
``check(session) -> CheckResult``; see :mod:`sdrev.check.run`)::

    units       dimensional consistency (pysimlin's unit checker)
    extremes    every constant at 0, its range ends and 10x, and jointly over
                the ranges: no NaN or infinity, no negative non-negative stock,
                no crash
    dt          halving TIME STEP moves no stock by more than 1% of its range
    mechanisms  knocking out each documented loop changes a reference behaviour
    reference   observed numbers (data/<model>.csv) and [[reference]] modes
                (modes: the format of [[reference]] tables) reproduced

:func:`run` runs them and returns a frozen :class:`CheckReport`.

Examples
--------
>>> import sdrev.check                                       # doctest: +SKIP
>>> report = sdrev.check.run("crrc_standards", only=["units", "dt"])
>>> print(report.text())
>>> report.result("dt").status
'pass'
"""

from sdrev.check.base import CheckOptions, CheckReport, CheckResult, Finding, Session
from sdrev.check.modes import KINDS as REFERENCE_KINDS
from sdrev.check.modes import Reference, Verdict, read_references
from sdrev.check.run import CHECKS, get, parse_only, run, write

__all__ = ["CHECKS", "REFERENCE_KINDS", "CheckOptions", "CheckReport", "CheckResult",
           "Finding", "Reference", "Session", "Verdict", "get", "parse_only",
           "read_references", "run", "write"]
