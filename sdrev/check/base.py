"""Results of the checks and the runs they share.

Every check module returns a :class:`CheckResult`; :func:`sdrev.check.run`
collects them in a :class:`CheckReport`. A :class:`Session` holds the model
and the options of one battery and runs the model on the ensemble engine
(:func:`sdrev.ensemble.run`), many parameter sets per call, remembering
what it ran so that checks sharing a run (the baseline of every scenario,
say) do not repeat it.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sdrev.errors import InvalidValueError, UnknownNameError

if TYPE_CHECKING:
    import numpy as np
    import xarray as xr

    from sdrev.model import Model

__all__ = ["STATUSES", "CheckOptions", "CheckReport", "CheckResult", "Finding", "Session",
           "data_path", "declared_limits", "split_element"]

#: What a check can conclude.
STATUSES = ("pass", "fail", "skip")


@dataclass(frozen=True)
class Finding:
    """One thing a check found.

    Attributes
    ----------
    kind : {"failure", "note", "pass"}
        A failure makes its check fail; a note is reported and nothing more
        (a variable without units, a loop without a gain to knock out); a
        pass records what held (listed in JSON, not in the text report).
    subject : str
        What it is about: a variable, a parameter setting, a loop, a reference.
    message : str
        One line saying what was found.
    """

    kind: str
    subject: str
    message: str

    def to_dict(self) -> dict:
        """Plain-data form."""
        return {"kind": self.kind, "subject": self.subject, "message": self.message}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    Attributes
    ----------
    name : str
        The check (``"units"``, ``"extremes"``, ...).
    status : {"pass", "fail", "skip"}
    summary : str
        One line: what was tested and, for a failure or a skip, why.
    findings : tuple of Finding
    seconds : float
        Wall time the check took.
    """

    name: str
    status: str
    summary: str
    findings: tuple[Finding, ...] = ()
    seconds: float = 0.0

    def __post_init__(self):
        if self.status not in STATUSES:
            raise InvalidValueError(f"unknown check status {self.status!r}; valid: "
                                    f"{', '.join(STATUSES)}")

    @property
    def failures(self) -> tuple[Finding, ...]:
        """The findings that made the check fail."""
        return tuple(f for f in self.findings if f.kind == "failure")

    @property
    def notes(self) -> tuple[Finding, ...]:
        """The findings reported without failing."""
        return tuple(f for f in self.findings if f.kind == "note")

    def line(self) -> str:
        """``PASS units: ...`` -- the check's one line."""
        return f"{self.status.upper():4} {self.name}: {self.summary}"

    def to_dict(self) -> dict:
        """Plain-data form."""
        return {"name": self.name, "status": self.status, "summary": self.summary,
                "seconds": round(self.seconds, 3),
                "findings": [f.to_dict() for f in self.findings]}


@dataclass(frozen=True)
class CheckReport:
    """The battery's results for one model.

    Attributes
    ----------
    model : str
        Model name.
    path : str
        The ``.mdl`` file.
    results : tuple of CheckResult
        In the order the checks ran.
    notes : tuple of str
        What the runs reported (e.g. the ensemble engine falling back to PySD).
    """

    model: str
    path: str
    results: tuple[CheckResult, ...]
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> int:
        """How many checks passed."""
        return sum(r.status == "pass" for r in self.results)

    @property
    def failed(self) -> int:
        """How many checks failed."""
        return sum(r.status == "fail" for r in self.results)

    @property
    def skipped(self) -> int:
        """How many checks were skipped."""
        return sum(r.status == "skip" for r in self.results)

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return self.failed == 0

    def result(self, name: str) -> CheckResult:
        """The result of the check called ``name``.

        Raises
        ------
        UnknownNameError
        """
        for r in self.results:
            if r.name == name:
                return r
        raise UnknownNameError(f"no check {name!r} in this report; checks run: "
                               f"{', '.join(r.name for r in self.results) or 'none'}")

    def summary_line(self) -> str:
        """``N passed, M failed`` (and how many were skipped, if any)."""
        text = f"{self.passed} passed, {self.failed} failed"
        return text + (f", {self.skipped} skipped" if self.skipped else "")

    def text(self, *, max_findings: int = 12) -> str:
        """One line per check, its findings indented below, the summary line last."""
        lines = []
        for r in self.results:
            lines.append(r.line())
            shown = list(r.failures) + list(r.notes)
            for f in shown[:max_findings]:
                mark = "-" if f.kind == "failure" else "note:"
                lines.append(f"    {mark} {f.message}")
            if len(shown) > max_findings:
                lines.append(f"    ... and {len(shown) - max_findings} more (--json lists all)")
        lines += [f"note: {note}" for note in self.notes]
        lines.append(self.summary_line())
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Plain-data form (what ``--json`` prints)."""
        return {"model": self.model, "path": self.path, "passed": self.passed,
                "failed": self.failed, "skipped": self.skipped, "notes": list(self.notes),
                "checks": [r.to_dict() for r in self.results]}

    def to_json(self, **kwargs) -> str:
        """The report as JSON (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), **kwargs)


