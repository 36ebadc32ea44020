"""What a brief holds: :class:`Brief`, :func:`build_brief` (run or read every
part) and :func:`brief_context` (the plain values the templates show).

Sections
--------
:data:`SECTION_TITLES` lists the sections in the order the brief shows them;
each key ``k`` has a template ``templates/sections/k.html`` and, when it needs
values of its own, an entry in :data:`SECTION_CONTEXT` (a function from the
:class:`Brief` to a dict, or ``None`` to leave the section out). Adding a
section is those three steps.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sdrev.errors import InvalidValueError, SdrevError
from sdrev.report.brief.record import Brief
from sdrev.report.brief.figures import brief_figures
from sdrev.report.brief.findings import (
    MIN_PERIOD_SHARE,
    answer_text,
    caveats,
    dominant_loops,
    loop_words,
    mechanism_sequence,
    policy_findings,
    threshold_words,
)
from sdrev.report.brief.levers import (
    DEFAULT_SENSITIVITY_N,
    default_sensitivity,
    levers_from_folder,
    levers_from_result,
)
from sdrev.report.brief.settings import (SETTINGS_SCENARIO, setting_text, switches_of,
                                         with_settings)
from sdrev.report.brief.uncertainty import DEFAULT_UNCERTAINTY_N, noise_statement
from sdrev.report.brief.words import (
    clean_source,
    metric_words,
    name_scenarios,
    num,
    relabel,
    unit_text,
    year,
)
from sdrev.scenario import Switch
from sdrev.units import MISSING, duration_label, reader_units

if TYPE_CHECKING:
    from sdrev.model import Model

__all__ = ["SECTION_CONTEXT", "SECTION_TITLES", "TOP_LEVERS", "Brief", "brief_context",
           "brief_sections", "build_brief"]

#: Section headings, in the order the brief shows them (the regime map only
#: for models that have one).
SECTION_TITLES = {
    "answer": "The question and the answer",
    "policy": "What this means for policy",
    "trajectories": "Key trajectories under each scenario",
    "uncertainty": "Uncertainty",
    "levers": "Top levers and deciding feedback loops",
    "regime": "Regime map",
    "assumptions": "What the model assumes and leaves out",
    "methods": "Methods appendix",
}
#: Levers and loops listed in the tables.
TOP_LEVERS = 8
#: Parameter sets of the brief's scenario discovery (CART boxes; `sdrev discover`
#: runs PRIM on more).
DISCOVER_N = 2000


def build_brief(model: Model | str, *, scenarios: Sequence[str] | None = None,
                sensitivity: str | Path | bool | None = None,
                sensitivity_n: int = DEFAULT_SENSITIVITY_N, loops: bool = True,
                compare: str | Path | None = None, regime_map: bool = True,
                uncertainty: bool = True, posterior: str | Path | None = None,
                uncertainty_n: int = DEFAULT_UNCERTAINTY_N, discover: bool = True,
                params: Mapping[str, object] | None = None, progress: bool = False) -> Brief:
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
    uncertainty : bool
        Run the compared scenarios over many parameter sets (bands, outcome
        ranges, how often one scenario ends above another).
    posterior : run folder, optional
        A calibration run folder whose posterior draws are the parameter sets
        (default: a Latin hypercube over the documented ranges).
    uncertainty_n : int
        Parameter sets of the uncertainty runs.
    discover : bool
        For a model with a regime map and a ``[discover]`` outcome, find the
        boxes of conditions under which each regime leads (CART over
        :data:`DISCOVER_N` parameter sets, :func:`sdrev.discover.run`).
    params : mapping, optional
        Constants set on top of every scenario (Vensim or snake_case names),
        as ``sdrev simulate --set`` sets them: the brief is for these
        settings. They are not sampled as uncertain, and the brief lists them.
        A value may be timed (``"VALUE@TIME"`` or a
        :class:`~sdrev.scenario.Switch`): the scenario runs, the uncertainty
        runs and the loop analysis step the constant to VALUE at TIME (its
        scenario value before); the parts that hold constants fixed for the
        whole run (sensitivity, regime map, discovery, loop dominance over
        parameter sets) say in the brief how they treat it.
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
    if int(uncertainty_n) < 2:
        raise InvalidValueError(f"uncertainty_n must be at least 2, got {uncertainty_n!r}")
    if not isinstance(model, Model):
        model = load(model)
    settings: dict[str, object] = {}
    if params:
        if compare is not None:
            raise InvalidValueError("--set and --compare do not go together: the compare "
                                    "run folder was made without these settings")
        model, settings = with_settings(model, params)
    fixed = frozenset(settings)
    switches = switches_of(settings)
    if posterior is not None and not (Path(posterior) / "posterior.csv").is_file():
        from sdrev.errors import ModelNotFoundError
        raise ModelNotFoundError(f"{str(posterior)!r} is not a calibration run folder (no "
                                 "posterior.csv); give the folder `sdrev calibrate` wrote")
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
        comp = cmp.compare_scenarios(model, scenarios, params=switches or None)
        timings["scenarios"] = _time.perf_counter() - start
    ids = {r.label: r.scenario for r in comp.runs}
    comp = relabel(comp, model)
    labels = {ids[old]: new.label for old, new in zip(ids, comp.runs) if ids[old]}
    unc = None
    if uncertainty:
        from sdrev.report.brief.uncertainty import brief_uncertainty
        start = _time.perf_counter()
        try:
            unc, _ = brief_uncertainty(model, comp, labels, posterior=posterior,
                                       n=int(uncertainty_n), fixed=fixed, switches=switches,
                                       progress=progress)
            if posterior is not None:
                sources["posterior"] = str(posterior)
        except SdrevError as exc:
            if posterior is not None:
                raise
            notes.append(f"Uncertainty analysis left out: {exc}")
        timings["uncertainty"] = _time.perf_counter() - start
    analysis = None
    if loops:
        from sdrev import loops as loops_mod
        start = _time.perf_counter()
        scen = next((s for s in ("baseline", SETTINGS_SCENARIO) if s in model.scenarios), None)
        try:
            analysis = loops_mod.analyze(model, scenario=scen, params=switches or None)
        except SdrevError as exc:
            notes.append(f"Loop analysis left out: {exc}")
        except Exception as exc:  # engine cannot compile the model (subscripts, macros)
            notes.append(f"Loop analysis left out: {type(exc).__name__}: {exc}")
        timings["loops"] = _time.perf_counter() - start
    spread = None
    if analysis is not None and unc is not None and unc.samples is not None and switches:
        notes.append("How often each mechanism leads over the plausible parameter sets is "
                     "left out: loop dominance over many runs takes constant settings, and "
                     f"{_timed_text(switches)} is timed (the loop analysis above follows "
                     "the run with the switch).")
    elif analysis is not None and unc is not None and unc.samples is not None:
        start = _time.perf_counter()
        spread = _loop_ensemble(model, unc.samples, scen, notes, progress=progress)
        timings["loop_dominance"] = _time.perf_counter() - start
    levers = None
    if sensitivity is not False:
        start = _time.perf_counter()
        if sensitivity not in (None, True):
            levers = levers_from_folder(model, sensitivity, output=comp.outputs[0])
            if settings:
                notes.append(f"The sensitivity analysis read from {Path(sensitivity).name} "
                             "was run without this brief's settings.")
            sources["sensitivity"] = str(sensitivity)
        else:
            try:
                result, how = default_sensitivity(model, n=sensitivity_n, output=comp.outputs[0],
                                                  fixed=fixed, progress=progress)
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
    found = None
    if discover and rmap is not None:
        from sdrev import discover as disc
        if disc.discover_defaults(model).outcome:
            start = _time.perf_counter()
            try:
                found = disc.run(model, n=DISCOVER_N, method="cart", progress=progress)
            except SdrevError as exc:
                notes.append(f"Scenario discovery left out: {exc}")
            timings["discovery"] = _time.perf_counter() - start
    held = [part for part, done in (("the sensitivity analysis", levers is not None
                                     and sensitivity in (None, True)),
                                    ("the regime map", rmap is not None and compare is None),
                                    ("scenario discovery", found is not None)) if done]
    if switches and held:
        parts = ", ".join(held[:-1]) + (" and " if len(held) > 1 else "") + held[-1]
        notes.append(f"{parts[0].upper()}{parts[1:]} hold{'s' if len(held) == 1 else ''} "
                     f"each constant fixed for the whole run: {_timed_text(switches)} is "
                     "there at its scenario value, without the switch.")
    from sdrev.ensemble.stochastic import model_has_noise
    return Brief(model=model, comparison=comp, loops=analysis, levers=levers,
                 regime_map=rmap, uncertainty=unc, discovery=found, loop_ensemble=spread,
                 notes=tuple(notes), settings=MappingProxyType(settings),
                 noise=model_has_noise(model.path),
                 timings={k: round(v, 2) for k, v in timings.items()}, sources=sources,
                 created=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _timed_text(switches) -> str:
    """The timed settings in words: ``"Policy Switch = 1 from 2012"``, joined."""
    return " and ".join(setting_text(name, switch) for name, switch in switches.items())


#: Parameter sets of the brief's loop-dominance analysis (the first of the
#: uncertainty sets): enough for shares to within a few points.
LOOP_DOMINANCE_SETS = 200


def _loop_ensemble(model, samples: pd.DataFrame, scenario, notes: list, *,
                   progress: bool):
    """Loop dominance over the uncertainty's parameter sets, or ``None`` (with a note)."""
    from sdrev import loops as loops_mod

    if any(isinstance(p.value, Mapping) for p in model.parameters):
        notes.append("How often each mechanism leads over the plausible parameter sets is "
                     "left out: a subscripted model's loops are found run by run, too slowly "
                     "for a brief (`sdrev loops MODEL --sample lhs:N` computes it).")
        return None
    try:
        return loops_mod.analyze_ensemble(model, samples.head(LOOP_DOMINANCE_SETS),
                                          scenario=scenario, progress=progress)
    except SdrevError as exc:
        notes.append(f"Loop dominance over parameter sets left out: {exc}")
    except Exception as exc:  # the engine cannot compile the model
        notes.append(f"Loop dominance over parameter sets left out: "
                     f"{type(exc).__name__}: {exc}")
    return None


