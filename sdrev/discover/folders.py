"""Discovery results in words and in run folders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sdrev.discover.boxes import Box
from sdrev.discover.run import DiscoveryResult

__all__ = ["box_sentence", "summary_text", "write"]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def box_sentence(result: DiscoveryResult, box: Box) -> str:
    """One box in plain words.

    "The innovation network is ahead ... in 97% of runs when Division of
    Labour Gain > 1.2 and LIE Resource Concentration < 1.7; these cover 41%
    of all such runs (36% of all runs)."
    """
    conds = " and ".join(box.conditions())
    if box.target:
        what = _cap(result.label) if result.label else "The outcome holds"
        whole = "all such runs" if result.label else "all runs where it holds"
    else:
        what = _cap(result.label_fails) if result.label_fails else "The outcome fails"
        whole = "all such runs" if result.label_fails else "all runs where it fails"
    if box.rank > 1 and result.method == "prim":
        conds += " (outside the earlier boxes)"
    return (f"{what} in {box.density:.0%} of runs when {conds}; these cover "
            f"{box.coverage:.0%} of {whole} ({box.mass:.0%} of all runs).")


def summary_text(result: DiscoveryResult) -> str:
    """The discovery in plain words: the outcome's share and each box."""
    scen = ", ".join(s if s is not None else (result.base_scenario or "the model's constants")
                     for s in result.scenarios)
    head = (f"Scenario discovery for {result.model} ({result.method.upper()}) over "
            f"{result.source}: {result.simulations:,} runs ({scen}) in "
            f"{result.seconds_runs:.1f} s, boxes in {result.seconds_boxes:.1f} s.")
    lines = [head] + ([f"Question: {result.question}"] if result.question else []) + [
        f"Outcome: {result.outcome}"]
    if result.label:
        lines.append(f"  ({result.label})")
    lines.append(f"It holds in {result.share:.0%} of the {len(result.holds):,} parameter sets"
                 + (f" ({result.undecided:,} undecided: non-finite runs, left out)."
                    if result.undecided else "."))
    for target, title in ((True, "Where it holds"), (False, "Where it fails")):
        boxes = result.boxes_for(target)
        lines.append(f"{title}:")
        if not boxes:
            lines.append("  no box concentrates these runs: none reaches the density floor and "
                         "keeps twice their odds once restrictions that do not matter "
                         "are dropped")
        for box in boxes:
            lines.append(f"  box {box.rank}: {box_sentence(result, box)}")
            qps = ", ".join(f"{r.factor} {r.qp:.1g}" for r in box.limits.itertuples())
            lines.append(f"         quasi-p of each restriction: {qps}")
    restricted = {f for b in result.boxes for f in b.factors}
    lines.append(f"{len(result.factors) - len(restricted)} of {len(result.factors)} factors "
                 "are restricted by no box.")
    if result.fixed:
        lines.append("Set by every scenario of the outcome (not varied): "
                     + ", ".join(result.fixed) + ".")
    return "\n".join(lines)


def write(result: DiscoveryResult, folder, *, command: str = "", figures: bool = True,
          formats: Sequence[str] = ("png", "svg")) -> list[str]:
    """Write a discovery run folder.

    ``boxes.csv`` (one row per box: class, rank, coverage, density, mass,
    runs, the conditions), ``limits.csv`` (one row per restriction: low,
    high, quasi-p-value), ``trajectory.csv`` (PRIM's peeling trajectories,
    the chosen boxes marked), ``runs.csv`` (each parameter set's factor
    values and outcome), ``summary.txt``, ``figures/`` (peeling
    trajectory, box limits, pairwise scatter; PNG and SVG) and
    ``manifest.json``; assembled in a staging folder and moved into place
    (:func:`sdrev.runs.staged_folder`).

    Returns
    -------
    list of str
        The files written, relative to the folder.
    """
    from sdrev import runs
    from sdrev.model import load
    from sdrev.scenario import run_settings

    written: list[str] = []
    with runs.staged_folder(Path(folder)) as stage:
        result.box_table().to_csv(stage / "boxes.csv", index=False)
        result.limit_table().to_csv(stage / "limits.csv", index=False)
        result.trajectory.to_csv(stage / "trajectory.csv", index=False)
        result.samples.assign(outcome=result.holds).to_csv(stage / "runs.csv",
                                                           index_label="set")
        (stage / "summary.txt").write_text(summary_text(result) + "\n", encoding="utf-8")
        written += ["boxes.csv", "limits.csv", "trajectory.csv", "runs.csv", "summary.txt"]
        if figures:
            from sdrev.figures.discover import write_discover_figures
            paths = write_discover_figures(result, stage / "figures", formats=formats)
            written += [str(p.relative_to(stage)) for p in paths]
        model = load(result.model_path)
        runs.write_json(stage / "manifest.json", runs.manifest(
            model, run_settings(model, scenario=result.base_scenario), command=command,
            extra={"analysis": "discover", "outcome": result.outcome, "label": result.label,
                   "method": result.method, "scenarios": list(result.scenarios),
                   "source": result.source, "seed": result.seed,
                   "parameter_sets": len(result.holds), "undecided": result.undecided,
                   "simulations": result.simulations, "share_holds": result.share,
                   "factors": {f: list(result.ranges[f]) for f in result.factors},
                   "fixed": list(result.fixed),
                   "seconds_runs": result.seconds_runs,
                   "seconds_boxes": result.seconds_boxes, "files": written}))
    return written
