"""Policy briefs: a self-contained HTML page and a PDF of the same content.

:func:`build_brief` gathers the results a brief needs, running what is not
given as a run folder: the scenario comparison (:mod:`sdrev.compare`, PySD
runs), the feedback-loop analysis (:func:`sdrev.loops.analyze`), a
sensitivity analysis (:mod:`sdrev.sensitivity`; read from a run folder, or a
small default Sobol' run) and, for models whose metadata has a ``[compare]``
table with a regime map, the regime map (ensemble engine).
:func:`render_html` and :func:`render_pdf` fill Jinja2 templates
(``templates/brief.html``, ``templates/brief_pdf.html``) from one context, so
both carry the same sections; :func:`write_brief` writes both into a run
folder with a manifest.

The HTML embeds every figure as a base64 PNG and uses no script, font or
style sheet from outside the file: it opens offline in any browser. The PDF
is made by fpdf2, a pure-Python library (a pip install is all it needs; it
uses the DejaVu fonts that matplotlib ships, so any Unicode text prints).

Examples
--------
>>> import sdrev
>>> from sdrev.report import brief
>>> b = brief.build_brief(sdrev.load("machine_tool_io"))          # doctest: +SKIP
>>> brief.write_brief(b, "results/briefs/machine_tool_io")        # doctest: +SKIP
"""

from __future__ import annotations

import base64
import io
import math
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sdrev.errors import InvalidValueError, ModelNotFoundError, SdrevError
from sdrev.units import duration_label, units_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sdrev.compare import Comparison, RegimeMap
    from sdrev.loops import LoopAnalysis
    from sdrev.model import Model

__all__ = ["SECTION_TITLES", "Brief", "Levers", "build_brief", "brief_context",
           "default_sensitivity", "levers_from_folder", "levers_from_result",
           "render_html", "render_pdf", "write_brief"]

#: Section headings, in the order the brief shows them (the regime map only
#: for models that have one).
SECTION_TITLES = {
    "answer": "The question and the answer",
    "trajectories": "Key trajectories under each scenario",
    "levers": "Top levers and deciding feedback loops",
    "regime": "Regime map",
    "assumptions": "What the model assumes and leaves out",
    "methods": "Methods appendix",
}
#: Sample size of the default Sobol' run (N; the runs are N x (factors + 2)).
DEFAULT_SENSITIVITY_N = 256
#: Seed of the default Sobol' run when the model has no library spec.
DEFAULT_SEED = 20240501
#: Levers and loops listed in the tables.
TOP_LEVERS = 8
_TEMPLATES = Path(__file__).resolve().parent / "templates"


# -- sensitivity summary -------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Levers:
    """The sensitivity results a brief shows.

    Attributes
    ----------
    source : str
        The run folder read, or ``"default run"``.
    method, main_index : str
        E.g. ``"sobol"`` and ``"ST"``.
    n, seed, runs : int
    output, metric : str
        The output and metric ranked (e.g. ``Technological Capability``,
        ``value_at_2040``).
    parameters, loops : pandas.DataFrame
        ``factor``, ``label``, ``value`` (main index), ``ci_low``,
        ``ci_high``, ``s1`` (first-order, Sobol' only), ranked by value.
    indices : pandas.DataFrame
        Every index of the analysis (for the figure).
    settled : bool or None
        Whether the main index of every factor changed by at most the
        tolerance between N/2 and N (None: no convergence check).
    max_change : float or None
    warnings : tuple of str
    scenario : str or None
    seconds : float
    """

    source: str
    method: str
    main_index: str
    n: int
    seed: int
    runs: int
    output: str
    metric: str
    parameters: pd.DataFrame
    loops: pd.DataFrame
    indices: pd.DataFrame
    settled: bool | None
    max_change: float | None
    warnings: tuple[str, ...] = ()
    scenario: str | None = None
    seconds: float = 0.0


_MAIN = {"sobol": "ST", "morris": "mu_star", "fast": "ST", "rbd_fast": "S1",
         "pawn": "median", "delta": "delta"}


def _rank(indices: pd.DataFrame, group: str, output: str, metric: str, main: str,
          labels: Mapping[str, str]) -> pd.DataFrame:
    part = indices[(indices["group"] == group) & (indices["output"] == output)
                   & (indices["metric"] == metric)]
    main_rows = part[part["index"] == main].set_index("factor")
    s1 = part[part["index"] == "S1"].set_index("factor")["value"] if main != "S1" else None
    out = pd.DataFrame({
        "factor": main_rows.index,
        "label": [labels.get(f, f) for f in main_rows.index],
        "value": main_rows["value"].to_numpy(dtype=float),
        "ci_low": main_rows["ci_low"].to_numpy(dtype=float),
        "ci_high": main_rows["ci_high"].to_numpy(dtype=float),
        "s1": (s1.reindex(main_rows.index).to_numpy(dtype=float) if s1 is not None
               else np.full(len(main_rows), np.nan)),
    })
    return out.sort_values("value", ascending=False, na_position="last").reset_index(drop=True)