@dataclass(frozen=True)
class CheckOptions:
    """Options of one battery.

    Attributes
    ----------
    seed : int
        Seed of the extreme-conditions Latin hypercube.
    samples : int
        Runs in that Latin hypercube.
    data : Path or None
        Observation table (``data/<model>.csv`` for a library model when
        ``None``; a user model has none unless given).
    """

    seed: int = 1
    samples: int = 64
    data: Path | None = None


def split_element(name: str) -> tuple[str, tuple[str, ...]]:
    """``"Var[a, b]"`` -> ``("Var", ("a", "b"))``; ``"Var"`` -> ``("Var", ())``."""
    base, bracket, rest = str(name).partition("[")
    if not bracket:
        return base.strip(), ()
    return base.strip(), tuple(e.strip() for e in rest.rstrip().rstrip("]").split(","))


@dataclass
class Session:
    """A model under check, its options and the runs made so far.

    Parameters
    ----------
    model : Model
    options : CheckOptions

    Attributes
    ----------
    notes : set of str
        What the runs reported once (the ensemble engine's fallback to PySD).
    analyses : dict
        Loop analyses made so far (by scenario and constants) and the model's
        reference behaviours once read, for reuse.
    """

    model: Model
    options: CheckOptions = field(default_factory=CheckOptions)
    notes: set = field(default_factory=set)
    analyses: dict = field(default_factory=dict, repr=False)
    _runs: dict = field(default_factory=dict, repr=False)

    @property
    def default_scenario(self) -> str | None:
        """``"baseline"`` when the model has it, else ``None`` (its own constants)."""
        return "baseline" if "baseline" in self.model.scenarios else None

    def scenario_params(self, scenario: str | None) -> dict[str, float]:
        """The constants ``scenario`` sets (Vensim names)."""
        if scenario is None:
            return {}
        if scenario not in self.model.scenarios:
            raise UnknownNameError(
                f"unknown scenario {scenario!r} for model {self.model.name}; known "
                f"scenarios: {', '.join(self.model.scenarios) or 'none'}")
        return dict(self.model.scenarios[scenario].params)

    def row(self, scenario: str | None, overrides: Mapping[str, float] | None = None
            ) -> dict[str, float]:
        """One run's constants: the scenario's, then ``overrides`` (Vensim names)."""
        values = self.scenario_params(scenario)
        for name, value in dict(overrides or {}).items():
            values[self.model.parameter(name).name] = float(value)
        return values

    def output_names(self, names: Sequence[str]) -> list[str]:
        """Vensim names of the variables ``names`` (elements stripped), each once."""
        from sdrev.scenario import resolve_variable
        out: list[str] = []
        for name in names:
            var = resolve_variable(self.model, split_element(name)[0])
            if var.name not in out:
                out.append(var.name)
        return out

    def run(self, rows: Sequence[Mapping[str, float]], outputs: Sequence[str], *,
            time_step: float | None = None) -> xr.Dataset:
        """Run the model once per row on the ensemble engine.

        Rows naming different sets of subscripted constants go to separate
        calls (a column sets every element of a subscripted constant, so it
        has no single default to fill in); all others run in one call (one
        call per run for a subscripted model at another ``time_step``). The
        result is cached by its rows, outputs and time step.

        Parameters
        ----------
        rows : sequence of mapping
            Constants of each run (Vensim names); the others keep the
            model's values.
        outputs : sequence of str
            Variables to save (Vensim names).
        time_step : float, optional
            TIME STEP of every run (the model's by default).

        Returns
        -------
        xarray.Dataset
            ``(run, time, ...)`` per output, runs in the order of ``rows``.
        """
        import numpy as np
        import pandas as pd
        import xarray as xr

        from sdrev import ensemble
        key = (tuple(tuple(sorted(r.items())) for r in rows), tuple(outputs), time_step)
        if key in self._runs:
            return self._runs[key]
        groups: dict = {}
        subscripted = {p.name for p in self.model.parameters if isinstance(p.value, Mapping)}
        # a TIME STEP column reaches the engine as one value per run, which it cannot
        # broadcast against subscripted arrays yet: one run per call there
        single = time_step is not None and _structure(str(self.model.path),
                                                      self.model.sha256)[1]
        for i, row in enumerate(rows):
            alone = i if single else None
            groups.setdefault((frozenset(subscripted & set(row)), alone), []).append(i)
        parts = []
        for indices in groups.values():
            columns = sorted({name for i in indices for name in rows[i]})
            defaults = {name: self.model.parameter(name).value for name in columns}
            table = pd.DataFrame([{name: rows[i].get(name, defaults[name]) for name in columns}
                                  for i in indices], columns=columns, dtype=float)
            if time_step is not None:
                table["TIME STEP"] = float(time_step)
            saveper = self.model.time.saveper if time_step is not None else None
            with warnings.catch_warnings(), np.errstate(all="ignore"), _Fallback() as seen:
                warnings.simplefilter("ignore", RuntimeWarning)
                ds = ensemble.run(self.model, table, outputs=list(outputs), progress=False,
                                  workers=1, saveper=saveper)
            self.notes.update(seen.messages)
            ds = ds.drop_vars([c for c in ds.coords if c not in ("run", "time")
                               and "run" in ds[c].dims])
            parts.append(ds.assign_coords(run=np.asarray(indices)))
        data = parts[0] if len(parts) == 1 else xr.concat(parts, dim="run").sortby("run")
        self._runs[key] = data
        return data

    def series(self, data: xr.Dataset, name: str) -> np.ndarray:
        """``(run, time)`` values of one variable, or one element ``"Var[a]"``.

        Raises
        ------
        InvalidValueError
            For a subscripted variable named without its element, or an
            element it does not have.
        """
        import numpy as np

        from sdrev.scenario import resolve_variable
        base, elements = split_element(name)
        var = resolve_variable(self.model, base)
        block = data[var.py_name]
        extra = [d for d in block.dims if d not in ("run", "time")]
        if len(extra) != len(elements):
            if not extra:
                raise InvalidValueError(f"{var.name} has no subscripts; name it without "
                                        f"an element, not {name!r}")
            raise InvalidValueError(
                f"{var.name} is subscripted ({', '.join(extra)}); name one element, e.g. "
                f"'{var.name}[{', '.join(str(block[d].values[0]) for d in extra)}]'")
        for dim, element in zip(extra, elements):
            valid = [str(v) for v in block[dim].values]
            if element not in valid:
                raise InvalidValueError(f"{var.name} has no element {element!r} in {dim}; "
                                        f"elements: {', '.join(valid)}")
            block = block.sel({dim: block[dim].values[valid.index(element)]})
        return np.asarray(block.transpose("run", "time").values, dtype=float)

    def constant(self, name: str) -> float:
        """The model's value of a scalar constant (Vensim or snake_case name)."""
        value = self.model.parameter(name).value
        if isinstance(value, Mapping):
            raise InvalidValueError(f"{name!r} is subscripted; give a number instead")
        return float(value)


