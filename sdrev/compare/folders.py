"""Compare run folders (write, read) and the plain-text summary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sdrev.compare.regime import Axis, RegimeMap
from sdrev.compare.scenarios import ComparedRun, Comparison
from sdrev.compare.uncertainty import ScenarioUncertainty
from sdrev.errors import InvalidValueError
from sdrev.units import duration_label, units_label

if TYPE_CHECKING:
    from sdrev.model import Model


def summary_text(comparison: Comparison | None = None,
                 regime_map: RegimeMap | None = None,
                 uncertainty: ScenarioUncertainty | None = None) -> str:
    """The metrics table, leader changes, outcome ranges and regime-map summary
    as plain text."""
    lines = []
    if comparison is not None:
        cols = ["output", "label", "final_value", "threshold", "time_to_threshold",
                "area_between", "net_area", "rank_final"]
        table = comparison.metrics[cols].copy()
        table["output"] = [f"{o} ({units_label(comparison.units.get(o))})"
                           for o in table["output"]]
        lines.append(f"Scenarios of {comparison.model} (areas vs "
                     f"{comparison.runs[0].label!r}, output units x {duration_label(comparison.time_units)}):")
        lines.append(table.to_string(index=False, float_format=lambda v: f"{v:.4g}",
                                     na_rep="never"))
        lines.append("")
        if len(comparison.leader_changes):
            for r in comparison.leader_changes.itertuples(index=False):
                lines.append(f"{r.output}: {r.after!r} overtakes {r.before!r} in {r.year:.1f}")
        else:
            lines.append("The leading scenario never changes.")
    if uncertainty is not None:
        if lines:
            lines.append("")
        lines.append(uncertainty.text())
    if regime_map is not None:
        s = regime_map.summary()
        a, b = regime_map.labels
        if lines:
            lines.append("")
        lines.append(
            f"Regime map of {regime_map.model}: {regime_map.regime_param} "
            f"{regime_map.regimes[0]:g} ({a}) vs {regime_map.regimes[1]:g} ({b}) over "
            f"{regime_map.x.name} [{regime_map.x.lo:g}, {regime_map.x.hi:g}] x "
            f"{regime_map.y.name} [{regime_map.y.lo:g}, {regime_map.y.hi:g}], "
            f"{s['grid'][0]}x{s['grid'][1]} grid, {regime_map.runs} runs "
            f"({regime_map.seconds:.1f} s, {regime_map.engine})")
        lines.append(f"  higher {regime_map.output} in {regime_map.year:g}: {a} "
                     f"{s['share_first_ahead']:.0%}, {b} {s['share_second_ahead']:.0%}; "
                     f"boundary {'inside the map' if s['boundary_points'] else 'absent'}")
        lines.append(f"  at {regime_map.times[-1]:g}: {b} ahead in "
                     f"{s['share_second_ahead_at_end']:.0%}")
        if s["crossover_points"]:
            lines.append(f"  the leader changes at {s['crossover_points']} grid points, in "
                         f"{s['crossover_min']:.1f}-{s['crossover_max']:.1f} "
                         f"(median {s['crossover_median']:.1f})")
    return "\n".join(lines)


# -- run folders ---------------------------------------------------------------------

def write(folder: Path, model: Model, *, comparison: Comparison | None = None,
          regime_map: RegimeMap | None = None, command: str = "",
          figures: bool = True, formats: Sequence[str] = ("png", "svg"),
          uncertainty: ScenarioUncertainty | None = None) -> list[Path]:
    """Write a comparison and/or a regime map into a new run folder, atomically.

    Files: ``comparison.json``, ``trajectories.csv`` (long: time, output,
    label, value), ``metrics.csv``, ``leader_changes.csv``;
    ``regime_map.nc`` (netCDF: the output per regime, grid point and time)
    and ``regime_map.json`` (the map's settings and summary);
    ``uncertainty_bands.csv``, ``uncertainty_outcomes.csv`` and
    ``uncertainty_pairwise.csv`` (scenarios over many parameter sets); ``figures/``;
    ``manifest.json``. :func:`read` reads the folder back.

    Returns
    -------
    list of Path
        The files written, under their final names.

    Raises
    ------
    OutputError
        If ``folder`` exists and is not empty, or cannot be written.
    """
    from sdrev import runs
    from sdrev.scenario import run_settings

    if comparison is None and regime_map is None and uncertainty is None:
        raise InvalidValueError("nothing to write: give a comparison, a regime map or "
                                "scenario uncertainty")
    folder = Path(folder)
    written: list[str] = []
    with runs.staged_folder(folder) as stage:
        if comparison is not None:
            written += _write_comparison(stage, comparison)
        if regime_map is not None:
            written += _write_regime_map(stage, regime_map)
        if uncertainty is not None:
            for part in ("bands", "outcomes", "pairwise"):
                getattr(uncertainty, part).to_csv(stage / f"uncertainty_{part}.csv",
                                                  index=False)
                written.append(f"uncertainty_{part}.csv")
        if figures:
            from sdrev.figures.compare import write_compare_figures
            paths = write_compare_figures(stage / "figures", comparison=comparison,
                                          regime_map=regime_map, uncertainty=uncertainty,
                                          formats=formats)
            written += [str(p.relative_to(stage)) for p in paths]
        extra: dict[str, object] = {"analysis": "compare", "files": written}
        if comparison is not None:
            extra["comparison"] = {"runs": [_run_dict(r) for r in comparison.runs],
                                   "outputs": list(comparison.outputs)}
        if regime_map is not None:
            extra["regime_map"] = _map_settings(regime_map)
        if uncertainty is not None:
            extra["uncertainty"] = {"sets": uncertainty.sets, "source": uncertainty.source,
                                    "scenarios": list(uncertainty.scenarios),
                                    "time": uncertainty.time}
        scenario = regime_map.scenario if regime_map is not None else None
        runs.write_json(stage / "manifest.json", runs.manifest(
            model, run_settings(model, scenario=scenario), command=command, extra=extra))
    return [folder / name for name in written] + [folder / "manifest.json"]


def _run_dict(run: ComparedRun) -> dict:
    return {"label": run.label, "scenario": run.scenario, "params": dict(run.params),
            "engine": run.engine}


def _write_comparison(stage: Path, comp: Comparison) -> list[str]:
    from sdrev import runs
    long = comp.trajectories.stack(["output", "label"], future_stack=True)
    long = long.rename("value").reset_index()[["time", "output", "label", "value"]]
    long.to_csv(stage / "trajectories.csv", index=False)
    comp.metrics.to_csv(stage / "metrics.csv", index=False)
    comp.leader_changes.to_csv(stage / "leader_changes.csv", index=False)
    runs.write_json(stage / "comparison.json", {
        "model": comp.model, "model_sha256": comp.model_sha256,
        "runs": [_run_dict(r) for r in comp.runs], "outputs": list(comp.outputs),
        "units": dict(comp.units), "thresholds": dict(comp.thresholds),
        "time_units": comp.time_units})
    return ["comparison.json", "trajectories.csv", "metrics.csv", "leader_changes.csv"]


def _map_settings(rmap: RegimeMap) -> dict:
    return {"model": rmap.model, "model_sha256": rmap.model_sha256,
            "scenario": rmap.scenario, "regime_param": rmap.regime_param,
            "regimes": list(rmap.regimes), "labels": list(rmap.labels),
            "output": rmap.output, "units": rmap.units, "year": rmap.year,
            "x": {"name": rmap.x.name, "lo": rmap.x.lo, "hi": rmap.x.hi,
                  "n": len(rmap.x.values), "units": rmap.x.units},
            "y": {"name": rmap.y.name, "lo": rmap.y.lo, "hi": rmap.y.hi,
                  "n": len(rmap.y.values), "units": rmap.y.units},
            "base": list(rmap.base) if rmap.base else None, "runs": rmap.runs,
            "engine": rmap.engine, "seconds": rmap.seconds, "time_units": rmap.time_units}


def _write_regime_map(stage: Path, rmap: RegimeMap) -> list[str]:
    import xarray as xr

    from sdrev import runs
    ds = xr.Dataset(
        {"value": (("regime", "x", "y", "time"), rmap.values)},
        coords={"regime": list(rmap.regimes), "x": list(rmap.x.values),
                "y": list(rmap.y.values), "time": rmap.times},
        attrs={"settings": json.dumps(_map_settings(rmap))})
    ds.to_netcdf(stage / "regime_map.nc", engine="scipy")
    runs.write_json(stage / "regime_map.json", {**_map_settings(rmap),
                                                "summary": rmap.summary()})
    return ["regime_map.nc", "regime_map.json"]


def read(folder: str | Path) -> tuple[Comparison | None, RegimeMap | None]:
    """Read a run folder written by :func:`write` (``sdrev compare``).

    Returns
    -------
    (Comparison or None, RegimeMap or None)

    Raises
    ------
    ModelNotFoundError
        If the folder holds neither.
    """
    from sdrev.errors import ModelNotFoundError

    folder = Path(folder)
    comp = rmap = None
    if (folder / "comparison.json").is_file():
        info = json.loads((folder / "comparison.json").read_text(encoding="utf-8"))
        long = pd.read_csv(folder / "trajectories.csv")
        traj = long.pivot_table(index="time", columns=["output", "label"], values="value",
                                sort=False)
        runs_ = tuple(ComparedRun(r["label"], r["scenario"], MappingProxyType(r["params"]),
                                  r.get("engine", "")) for r in info["runs"])
        traj = traj.reindex(columns=pd.MultiIndex.from_product(
            [info["outputs"], [r.label for r in runs_]], names=["output", "label"]))
        metrics = pd.read_csv(folder / "metrics.csv", keep_default_na=True)
        metrics["scenario"] = metrics["scenario"].astype(object).where(
            metrics["scenario"].notna(), None)
        comp = Comparison(
            model=info["model"], model_sha256=info["model_sha256"], runs=runs_,
            outputs=tuple(info["outputs"]), units=MappingProxyType(info["units"]),
            trajectories=traj, metrics=metrics,
            leader_changes=pd.read_csv(folder / "leader_changes.csv"),
            thresholds=MappingProxyType(info["thresholds"]),
            time_units=info.get("time_units", ""))
    if (folder / "regime_map.nc").is_file():
        import xarray as xr
        with xr.open_dataset(folder / "regime_map.nc", engine="scipy") as ds:
            ds = ds.load()
        s = json.loads(ds.attrs["settings"])
        rmap = RegimeMap(
            model=s["model"], model_sha256=s["model_sha256"], scenario=s["scenario"],
            regime_param=s["regime_param"], regimes=tuple(s["regimes"]),
            labels=tuple(s["labels"]), output=s["output"], units=s["units"], year=s["year"],
            x=Axis(s["x"]["name"], tuple(float(v) for v in ds["x"].values), s["x"]["units"]),
            y=Axis(s["y"]["name"], tuple(float(v) for v in ds["y"].values), s["y"]["units"]),
            times=np.asarray(ds["time"].values, dtype=float),
            values=np.asarray(ds["value"].values, dtype=float),
            base=tuple(s["base"]) if s.get("base") else None, engine=s["engine"],
            seconds=s["seconds"], time_units=s.get("time_units", ""))
    if comp is None and rmap is None:
        raise ModelNotFoundError(f"{str(folder)!r} holds no comparison or regime map "
                                 "(written by `sdrev compare`)")
    return comp, rmap