# -- the context of each section ---------------------------------------------------------

def _rows(frame: pd.DataFrame, top: int) -> list[dict]:
    rows = []
    for r in frame.head(top).itertuples(index=False):
        rows.append({"label": r.label, "value": num(r.value, 2),
                     "interval": (f"{num(r.ci_low, 2)} – {num(r.ci_high, 2)}"
                                  if np.isfinite(r.ci_low) else "n/a"),
                     "s1": num(r.s1, 2)})
    return rows


def _output_head(output: str, units: str) -> str:
    text = unit_text(units)
    return f"{output} ({text})" if text else output


def _trajectories(brief: Brief) -> dict:
    model, comp = brief.model, brief.comparison
    scen = []
    for r in comp.runs:
        desc = (name_scenarios(model.scenarios[r.scenario].description, model)
                if r.scenario in model.scenarios else "")
        extra = ", ".join(f"{k} = {v:g}" for k, v in r.params.items())
        scen.append({"label": r.label, "description": desc, "params": extra})
    rows = []
    for out in comp.outputs[:3]:
        part = comp.metrics[comp.metrics["output"] == out]
        for r in part.itertuples(index=False):
            rows.append({
                "output": _output_head(out, r.units), "label": r.label,
                "final": num(r.final_value), "threshold": num(r.threshold),
                "time": year(r.time_to_threshold),
                "area": num(r.net_area) if r.label != comp.runs[0].label else "reference"})
    thresholds = [{"output": out, "what": threshold_words(brief, out),
                   "value": num(float(comp.thresholds[out]))}
                  for out in comp.outputs[:3] if out in comp.thresholds]
    return {"scenarios": scen, "metrics": rows, "thresholds": thresholds,
            "bands": brief.uncertainty is not None,
            "bands_over": (brief.uncertainty.sets_words if brief.uncertainty is not None
                           else ""),
            "leader_changes": [{"output": r.output, "year": f"{r.year:.0f}", "before": r.before,
                                "after": r.after}
                               for r in comp.leader_changes.itertuples(index=False)],
            "single": len(comp.runs) == 1}


