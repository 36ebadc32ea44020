"""Plain-text views of models and runs for the terminal."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sdrev.units import duration_label, time_label

if TYPE_CHECKING:
    from sdrev.model import Model
    from sdrev.simulate import Trajectories

__all__ = ["describe_text", "library_text", "loops_table_text", "summary_table"]


def library_text(entries) -> str:
    """One line per library model: name and description."""
    width = max((len(e.name) for e in entries), default=0)
    return "\n".join(f"{e.name:<{width}}  {e.description}" for e in entries)


def describe_text(model: Model) -> str:
    """Everything a user needs to know before running ``model``."""
    import pandas as pd

    from sdrev.report.brief.words import clean_source

    out = [model.title, "=" * len(model.title)]
    for label, text in (("Description", clean_source(model.description)),
                        ("Source", clean_source(model.source)),
                        ("Question", model.question)):
        if text:
            out.append(f"{label}: {text}")
    t = model.time
    out.append(f"File: {model.path}\nTime: {t.initial:g} to {t.final:g} "
               f"({duration_label(t.units)}), TIME STEP {t.step:g}, "
               f"SAVEPER {t.saveper:g}")
    out += _section("Stocks", _table(model.stocks, ("name", "units")))
    out += _section("Flows", _table(model.flows, ("name", "units")))
    rows = [{"name": p.name, "value": _value(p.value), "units": p.units,
             "range": "" if p.range is None else f"[{p.range[0]:g}, {p.range[1]:g}]"}
            for p in model.parameters]
    out += _section("Parameters", pd.DataFrame(rows).to_string(index=False) if rows else "none")
    out += _section("Scenarios", "\n".join(
        f"{s.name}" + (f" “{s.label}”" if s.label else "") + f": {s.description}" + (
            "\n    sets " + ", ".join(f"{k} = {v:g}" for k, v in s.params.items())
            if s.params else "")
        for s in model.scenarios.values()) or "none")
    if model.loops:
        out += _section("Documented feedback loops", "\n".join(
            f"{lp.id} ({lp.polarity}, gain '{lp.gain}'): {lp.name}\n    "
            + " -> ".join(lp.variables) for lp in model.loops))
    for label, items in (("Assumptions", model.assumptions), ("Leaves out", model.omissions)):
        if items:
            out += _section(label, "\n".join(_wrap("- " + i, "  ") for i in items))
    docs = [_wrap(f"{v.name} ({v.units or 'no units'}): {v.doc or 'undocumented'}", "    ")
            for v in (*model.variables, *model.parameters)]
    out += _section("Documentation", "\n".join(docs))
    return "\n".join(out)


def summary_table(model: Model, run: Trajectories, *, points: int = 5) -> str:
    """Key outputs at a few evenly spaced saved times.

    Laid out as pandas' ``DataFrame.to_string`` lays out the table (labels
    left-aligned, numbers right-aligned to ``.4g``, missing values
    ``NaN``), without importing pandas: ``sdrev simulate`` prints it.
    """
    import math

    by_name = {v.name: v for v in model.variables}
    times = run.times
    picks = sorted({int(round(i * (len(times) - 1) / (points - 1))) if points > 1 else 0
                    for i in range(points)})
    header = [f"{times[k]:g}" for k in picks]
    rows = []
    for name in model.key_outputs:
        var = by_name.get(name)
        if var is None or var.py_name not in run.columns:
            continue
        values = run.column(var.py_name)
        rows.append((f"{name} ({var.units})" if var.units else name,
                     ["NaN" if math.isnan(values[k]) else f"{values[k]:.4g}" for k in picks]))
    corner = time_label(model.time.units)
    if not rows:
        return f"Empty DataFrame\nColumns: [{', '.join(header)}]\nIndex: []"
    width = max(len(corner), *(len(label) for label, _ in rows))
    widths = [max(len(" " + head), *(len(cells[j]) for _, cells in rows))
              for j, head in enumerate(header)]
    lines = [corner.ljust(width) + "".join(" " + head.rjust(w) for head, w in zip(header, widths))]
    lines += [label.ljust(width) + "".join(" " + cell.rjust(w) for cell, w in zip(cells, widths))
              for label, cells in rows]
    return "\n".join(lines)


def _section(title: str, body: str) -> list[str]:
    return ["", title, "-" * len(title), body]


def _table(variables, fields) -> str:
    import pandas as pd

    if not variables:
        return "none"
    return pd.DataFrame([{f: getattr(v, f) for f in fields} for v in variables]
                        ).to_string(index=False)


def _value(value) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {v:g}" for k, v in value.items())
    return f"{value:g}"


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(text, width=100, subsequent_indent=indent)


def loops_table_text(analysis, *, max_variables: int = 8) -> str:
    """The loops and dominant periods of an analysis as plain text."""
    switches = getattr(analysis, "switches", None) or {}
    lines = [f"Feedback loops of {analysis.model}"
             + (f" (scenario {analysis.scenario})" if analysis.scenario else "")
             + f": {len(analysis.loops)} loops, {analysis.method} search", ""]
    if switches:  # timed settings: the scores follow the run with the step
        lines.insert(1, "in the run with " + ", ".join(
            f"{name} = {value.replace('@', ' from ')}" for name, value in switches.items()))
    width = max([5] + [len(i) for i in analysis.loops["id"]])
    lines.append(f"{'id':<{width}} {'polarity':<19} {'len':>3} {'mean|RS|':>8}  "
                 "name / variables")
    for row in analysis.loops.itertuples(index=False):
        chain = list(row.variables)
        if len(chain) > max_variables:
            chain = chain[:max_variables] + [f"... ({len(row.variables)} in all)"]
        text = " -> ".join(chain)
        name = f"{row.name}: " if row.name else ""
        lines.append(f"{row.id:<{width}} {row.polarity:<19} {row.length:>3} "
                     f"{row.mean_abs_score:>8.3f}  {name}{text}")
    unit = getattr(analysis, "time_units", "")
    lines += ["", "Dominant periods (loops accounting for at least half of the "
              f"change in their partition; times in {duration_label(unit)}):"]
    periods = analysis.dominant_periods
    multi = periods["partition"].nunique() > 1 if len(periods) else False
    for row in periods.itertuples(index=False):
        part = f"[{row.partition}] " if multi else ""
        lines.append(f"  {part}{row.start:g}-{row.end:g}  {row.polarity:<11} "
                     f"{', '.join(row.loops)}  (share {row.share:.2f})")
    if not len(periods):
        lines.append("  none")
    documented = getattr(analysis, "documented_periods", None)
    if documented is not None and len(documented):
        lines += ["", "Dominant periods among the documented loops (their scores "
                  "normalised among themselves):"]
        multi = documented["partition"].nunique() > 1
        for row in documented.itertuples(index=False):
            part = f"[{row.partition}] " if multi else ""
            lines.append(f"  {part}{row.start:g}-{row.end:g}  {row.polarity:<11} "
                         f"{', '.join(row.loops)}  (share {row.share:.2f})")
    return "\n".join(lines) + "\n"