class _Fallback(logging.Handler):
    """Collects the ensemble engine's warnings (its fallback to PySD) during a
    call instead of printing one per call."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: set[str] = set()
        self._logger = logging.getLogger("sdrev.ensemble")

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.add(" ".join(record.getMessage().split()))

    def __enter__(self):
        self._propagate = self._logger.propagate
        self._logger.addHandler(self)
        self._logger.propagate = False
        return self

    def __exit__(self, *exc):
        self._logger.removeHandler(self)
        self._logger.propagate = self._propagate
        return False


def data_path(model: Model, data: str | Path | None) -> Path | None:
    """The observation table of a check: ``data``, or the library's own."""
    from sdrev.observations import library_data_path
    if data is not None:
        return Path(data)
    return library_data_path(model)


def declared_limits(model: Model) -> dict[str, tuple[float | None, float | None]]:
    """The range each variable declares in its Vensim units field (``[0,?]``).

    Returns
    -------
    dict
        Vensim name -> ``(minimum, maximum)``, ``None`` where not given; only
        variables that declare a range.
    """
    return dict(_structure(str(model.path), model.sha256)[0])


@functools.lru_cache(maxsize=16)
def _structure(path: str, sha256: str) -> tuple:
    """``(limits, subscripted)`` of a model file: the declared ranges as
    ``((name, (lo, hi)), ...)`` and whether it has subscript ranges."""
    from sdrev.translate import abstract_model

    out = []
    sections = abstract_model(Path(path)).sections[:1]
    for section in sections:
        for element in section.elements:
            limits = tuple(element.limits or ())[:2]
            lo, hi = (tuple(None if x is None or (isinstance(x, float) and math.isnan(x))
                            else float(x) for x in limits) + (None, None))[:2]
            if lo is not None or hi is not None:
                out.append((element.name, (lo, hi)))
    return tuple(out), any(bool(section.subscripts) for section in sections)