def _uncertainty(brief: Brief) -> dict:
    unc = brief.uncertainty
    if unc is None:
        return {"available": False, "reason": next(
            (n for n in brief.notes if n.startswith("Uncertainty")),
            "No uncertainty analysis is part of this brief.")}
    comp = brief.comparison
    res = unc.result
    finals = comp.metrics.set_index(["output", "label"])["final_value"]
    rows = []
    for r in res.outcomes.itertuples(index=False):
        point = finals.get((r.output, r.scenario), np.nan)
        rows.append({"output": _output_head(r.output, res.units.get(r.output, "")),
                     "label": r.scenario, "point": num(point), "median": num(r.median),
                     "range": f"{num(r.lower)} – {num(r.upper)}"})
    pairs = []
    ref = res.scenarios[0]
    for out in res.outputs[:2] if len(res.pairwise) else ():
        p = res.pairwise[(res.pairwise["output"] == out) & (res.pairwise["other"] == ref)]
        for r in p.itertuples(index=False):
            pairs.append({"output": out, "scenario": r.scenario, "other": r.other,
                          "share": f"{r.probability:.0%}"})
    return {"available": True, "sets": unc.sets, "time": f"{res.time:g}",
            "posterior": unc.posterior, "source": unc.source, "rows": rows, "pairs": pairs,
            "factors": len(unc.factors), "reference": ref, "noise_only": unc.noise_only,
            "sets_words": unc.sets_words,
            "sets_short": unc.sets_words.removeprefix("plausible "),
            "unidentified": list(unc.unidentified), "noise": noise_statement(unc)}


