"""Orchestration: spec -> sample -> ensemble -> metrics -> analysis -> tables.

:func:`run` draws SALib's sample for each factor group (the model's
parameters, and the loop gains as a group of their own), runs the model
once per sample row on the ensemble engine, reduces each output trajectory
to the spec's metrics, and analyses them with the chosen method. It also
reports the indices at N/4 and N/2 beside those at N (convergence), the
indices at every saved time of trajectory outputs (time-resolved), and a
loop-knockout experiment (each loop gain set to 0 in turn).

A spec's loop metrics (``[[loop_metric]]``: the time dominance shifts from
one loop to another, a loop's relative score at a time, its share of
dominance) come from the loop scores of all sampled runs at once (the same
numbers as one :func:`sdrev.loops.analyze` per run;
:mod:`sdrev.sensitivity.loop_metrics`), and join the scalar metrics as the
output ``"loop dominance"``: indices,
convergence, knockout, tables, figures and summary all include them.

:func:`write` puts the tables, figures and a manifest into a run folder;
:func:`summary_text` says in plain words which factors matter most.
"""

from __future__ import annotations

import os
import time as _time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from sdrev.errors import InvalidValueError, NonFiniteError, UnknownNameError
from sdrev.sensitivity import methods as _methods
from sdrev.sensitivity import metrics as _metrics
from sdrev.sensitivity.spec import (LOOP_OUTPUT, NOISE_FACTOR, Factor, Spec, check_method,
                                   noise_for_method)

if TYPE_CHECKING:
    from sdrev.model import Model

__all__ = ["SensitivityResult", "run", "stage_seed", "time_metrics",
           "INDEX_COLUMNS", "CONVERGENCE_TOLERANCE"]

#: Columns of :attr:`SensitivityResult.indices`.
INDEX_COLUMNS = ("group", "output", "metric", "factor", "index", "value", "conf",
                 "ci_low", "ci_high")
#: Largest change of the main index between N/2 and N (indices scaled to a
#: maximum of 1 for unnormalised ones such as Morris mu*) counted as settled.
CONVERGENCE_TOLERANCE = 0.05
#: Most saved times analysed for time-resolved indices (evenly spaced, first
#: and last included) and the bootstrap resamples for their intervals: the
#: per-time analyses dominate the analysis time otherwise.
TIME_RESOLVED_POINTS = 41
TIME_RESOLVED_RESAMPLES = 30
#: Stages where randomness enters, in the order of their derived seeds.
_STAGES = ("sample_parameters", "analyze_parameters", "sample_loops", "analyze_loops",
           "resample_quarter", "resample_half")
_GROUPS = ("parameters", "loops")


