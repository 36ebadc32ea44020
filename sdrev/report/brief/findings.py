"""What a brief concludes: the answer paragraph and the policy findings.

Every sentence is drawn from a result the brief holds (the scenario runs,
their spread over parameter sets, the Sobol' indices, the loop analysis, the
regime map) and names the number and the figure it rests on; nothing is
typed in. :func:`answer_text` is the short answer under the question;
:func:`policy_findings` the "What this means for policy" list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sdrev.report.brief.words import (
    at_time,
    join,
    metric_words,
    name_scenarios,
    num,
    value_with_unit,
)

if TYPE_CHECKING:
    from sdrev.report.brief.record import Brief

__all__ = ["MIN_LEAD_SHARE", "MIN_PERIOD_SHARE", "Finding", "answer_text", "caveats",
           "dominant_loops",
           "loop_words", "mechanism_sequence", "policy_findings", "sequence_words",
           "threshold_words"]

#: Shortest solo lead (share of the horizon) the answer mentions.
MIN_LEAD_SHARE = 0.025
#: Shortest period (share of the horizon) a merged mechanism sequence keeps:
#: shorter ones are folded into their neighbour.
MIN_PERIOD_SHARE = 0.025


@dataclass(frozen=True)
class Finding:
    """One plain-language finding: a heading, the sentence(s) and where the
    reader finds the evidence (``"Figure 1"``, ``"Table 2"``)."""

    topic: str
    text: str
    evidence: str


def loop_words(analysis, loop_id: str) -> str:
    """A loop for a reader: ``R1 (strategic guiding)``, or its first variables."""
    row = analysis.loops[analysis.loops["id"] == loop_id]
    if not len(row):
        return loop_id
    row = row.iloc[0]
    if row["name"]:
        return f"{loop_id} ({row['name']})"
    chain = list(row["variables"])
    shown = " → ".join(chain[:3]) + (" → …" if len(chain) > 3 else "")
    return f"{loop_id} ({shown})"


def dominant_loops(analysis, top: int = 3) -> list[tuple[str, float]]:
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


def _order_spread(brief) -> str:
    """A sentence on how often the leading mechanism leads over the plausible
    parameter sets (empty without that analysis)."""
    spread = brief.loop_ensemble
    if spread is None:
        return ""
    t = brief.model.time
    table = spread.leading()
    table = table[(table["loop"] != "") & (table["end"] - table["start"] + (t.saveper or t.step)
                                           >= MIN_PERIOD_SHARE * (t.final - t.initial))]
    if table.empty:
        return ""
    lo, hi = float(table["probability"].min()), float(table["probability"].max())
    unc = brief.uncertainty
    words = unc.sets_words if unc is not None else "plausible parameter sets"
    text = (f" Across {spread.runs} {words}, the mechanism leading most "
            f"often leads in {lo:.0%}–{hi:.0%} of them, period by period")
    unsettled = ("; which mechanism leads depends on the noise." if unc is not None
                 and unc.noise_only else "; which mechanism leads is not settled by what "
                 "is known of the parameters.")
    return text + (unsettled if hi < 0.5 else ".")


def mechanism_sequence(analysis, *, min_share: float = 0.0) -> list[dict]:
    """Which documented loops lead when, in time order.

    Consecutive documented periods (:attr:`LoopAnalysis.documented_periods`)
    led by the same loop set are merged; with ``min_share`` > 0, periods
    shorter than that share of the horizon (after the first) are folded into
    the previous period and neighbours merged again. Each
    entry: ``loops`` (ids), ``start``, ``end``, ``share`` (mean share of the
    documented loops' change the set accounts for).
    """
    periods = getattr(analysis, "documented_periods", None)
    if periods is None or not len(periods):
        return []
    main = analysis.main_partition()
    if "partition" in periods and (periods["partition"] == main).any():
        periods = periods[periods["partition"] == main]
    out: list[dict] = []
    for row in periods.itertuples(index=False):
        _append(out, tuple(row.loops), float(row.start), float(row.end), [float(row.share)])
    if min_share > 0 and len(out) > 1:
        times = analysis.relative_scores.index.to_numpy(dtype=float)
        minimum = min_share * float(times[-1] - times[0]) if len(times) > 1 else 0.0
        kept: list[dict] = []
        for e in out:
            if e["end"] - e["start"] < minimum and kept:
                kept[-1]["end"] = e["end"]  # a blip: the previous set carries on
            else:
                _append(kept, e["loops"], e["start"], e["end"], e["shares"])
        out = kept
    for entry in out:
        entry["share"] = float(np.mean(entry.pop("shares")))
    return out


def _append(out: list[dict], loops: tuple, start: float, end: float, shares: list) -> None:
    if out and out[-1]["loops"] == loops:
        out[-1]["end"] = end
        out[-1]["shares"] += shares
    else:
        out.append({"loops": loops, "start": start, "end": end, "shares": list(shares)})


def sequence_words(analysis, sequence: list[dict]) -> str:
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
        if leads and leads[-1][0] == loop and (
                e["start"] - leads[-1][2] < MIN_PERIOD_SHARE * horizon
                or all(loop in m["loops"] for m in sequence[leads[-1][3] + 1:i])):
            leads[-1][2], leads[-1][3] = e["end"], i
        else:
            leads.append([loop, e["start"], e["end"], i])
    if not leads:
        return ""
    runs: list[tuple[str, list[str]]] = []
    for k, a, b, _ in leads:
        if runs and runs[-1][0] == k:
            runs[-1][1].append(f"{a:g}–{b:g}")
        else:
            runs.append((k, [f"{a:g}–{b:g}"]))
    words = [f"{loop_words(analysis, k)} ({join(spans)})" for k, spans in runs]
    if len(words) == 1:
        return f"Among the mechanisms the model documents, {words[0]} leads alone."
    return ("Among the mechanisms the model documents, the one leading alone is, in turn, "
            + ", then ".join(words) + ".")


def threshold_words(brief: Brief, output: str) -> str:
    """What the threshold of ``output`` is, in words."""
    from sdrev.compare import compare_defaults

    limit = compare_defaults(brief.model).thresholds.get(output)
    if isinstance(limit, str):
        return f"the model's {limit}"
    if limit is not None:
        return "the threshold set in the model's metadata"
    return ("halfway from its starting value to the most extreme final value of the "
            "scenarios, a reference point rather than a target named by the source")


def _metrics(brief: Brief, output: str):
    comp = brief.comparison
    return comp.metrics[comp.metrics["output"] == output].set_index("label")


def answer_text(brief: Brief) -> str:
    """The one-paragraph answer of the brief, drawn from its results."""
    comp = brief.comparison
    out = comp.outputs[0]
    units = comp.units.get(out, "")
    m = _metrics(brief, out)
    tu = brief.model.time.units
    end = at_time(float(comp.trajectories.index[-1]), tu)
    parts = []
    unc = brief.uncertainty
    if len(comp.runs) > 1:
        best, worst = m["final_value"].idxmax(), m["final_value"].idxmin()
        parts.append(f"By {end}, {out} is highest under “{best}” "
                     f"({value_with_unit(m.at[best, 'final_value'], units)}) and lowest "
                     f"under “{worst}” ({value_with_unit(m.at[worst, 'final_value'], units)}) "
                     "with the model's own constants.")
        changes = comp.leader_changes[comp.leader_changes["output"] == out]
        if len(changes):
            last = changes.iloc[-1]
            parts.append(f"“{last['before']}” leads at first, but “{last['after']}” "
                         f"overtakes it around {at_time(round(last['year']), tu)}.")
        if unc is not None:
            p = unc.probability(out, best, worst)
            if p is not None:
                parts.append(f"Over {unc.sets} {unc.sets_words}, “{best}” ends above "
                             f"“{worst}” in {p:.0%} of them.")
        reached = m["time_to_threshold"].dropna().sort_values()
        if len(reached):
            first = reached.index[0]
            parts.append(f"“{first}” is first to reach {num(m.at[first, 'threshold'])} "
                         f"(in {at_time(round(reached.iloc[0]), tu)}; the threshold is "
                         f"{threshold_words(brief, out)}).")
    else:
        row = m.iloc[0]
        parts.append(f"Under “{m.index[0]}”, {out} goes from "
                     f"{value_with_unit(row['initial_value'], units)} to "
                     f"{value_with_unit(row['final_value'], units)} by {end}.")
        if abs(row["peak_value"]) > max(abs(row["final_value"]), abs(row["initial_value"])) * 1.05:
            parts.append(f"It peaks at {value_with_unit(row['peak_value'], units)} "
                         f"around {at_time(row['peak_time'], tu)}.")
        if unc is not None:
            o = unc.outcome(out, m.index[0])
            if o is not None:
                parts.append(f"Over {unc.sets} {unc.sets_words} it ends between "
                             f"{num(o['lower'])} and {num(o['upper'])} (90% range).")
    rmap = brief.regime_map
    if rmap is not None:
        s = rmap.summary()
        a, b = rmap.labels
        parts.append(f"Over the {rmap.x.name} × {rmap.y.name} map, "
                     f"{a} reach the higher {rmap.output} by {rmap.year:g} in "
                     f"{s['share_first_ahead']:.0%} of the conditions{_where(rmap)}, {b} in "
                     f"{s['share_second_ahead']:.0%}; by {rmap.times[-1]:g} {b} lead in "
                     f"{s['share_second_ahead_at_end']:.0%}.")
    lev = brief.levers
    if lev is not None and len(lev.parameters) and lev.parameters["value"].notna().any():
        top = lev.parameters.dropna(subset=["value"]).head(3)
        if lev.main_index == "ST":
            items = [f"{r.label} ({r.value:.0%})" for r in top.itertuples()]
            parts.append(f"Of the {len(lev.parameters)} uncertain parameters varied, "
                         f"{join(items)} matter most for {lev.output} "
                         f"{metric_words(lev.metric, tu)}: the share of its variance each "
                         "accounts for, interactions included (total-order Sobol' index).")
        else:
            parts.append(f"The parameters that matter most for {lev.output} "
                         f"{metric_words(lev.metric, tu)} are "
                         f"{join([r.label for r in top.itertuples()])} "
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
        sequence = sequence_words(brief.loops, mechanism_sequence(
            brief.loops, min_share=MIN_PERIOD_SHARE))
        if sequence:
            parts.append("In the reference run: " + sequence[0].lower() + sequence[1:])
        else:
            dom = dominant_loops(brief.loops, 2)
            if dom:
                words = [f"{loop_words(brief.loops, k)} ({v:.0%} of the time)"
                         for k, v in dom]
                parts.append("In the reference run, the loops that most often drive "
                             f"behaviour are {join(words)}.")
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
        return f" (where {join(lows)} {'is' if len(lows) == 1 else 'are'} low)"
    if highs and not lows:
        return f" (where {join(highs)} {'is' if len(highs) == 1 else 'are'} high)"
    return ""


def policy_findings(brief: Brief, figures: dict[str, str]) -> list[Finding]:
    """The findings of "What this means for policy", each tied to a number and
    to the figure or table (``figures``: figure key -> ``"Figure N"``) it rests on."""
    comp = brief.comparison
    out = comp.outputs[0]
    units = comp.units.get(out, "")
    m = _metrics(brief, out)
    tu = brief.model.time.units
    end = at_time(float(comp.trajectories.index[-1]), tu)
    traj = figures.get("trajectories", "the trajectory figure")
    found: list[Finding] = []
    unc = brief.uncertainty
    ref = comp.runs[0].label
    # 1. where the scenarios end, and how sure that is
    if len(comp.runs) > 1:
        best = m["final_value"].idxmax()
        text = (f"“{best}” gives the highest {out} by {end}: "
                f"{value_with_unit(m.at[best, 'final_value'], units)} with the model's own "
                "constants")
        o = unc.outcome(out, best) if unc is not None else None
        if o is not None:
            text += (f"; over {unc.sets} {unc.sets_words} its median is "
                     f"{num(o['median'])} (90% range {num(o['lower'])}–{num(o['upper'])})")
        found.append(Finding("Which scenario comes out ahead", text + ".",
                             f"{traj}, Table “Outcomes under uncertainty”"
                             if unc is not None else traj))
    else:
        row = m.iloc[0]
        text = (f"{out} goes from {value_with_unit(row['initial_value'], units)} to "
                f"{value_with_unit(row['final_value'], units)} by {end}")
        if abs(row["peak_value"]) > max(abs(row["final_value"]),
                                        abs(row["initial_value"])) * 1.05:
            text += (f"; it peaks at {value_with_unit(row['peak_value'], units)} around "
                     f"{at_time(row['peak_time'], tu)}")
        o = unc.outcome(out, m.index[0]) if unc is not None else None
        if o is not None:
            text += (f"; over {unc.sets} {unc.sets_words} it ends between "
                     f"{num(o['lower'])} and {num(o['upper'])} (90% range)")
        found.append(Finding(f"How {out} develops", text + ".", traj))
    # 2. what happens when a mechanism or condition is cut
    for run in comp.runs[1:]:
        diff = m.at[run.label, "final_value"] - m.at[ref, "final_value"]
        base = m.at[ref, "final_value"]
        rel = f" ({diff / abs(base):+.0%})" if base and np.isfinite(base) else ""
        text = (f"Compared with “{ref}”, {out} in {end} is {num(abs(diff), 2)} "
                f"{'lower' if diff < 0 else 'higher'}{rel} under “{run.label}”")
        if unc is not None:
            p = unc.probability(out, run.label, ref)
            if p is not None:
                text += (f"; it ends {'below' if diff < 0 else 'above'} the reference in "
                         f"{(1 - p if diff < 0 else p):.0%} of the "
                         f"{unc.sets_words.removeprefix('plausible ')}")
        found.append(Finding(f"If the model runs as “{run.label}”", text + ".", traj))
        if len(found) >= 5:
            break
    # 3. the lever that matters most
    lev = brief.levers
    if lev is not None and lev.parameters["value"].notna().any():
        ranked = lev.parameters.dropna(subset=["value"])
        top = ranked.iloc[0]
        fig = figures.get("levers", "the lever table")
        if lev.main_index == "ST":
            text = (f"Of the uncertain quantities, {top['label']} matters most for {lev.output} "
                    f"{metric_words(lev.metric, tu)}: it accounts for {top['value']:.0%} of the "
                    "outcome's variance, interactions included")
            if len(ranked) > 1:
                nxt = ranked.iloc[1]
                text += f", against {nxt['value']:.0%} for the next, {nxt['label']}"
            text += (". Pinning it down, by better data or by a policy that sets it, "
                     "narrows the range of outcomes most.")
        else:
            text = (f"{top['label']} matters most for {lev.output} "
                    f"{metric_words(lev.metric, tu)} ({lev.method} {lev.main_index} "
                    f"{num(top['value'], 2)}).")
        found.append(Finding("Which lever matters most", text, fig))
    # 4. which mechanism leads when
    if brief.loops is not None:
        words = sequence_words(brief.loops, mechanism_sequence(
            brief.loops, min_share=MIN_PERIOD_SHARE))
        if words:
            words += _order_spread(brief)
            found.append(Finding("Which mechanism leads when", words,
                                 figures.get("loops", "the loop table")))
    # 5. regimes
    rmap = brief.regime_map
    if rmap is not None:
        s = rmap.summary()
        a, b = rmap.labels
        text = (f"{a[:1].upper() + a[1:]} are ahead in {rmap.year:g} in "
                f"{s['share_first_ahead']:.0%} of the conditions mapped{_where(rmap)}; by "
                f"{rmap.times[-1]:g}, {b} lead in {s['share_second_ahead_at_end']:.0%}.")
        if s["crossover_points"]:
            text += (f" Where the lead changes hands, it does so between "
                     f"{s['crossover_min']:.0f} and {s['crossover_max']:.0f}.")
        found.append(Finding("Which organisation of the industry wins where", text,
                             figures.get("regime", "the regime map")))
    return found


def caveats(brief: Brief) -> list[str]:
    """What a reader must keep in mind: omissions, unidentified parameters,
    unsettled estimates."""
    items = []
    omissions = list(brief.model.omissions)
    if omissions:
        first = name_scenarios(omissions[0], brief.model).rstrip(". ")
        items.append("The model leaves out: " + first[:1].lower() + first[1:]
                     + (f" (and {len(omissions) - 1} more omissions, listed under "
                        "“What the model assumes and leaves out”)." if len(omissions) > 1
                        else "."))
    else:
        items.append("The model's metadata documents no omissions: ask its author what "
                     "it leaves out before relying on it.")
    unc = brief.uncertainty
    if unc is not None and unc.unidentified:
        items.append("The calibration data do not identify "
                     + join(list(unc.unidentified))
                     + ": their posterior is about as wide as their prior, so the ranges "
                     "above carry the prior's assumptions for them.")
    elif unc is not None and not unc.posterior:
        items.append("The ranges come from the documented ranges of the uncertain "
                     "parameters, not from data: they show what the model allows, not how "
                     "likely each outcome is.")
    lev = brief.levers
    if lev is not None and lev.settled is False:
        items.append(f"The Sobol' indices have not settled at N = {lev.n}: read them as a "
                     "ranking, not as exact shares.")
    if lev is not None and (lev.parameters["s1"] > lev.parameters["value"] + 0.05).any():
        items.append("Some first-order indices exceed the total-order ones or are negative: "
                     "sampling error at this N, not a property of the model.")
    return items

