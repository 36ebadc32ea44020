"""The battery: which checks exist, running them, writing their report.

Every check is a module of this package with the same shape (as SALib has
one module per method)::

    NAME: str                     # "units", "extremes", "dt", "mechanisms", "reference"
    SUMMARY: str                  # what it tests, one line
    check(session) -> CheckResult # run it on session.model

:func:`get` returns a check's module by name; :func:`run` runs the battery.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from sdrev.check.base import CheckOptions, CheckReport, Session
from sdrev.errors import InvalidValueError, suggest

if TYPE_CHECKING:
    from sdrev.model import Model

__all__ = ["CHECKS", "get", "parse_only", "run", "write"]

#: The checks, in the order they run.
CHECKS = ("units", "extremes", "dt", "mechanisms", "reference")


def parse_only(only: str | Iterable[str] | None) -> tuple[str, ...]:
    """The checks to run: ``None`` for all, or names (a list or ``"a,b"``).

    Raises
    ------
    InvalidValueError
        Naming the unknown check and the valid ones.
    """
    if only is None:
        return CHECKS
    names = [s.strip() for s in only.split(",")] if isinstance(only, str) else list(only)
    names = [n for n in names if n]
    if not names:
        raise InvalidValueError(f"no check named; valid checks: {', '.join(CHECKS)}")
    for name in names:
        if name not in CHECKS:
            raise InvalidValueError(f"unknown check {name!r}; valid checks: "
                                    f"{', '.join(CHECKS)}" + suggest(name, CHECKS))
    return tuple(c for c in CHECKS if c in names)


def get(name: str) -> ModuleType:
    """The module of the check called ``name`` (one of :data:`CHECKS`)."""
    return importlib.import_module(f"sdrev.check.{parse_only([name])[0]}")


def run(model: Model | str | Path, *, only: str | Iterable[str] | None = None,
        data: str | Path | None = None, seed: int = 1, samples: int = 64) -> CheckReport:
    """Run the validity battery on a model.

    Parameters
    ----------
    model : Model, str or Path
        A loaded model, a library name or a path to an ``.mdl`` file.
    only : str or iterable of str, optional
        Checks to run (default all of :data:`CHECKS`, in that order).
    data : str or Path, optional
        Observation table for the reference check (default: the library's
        ``data/<model>.csv``; none for a user model).
    seed : int
        Seed of the extreme-conditions Latin hypercube.
    samples : int
        Runs in that Latin hypercube (0: none).

    Returns
    -------
    CheckReport

    Raises
    ------
    InvalidValueError, UnknownNameError, ModelNotFoundError
        For a bad model, check name, observation table or ``[[reference]]``.
    """
    from sdrev.model import Model, load

    names = parse_only(only)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InvalidValueError(f"seed must be an integer from 0 to {2**32 - 1}, got {seed!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
        raise InvalidValueError(f"samples must be a non-negative integer, got {samples!r}")
    if data is not None and not Path(data).is_file():
        raise InvalidValueError(f"data file {str(data)!r} does not exist")
    if not isinstance(model, Model):
        model = load(model)
    session = Session(model, CheckOptions(seed=seed, samples=samples,
                                          data=Path(data) if data is not None else None))
    if {"mechanisms", "reference"} & set(names):  # bad tables fail before any run
        from sdrev.check.reference import load_behaviours
        load_behaviours(session)
    results = tuple(get(name).check(session) for name in names)
    return CheckReport(model.name, str(model.path), results, tuple(sorted(session.notes)))


def write(report: CheckReport, folder: str | Path, *, model: Model, command: str = "") -> Path:
    """Write ``check.json``, ``check.txt`` and ``manifest.json`` into a new run folder.

    Returns
    -------
    Path
        The folder.

    Raises
    ------
    OutputError
        If the folder cannot be written (or already holds files).
    """
    from sdrev import runs
    from sdrev.scenario import run_settings

    folder = Path(folder)
    with runs.staged_folder(folder) as stage:
        (stage / "check.json").write_text(report.to_json(indent=2) + "\n", encoding="utf-8")
        (stage / "check.txt").write_text(report.text(max_findings=10**6) + "\n",
                                         encoding="utf-8")
        runs.write_json(stage / "manifest.json", runs.manifest(
            model, run_settings(model), command=command,
            extra={"checks": [r.name for r in report.results],
                   "passed": report.passed, "failed": report.failed,
                   "skipped": report.skipped}))
    return folder