@dataclass(frozen=True)
class SensitivityResult:
    """Everything one sensitivity analysis produced.

    Attributes
    ----------
    model : Model
    spec : Spec
    method : str
    n : int
        Sample size as the method counts it (see ``N_MEANING`` of its module).
    seed : int
        The seed given; ``seeds`` holds the seed of each stage derived from it.
    seeds : mapping of str to int
    problems : mapping of str to dict
        SALib problem dict of each analysed group.
    runs : int
        Simulations made, all groups, convergence resamples and knockouts.
    indices : pandas.DataFrame
        One row per group x output x metric x factor x index, with the
        value, the 95% half-width ``conf`` (NaN when the method gives none)
        and ``ci_low``, ``ci_high``.
    convergence : pandas.DataFrame
        The main index at N/4, N/2 and N side by side (columns ``n_quarter``,
        ``n_half``, ``n_full``), the largest change and ``settled``.
    time_resolved : pandas.DataFrame
        Indices at each saved time of trajectory outputs: group, output,
        factor, index, time, value, conf.
    knockout : pandas.DataFrame
        Each loop's gain set to 0: baseline and knockout value of each
        scalar metric (loop metrics included: one loop analysis per
        knockout run), change and relative change (NaN for times: crossing
        and dominance-shift years).
    metric_values : mapping of str to pandas.DataFrame
        Per group, the sample (one column per factor) and the metric values
        (one column per ``output: metric``), one row per run.
    warnings : tuple of str
    timings : mapping of str to float
        Seconds spent simulating (ensemble), in loop analyses for loop
        metrics (``loop_metrics``), analysing, and in total.
    engine : str
        ``"sdrev"`` (vectorised) or ``"pysd-fallback"``.
    """

    model: Model = field(repr=False)
    spec: Spec = field(repr=False)
    method: str
    n: int
    seed: int
    seeds: Mapping[str, int]
    problems: Mapping[str, dict] = field(repr=False)
    runs: int
    indices: pd.DataFrame = field(repr=False)
    convergence: pd.DataFrame = field(repr=False)
    time_resolved: pd.DataFrame = field(repr=False)
    knockout: pd.DataFrame = field(repr=False)
    metric_values: Mapping[str, pd.DataFrame] = field(repr=False)
    warnings: tuple[str, ...]
    timings: Mapping[str, float]
    engine: str

    @property
    def main_index(self) -> str:
        """The index that ranks factors for this method (ST for Sobol, mu_star for Morris ...)."""
        return _methods.get(self.method).MAIN

    def _top(self):
        rows = self.indices[self.indices["index"] == self.main_index] \
            if len(self.indices) else self.indices
        if not len(rows):
            return rows
        return rows.sort_values("value", ascending=False)[
            ["group", "output", "metric", "factor", "value"]]

    def _summary(self) -> list[tuple[str, object]]:
        top = self._top()
        leader = (f"{top.iloc[0]['factor']} ({self.main_index} {top.iloc[0]['value']:.2f} "
                  f"for {top.iloc[0]['output']})" if len(top) else "none")
        return [("method", f"{self.method}, N = {self.n}, seed {self.seed}"),
                ("runs", f"{self.runs} on {self.engine}"),
                ("factors", f"{len(self.spec.factors)} parameters, "
                            f"{len(self.spec.loop_factors)} loop gains"),
                ("outputs", ", ".join(o.variable for o in self.spec.outputs)),
                ("largest index", leader),
                ("warnings", len(self.warnings))]

    def __repr__(self) -> str:
        from sdrev.display import summary_repr
        return summary_repr("SensitivityResult", self.model.name, self._summary())

    def _repr_html_(self) -> str:
        from sdrev.display import summary_html
        return summary_html("SensitivityResult", self.model.name, self._summary(),
                            table=self._top(), caption=f"Largest {self.main_index} indices")


def stage_seed(seed: int, stage: str) -> int:
    """The seed of one stage (see ``_STAGES``), derived from the user's seed."""
    k = _STAGES.index(stage)
    return int(np.random.SeedSequence([int(seed), k]).generate_state(1)[0])


