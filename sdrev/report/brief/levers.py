"""Sensitivity results as a brief shows them: the ranked levers and loops.

Either read from a ``sdrev sensitivity`` run folder (:func:`levers_from_folder`)
or summarised from a result (:func:`levers_from_result`); when none is given a
brief runs a small Sobol' analysis of its own (:func:`default_sensitivity`
over :func:`default_spec`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sdrev.errors import InvalidValueError, ModelNotFoundError, NonFiniteError

if TYPE_CHECKING:
    from sdrev.model import Model

__all__ = ["DEFAULT_SEED", "DEFAULT_SENSITIVITY_N", "FALLBACK_BAND", "Levers",
           "default_sensitivity", "default_spec", "levers_from_folder", "levers_from_result",
           "loop_labels"]

#: Sample size of the default Sobol' run (N; the runs are N x (factors + 2)).
DEFAULT_SENSITIVITY_N = 256
#: Seed of the default Sobol' run when the model has no library spec.
DEFAULT_SEED = 20240501

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


def loop_labels(model: Model) -> dict[str, str]:
    """Loop-gain constant -> ``"R1 strategic guiding"``."""
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
              **loop_labels(model)}
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
    idx = _read_indices(folder)
    conv_path = folder / "convergence.csv"
    conv = pd.read_csv(conv_path) if conv_path.is_file() else None
    out, metric = _pick_output(idx, model, output)
    method = str(man.get("method", "sobol"))
    main = _MAIN.get(method, "ST")
    labels = loop_labels(model)
    settled, change = _convergence(conv, out, metric)
    return Levers(source=str(folder), method=method, main_index=main,
                  n=int(man.get("n", 0)), seed=int(man.get("seed", 0)),
                  runs=int(man.get("runs", 0)), output=out, metric=metric,
                  parameters=_rank(idx, "parameters", out, metric, main, labels),
                  loops=_rank(idx, "loops", out, metric, main, labels), indices=idx,
                  settled=settled, max_change=change,
                  warnings=tuple(man.get("warnings", ())), scenario=man.get("scenario"),
                  seconds=float(man.get("timings_seconds", {}).get("total", 0.0)))


#: Columns of a sensitivity run's ``indices.csv``.
INDEX_COLUMNS = ("group", "output", "metric", "factor", "index", "value", "conf")


def _read_indices(folder: Path) -> pd.DataFrame:
    """``indices.csv`` of a sensitivity run folder, refused in one line when
    it is unreadable, lacks columns or holds no index value (a truncated or
    hand-edited folder would otherwise make a brief of 0 parameters)."""
    from sdrev import budget

    file = folder / "indices.csv"
    budget.check_file(file, what="indices table")
    try:
        idx = pd.read_csv(file)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidValueError(f"cannot read {str(file)!r}: "
                                f"{' '.join(str(exc).split())[:200]}") from None
    missing = [c for c in INDEX_COLUMNS if c not in idx.columns]
    if missing:
        problem = f"lacks the column(s) {', '.join(missing)}"
    elif not pd.to_numeric(idx["value"], errors="coerce").notna().any():
        problem = "holds no index value"
    else:
        return idx
    raise InvalidValueError(f"{str(file)!r} {problem}; is the folder a complete "
                            "`sdrev sensitivity` run? (run it again)")


def default_spec(model: Model, output: str | None = None, *, band: float | None = None,
                 fixed: Collection[str] = ()):
    """The spec of a brief's default sensitivity run.

    The library spec of the model if it has one (and no ``band``), else every documented
    parameter range (except loop gains, which form the loop group, and the
    ``[compare]`` regime parameter); one output (``output`` or the first key
    output) at FINAL TIME. With ``band``, each parameter of a spec made here
    varies only within ``band`` x its range width on either side of its
    value (clipped to the range). Constants in ``fixed`` (Vensim names: the
    brief's own settings) are not varied.
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
        kept = tuple(f for f in spec.factors if f.name not in fixed)
        if not kept and not spec.loop_factors:
            raise InvalidValueError(f"every factor of {spec.path.name} is set by --set; "
                                    "nothing is left to analyse")
        first = kept[0].name if kept else spec.loop_factors[0].name
        mini = sa.parse_spec(model, {"factor": [{"name": first}], "output": [out_table]})
        return replace(spec, factors=kept, outputs=mini.outputs, text=spec.text)
    gains = {lp.gain for lp in model.loops if lp.gain}
    regime = compare_defaults(model).regime_parameter
    factors = []
    for p in model.parameters:
        if (p.range is None or not p.range[0] < p.range[1] or isinstance(p.value, Mapping)
                or p.name in gains or p.name == regime or p.name in fixed):
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
                        output: str | None = None, fixed: Collection[str] = (),
                        progress: bool = False):
    """A small Sobol' analysis for a brief: :func:`default_spec`, N = ``n``.

    When the model has no library spec and some runs over the full
    documented ranges are not finite, the analysis is repeated with each
    parameter within :data:`FALLBACK_BAND` of its range around its value.
    Constants in ``fixed`` are not varied (:func:`default_spec`).

    Returns
    -------
    result : sdrev.sensitivity.SensitivityResult
    note : str
        How the ranges were chosen, for the methods appendix.
    """
    from sdrev import sensitivity as sa
    spec = default_spec(model, output, fixed=fixed)
    kw = {"method": "sobol", "n": n, "progress": progress, "time_resolved": False,
          "knockout": True}
    source = (f"library spec {spec.path.name}" if spec.path is not None
              else "every documented parameter range")
    try:
        return sa.run(model, spec, **kw), source
    except NonFiniteError as exc:
        first = str(exc).split(", e.g.")[0]
    spec = default_spec(model, output, band=FALLBACK_BAND, fixed=fixed)
    return sa.run(model, spec, **kw), (
        f"over the full documented ranges {first}, so each parameter varies within "
        f"±{FALLBACK_BAND:.0%} of its documented range around its calibrated value")

