"""Sensitivity run folders (write) and the plain-text summary of a result."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from sdrev.sensitivity.run import SensitivityResult, time_metrics
from sdrev.sensitivity.spec import NOISE_FACTOR, Spec
from sdrev.units import duration_label

__all__ = ["noise_words", "summary_text", "write"]


def noise_words(spec: Spec, seed: int) -> str:
    """How an analysis treats the model's noise, in words (``""`` for a model
    without RANDOM functions)."""
    seed = int(seed) % 2**53
    if spec.noise is None:
        return ""
    if spec.noise == "factor":
        return (f"The model draws random numbers: the noise realisation is the factor "
                f"{NOISE_FACTOR!r} (one of {spec.noise_realisations:,} streams of seed "
                f"{seed}, discrete uniform), so its index is the share of the output's "
                "variance the noise explains.")
    if spec.noise == "fixed":
        return (f"The model draws random numbers: every run draws the same noise "
                f"realisation (stream 0 of seed {seed}); the indices hold for that "
                "realisation only.")
    return (f"The model draws random numbers: each run draws its own noise realisation "
            f"(seed {seed}), variance no factor is given; Sobol' total indices count it "
            "in every factor's.")


def summary_text(result: SensitivityResult, *, top: int = 3) -> str:
    """The top factors per output metric, and the deciding loop, in plain words.

    Parameters
    ----------
    result : SensitivityResult
    top : int, optional
        Factors named per output metric.
    """
    main = result.main_index
    idx = result.indices
    loop_words = {m.name: m.words() for m in result.spec.loop_metrics}

    def _metric_words(metric: str) -> str:
        return loop_words.get(metric) or _words(metric)

    seconds = result.timings.get("loop_metrics", 0.0)
    loops_time = f", {seconds:.1f} s in loop analyses" if result.spec.loop_metrics else ""
    label = {"ST": "total-order Sobol' index ST", "mu_star": "Morris mu*",
             "S1": "first-order index S1", "delta": "delta index",
             "median": "PAWN median KS statistic"}.get(main, main)
    lines = [f"Sensitivity of {result.model.title or result.model.name}: {result.method}, "
             f"N = {result.n}, seed {result.seed}, {result.runs} runs "
             f"({result.timings['total']:.1f} s; {result.timings['simulation']:.1f} s "
             f"simulating{loops_time}). Factors ranked by {label}."]
    noise = noise_words(result.spec, result.seed)
    if noise:
        lines.append(noise)
    for group, title in (("parameters", "Parameters"), ("loops", "Feedback loops")):
        part = idx[(idx["group"] == group) & (idx["index"] == main)]
        if part.empty:
            continue
        names = {f.name: f.label or f.name for f in result.spec.group(group)}
        lines.append("")
        lines.append(f"{title}:")
        for (output, metric), rows in part.groupby(["output", "metric"], sort=False):
            rows = rows.sort_values("value", ascending=False, na_position="last")
            if rows["value"].isna().all():
                lines.append(f"  {output}, {_metric_words(metric)}: does not vary")
                continue
            best = [f"{names.get(r.factor, r.factor)} ({main} {r.value:.2f})"
                    for r in rows.head(top).itertuples()]
            if group == "loops":
                lines.append(f"  {output}, {_metric_words(metric)}: decided by "
                             f"{best[0]}; then " + ", ".join(best[1:]) if len(best) > 1 else
                             f"  {output}, {_metric_words(metric)}: decided by {best[0]}")
            else:
                lines.append(f"  {output}, {_metric_words(metric)}: " + ", ".join(best))
    ko = result.knockout
    if len(ko):
        lines.append("")
        lines.append("Loop knockout (gain set to 0), largest effect per output metric:")
        years = time_metrics(result.spec)
        for (output, metric), rows in ko.groupby(["output", "metric"], sort=False):
            r = rows.loc[rows["change"].abs().idxmax()]
            if (output, metric) in years:
                rel = f", {r['change']:+.1f} {duration_label(result.model.time.units)}"
            else:
                rel = "" if pd.isna(r["relative_change"]) else f", {r['relative_change']:+.0%}"
            lines.append(f"  {output}, {_metric_words(metric)}: {r['loop']} "
                         f"({r['baseline']:.4g} -> {r['knockout']:.4g}{rel})")
    if result.warnings:
        lines.append("")
        lines.append("Warnings:")
        lines += [f"  - {w}" for w in result.warnings]
    return "\n".join(lines)


def _words(metric: str) -> str:
    parts = metric.split("_")
    if metric.startswith("value_at_"):
        return f"value at {parts[-1]}"
    if metric.startswith("time_average_"):
        return f"average {parts[-2]}-{parts[-1]}"
    if metric.startswith("first_crossing_"):
        return f"time it first reaches {parts[-1]}"
    return metric.replace("_", " ")


def write(result: SensitivityResult, folder: str | Path, *, command: str = "",
          figures: bool = True, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write ``result`` into a new run folder, atomically.

    Files: ``indices.csv``, ``convergence.csv``, ``time_resolved.csv``,
    ``knockout.csv``, ``samples_<group>.csv`` (factors and metric values per
    run), ``spec.toml``, ``summary.txt``, ``figures/`` and ``manifest.json``
    (seeds, method, N, problems, timings, software versions).

    Parameters
    ----------
    result : SensitivityResult
    folder : str or Path
        The run folder; it must not exist or be empty.
    command : str, optional
        The command line, recorded in the manifest.
    figures : bool, optional
        Also write figures.
    formats : sequence of str, optional
        Figure formats.

    Returns
    -------
    list of Path
        The files written (under their final names).
    """
    from concurrent.futures import ThreadPoolExecutor

    from sdrev import runs
    from sdrev.scenario import run_settings

    folder = Path(folder)
    tables: list[tuple[str, pd.DataFrame, str | None]] = [
        ("indices.csv", result.indices, None), ("convergence.csv", result.convergence, None),
        ("time_resolved.csv", result.time_resolved, None),
        ("knockout.csv", result.knockout, None)]
    tables += [(f"samples_{group}.csv", frame, "run")
               for group, frame in result.metric_values.items()]
    written = [name for name, _, _ in tables] + ["spec.toml", "summary.txt"]
    with runs.staged_folder(folder) as stage:
        def put_tables() -> None:
            for name, frame, index_label in tables:
                runs.write_csv(frame, stage / name, index_label=index_label)

        # the tables in a thread while the figures are drawn: pyarrow writes
        # the large ones (the samples) without holding the interpreter lock
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(put_tables)
            (stage / "spec.toml").write_text(result.spec.text, encoding="utf-8")
            (stage / "summary.txt").write_text(summary_text(result) + "\n", encoding="utf-8")
            if figures:
                from sdrev.figures.sensitivity import write_sensitivity_figures
                paths = write_sensitivity_figures(result, stage / "figures", formats=formats)
                written += [str(p.relative_to(stage)) for p in paths]
            pending.result()
        settings = run_settings(result.model, scenario=result.spec.scenario)
        extra = {
            "analysis": "sensitivity",
            "method": result.method,
            "n": result.n,
            "seed": result.seed,
            "seeds": dict(result.seeds),
            "runs": result.runs,
            "engine": result.engine,
            "spec_file": str(result.spec.path) if result.spec.path else None,
            "problems": dict(result.problems),
            "second_order": result.spec.second_order,
            "noise": None if result.spec.noise is None else {
                "treatment": result.spec.noise, "seed": result.seed % 2**53,
                "realisations": result.spec.noise_realisations},
            "outputs": {o.variable: [m.name for m in o.metrics] for o in result.spec.outputs},
            "loop_metrics": {m.name: {k: (list(v) if isinstance(v, tuple) else v)
                                      for k, v in m.__dict__.items() if v is not None}
                             for m in result.spec.loop_metrics},
            "timings_seconds": dict(result.timings),
            "warnings": list(result.warnings),
            "files": written,
        }
        runs.write_json(stage / "manifest.json",
                        runs.manifest(result.model, settings, command=command, extra=extra))
    return [folder / name for name in written] + [folder / "manifest.json"]