def run(model: Model, spec: Spec, *, method: str | None = None, n: int | None = None,
        seed: int | None = None, progress: bool = True,
        groups: Sequence[str] = _GROUPS, convergence: bool = True,
        time_resolved: bool = True, knockout: bool = True,
        workers: int | None = None, given: pd.DataFrame | None = None) -> SensitivityResult:
    """Run a sensitivity analysis of ``model`` as ``spec`` defines it.

    Parameters
    ----------
    model : Model
        The model the spec was validated against.
    spec : Spec
        From :func:`sdrev.sensitivity.load_spec`.
    method : str, optional
        One of ``sobol, morris, fast, rbd_fast, pawn, delta``; default the spec's.
    n : int, optional
        Sample size as the method counts it; default the spec's.
    seed : int, optional
        Default the spec's. The same seed gives identical indices.
    progress : bool, optional
        Show the ensemble engine's progress bar (and the loop analyses').
    groups : sequence of str, optional
        Factor groups to analyse: ``"parameters"`` and/or ``"loops"``.
    convergence, time_resolved, knockout : bool, optional
        Compute the convergence check, the time-resolved indices and the
        loop-knockout experiment.
    workers : int, optional
        Worker processes of the ensemble engine and of the loop analyses
        (default all cores).
    given : pandas.DataFrame, optional
        Given data instead of a sample: one row per run, one column per
        constant (such as posterior draws, :func:`sdrev.calibrate.read_posterior`).
        The columns become the parameter factors (their ranges the draws'
        span) and ``n`` the number of rows. Only the given-data methods
        (``delta``, ``pawn``) accept it: the others need their own designs.

    Returns
    -------
    SensitivityResult

    Raises
    ------
    InvalidValueError
        For an unknown method or group, an N that does not suit the method,
        or a model whose outputs are not finite.
    UnknownNameError
        For a loop metric whose loop the model's loop analysis does not find.
    """
    if spec.model != model.name:
        raise InvalidValueError(f"the spec was validated for model {spec.model!r}, "
                                f"not {model.name!r}")
    method = check_method(method if method is not None else spec.method)
    n = spec.n if n is None else n
    seed = spec.seed if seed is None else seed
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidValueError(f"N must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidValueError(f"seed must be a non-negative integer, got {seed!r}")
    n, seed = int(n), int(seed)
    if given is not None:
        spec, n, groups = _given_spec(model, spec, method, given), len(given), ("parameters",)
    spec, noise_warning = noise_for_method(spec, method)
    for g in groups:
        if g not in _GROUPS:
            raise InvalidValueError(f"unknown factor group {g!r}; valid groups: "
                                    f"{', '.join(_GROUPS)}")
    mod = _methods.get(method)
    ctx = _Context(model, spec, method, mod, workers, progress)
    ctx.given, ctx.seed = given, seed
    ctx.warnings += [noise_warning] if noise_warning else []
    active = [g for g in groups if spec.group(g)]
    for g in active:
        mod.check_n(spec.problem(g), n)
    seeds = {s: stage_seed(seed, s) for s in _STAGES}
    start = _time.perf_counter()
    ctx.check_loop_metrics()
    tables, conv, tres, values, problems = [], [], [], {}, {}
    # SALib's estimators make many tiny linear-algebra calls (delta: a kernel
    # density per bootstrap resample); a multi-threaded BLAS spends far longer
    # waking threads than computing them (27x slower on 2 busy cores).
    with threadpool_limits(limits=1, user_api="blas"):
        for g in active:
            problem = spec.problem(g)
            problems[g] = problem
            result = ctx.analyse_group(g, problem, n, seeds, convergence=convergence,
                                       time_resolved=time_resolved)
            tables.append(result["indices"])
            conv.append(result["convergence"])
            tres.append(result["time_resolved"])
            values[g] = result["values"]
        ko = ctx.knockout() if knockout else _empty_knockout()
    total = _time.perf_counter() - start
    indices = _concat(tables, INDEX_COLUMNS)
    return SensitivityResult(
        model=model, spec=spec, method=method, n=n, seed=seed, seeds=seeds,
        problems=problems, runs=ctx.runs, indices=indices,
        convergence=_concat(conv, _CONV_COLUMNS),
        time_resolved=_concat(tres, _TR_COLUMNS), knockout=ko, metric_values=values,
        warnings=tuple(ctx.warnings),
        timings={"simulation": round(ctx.sim_seconds, 3),
                 "loop_metrics": round(ctx.loop_seconds, 3),
                 "analysis": round(total - ctx.sim_seconds - ctx.loop_seconds, 3),
                 "total": round(total, 3)},
        engine=ctx.engine or "none")


#: Methods that analyse a given sample (any joint distribution of the inputs).
GIVEN_DATA_METHODS = ("delta", "pawn")


def _given_spec(model, spec: Spec, method: str, given: pd.DataFrame) -> Spec:
    """The spec with the given data's columns as its parameter factors."""
    import dataclasses

    from sdrev.factors import Factor

    if method not in GIVEN_DATA_METHODS:
        raise InvalidValueError(
            f"given data (posterior draws) can be analysed by {' and '.join(GIVEN_DATA_METHODS)} "
            f"only; {method} needs its own sampling design (use --method delta or pawn)")
    if not isinstance(given, pd.DataFrame) or given.empty or given.shape[1] == 0:
        raise InvalidValueError("given data must be a non-empty table of parameter values")
    values = given.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise InvalidValueError("given data must be finite numbers")
    factors = []
    for name, column in given.items():
        param = model.parameter(str(name))
        lo, hi = float(column.min()), float(column.max())
        if not lo < hi:
            raise InvalidValueError(f"given data: {param.name!r} takes one value only "
                                    f"({lo:g}); nothing to analyse")
        factors.append(Factor(param.name, param.py_name, (lo, hi), "uniform", (lo, hi)))
    return dataclasses.replace(spec, factors=tuple(factors), loop_factors=())


_CONV_COLUMNS = ("group", "output", "metric", "factor", "index", "n_quarter", "n_half",
                 "n_full", "value_quarter", "value_half", "value_full", "change", "settled")
_TR_COLUMNS = ("group", "output", "factor", "index", "time", "value", "conf")
_KO_COLUMNS = ("loop", "gain", "output", "metric", "baseline", "knockout", "change",
               "relative_change")


def _thin(count: int, most: int) -> list[int]:
    """At most ``most`` evenly spaced indices of ``range(count)``, ends included."""
    if count <= most:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, most)})


