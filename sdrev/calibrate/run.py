"""Calibrate: fit a spec's constants, summarise what the data pin down, predict.

:func:`run` fits (MCMC or maximum likelihood), summarises each estimated
quantity (estimate, 95% interval, whether the data narrowed the prior),
draws posterior predictive bands of the observed variables for every case,
and scores held-out observations against those bands. :func:`write` puts it
all in a run folder; :func:`read_posterior` reads the draws back as
parameter sets for other stages (``--posterior RUN_DIR``).
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sdrev import budget
from sdrev.calibrate.likelihood import Problem
from sdrev.calibrate.spec import CalibrationSpec, check_method, load_spec, parse_holdout
from sdrev.errors import InvalidValueError, ModelNotFoundError

__all__ = ["IDENTIFIED_RATIO", "CalibrationResult", "read_posterior", "run", "scenario_toml",
           "summary_text", "write"]

#: A parameter counts as identified when its 95% interval is narrower than
#: this share of its prior's 95% interval (the data halved the uncertainty).
IDENTIFIED_RATIO = 0.5
#: Posterior draws used for predictive bands.
PREDICTIVE_DRAWS = 400
#: Quantiles of the predictive bands (90% and 50% bands and the median).
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class CalibrationResult:
    """What a calibration found.

    Attributes
    ----------
    model : str
    spec : CalibrationSpec
    method : str
    seed : int
    posterior : pandas.DataFrame
        One row per draw (MCMC) or the single MLE (``mle``), one column per
        estimated quantity, plus ``log_likelihood`` (and ``log_posterior``).
    summary : pandas.DataFrame
        ``parameter, estimate, lower, upper, sd, prior_lower, prior_upper,
        identified``.
    bands : pandas.DataFrame
        ``case, variable, time, q05, q25, q50, q75, q95``: the model's
        predictive quantiles.
    observations : pandas.DataFrame
        Every observation with ``fitted`` (False: held out) and its
        predictive median and 90% interval, and ``covered``.
    diagnostics : dict
        Convergence (MCMC) or profile (MLE) diagnostics, run counts, times.
    chain : ndarray or None
        The whole MCMC chain (steps, walkers, parameters).
    profiles : dict
        MLE profile likelihoods per parameter.
    """

    model: str
    spec: CalibrationSpec
    method: str
    seed: int
    posterior: pd.DataFrame
    summary: pd.DataFrame
    bands: pd.DataFrame
    observations: pd.DataFrame
    diagnostics: dict
    chain: np.ndarray | None = field(default=None, repr=False)
    profiles: dict = field(default_factory=dict, repr=False)


def run(model, spec: CalibrationSpec | str | Path | None = None, *, method: str | None = None,
        steps: int | None = None, walkers: int | None = None, seed: int | None = None,
        holdout=None, progress: bool = True) -> CalibrationResult:
    """Calibrate ``model`` to the observations of ``spec``.

    Parameters
    ----------
    model : Model
    spec : CalibrationSpec, str or Path, optional
        A spec or its file; by default the library's ``calibration/<model>.toml``.
    method : {"mcmc", "mle"}, optional
        Overrides the spec's.
    steps : int, optional
        MCMC steps per walker (overrides the spec's).
    walkers : int, optional
        MCMC walkers (overrides the spec's).
    seed : int, optional
        Overrides the spec's.
    holdout : str or (float, float), optional
        ``"T0:T1"``: observations in that time window are left out of the fit
        and scored against the predictive bands.
    progress : bool, optional

    Returns
    -------
    CalibrationResult
    """
    if not isinstance(spec, CalibrationSpec):
        spec = load_spec(model, spec)
    method = check_method(method or spec.method)
    seed = spec.seed if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidValueError(f"seed must be a non-negative integer, got {seed!r}")
    steps = spec.steps if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise InvalidValueError(f"steps must be an integer of at least 2, got {steps!r}")
    walkers = spec.walkers if walkers is None else walkers
    need = 2 * len(spec.labels) + 2
    if method == "mcmc" and (not isinstance(walkers, int) or walkers < need or walkers % 2):
        raise InvalidValueError(f"walkers must be an even integer of at least {need} (twice "
                                f"the {len(spec.labels)} parameters, plus two), got {walkers!r}")
    window = (spec.holdout if holdout is None else
              holdout if isinstance(holdout, tuple) else parse_holdout(holdout))
    held = [o for o in spec.observations
            if window is not None and window[0] <= o.time <= window[1]]
    fitted = [o for o in spec.observations if o not in held]
    if window is not None and not held:
        times = sorted({o.time for o in spec.observations})
        raise InvalidValueError(f"--holdout {window[0]:g}:{window[1]:g} leaves out no "
                                "observation; the observed times are "
                                + ", ".join(f"{t:g}" for t in times))
    if not fitted:
        raise InvalidValueError("the holdout leaves no observation to fit")
    spec = replace(spec, method=method, seed=int(seed), steps=steps, walkers=walkers,
                   holdout=window)
    problem = Problem(model, spec, observations=fitted)
    start = clock.perf_counter()
    profiles: dict = {}
    chain = None
    if method == "mcmc":
        from sdrev.calibrate import mcmc

        chains = mcmc.fit(problem, walkers=walkers, steps=steps, seed=int(seed),
                          progress=progress)
        draws = chains.draws
        posterior = pd.DataFrame(draws, columns=list(spec.labels))
        posterior["log_likelihood"] = chains.log_likelihood
        posterior["log_posterior"] = chains.log_posterior
        summary = _summary_mcmc(problem, draws)
        chain = chains.chain
        diagnostics: dict[str, Any] = {
            "method": "mcmc", "walkers": walkers, "steps": int(chains.chain.shape[0]),
            "burn": chains.burn,
            "thin": chains.thin, "draws": int(len(draws)),
            "acceptance": round(chains.acceptance, 3),
            "tau": dict(zip(spec.labels, _round(chains.tau))),
            "ess": dict(zip(spec.labels, _round(chains.ess))),
            "rhat": dict(zip(spec.labels, _round(chains.rhat, 4))),
            "converged": chains.converged, "warnings": list(chains.warnings)}
    else:
        from sdrev.calibrate import mle

        best = mle.fit(problem, seed=int(seed), progress=progress)
        draws = best.estimate[None, :]
        posterior = pd.DataFrame(draws, columns=list(spec.labels))
        posterior["log_likelihood"] = [best.log_likelihood]
        summary = _summary_mle(problem, best)
        profiles = best.profiles
        diagnostics = {"method": "mle", "log_likelihood": round(best.log_likelihood, 4),
                       "profile_drop": mle.CHI2_95,
                       "open_intervals": [lab for lab, lo, hi in zip(
                           spec.labels, best.open_lower, best.open_upper) if lo or hi],
                       "warnings": []}
    elapsed = clock.perf_counter() - start
    diagnostics.update({"model_runs": int(problem.evaluations), "seconds": round(elapsed, 3),
                        "runs_per_second": round(problem.evaluations / max(elapsed, 1e-9)),
                        "engine": problem.batch.engine, "observations_fitted": len(fitted),
                        "observations_held_out": len(held)})
    rng = np.random.default_rng(seed)
    # the MLE predicts with its measurement error alone: one parameter set, many noise draws
    pick = (draws[rng.choice(len(draws), PREDICTIVE_DRAWS, replace=len(draws) < PREDICTIVE_DRAWS)]
            if len(draws) != PREDICTIVE_DRAWS else draws)
    bands = _bands(problem, pick)
    table = _observation_table(problem, pick, spec.observations, held, seed=int(seed))
    if held:
        covered = table.loc[~table["fitted"], "covered"]
        diagnostics["holdout_coverage"] = round(float(covered.mean()), 3)
    fit_rows = table[table["fitted"]]
    diagnostics["fit_coverage"] = round(float(fit_rows["covered"].mean()), 3)
    missed = fit_rows[~fit_rows["covered"]]
    if len(missed):
        where = ", ".join(f"{r.variable} at {r.time:g}" + (f" ({r.case})" if r.case else "")
                          for r in missed.head(4).itertuples())
        diagnostics["warnings"].append(
            f"{len(missed)} of {len(fit_rows)} fitted observations lie outside the 90% "
            f"predictive band ({where}{', ...' if len(missed) > 4 else ''}): the model cannot "
            "reproduce them with these factors; look at the fit figure before using the "
            "posterior")
    return CalibrationResult(model=model.name, spec=spec, method=method, seed=int(seed),
                             posterior=posterior, summary=summary, bands=bands,
                             observations=table, diagnostics=diagnostics, chain=chain,
                             profiles=profiles)


def _round(values, digits: int = 2) -> list:
    return [None if not np.isfinite(v) else round(float(v), digits) for v in values]


def _prior_interval(problem: Problem) -> np.ndarray:
    return np.array([d.ppf([0.025, 0.975]) for d in problem.priors])


def _summary_mcmc(problem: Problem, draws: np.ndarray) -> pd.DataFrame:
    lo, mid, hi = np.quantile(draws, [0.025, 0.5, 0.975], axis=0)
    prior = _prior_interval(problem)
    width = prior[:, 1] - prior[:, 0]
    return pd.DataFrame({
        "parameter": problem.labels, "estimate": mid, "lower": lo, "upper": hi,
        "sd": draws.std(axis=0, ddof=1) if len(draws) > 1 else np.zeros(len(mid)),
        "prior_lower": prior[:, 0], "prior_upper": prior[:, 1],
        "identified": (hi - lo) < IDENTIFIED_RATIO * width})


def _summary_mle(problem: Problem, fit) -> pd.DataFrame:
    width = problem.bounds[:, 1] - problem.bounds[:, 0]
    sd = (fit.upper - fit.lower) / (2 * 1.959963984540054)
    return pd.DataFrame({
        "parameter": problem.labels, "estimate": fit.estimate, "lower": fit.lower,
        "upper": fit.upper, "sd": sd, "prior_lower": problem.bounds[:, 0],
        "prior_upper": problem.bounds[:, 1],
        "identified": ((fit.upper - fit.lower) < IDENTIFIED_RATIO * width)
        & ~(fit.open_lower & fit.open_upper)})


def _bands(problem: Problem, draws: np.ndarray) -> pd.DataFrame:
    Y = problem.simulate(draws)            # (variables, cases, draws, times)
    q = np.nanquantile(Y, QUANTILES, axis=2)   # (quantiles, variables, cases, times)
    frames = []
    for v, variable in enumerate(problem.variables):
        for c, case in enumerate(problem.cases):
            frame = pd.DataFrame({"case": case.name, "variable": variable,
                                  "time": problem.times})
            for k, p in enumerate(QUANTILES):
                frame[f"q{round(p * 100):02d}"] = q[k, v, c]
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _observation_table(problem: Problem, draws, observations, held, *, seed: int):
    predicted = problem.predict(draws, observations, seed=seed)
    lo, mid, hi = np.nanquantile(predicted, [0.05, 0.5, 0.95], axis=0)
    rows = []
    for k, o in enumerate(observations):
        if o.kind == "upper_bound":
            covered = bool(np.nanmean(predicted[:, k] <= o.value) >= 0.5)
        elif o.kind == "lower_bound":
            covered = bool(np.nanmean(predicted[:, k] >= o.value) >= 0.5)
        else:
            target = o.time if o.kind == "first_crossing" else o.value
            covered = bool(lo[k] <= target <= hi[k])
        rows.append({"case": o.case, "variable": o.variable, "time": o.time, "kind": o.kind,
                     "value": o.value, "sd": o.sd, "fitted": o not in held,
                     "predicted_median": mid[k], "predicted_lower": lo[k],
                     "predicted_upper": hi[k], "covered": covered, "source": o.source})
    return pd.DataFrame(rows)


def summary_text(result: CalibrationResult) -> str:
    """The summary table and the diagnostics in a few lines, for the terminal."""
    s = result.summary
    width = max(9, *(len(p) for p in s["parameter"]))
    head = (f"{'parameter':<{width}}  {'estimate':>10}  {'95% interval':>23}  "
            f"{'prior 95%':>23}  identified")
    lines = [f"{result.model}: {result.method} calibration to "
             f"{result.diagnostics['observations_fitted']} observations "
             f"({result.diagnostics['model_runs']:,} model runs, "
             f"{result.diagnostics['seconds']:.1f} s)", "", head]
    for row in s.itertuples(index=False):
        lines.append(f"{row.parameter:<{width}}  {row.estimate:>10.4g}  "
                     f"[{row.lower:>9.4g}, {row.upper:>9.4g}]  "
                     f"[{row.prior_lower:>9.4g}, {row.prior_upper:>9.4g}]  "
                     f"{'yes' if row.identified else 'no'}")
    d = result.diagnostics
    if result.method == "mcmc":
        def largest(values) -> float:
            return max((v for v in values if v is not None), default=float("nan"))

        lines += ["", f"walkers {d['walkers']}, steps {d['steps']} (burn-in {d['burn']}), "
                      f"{d['draws']} draws, acceptance {d['acceptance']}, max tau "
                      f"{largest(d['tau'].values())}, max R-hat {largest(d['rhat'].values())}"]
    if "holdout_coverage" in d:
        lines.append(f"held-out observations inside the 90% predictive band: "
                     f"{d['holdout_coverage']:.0%}")
    lines += [f"warning: {w}" for w in d.get("warnings", [])]
    return "\n".join(lines)


def scenario_toml(result: CalibrationResult, *, name: str = "calibrated") -> str:
    """``[scenarios.NAME]`` tables for the model's TOML: each estimated constant
    at its estimate (posterior median or MLE), its 95% interval as a comment.

    One table per case (``NAME_CASE`` when there are several), holding the
    case's own scenario values and the shared and per-case estimates; noise
    terms are not model constants and are left out.
    """
    rows = result.summary.set_index("parameter")
    several = len(result.spec.cases) > 1
    out = []
    for case in result.spec.cases:
        key = f"{name}_{case.name}" if several and case.name else name
        estimates = {}
        for p in result.spec.parameters:
            if p.noise is not None or (p.case is not None and p.case != case.name):
                continue
            r = rows.loc[p.label]
            flag = "" if r["identified"] else "; not identified by the data"
            estimates[p.factor.name] = (f'"{p.factor.name}" = {r["estimate"]:.6g}   # 95% '
                                        f'interval [{r["lower"]:.4g}, {r["upper"]:.4g}]{flag}')
        base = [f'"{k}" = {v:g}' for k, v in case.params.items() if k not in estimates]
        on_top = f" on top of scenario {case.scenario}" if case.scenario else ""
        out += [f"[scenarios.{key}]",
                f'description = "{result.method.upper()} calibration of {result.model} '
                f'(seed {result.seed}){on_top}."',
                f"[scenarios.{key}.params]", *base, *estimates.values(), ""]
    return "\n".join(out)


def write(result: CalibrationResult, folder, *, figures: bool = True,
          manifest: dict | None = None) -> Path:
    """Write a calibration into a run folder.

    Files: ``posterior.csv``, ``summary.csv``, ``bands.csv``,
    ``observations.csv`` (fit and holdout), ``diagnostics.json``, ``spec.toml``
    (the spec as run), ``scenario.toml`` (the estimates as a scenario table to
    paste into the model's TOML, see :func:`scenario_toml`), ``chain.npy``
    (MCMC), ``profiles.csv`` (MLE), figures under ``figures/`` and
    ``manifest.json``.
    """
    import json

    from sdrev.errors import OutputError
    from sdrev.runs import write_json

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        result.posterior.to_csv(folder / "posterior.csv", index=False)
        result.summary.to_csv(folder / "summary.csv", index=False)
        result.bands.to_csv(folder / "bands.csv", index=False)
        result.observations.to_csv(folder / "observations.csv", index=False)
        (folder / "diagnostics.json").write_text(json.dumps(result.diagnostics, indent=2) + "\n")
        if result.spec.text:
            (folder / "spec.toml").write_text(result.spec.text, encoding="utf-8")
        (folder / "scenario.toml").write_text(scenario_toml(result), encoding="utf-8")
        if result.chain is not None:
            np.save(folder / "chain.npy", result.chain)
        if result.profiles:
            rows = [{"parameter": k, "value": x, "log_likelihood": y}
                    for k, (xs, ys) in result.profiles.items() for x, y in zip(xs, ys)]
            pd.DataFrame(rows).to_csv(folder / "profiles.csv", index=False)
        if figures:
            from sdrev.figures import calibration as figs

            out = folder / "figures"
            out.mkdir(exist_ok=True)
            for name, fig in figs.all_figures(result).items():
                fig.savefig(out / f"{name}.png", dpi=150, bbox_inches="tight")
                figs.close(fig)
        write_json(folder / "manifest.json", {
            **(manifest or {}), "calibration": {
                "model": result.model, "method": result.method, "seed": result.seed,
                "spec": str(result.spec.path) if result.spec.path else None,
                "parameters": list(result.spec.labels), **{
                    k: v for k, v in result.diagnostics.items()
                    if k in ("model_runs", "seconds", "engine", "converged")}}})
    except OSError as exc:
        raise OutputError(f"cannot write the calibration to {str(folder)!r}: {exc}") from exc
    return folder


def read_posterior(folder, *, model=None, n: int | None = None,
                   seed: int = 0) -> pd.DataFrame:
    """Posterior draws of a calibration run folder as parameter sets.

    Parameters
    ----------
    folder : str or Path
        A folder written by :func:`write` (``sdrev calibrate``).
    model : Model, optional
        Keep only columns that are constants of this model (per-case
        columns ``Name[case]`` and noise terms are dropped).
    n : int, optional
        Draw this many rows (with replacement if there are fewer).
    seed : int, optional

    Returns
    -------
    pandas.DataFrame
        One row per draw, one column per constant.
    """
    file = Path(folder) / "posterior.csv"
    if not file.is_file():
        raise ModelNotFoundError(f"{str(folder)!r} is not a calibration run folder (no "
                                 "posterior.csv); give the folder `sdrev calibrate` wrote")
    budget.check_file(file, what="posterior table", limit=budget.MAX_SAMPLES_BYTES)
    try:
        frame = pd.read_csv(file)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidValueError(f"cannot read {file}: {' '.join(str(exc).split())}") from None
    drop = [c for c in frame.columns if c in ("log_likelihood", "log_posterior")
            or c.startswith("sd[") or "[" in c]
    frame = frame.drop(columns=drop)
    if model is not None:
        names = {p.name for p in model.parameters}
        unknown = [c for c in frame.columns if c not in names]
        if unknown:
            raise InvalidValueError(f"{file}: {unknown[0]!r} is not a constant of "
                                    f"{model.name}; was the posterior fitted to another model?")
    if frame.empty or frame.shape[1] == 0:
        raise InvalidValueError(f"{file} holds no parameter draws")
    if not np.isfinite(frame.to_numpy(dtype=float)).all():
        raise InvalidValueError(f"{file} holds non-numeric or non-finite draws")
    if n is not None:
        rng = np.random.default_rng(seed)
        frame = frame.iloc[rng.choice(len(frame), n, replace=len(frame) < n)].reset_index(
            drop=True)
    return frame