def _levers(brief: Brief) -> dict | None:
    lev = brief.levers
    if lev is None:
        return None
    negative = bool((lev.parameters["s1"] < -0.02).any())
    above = bool((lev.parameters["s1"] > lev.parameters["value"] + 0.02).any())
    return {"method": lev.method, "index": lev.main_index, "n": lev.n, "runs": lev.runs,
            "output": lev.output,
            "metric": metric_words(lev.metric, brief.model.time.units),
            "parameters": _rows(lev.parameters, TOP_LEVERS),
            "loops": _rows(lev.loops, TOP_LEVERS), "count": len(lev.parameters),
            "settled": lev.settled, "odd_s1": negative or above}


def _fold_periods(table: pd.DataFrame, model) -> list[tuple]:
    """Leading periods with those shorter than :data:`MIN_PERIOD_SHARE` of the
    horizon folded into the one before (the first into the next), and
    neighbours of the same loop joined; shares weighted by duration."""
    t = model.time
    step = t.saveper or t.step
    shortest = MIN_PERIOD_SHARE * (t.final - t.initial)
    rows = [[r.start, r.end, r.loop, r.probability] for r in table.itertuples(index=False)
            if r.loop]
    out: list[list] = []
    for row in rows:
        if out and (row[1] - row[0] + step < shortest or out[-1][2] == row[2]):
            prev = out[-1]
            span_a, span_b = prev[1] - prev[0] + step, row[1] - row[0] + step
            if prev[2] == row[2]:
                prev[3] = (prev[3] * span_a + row[3] * span_b) / (span_a + span_b)
            prev[1] = row[1]
            continue
        if out and out[-1][1] - out[-1][0] + step < shortest and len(out) == 1:
            row = [out[0][0], *row[1:]]  # a short first period joins the next
            out.pop()
        out.append(list(row))
    return [tuple(r) for r in out]


def _loops(brief: Brief) -> dict | None:
    a = brief.loops
    if a is None:
        return None
    spread = brief.loop_ensemble
    leading = []
    if spread is not None:
        for start, end, loop, share in _fold_periods(spread.leading(), brief.model):
            leading.append({"years": f"{start:g}–{end:g}", "loop": loop_words(a, loop),
                            "share": f"{share:.0%}"})
    words = (brief.uncertainty.sets_words if brief.uncertainty is not None
             else "plausible parameter sets")
    return {"spread": {"sets": spread.runs, "leading": leading, "words": words}
            if spread is not None
            else None,
            "count": len(a.loops), "method": a.method,
            "dominant": [{"loop": loop_words(a, k), "share": f"{v:.0%}",
                          "polarity": a.loops.loc[a.loops["id"] == k, "polarity"].iloc[0]}
                         for k, v in dominant_loops(a, 5)],
            "sequence": [{"years": f"{e['start']:g}–{e['end']:g}",
                          "loops": ", ".join(loop_words(a, k) for k in e["loops"]),
                          "share": f"{e['share']:.0%}"}
                         for e in mechanism_sequence(a, min_share=MIN_PERIOD_SHARE)]}


def _regime(brief: Brief) -> dict | None:
    rmap = brief.regime_map
    if rmap is None:
        return None
    s = rmap.summary()
    return {"labels": rmap.labels, "Label": rmap.labels[0][:1].upper() + rmap.labels[0][1:],
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
            "discovery": _discovery(brief)}


