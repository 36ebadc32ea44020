"""Words of a brief: numbers, years, lists, units, scenario names and sources
as a reader wants them.

One home for the rules every section follows: a scenario is named by its
metadata ``label`` (never by its command-line id), a dimensionless value shows
no unit (``Dmnl`` is a modeller's word) while a variable without declared
units says so, and sources are cited by authors and year, never by the file
a model was seeded from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from sdrev.units import MISSING, duration_label, reader_units

if TYPE_CHECKING:
    from sdrev.compare import Comparison
    from sdrev.model import Model

__all__ = ["at_time", "clean_source", "name_scenarios", "join", "metric_words", "num", "relabel",
           "scenario_titles", "unit_text", "value_with_unit", "year"]

#: A seed file name as the model library's sources once carried them
#: (``seed 004_a7120fdf7b5f15d7.txt (first paper)``), with what follows it in
#: brackets; also bare ``*.txt``/``*.pdf`` file names.
_SEED = re.compile(r"[;,]?\s*\(?\bseed\s+[\w.-]+\.(?:txt|pdf|md)\)?(?:\s*\([^)]*\))?",
                   re.IGNORECASE)
_FILE = re.compile(r"[;,]?\s*\(?\b[\w-]+_[0-9a-f]{8,}\.(?:txt|pdf|md)\)?", re.IGNORECASE)


def num(value, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits; ``"n/a"`` when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}g}"


def year(value) -> str:
    """A time as a whole year; ``"never"`` when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "never"
    return f"{value:.0f}"


def join(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def at_time(value: float, units: str | None = "Year") -> str:
    """A point of model time: ``2040`` for years, ``week 27`` otherwise."""
    word = " ".join(str(units or "").split()).lower()
    if word in ("year", "years", "yr"):
        return f"{value:g}"
    return f"{duration_label(units, plural=False)} {value:g}"


def metric_words(metric: str, units: str | None = "Year") -> str:
    """A sensitivity metric id in words: ``value_at_2040`` -> ``in 2040``
    (``in week 60`` for a model in weeks), ``first_crossing_0.2`` -> ``(time
    it first reaches 0.2)``."""
    if metric.startswith("value_at_"):
        try:
            return "in " + at_time(float(metric.rsplit("_", 1)[-1]), units)
        except ValueError:
            return f"in {metric.rsplit('_', 1)[-1]}"
    if metric.startswith("first_crossing_"):
        return f"(time it first reaches {metric.rsplit('_', 1)[-1]})"
    return "(" + metric.replace("_", " ") + ")"


def unit_text(units: str | None) -> str:
    """Units for a reader: ``""`` for dimensionless, :data:`sdrev.units.MISSING`
    for undeclared units, else the units as written."""
    return reader_units(units)


def value_with_unit(value, units: str | None, digits: int = 3) -> str:
    """``0.31`` (dimensionless), ``12.5 Year``, ``4 (units missing)``."""
    text = unit_text(units)
    if not text:
        return num(value, digits)
    if text == MISSING:
        return f"{num(value, digits)} ({MISSING})"
    return f"{num(value, digits)} {text}"


def clean_source(text: str) -> str:
    """A model's ``source`` for people: seed file names removed, authors and
    year kept (``"Zhou et al. (n.d.), seed 003_bee1.txt (first paper)"`` ->
    ``"Zhou et al. (n.d.)"``)."""
    out = _FILE.sub("", _SEED.sub("", str(text or "")))
    out = re.sub(r"\(\s*\)", "", out)
    out = " ".join(out.split())
    return out.strip(" ,;:")


def scenario_titles(model: Model) -> dict[str, str]:
    """Scenario id -> the name people read (metadata ``label``, else the id in words)."""
    return {name: s.title for name, s in model.scenarios.items()}


def name_scenarios(text: str, model: Model) -> str:
    """``text`` (an assumption, a description) with every scenario id that a
    reader would not know (``no_strategic_guiding``) replaced by its quoted
    title (“Without strategic guiding”)."""
    out = str(text)
    for name, scenario in sorted(model.scenarios.items(), key=lambda kv: -len(kv[0])):
        if "_" in name:
            out = re.sub(rf"(?<![\w/.]){re.escape(name)}(?![\w/.])", f"“{scenario.title}”",
                         out)
    return out


def relabel(comparison: Comparison, model: Model) -> Comparison:
    """The comparison with each run labelled by its scenario's title (runs with
    constants set on top keep them: ``"Innovation network, IO Regime=0.5"``)."""
    titles = scenario_titles(model)
    mapping: dict[str, str] = {}
    runs = []
    for run in comparison.runs:
        new = run.label
        if run.scenario in titles:
            extra = ", ".join(f"{k} = {v:g}" for k, v in run.params.items())
            new = titles[run.scenario] + (f" ({extra})" if extra else "")
        mapping[run.label] = new
        runs.append(replace(run, label=new))
    if len(set(mapping.values())) != len(mapping):
        return comparison  # two scenarios share a title: keep the unique ids
    traj = comparison.trajectories.rename(columns=mapping, level="label")
    metrics = comparison.metrics.assign(label=comparison.metrics["label"].map(
        lambda v: mapping.get(v, v)))
    changes = comparison.leader_changes.copy()
    for col in ("before", "after"):
        changes[col] = changes[col].map(lambda v: " = ".join(
            mapping.get(p, p) for p in str(v).split(" = ")))
    return replace(comparison, runs=tuple(runs), trajectories=traj, metrics=metrics,
                   leader_changes=changes)


def labels_of(mapping: Mapping[str, str], names: Sequence[str]) -> list[str]:
    """``names`` through ``mapping`` (unmapped names unchanged)."""
    return [mapping.get(n, n) for n in names]