def _pick_output(indices: pd.DataFrame, model: Model, output: str | None) -> tuple[str, str]:
    params = indices[indices["group"] == indices["group"].iloc[0]]
    pairs = list(dict.fromkeys(zip(params["output"], params["metric"])))
    if not pairs:
        raise InvalidValueError("the sensitivity analysis has no indices")
    wanted = [output] if output else list(model.key_outputs)
    for name in wanted:
        for out, metric in pairs:
            if out == name and metric.startswith("value_at"):
                return out, metric
    for out, metric in pairs:
        if metric.startswith("value_at"):
            return out, metric
    return pairs[0]


def _loop_labels(model: Model) -> dict[str, str]:
    return {lp.gain: f"{lp.id} {lp.name}".strip() for lp in model.loops if lp.gain}


def levers_from_result(result, *, output: str | None = None, source: str = "default run"
                       ) -> Levers:
    """Summarise a :class:`sdrev.sensitivity.SensitivityResult` for a brief."""
    model = result.model
    idx = result.indices
    out, metric = _pick_output(idx, model, output)
    main = result.main_index
    labels = {**{f.name: f.label or f.name for f in result.spec.factors},
              **{f.name: f.label or f.name for f in result.spec.loop_factors},
              **_loop_labels(model)}
    settled, change = _convergence(result.convergence, out, metric)
    return Levers(source=source, method=result.method, main_index=main, n=result.n,
                  seed=result.seed, runs=result.runs, output=out, metric=metric,
                  parameters=_rank(idx, "parameters", out, metric, main, labels),
                  loops=_rank(idx, "loops", out, metric, main, labels), indices=idx,
                  settled=settled, max_change=change, warnings=tuple(result.warnings),
                  scenario=result.spec.scenario,
                  seconds=float(result.timings.get("total", 0.0)))


def _convergence(conv: pd.DataFrame, output: str, metric: str):
    if conv is None or not len(conv):
        return None, None
    part = conv[(conv["output"] == output) & (conv["metric"] == metric)]
    if not len(part) or part["change"].isna().all():
        return None, None
    return bool(part["settled"].astype(bool).all()), float(part["change"].max())


def levers_from_folder(model: Model, folder: str | Path, *, output: str | None = None
                       ) -> Levers:
    """Read a sensitivity run folder (``sdrev sensitivity``) for a brief.

    Raises
    ------
    ModelNotFoundError
        If the folder has no ``indices.csv`` and ``manifest.json``.
    InvalidValueError
        If it analysed another model.
    """
    folder = Path(folder)
    if not (folder / "indices.csv").is_file() or not (folder / "manifest.json").is_file():
        raise ModelNotFoundError(f"{str(folder)!r} is not a sensitivity run folder "
                                 "(no indices.csv and manifest.json)")
    from sdrev import runs

    man = runs.read_manifest(folder)
    if man.get("model") != model.name:
        raise InvalidValueError(f"{str(folder)!r} analysed model {man.get('model')!r}, "
                                f"not {model.name!r}")
    idx = pd.read_csv(folder / "indices.csv")
    conv_path = folder / "convergence.csv"
    conv = pd.read_csv(conv_path) if conv_path.is_file() else None
    out, metric = _pick_output(idx, model, output)
    method = str(man.get("method", "sobol"))
    main = _MAIN.get(method, "ST")
    labels = _loop_labels(model)
    settled, change = _convergence(conv, out, metric)
    return Levers(source=str(folder), method=method, main_index=main,
                  n=int(man.get("n", 0)), seed=int(man.get("seed", 0)),
                  runs=int(man.get("runs", 0)), output=out, metric=metric,
                  parameters=_rank(idx, "parameters", out, metric, main, labels),
                  loops=_rank(idx, "loops", out, metric, main, labels), indices=idx,
                  settled=settled, max_change=change,
                  warnings=tuple(man.get("warnings", ())), scenario=man.get("scenario"),
                  seconds=float(man.get("timings_seconds", {}).get("total", 0.0)))