def _discovery(brief: Brief) -> dict | None:
    """The boxes of conditions under which each regime leads, in words and limits."""
    found = brief.discovery
    if found is None:
        return None
    from sdrev.discover import box_sentence
    boxes = [{"sentence": box_sentence(found, b),
              "limits": [{"factor": r.factor, "low": num(r.low, 3), "high": num(r.high, 3),
                          "qp": f"{r.qp:.1g}"} for r in b.limits.itertuples(index=False)]}
             for b in found.boxes]
    label = found.label or f"the outcome {found.outcome} holds"
    none = [(found.label if target else found.label_fails) or
            f"the outcome {'holds' if target else 'fails'}"
            for target in (True, False) if not found.boxes_for(target)]
    return {"label": label, "share": f"{found.share:.0%}", "sets": f"{len(found.holds):,}",
            "factors": len(found.factors), "boxes": boxes, "none": none,
            "method": found.method.upper()}


#: Section key -> function from the Brief to the section's values (``None``:
#: the section is left out). Sections without an entry only use shared values.
SECTION_CONTEXT: dict[str, Callable[[Brief], dict | None]] = {
    "trajectories": _trajectories,
    "uncertainty": _uncertainty,
    "levers": _levers,
    "regime": _regime,
}


def brief_sections(brief: Brief) -> list[str]:
    """The section keys the brief shows, in order."""
    return [k for k in SECTION_TITLES if k != "regime" or brief.regime_map is not None]


def brief_context(brief: Brief, *, figures: bool = True) -> dict:
    """The values the templates show (plain strings, numbers and lists)."""
    from sdrev import runs

    model, comp = brief.model, brief.comparison
    keys = brief_sections(brief)
    ctx: dict = {"titles": SECTION_TITLES, "sections": keys, "notes": list(brief.notes)}
    ctx["model"] = {"name": model.name, "title": model.title or model.name,
                    "description": clean_source(model.description),
                    "source": clean_source(model.source),
                    "question": model.question or (
                        f"How do the scenarios of {model.title or model.name} differ, and "
                        "what decides the outcome?" if len(comp.runs) > 1 else
                        f"How does {comp.outputs[0]} develop in {model.title or model.name}, "
                        "and what decides it?")}
    ctx["settings"] = []
    for name, value in brief.settings.items():
        units = reader_units(model.parameter(name).units)
        units = "" if units == MISSING else units
        if isinstance(value, Switch):  # "1 Dmnl from 2012": the units before the time
            text = f"{value.value:g}{' ' + units if units else ''} from {value.at:g}"
            ctx["settings"].append({"name": name, "value": text, "timed": True, "units": ""})
        else:
            ctx["settings"].append({"name": name, "value": f"{value:g}", "timed": False,
                                    "units": units})
    ctx["answer"] = answer_text(brief)
    figs = brief_figures(brief) if figures else {}
    numbers = {k: f"Figure {i + 1}" for i, k in enumerate(figs)}
    ctx["figures"] = {k: {"uri": uri, "number": numbers[k]} for k, uri in figs.items()}
    ctx["findings"] = [f.__dict__ for f in policy_findings(brief, numbers)]
    ctx["caveats"] = caveats(brief)
    for key, make in SECTION_CONTEXT.items():
        if key in keys:
            value = make(brief)
            if value is not None:
                ctx[key] = value
    loops = _loops(brief)
    if loops is not None:
        ctx["loops"] = loops
    ctx["reference"] = comp.runs[0].label
    ctx["end_year"] = f"{float(comp.trajectories.index[-1]):g}"
    unit = model.time.units
    ctx["time_word"] = duration_label(unit, plural=False).capitalize() if unit else "Time"
    ctx["time_plural"] = duration_label(unit)
    ctx["missing"] = MISSING
    ctx["assumptions"] = [name_scenarios(a, model) for a in model.assumptions] or [
        "The model's metadata documents no assumptions."]
    ctx["omissions"] = [name_scenarios(o, model) for o in model.omissions] or [
        "The model's metadata documents no omissions."]
    ctx["methods"] = _methods(brief)
    versions = runs.software_versions()
    from importlib import metadata
    try:
        versions["jinja2"] = metadata.version("jinja2")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        versions["jinja2"] = "unknown"
    ctx["software"] = [{"name": k, "version": v} for k, v in versions.items()]
    ctx["created"] = brief.created
    return ctx


#: How the brief names each engine that may have computed a scenario run
#: (:attr:`sdrev.compare.ComparedRun.engine`).
ENGINE_WORDS = {"sdrev": "on sdrev's compiled engine",
                "pysd": "with PySD",
                "pysd-fallback": "with PySD (the compiled engine could not run the model)"}