def _concat(frames, columns) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True)[list(columns)]


def _empty_knockout() -> pd.DataFrame:
    return pd.DataFrame(columns=list(_KO_COLUMNS))


class _Context:
    """State shared by the stages of one analysis (timings, warnings, run count)."""

    def __init__(self, model, spec: Spec, method: str, mod, workers, progress):
        self.model, self.spec, self.method, self.mod = model, spec, method, mod
        self.workers, self.progress = workers, progress
        self.runs = 0
        self.sim_seconds = 0.0
        self.loop_seconds = 0.0
        self.warnings: list[str] = [mod.NOTE] if getattr(mod, "NOTE", "") else []
        self.engine: str | None = None
        self.given: pd.DataFrame | None = None
        self.seed = 0  # the analysis's seed: also the seed of the model's noise
        base = {}
        if spec.scenario is not None:
            base.update(model.scenarios[spec.scenario].params)
        self.base = base  # constants set by the scenario, by Vensim name
        self.bounds = {f.name: f.range for f in spec.factors + spec.loop_factors}

    # -- simulation -------------------------------------------------------
    def simulate(self, frame: pd.DataFrame, *, progress: bool | None = None):
        """Run the ensemble; return times and ``{py_name: (runs, T) array}``.

        Each row draws the noise stream :meth:`Spec.streams` gives it (the
        noise-seed factor's value with ``noise = "factor"``)."""
        from sdrev import ensemble

        streams = self.spec.streams(frame)
        frame = frame.drop(columns=[NOISE_FACTOR], errors="ignore")
        frame.index = pd.Index(streams)
        for name, value in self.base.items():
            if name not in frame.columns:
                frame[name] = value
        outputs = list(dict.fromkeys(o.py_name for o in self.spec.outputs))
        if not outputs:  # loop metrics only: the loop analyses simulate the runs
            self.runs += len(frame)
            return np.empty(0), {}
        start = _time.perf_counter()
        result = ensemble.run_arrays(self.model, frame, outputs=outputs,
                                     progress=(self.progress if progress is None
                                               else progress),
                                     workers=self.workers if len(frame) > 2000 else 1,
                                     seed=self.seed % 2**53)
        self.sim_seconds += _time.perf_counter() - start
        self.runs += len(frame)
        self.engine = str(result.attrs.get("engine", "sdrev"))
        times = np.asarray(result.times, dtype=float)
        data = {}
        for out in self.spec.outputs:
            Y = np.asarray(result.outputs[out.py_name][1], dtype=float)
            bad = ~np.isfinite(Y)
            if bad.any():
                rows = np.nonzero(bad.any(axis=1))[0]
                row = frame.iloc[int(rows[0])]
                # name the values at their range ends first: the likely culprits
                ends = [f"{k} = {v:g}" for k, v in row.items() if k in self.bounds
                        and v in self.bounds[k]]
                shown = (ends or [f"{k} = {v:g}" for k, v in row.items()])[:8]
                raise NonFiniteError(
                    f"{out.variable} is not finite in {len(rows)} of {len(frame)} runs, "
                    f"e.g. run {int(rows[0])} with {', '.join(shown)}"
                    f"{' ...' if len(row) > len(shown) else ''}; narrow the factor "
                    "ranges in the spec or fix the model at those values")
            data[out.py_name] = Y
        return times, data

    # -- metrics ----------------------------------------------------------
    def scalar_metrics(self, times, data, *, note: bool = False) -> dict:
        """``{(output, metric): values}`` of every scalar metric."""
        out = {}
        final = self.model.time.final
        for o in self.spec.outputs:
            for m in o.metrics:
                if m.kind == "trajectory":
                    continue
                values = _metrics.compute(m, times, data[o.py_name])
                if m.kind == "first_crossing":
                    never = np.isnan(values)
                    if note and never.any():
                        self.warnings.append(
                            f"{o.variable} never crosses {m.threshold:g} in {int(never.sum())}"
                            f" of {len(values)} runs; those runs count as crossing at FINAL "
                            f"TIME {final:g}")
                    values = np.where(never, final, values)
                out[(o.variable, m.name)] = values
        return out

    def check_loop_metrics(self) -> None:
        """Analyse the spec's scenario once: every loop the loop metrics name
        must be found (a one-line error otherwise, before any sampling)."""
        if not self.spec.loop_metrics:
            return
        from sdrev.loops import analyze
        from sdrev.sensitivity.loop_metrics import metric_value

        start = _time.perf_counter()
        analysis = analyze(self.model, scenario=self.spec.scenario)
        for m in self.spec.loop_metrics:
            try:
                metric_value(analysis, m)
            except UnknownNameError as exc:
                raise UnknownNameError(f"loop metric {m.name}: {exc}") from None
        self.loop_seconds += _time.perf_counter() - start

    def loop_metrics(self, frame: pd.DataFrame, *, note: str = "",
                     progress: bool | None = None) -> dict:
        """``{("loop dominance", metric): values}``: each row's loop analysis.

        ``note``: the factor group, to add a warning for shifts that never happen.
        """
        if not self.spec.loop_metrics:
            return {}
        from sdrev.sensitivity.loop_metrics import evaluate

        start = _time.perf_counter()
        streams = self.spec.streams(frame)
        frame = frame.drop(columns=[NOISE_FACTOR], errors="ignore")
        raw = evaluate(self.model, self.spec.loop_metrics, frame.to_dict(orient="records"),
                       scenario=self.spec.scenario, workers=self.workers,
                       progress=self.progress if progress is None else progress,
                       seed=self.seed % 2**53, streams=streams)
        self.loop_seconds += _time.perf_counter() - start
        final = self.model.time.final
        out = {}
        for m in self.spec.loop_metrics:
            values = raw[m.name]
            if m.kind == "dominance_shift":
                never = np.isnan(values)
                fill = final if m.default is None else m.default
                if note and never.any():
                    what = (f"FINAL TIME {final:g}" if m.default is None
                            else f"the spec's default {fill:g}")
                    self.warnings.append(
                        f"{note}: {LOOP_OUTPUT}: {m.words()} never happens in "
                        f"{int(never.sum())} of {len(values)} runs; those runs count as {what}")
                values = np.where(never, fill, values)
            out[(LOOP_OUTPUT, m.name)] = values
        return out

    # -- analysis ---------------------------------------------------------
    def _constant(self, problem, Y) -> pd.DataFrame | None:
        """The table of NaN indices when ``Y`` does not vary, else None."""
        if np.ptp(Y) > 1e-12 * max(1.0, float(np.abs(Y).max())):
            return None
        rows = [(f, i, np.nan, np.nan) for i in self.mod.INDICES if i != "S2"
                for f in problem["names"]]
        return pd.DataFrame(rows, columns=["factor", "index", "value", "conf"])

    def analyse_quietly(self, jobs: list[tuple]) -> list[pd.DataFrame]:
        """The tables of ``jobs`` (``(problem, X, Y, seed, resamples)`` each),
        in order, the estimators' warnings discarded (as ``analyse`` with
        ``note=False``).

        On several threads when the method says its estimator shares no
        state (``thread_safe``: Sobol' first and total order draw their
        resamples from a generator of their own); numpy releases the
        interpreter lock in the array operations that are most of the time.
        """
        def one(job) -> pd.DataFrame:
            problem, X, Y, seed, resamples = job
            Y = np.asarray(Y, dtype=float)
            constant = self._constant(problem, Y)
            if constant is not None:
                return constant
            return self.mod.analyze(problem, X, Y, seed=seed,
                                    second_order=self.spec.second_order, resamples=resamples)

        safe = getattr(self.mod, "thread_safe", None)
        threads = min(len(jobs), self.workers or os.cpu_count() or 1)
        if threads > 1 and safe is not None and all(
                safe(job[0], seed=job[3], second_order=self.spec.second_order) for job in jobs):
            from concurrent.futures import ThreadPoolExecutor

            # one filter for all threads: catch_warnings is process-wide
            with warnings.catch_warnings(), ThreadPoolExecutor(threads) as pool:
                warnings.simplefilter("ignore")
                return list(pool.map(one, jobs))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [one(job) for job in jobs]

    def analyse(self, problem, X, Y, seed, what: str, *, note: bool = True,
                resamples: int = 100) -> pd.DataFrame:
        Y = np.asarray(Y, dtype=float)
        constant = self._constant(problem, Y)
        if constant is not None:
            if note:
                self.warnings.append(f"{what} does not vary over the sample; its indices "
                                     "are undefined (NaN)")
            return constant
        with warnings.catch_warnings(record=True) as caught:
            # SALib divides by the sample variance of each index estimate;
            # near-degenerate bootstrap resamples only affect the intervals.
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("always", UserWarning)
            table = self.mod.analyze(problem, X, Y, seed=seed,
                                     second_order=self.spec.second_order, resamples=resamples)
        for w in caught:  # the estimator's own cautions go to the run's warnings
            text = " ".join(str(w.message).split())
            if note and f"{what}: {text}" not in self.warnings:
                self.warnings.append(f"{what}: {text}")
        return table

    def analyse_group(self, group, problem, n, seeds, *, convergence, time_resolved):
        mod, spec = self.mod, self.spec
        second = spec.second_order
        s_sample, s_analyze = seeds[f"sample_{group}"], seeds[f"analyze_{group}"]
        if self.given is not None:  # with noise: each given row its own stream
            X = self.given.assign(**{NOISE_FACTOR: np.arange(len(self.given))})[
                problem["names"]].to_numpy(dtype=float)
        else:
            X = mod.sample(problem, n, seed=s_sample, second_order=second)
        frame = pd.DataFrame(X, columns=problem["names"])
        times, data = self.simulate(frame)
        scalars = self.scalar_metrics(times, data, note=True)
        scalars.update(self.loop_metrics(frame, note=group))
        tables = []
        for (output, metric), Y in scalars.items():
            t = self.analyse(problem, X, Y, s_analyze, f"{output} ({metric})")
            t.insert(0, "metric", metric)
            t.insert(0, "output", output)
            tables.append(t)
        indices = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
            columns=["output", "metric", "factor", "index", "value", "conf"])
        indices.insert(0, "group", group)
        indices["ci_low"] = indices["value"] - indices["conf"]
        indices["ci_high"] = indices["value"] + indices["conf"]
        values = frame.copy()
        for (output, metric), Y in scalars.items():
            values[f"{output}: {metric}"] = Y
        conv = (self.convergence(group, problem, n, X, scalars, indices, seeds)
                if convergence else pd.DataFrame(columns=list(_CONV_COLUMNS)))
        tres = (self.time_resolved(group, problem, X, times, data, s_analyze)
                if time_resolved else pd.DataFrame(columns=list(_TR_COLUMNS)))
        return {"indices": indices, "convergence": conv, "time_resolved": tres,
                "values": values}

    def convergence(self, group, problem, n, X, scalars, indices, seeds) -> pd.DataFrame:
        mod, main = self.mod, self.mod.MAIN
        sizes = {"quarter": n // 4, "half": n // 2}
        subsets = {}
        for label, size in sizes.items():
            try:
                mod.check_n(problem, size)
            except InvalidValueError:
                self.warnings.append(f"convergence check of {group}: N/{4 if label == 'quarter' else 2}"
                                     f" = {size} is too small for {self.method}; skipped")
                continue
            rows = mod.prefix(problem, size, second_order=self.spec.second_order)
            if rows is not None:
                subsets[label] = (X[:rows], {k: v[:rows] for k, v in scalars.items()})
            else:  # draw a smaller sample anew (eFAST)
                Xs = mod.sample(problem, size, seed=seeds[f"resample_{label}"],
                                second_order=self.spec.second_order)
                sub = pd.DataFrame(Xs, columns=problem["names"])
                t, d = self.simulate(sub, progress=False)
                subsets[label] = (Xs, {**self.scalar_metrics(t, d),
                                       **self.loop_metrics(sub, progress=False)})
        full = indices[indices["index"] == main].set_index(["output", "metric", "factor"])["value"]
        frame = full.rename("value_full").reset_index()
        frame.insert(0, "group", group)
        frame.insert(4, "index", main)
        frame["n_full"] = n
        for label, size in sizes.items():
            frame[f"n_{label}"] = size
            if label not in subsets:
                frame[f"value_{label}"] = np.nan
                continue
            Xs, scal = subsets[label]
            tables = self.analyse_quietly([(problem, Xs, Y, seeds[f"analyze_{group}"], 100)
                                           for Y in scal.values()])
            parts = [t[t["index"] == main].assign(output=output, metric=metric)
                     for (output, metric), t in zip(scal, tables)]
            sub = pd.concat(parts).set_index(["output", "metric", "factor"])["value"]
            frame[f"value_{label}"] = sub.reindex(
                pd.MultiIndex.from_frame(frame[["output", "metric", "factor"]])).to_numpy()
        # change between N/2 and N, scaled for unnormalised indices (Morris mu*)
        scale = frame.groupby(["output", "metric"])["value_full"].transform(
            lambda v: max(float(np.nanmax(np.abs(v))) if v.notna().any() else 1.0, 1e-300))
        normalised = main in ("S1", "ST", "delta", "median")
        ref = frame["value_half"] if frame["value_half"].notna().any() else frame["value_quarter"]
        change = (frame["value_full"] - ref).abs()
        frame["change"] = change if normalised else change / scale
        frame["settled"] = ~(frame["change"] > CONVERGENCE_TOLERANCE)
        for (output, metric), part in frame.groupby(["output", "metric"], sort=False):
            if (~part["settled"]).any():
                worst = part.loc[part["change"].idxmax()]
                self.warnings.append(
                    f"{group}: {self.method} {main} of {output} ({metric}) has not settled: "
                    f"it changes by {worst['change']:.3f} for {worst['factor']} between "
                    f"N/2 = {n // 2} and N = {n}; increase N")
        return frame

    def time_resolved(self, group, problem, X, times, data, seed) -> pd.DataFrame:
        parts = []
        for o in self.spec.outputs:
            if not any(m.kind == "trajectory" for m in o.metrics):
                continue
            Y = data[o.py_name]
            undefined = []
            points = _thin(len(times), TIME_RESOLVED_POINTS)
            tables = self.analyse_quietly([(problem, X, Y[:, k], seed, TIME_RESOLVED_RESAMPLES)
                                           for k in points])
            for k, table in zip(points, tables):
                t = times[k]
                table = table[table["index"] != "S2"]
                if table["value"].isna().all():
                    undefined.append(t)
                parts.append(table.assign(group=group, output=o.variable, time=float(t)))
            if undefined:
                self.warnings.append(
                    f"time-resolved indices of {o.variable} are undefined (NaN) at "
                    f"{len(undefined)} time(s) where it does not vary, e.g. {undefined[0]:g}")
        if not parts:
            return pd.DataFrame(columns=list(_TR_COLUMNS))
        return pd.concat(parts, ignore_index=True)[list(_TR_COLUMNS)]

    # -- loop knockout ------------------------------------------------------
    def knockout(self) -> pd.DataFrame:
        loops = list(self.spec.loop_factors)
        if not loops:
            loops = [Factor(lp.gain, self.model.parameter(lp.gain).py_name, (0.0, 2.0),
                            "uniform", (0.0, 2.0), "loops", f"{lp.id} {lp.name}".strip())
                     for lp in self.model.loops if lp.gain]
        if not loops:
            return _empty_knockout()
        base = {f.name: self.base.get(f.name, self.model.parameter(f.name).value)
                for f in loops}
        rows = [dict(base)]
        for f in loops:
            rows.append({**base, f.name: 0.0})
        frame = pd.DataFrame(rows)
        times, data = self.simulate(frame, progress=False)
        scalars = self.scalar_metrics(times, data)
        scalars.update(self.loop_metrics(frame, progress=False))
        years = time_metrics(self.spec)
        out = []
        for k, f in enumerate(loops, start=1):
            for (output, metric), values in scalars.items():
                b, v = float(values[0]), float(values[k])
                # a relative change of a calendar year means nothing: years only
                rel = ((v - b) / abs(b) if b != 0 and (output, metric) not in years
                       else np.nan)
                out.append((f.label, f.name, output, metric, b, v, v - b, rel))
        return pd.DataFrame(out, columns=list(_KO_COLUMNS))


def time_metrics(spec: Spec) -> set[tuple[str, str]]:
    """``(output, metric)`` pairs whose values are times (calendar years)."""
    years = {(o.variable, m.name) for o in spec.outputs for m in o.metrics
             if m.kind == "first_crossing"}
    return years | {(LOOP_OUTPUT, m.name) for m in spec.loop_metrics
                    if m.kind == "dominance_shift"}


# -- reporting ---------------------------------------------------------------