def default_spec(model: Model, output: str | None = None, *, band: float | None = None):
    """The spec of a brief's default sensitivity run.

    The library spec of the model if it has one (and no ``band``), else every documented
    parameter range (except loop gains, which form the loop group, and the
    ``[compare]`` regime parameter); one output (``output`` or the first key
    output) at FINAL TIME. With ``band``, each parameter of a spec made here
    varies only within ``band`` x its range width on either side of its
    value (clipped to the range).
    """
    from sdrev import sensitivity as sa
    from sdrev.compare import compare_defaults

    name = output or model.key_outputs[0]
    out_table = {"variable": name, "metrics": [{"kind": "value_at"}]}
    try:
        spec = sa.load_spec(model) if band is None else None
    except ModelNotFoundError:
        spec = None
    if spec is not None:
        first = spec.factors[0].name if spec.factors else spec.loop_factors[0].name
        mini = sa.parse_spec(model, {"factor": [{"name": first}], "output": [out_table]})
        return replace(spec, outputs=mini.outputs, text=spec.text)
    gains = {lp.gain for lp in model.loops if lp.gain}
    regime = compare_defaults(model).regime_parameter
    factors = []
    for p in model.parameters:
        if (p.range is None or not p.range[0] < p.range[1] or isinstance(p.value, Mapping)
                or p.name in gains or p.name == regime):
            continue
        lo, hi = p.range
        if band is not None and lo <= p.value <= hi:
            width = band * (hi - lo)
            lo, hi = max(lo, p.value - width), min(hi, p.value + width)
        factors.append({"name": p.name, "range": [lo, hi]})
    loops = [{"id": lp.id} for lp in model.loops if lp.gain]
    if not factors and not loops:
        raise InvalidValueError(f"model {model.name} documents no parameter ranges; "
                                "give a sensitivity run folder")
    data = {"sensitivity": {"description": f"Default brief analysis of {model.name}",
                            "method": "sobol", "n": DEFAULT_SENSITIVITY_N,
                            "seed": DEFAULT_SEED,
                            **({"scenario": "baseline"} if "baseline" in model.scenarios
                               else {})},
            "factor": factors, "loop": loops, "output": [out_table]}
    return sa.parse_spec(model, data)


#: Half-width (share of the documented range) of the default run's fallback
#: ranges, used when the full ranges make some runs diverge.
FALLBACK_BAND = 0.1


def default_sensitivity(model: Model, *, n: int = DEFAULT_SENSITIVITY_N,
                        output: str | None = None, progress: bool = False):
    """A small Sobol' analysis for a brief: :func:`default_spec`, N = ``n``.

    When the model has no library spec and some runs over the full
    documented ranges are not finite, the analysis is repeated with each
    parameter within :data:`FALLBACK_BAND` of its range around its value.

    Returns
    -------
    result : sdrev.sensitivity.SensitivityResult
    note : str
        How the ranges were chosen, for the methods appendix.
    """
    from sdrev import sensitivity as sa
    spec = default_spec(model, output)
    kw = {"method": "sobol", "n": n, "progress": progress, "time_resolved": False,
          "knockout": True}
    source = (f"library spec {spec.path.name}" if spec.path is not None
              else "every documented parameter range")
    try:
        return sa.run(model, spec, **kw), source
    except InvalidValueError as exc:
        if "not finite" not in str(exc):
            raise
        first = str(exc).split(", e.g.")[0]
    spec = default_spec(model, output, band=FALLBACK_BAND)
    return sa.run(model, spec, **kw), (
        f"over the full documented ranges {first}, so each parameter varies within "
        f"±{FALLBACK_BAND:.0%} of its documented range around its calibrated value")