def _engines_text(comp) -> str:
    """The engine(s) that computed the comparison's runs, from the runs themselves."""
    used = [r.engine for r in comp.runs]
    if len(set(used)) == 1:
        return ENGINE_WORDS.get(used[0], f"on engine {used[0]}" if used[0] else
                                "(engine not recorded in the comparison read)")
    return "(" + "; ".join(f"{r.label} {ENGINE_WORDS.get(r.engine, r.engine or 'engine not recorded')}"
                           for r in comp.runs) + ")"


def _settings_method(brief: Brief) -> str:
    """The Settings row of the methods table: values, and how timed ones switch."""
    text = "; ".join(setting_text(k, v) for k, v in brief.settings.items())
    text += ", set on top of every scenario"
    timed = switches_of(brief.settings)
    if len(timed) < len(brief.settings):
        text += "; constant settings held fixed in every run"
    if timed:
        unit = brief.model.time.units
        text += (f"; a setting “from T” (T in {duration_label(unit, plural=False) if unit else 'the model time unit'}) "
                 "keeps the constant at its scenario value before T and steps it to the "
                 "new value at the first time step at or past T, as Vensim's STEP does, in "
                 "the scenario runs, the uncertainty runs and the loop analysis")
    return text


def _methods(brief: Brief) -> list[dict]:
    model, comp = brief.model, brief.comparison
    t = model.time
    rows = [("Model file", f"{model.path.name} ({model.name})"),
            ("Model file SHA-256", model.sha256),
            ("Time axis", f"{t.initial:g} to {t.final:g}, time step {t.step:g}, saved every "
                          f"{t.saveper:g} ({duration_label(t.units)})"),
            *([("Settings", _settings_method(brief))] if brief.settings else []),
            ("Scenarios compared", f"{len(comp.runs)} runs {_engines_text(comp)}: "
             + "; ".join(r.label for r in comp.runs)
             + (f" (from {brief.sources['compare']})" if "compare" in brief.sources else "")),
            ("Time to threshold", "first time the output reaches the threshold, linear "
             "interpolation between saved times; area = integral over time of the "
             f"difference to “{comp.runs[0].label}”, in output units × "
             f"{duration_label(t.units)}")]
    if brief.noise:
        rows.append(("Random numbers", "the model draws random numbers (Vensim's RANDOM "
                     "functions), one realisation per run from a stream keyed by a seed and "
                     "the run's index: the scenario runs and the loop analysis follow run 0 "
                     "of seed 0; each uncertainty set its own stream, so bands and ranges "
                     "include the noise; the sensitivity analysis treats the noise "
                     "realisation as a factor of its own (noise seed) unless its spec says "
                     "otherwise"))
    unc = brief.uncertainty
    if unc is not None:
        varied = ("only the noise varied" if unc.noise_only else
                  f"{len(unc.factors)} constants varied, 0/1 switches and loop gains kept at "
                  "their values")
        rows.append(("Uncertainty", f"every compared scenario run over {unc.sets} "
                     f"{unc.sets_words.removeprefix('plausible ')} on the ensemble engine "
                     f"({unc.source}); {varied}; bands and ranges: 5th to 95th percentile"))
    if brief.loops is not None:
        a = brief.loops
        rows.append(("Feedback loops", f"Loops that Matter (Schoenberg, Davidsen & Eberlein "
                     f"2020) on the {a.scenario or 'model'} run: {len(a.loops)} loops, "
                     f"{a.method} search, dominance threshold 50% of loop activity; periods "
                     "shorter than 5% of the horizon folded into their neighbour"))
    lev = brief.levers
    if lev is not None:
        conv = ("not checked" if lev.settled is None else
                f"{'settled' if lev.settled else 'not settled'}: largest change of "
                f"{lev.main_index} between N/2 and N is {num(lev.max_change, 2)}")
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
    found = brief.discovery
    if found is not None:
        rows.append(("Scenario discovery", f"{found.method.upper()} boxes (scikit-learn "
                     f"decision tree) over {found.source}, {found.simulations} runs on the "
                     f"ensemble engine; outcome {found.outcome}; a box is a leaf at least half "
                     "way in density from its class's share to 1, restrictions with a "
                     "quasi-p-value above 0.05 dropped, kept if the odds of its class inside "
                     "are at least twice those overall; `sdrev discover` runs PRIM"))
    if brief.timings:
        rows.append(("Computing time", ", ".join(f"{k} {v:.1f} s"
                                                 for k, v in brief.timings.items())))
    for note in brief.notes:
        rows.append(("Left out", note))
    return [{"name": k, "value": v} for k, v in rows]