# -- the brief ---------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Brief:
    """Everything a brief shows, computed or read from run folders.

    Attributes
    ----------
    model : Model
    comparison : Comparison
    loops : LoopAnalysis or None
    levers : Levers or None
    regime_map : RegimeMap or None
    notes : tuple of str
        Parts left out and why.
    timings : mapping of str to float
        Seconds per part.
    sources : mapping of str to str
        Run folder of each part read from disk.
    created : str
    """

    model: Model
    comparison: Comparison
    loops: LoopAnalysis | None = None
    levers: Levers | None = None
    regime_map: RegimeMap | None = None
    notes: tuple[str, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    created: str = ""


def build_brief(model: Model | str, *, scenarios: Sequence[str] | None = None,
                sensitivity: str | Path | bool | None = None,
                sensitivity_n: int = DEFAULT_SENSITIVITY_N, loops: bool = True,
                compare: str | Path | None = None, regime_map: bool = True,
                progress: bool = False) -> Brief:
    """Gather (run or read) the results of a brief.

    Parameters
    ----------
    model : Model or str
    scenarios : sequence of str, optional
        Scenarios to compare (default as :func:`sdrev.compare.compare_scenarios`).
    sensitivity : run folder, bool or None
        A sensitivity run folder to read; ``None``/``True``: a small default
        Sobol' run (:func:`default_sensitivity`); ``False``: none.
    sensitivity_n : int
        N of the default run (a power of two).
    loops : bool
        Include the feedback-loop analysis (baseline scenario).
    compare : run folder, optional
        A ``sdrev compare`` run folder whose comparison and regime map to use
        instead of running them.
    regime_map : bool
        Run the regime map of models whose ``[compare]`` table defines one
        (when ``compare`` gives none).
    progress : bool
        Progress bars of the ensemble runs.

    Returns
    -------
    Brief
    """
    from sdrev import compare as cmp
    from sdrev.model import Model, load

    if sensitivity in (None, True):
        from sdrev.sensitivity.methods import sobol
        sobol.check_n({}, sensitivity_n)  # bad N: an error now, not after the runs
    if not isinstance(model, Model):
        model = load(model)
    timings, notes, sources = {}, [], {}
    comp = rmap = None
    if compare is not None:
        comp, rmap = cmp.read(compare)
        for part in (comp, rmap):
            if part is not None and part.model_sha256 != model.sha256:
                raise InvalidValueError(f"{str(compare)!r} was made with another version of "
                                        f"{part.model} (model file hash differs)")
        sources["compare"] = str(compare)
    start = _time.perf_counter()
    if comp is None:
        comp = cmp.compare_scenarios(model, scenarios)
        timings["scenarios"] = _time.perf_counter() - start
    analysis = None
    if loops:
        from sdrev import loops as loops_mod
        start = _time.perf_counter()
        scen = "baseline" if "baseline" in model.scenarios else None
        try:
            analysis = loops_mod.analyze(model, scenario=scen)
        except SdrevError as exc:
            notes.append(f"Loop analysis left out: {exc}")
        except Exception as exc:  # engine cannot compile the model (subscripts, macros)
            notes.append(f"Loop analysis left out: {type(exc).__name__}: {exc}")
        timings["loops"] = _time.perf_counter() - start
    levers = None
    if sensitivity is not False:
        start = _time.perf_counter()
        if sensitivity not in (None, True):
            levers = levers_from_folder(model, sensitivity, output=comp.outputs[0])
            sources["sensitivity"] = str(sensitivity)
        else:
            try:
                result, how = default_sensitivity(model, n=sensitivity_n,
                                                  output=comp.outputs[0], progress=progress)
                levers = replace(levers_from_result(result, output=comp.outputs[0]),
                                 source=f"default run of this brief ({how})")
            except SdrevError as exc:
                notes.append(f"Sensitivity analysis left out: {exc}")
        timings["sensitivity"] = _time.perf_counter() - start
    if rmap is None and regime_map:
        defaults = cmp.compare_defaults(model)
        if defaults.has_regime_map:
            start = _time.perf_counter()
            rmap = cmp.regime_map(model, progress=progress)
            timings["regime_map"] = _time.perf_counter() - start
    return Brief(model=model, comparison=comp, loops=analysis, levers=levers,
                 regime_map=rmap, notes=tuple(notes),
                 timings={k: round(v, 2) for k, v in timings.items()}, sources=sources,
                 created=datetime.now(timezone.utc).isoformat(timespec="seconds"))


# -- the words ----------------------------------------------------------------

def _num(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}g}"


def _year(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "never"
    return f"{value:.0f}"


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _metric_words(metric: str) -> str:
    if metric.startswith("value_at_"):
        return f"in {metric.rsplit('_', 1)[-1]}"
    return metric.replace("_", " ")


def _loop_words(analysis, loop_id: str) -> str:
    row = analysis.loops[analysis.loops["id"] == loop_id]
    if not len(row):
        return loop_id
    row = row.iloc[0]
    if row["name"]:
        return f"{loop_id} ({row['name']})"
    chain = list(row["variables"])
    shown = " → ".join(chain[:3]) + (" → …" if len(chain) > 3 else "")
    return f"{loop_id} ({shown})"


def _dominant_loops(analysis, top: int = 3) -> list[tuple[str, float]]:
    """Loops most often in the dominant set of the main partition, with their time share."""
    periods = analysis.dominant_periods
    if not len(periods):
        return []
    part = periods[periods["partition"] == analysis.main_partition()]
    times = analysis.relative_scores.index.to_numpy(dtype=float)
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    total = step * len(times)
    share: dict[str, float] = {}
    for row in part.itertuples(index=False):
        length = row.end - row.start + step
        for loop in row.loops:
            share[loop] = share.get(loop, 0.0) + length
    ranked = sorted(share.items(), key=lambda kv: -kv[1])[:top]
    return [(k, v / total) for k, v in ranked]


def mechanism_sequence(analysis) -> list[dict]:
    """Which documented loops lead when, in time order: consecutive documented
    periods (:attr:`LoopAnalysis.documented_periods`) led by the same loop set
    are merged. Each entry: ``loops`` (ids), ``start``, ``end``, ``share``
    (mean share of the documented loops' change the set accounts for)."""
    periods = getattr(analysis, "documented_periods", None)
    if periods is None or not len(periods):
        return []
    main = analysis.main_partition()
    if "partition" in periods and (periods["partition"] == main).any():
        periods = periods[periods["partition"] == main]
    out: list[dict] = []
    for row in periods.itertuples(index=False):
        loops = tuple(row.loops)
        if out and out[-1]["loops"] == loops:
            out[-1]["end"] = float(row.end)
            out[-1]["shares"].append(float(row.share))
        else:
            out.append({"loops": loops, "start": float(row.start), "end": float(row.end),
                        "shares": [float(row.share)]})
    for entry in out:
        entry["share"] = float(np.mean(entry.pop("shares")))
    return out


#: Shortest solo lead (share of the horizon) the answer mentions.
MIN_LEAD_SHARE = 0.025


def _sequence_words(analysis, sequence: list[dict]) -> str:
    """The documented loops that lead alone, in order, with their years: solo
    leads shorter than :data:`MIN_LEAD_SHARE` of the horizon are skipped and
    consecutive leads of the same loop merged."""
    times = analysis.relative_scores.index.to_numpy(dtype=float)
    horizon = float(times[-1] - times[0]) if len(times) > 1 else 1.0
    leads: list[list] = []  # loop, start, end, index in sequence
    for i, e in enumerate(sequence):
        if len(e["loops"]) != 1 or e["end"] - e["start"] < MIN_LEAD_SHARE * horizon:
            continue
        loop = e["loops"][0]
        # merge with the previous lead of the same loop when it stayed in
        # every dominant set in between
        if leads and leads[-1][0] == loop and all(
                loop in m["loops"] for m in sequence[leads[-1][3] + 1:i]):
            leads[-1][2], leads[-1][3] = e["end"], i
        else:
            leads.append([loop, e["start"], e["end"], i])
    if not leads:
        return ""
    runs: list[tuple[str, list[str]]] = []  # consecutive leads of one loop together
    for k, a, b, _ in leads:
        if runs and runs[-1][0] == k:
            runs[-1][1].append(f"{a:g}-{b:g}")
        else:
            runs.append((k, [f"{a:g}-{b:g}"]))
    words = [f"{_loop_words(analysis, k)} ({_join(spans)})" for k, spans in runs]
    if len(words) == 1:
        return f"Among the mechanisms the model documents, {words[0]} leads alone."
    return ("Among the mechanisms the model documents, the one leading alone is, in turn, "
            + ", then ".join(words) + ".")


def answer_text(brief: Brief) -> str:
    """The one-paragraph answer of the brief, drawn from its results."""
    comp = brief.comparison
    out = comp.outputs[0]
    units = comp.units.get(out, "")
    m = comp.metrics[comp.metrics["output"] == out].set_index("label")
    end = float(comp.trajectories.index[-1])
    parts = []
    if len(comp.runs) > 1:
        best = m["final_value"].idxmax()
        worst = m["final_value"].idxmin()
        parts.append(f"By {end:g}, {out} is highest under “{best}” "
                     f"({_num(m.at[best, 'final_value'])} {units}) and lowest under "
                     f"“{worst}” ({_num(m.at[worst, 'final_value'])} {units}).")
        changes = comp.leader_changes[comp.leader_changes["output"] == out]
        if len(changes):
            last = changes.iloc[-1]
            parts.append(f"“{last['before']}” leads at first, but “{last['after']}” "
                         f"overtakes it around {last['year']:.0f}.")
        reached = m["time_to_threshold"].dropna().sort_values()
        if len(reached):
            first = reached.index[0]
            thr = m.at[first, "threshold"]
            parts.append(f"“{first}” is first to reach {_num(thr)} {units} "
                         f"(in {reached.iloc[0]:.0f}).")
    else:
        row = m.iloc[0]
        parts.append(f"Under “{m.index[0]}”, {out} goes from "
                     f"{_num(row['initial_value'])} to {_num(row['final_value'])} {units} "
                     f"by {end:g}.")
    rmap = brief.regime_map
    if rmap is not None:
        s = rmap.summary()
        a, b = rmap.labels
        where = _where(rmap)
        parts.append(f"Over the {rmap.x.name} × {rmap.y.name} map, "
                     f"{a} reach the higher {rmap.output} by {rmap.year:g} in "
                     f"{s['share_first_ahead']:.0%} of the conditions{where}, {b} in "
                     f"{s['share_second_ahead']:.0%}; by {rmap.times[-1]:g} {b} lead in "
                     f"{s['share_second_ahead_at_end']:.0%}.")
    lev = brief.levers
    if lev is not None and len(lev.parameters) and lev.parameters["value"].notna().any():
        top = lev.parameters.dropna(subset=["value"]).head(3)
        if lev.main_index == "ST":
            items = [f"{r.label} ({r.value:.0%})" for r in top.itertuples()]
            parts.append(f"Of the {len(lev.parameters)} uncertain parameters varied, "
                         f"{_join(items)} matter most for {lev.output} "
                         f"{_metric_words(lev.metric)}: the share of its variance each "
                         "accounts for, interactions included (total-order Sobol' index).")
        else:
            items = [r.label for r in top.itertuples()]
            parts.append(f"The parameters that matter most for {lev.output} "
                         f"{_metric_words(lev.metric)} are {_join(items)} "
                         f"({lev.method}, {lev.main_index}).")
        if lev.settled is False:
            parts.append("The index estimates have not fully settled at this sample size, "
                         "so read them as a ranking.")
        loops_ranked = lev.loops.dropna(subset=["value"])
        if len(loops_ranked):
            r = loops_ranked.iloc[0]
            parts.append(f"Among the feedback loops, the strength of {r['label']} "
                         f"matters most ({lev.main_index} {r['value']:.2f}).")
    if brief.loops is not None:
        sequence = _sequence_words(brief.loops, mechanism_sequence(brief.loops))
        if sequence:
            parts.append("In the baseline run: " + sequence[0].lower() + sequence[1:])
        else:
            dom = _dominant_loops(brief.loops, 2)
            if dom:
                words = [f"{_loop_words(brief.loops, k)} ({v:.0%} of the time)"
                         for k, v in dom]
                parts.append(f"In the baseline run, the loops that most often drive "
                             f"behaviour are {_join(words)}.")
    return " ".join(parts)


def _where(rmap) -> str:
    win = rmap.winner
    gx, gy = np.meshgrid(np.asarray(rmap.x.values), np.asarray(rmap.y.values), indexing="ij")
    if not (win == 0).any() or not (win == 1).any():
        return ""
    lows = [ax.name for ax, g in ((rmap.x, gx), (rmap.y, gy))
            if g[win == 0].mean() < g[win == 1].mean()]
    highs = [ax.name for ax, g in ((rmap.x, gx), (rmap.y, gy))
             if g[win == 0].mean() > g[win == 1].mean()]
    if lows and not highs:
        return f" (where {_join(lows)} {'is' if len(lows) == 1 else 'are'} low)"
    if highs and not lows:
        return f" (where {_join(highs)} {'is' if len(highs) == 1 else 'are'} high)"
    return ""


# -- figures and context -------------------------------------------------------------

def figure_uri(fig: Figure, *, dpi: int = 130) -> str:
    """A figure as a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figures(brief: Brief) -> dict[str, str]:
    from sdrev.figures.compare import comparison_figure, regime_map_figure
    from sdrev.figures.loop_scores import loop_score_figure
    from sdrev.figures.sensitivity import index_bar_figure, sobol_figure

    figs = {"trajectories": figure_uri(comparison_figure(brief.comparison))}
    lev = brief.levers
    if lev is not None and len(lev.parameters) and lev.parameters["value"].notna().any():
        labels = dict(zip(lev.parameters["factor"], lev.parameters["label"]))
        kw = {"group": "parameters", "output": lev.output, "metric": lev.metric,
              "labels": labels, "title": f"{lev.output} {_metric_words(lev.metric)}"}
        fig = (sobol_figure(lev.indices, **kw) if lev.method == "sobol" else
               index_bar_figure(lev.indices, index=lev.main_index, **kw))
        figs["levers"] = figure_uri(fig)
    if brief.loops is not None and len(brief.loops.loops):
        figs["loops"] = figure_uri(loop_score_figure(brief.loops, top=6, partitions=[
            brief.loops.main_partition()]))
    if brief.regime_map is not None:
        figs["regime"] = figure_uri(regime_map_figure(brief.regime_map))
    return figs


def _rows(frame: pd.DataFrame, top: int) -> list[dict]:
    rows = []
    for r in frame.head(top).itertuples(index=False):
        rows.append({"label": r.label, "value": _num(r.value, 2),
                     "interval": (f"{_num(r.ci_low, 2)} – {_num(r.ci_high, 2)}"
                                  if np.isfinite(r.ci_low) else "n/a"),
                     "s1": _num(r.s1, 2)})
    return rows


def brief_context(brief: Brief, *, figures: bool = True) -> dict:
    """The values the templates show (plain strings, numbers and lists)."""
    from sdrev import runs

    model, comp = brief.model, brief.comparison
    ctx: dict = {"titles": SECTION_TITLES, "notes": list(brief.notes)}
    ctx["model"] = {"name": model.name, "title": model.title or model.name,
                    "description": model.description, "source": model.source,
                    "question": model.question or
                    f"How do the scenarios of {model.title or model.name} differ, and "
                    "what decides the outcome?"}
    ctx["answer"] = answer_text(brief)
    ctx["figures"] = _figures(brief) if figures else {}
    scen = []
    for r in comp.runs:
        desc = model.scenarios[r.scenario].description if r.scenario in model.scenarios else ""
        extra = ", ".join(f"{k} = {v:g}" for k, v in r.params.items())
        scen.append({"label": r.label, "description": desc, "params": extra})
    ctx["scenarios"] = scen
    metric_rows = []
    for out in comp.outputs[:3]:
        part = comp.metrics[comp.metrics["output"] == out]
        for r in part.itertuples(index=False):
            metric_rows.append({
                "output": out, "units": units_label(r.units), "label": r.label,
                "final": _num(r.final_value), "threshold": _num(r.threshold),
                "time": _year(r.time_to_threshold),
                "area": _num(r.net_area) if r.label != comp.runs[0].label else "reference"})
    ctx["metrics"] = metric_rows
    ctx["reference"] = comp.runs[0].label
    ctx["end_year"] = f"{float(comp.trajectories.index[-1]):g}"
    # the model's own time unit: "Week reached", "units x weeks"
    unit = model.time.units
    ctx["time_word"] = (duration_label(unit, plural=False).capitalize()
                        if unit else "Time")
    ctx["time_plural"] = duration_label(unit)
    ctx["leader_changes"] = [{"output": r.output, "year": f"{r.year:.1f}", "before": r.before,
                              "after": r.after}
                             for r in comp.leader_changes.itertuples(index=False)]
    lev = brief.levers
    if lev is not None:
        ctx["levers"] = {
            "method": lev.method, "index": lev.main_index, "n": lev.n, "runs": lev.runs,
            "output": lev.output, "metric": _metric_words(lev.metric),
            "parameters": _rows(lev.parameters, TOP_LEVERS),
            "loops": _rows(lev.loops, TOP_LEVERS), "count": len(lev.parameters),
            "settled": lev.settled}
    if brief.loops is not None:
        a = brief.loops
        ctx["loops"] = {
            "count": len(a.loops), "method": a.method,
            "dominant": [{"loop": _loop_words(a, k), "share": f"{v:.0%}",
                          "polarity": a.loops.loc[a.loops["id"] == k, "polarity"].iloc[0]}
                         for k, v in _dominant_loops(a, 5)],
            "sequence": [{"years": f"{e['start']:g}-{e['end']:g}",
                          "loops": ", ".join(_loop_words(a, k) for k in e["loops"]),
                          "share": f"{e['share']:.0%}"}
                         for e in mechanism_sequence(a)]}
    rmap = brief.regime_map
    if rmap is not None:
        s = rmap.summary()
        ctx["regime"] = {
            "labels": rmap.labels, "Label": rmap.labels[0][:1].upper() + rmap.labels[0][1:],
            "x": rmap.x.name, "y": rmap.y.name,
            "output": rmap.output, "year": f"{rmap.year:g}", "param": rmap.regime_param,
            "regimes": [f"{r:g}" for r in rmap.regimes],
            "share_first": f"{s['share_first_ahead']:.0%}",
            "share_second": f"{s['share_second_ahead']:.0%}",
            "share_second_end": f"{s['share_second_ahead_at_end']:.0%}",
            "end": f"{rmap.times[-1]:g}",
            "crossover": (f"{s['crossover_min']:.0f} and {s['crossover_max']:.0f} "
                          f"(median {s['crossover_median']:.0f})"
                          if s["crossover_points"] else ""),
            "boundary": "yes" if s["boundary_points"] else "no (one regime leads everywhere)"}
    ctx["assumptions"] = list(model.assumptions) or [
        "The model's metadata documents no assumptions."]
    ctx["omissions"] = list(model.omissions) or [
        "The model's metadata documents no omissions."]
    ctx["methods"] = _methods(brief)
    versions = runs.software_versions()
    for name in ("jinja2", "fpdf2"):
        try:
            from importlib import metadata
            versions[name] = metadata.version(name)
        except Exception:  # pragma: no cover - missing optional metadata
            continue
    ctx["software"] = [{"name": k, "version": v} for k, v in versions.items()]
    ctx["created"] = brief.created
    return ctx


def _methods(brief: Brief) -> list[dict]:
    model, comp = brief.model, brief.comparison
    t = model.time
    rows = [("Model file", f"{model.path.name} ({model.name})"),
            ("Model file SHA-256", model.sha256),
            ("Time axis", f"{t.initial:g} to {t.final:g}, time step {t.step:g}, saved every "
                          f"{t.saveper:g} ({duration_label(t.units)})"),
            ("Scenarios compared", f"{len(comp.runs)} runs with PySD: "
             + "; ".join(r.label for r in comp.runs)
             + (f" (from {brief.sources['compare']})" if "compare" in brief.sources else "")),
            ("Time to threshold", "first time the output reaches the threshold, linear "
             "interpolation between saved times; area = integral over time of the "
             f"difference to “{comp.runs[0].label}”, in output units × "
             f"{duration_label(t.units)}")]
    if brief.loops is not None:
        a = brief.loops
        rows.append(("Feedback loops", f"Loops that Matter (Schoenberg, Davidsen & Eberlein "
                     f"2020) on the {a.scenario or 'model'} run: {len(a.loops)} loops, "
                     f"{a.method} search, dominance threshold 50% of loop activity"))
    lev = brief.levers
    if lev is not None:
        conv = ("not checked" if lev.settled is None else
                f"{'settled' if lev.settled else 'not settled'}: largest change of "
                f"{lev.main_index} between N/2 and N is {_num(lev.max_change, 2)}")
        rows.append(("Sensitivity analysis", f"{lev.method}, N = {lev.n}, seed {lev.seed}, "
                     f"{lev.runs} runs on the ensemble engine, scenario "
                     f"{lev.scenario or 'model constants'}; source: {lev.source}"))
        rows.append(("Intervals", "95% bootstrap confidence intervals of the indices"))
        rows.append(("Convergence", conv))
        for w in lev.warnings[:5]:
            rows.append(("Sensitivity warning", w))
    rmap = brief.regime_map
    if rmap is not None:
        rows.append(("Regime map", f"{rmap.regime_param} = {rmap.regimes[0]:g} vs "
                     f"{rmap.regimes[1]:g} over a {len(rmap.x.values)} × {len(rmap.y.values)} "
                     f"grid of {rmap.x.name} [{rmap.x.lo:g}, {rmap.x.hi:g}] and {rmap.y.name} "
                     f"[{rmap.y.lo:g}, {rmap.y.hi:g}], other constants from the "
                     f"{rmap.scenario or 'model'} scenario: {rmap.runs} runs, engine "
                     f"{rmap.engine}; crossover year = last change of the leading regime "
                     "(interpolated)"))
    if brief.timings:
        rows.append(("Computing time", ", ".join(f"{k} {v:.1f} s"
                                                 for k, v in brief.timings.items())))
    for note in brief.notes:
        rows.append(("Left out", note))
    return [{"name": k, "value": v} for k, v in rows]


# -- rendering ------------------------------------------------------------------------

def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
    return Environment(loader=FileSystemLoader(str(_TEMPLATES)),
                       autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def render_html(brief: Brief, *, context: dict | None = None) -> str:
    """The brief as one self-contained HTML page."""
    ctx = context if context is not None else brief_context(brief)
    return _environment().get_template("brief.html").render(**ctx)


def render_pdf(brief: Brief, path: str | Path, *, context: dict | None = None) -> Path:
    """Write the brief as a PDF (fpdf2), with the same sections as the HTML."""
    import matplotlib
    from fpdf import FPDF

    ctx = context if context is not None else brief_context(brief)
    html = _environment().get_template("brief_pdf.html").render(**ctx)
    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdf = FPDF(format="A4")
    pdf.set_title(f"Policy brief: {ctx['model']['title']}")
    pdf.set_creator("sdrev")
    for style, file in (("", "DejaVuSans.ttf"), ("B", "DejaVuSans-Bold.ttf"),
                        ("I", "DejaVuSans-Oblique.ttf"), ("BI", "DejaVuSans-BoldOblique.ttf")):
        pdf.add_font("DejaVu", style, str(fonts / file))
    pdf.set_font("DejaVu", size=9.5)
    pdf.set_margins(16, 14, 16)
    pdf.set_auto_page_break(True, margin=14)
    pdf.add_page()
    from fpdf.html import DEFAULT_TAG_STYLES
    black = {tag: DEFAULT_TAG_STYLES[tag].replace(color="#000000", font_size_pt=size)
             for tag, size in (("h1", 18), ("h2", 14), ("h3", 11))}
    pdf.write_html(html, font_family="DejaVu", tag_styles=black)
    path = Path(path)
    pdf.output(str(path))
    return path


def write_brief(brief: Brief, folder: str | Path, *, command: str = "") -> list[Path]:
    """Write ``brief.html``, ``brief.pdf`` and ``manifest.json`` into a new run folder.

    Returns
    -------
    list of Path
        The files written, under their final names.
    """
    from sdrev import runs
    from sdrev.scenario import run_settings

    folder = Path(folder)
    ctx = brief_context(brief)
    with runs.staged_folder(folder) as stage:
        (stage / "brief.html").write_text(render_html(brief, context=ctx), encoding="utf-8")
        render_pdf(brief, stage / "brief.pdf", context=ctx)
        scenario = "baseline" if "baseline" in brief.model.scenarios else None
        extra = {"analysis": "brief", "files": ["brief.html", "brief.pdf"],
                 "answer": ctx["answer"], "sections": [
                     SECTION_TITLES[k] for k in SECTION_TITLES
                     if k != "regime" or brief.regime_map is not None],
                 "compared_runs": [r.label for r in brief.comparison.runs],
                 "sources": dict(brief.sources), "timings_seconds": dict(brief.timings),
                 "notes": list(brief.notes)}
        if brief.levers is not None:
            extra["sensitivity"] = {"method": brief.levers.method, "n": brief.levers.n,
                                    "seed": brief.levers.seed, "runs": brief.levers.runs,
                                    "settled": brief.levers.settled}
        if brief.regime_map is not None:
            extra["regime_map"] = brief.regime_map.summary()
        runs.write_json(stage / "manifest.json", runs.manifest(
            brief.model, run_settings(brief.model, scenario=scenario), command=command,
            extra=extra))
    return [folder / "brief.html", folder / "brief.pdf", folder / "manifest.json"]
