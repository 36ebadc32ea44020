"""Loops stage: feedback loops, their polarity and their dominance over time.

:func:`analyze` finds every feedback loop of a model from its structure
(:mod:`sdrev.loops.graph`; for a subscripted model, over one node per
variable element, :mod:`sdrev.loops.elements`), runs the model once saving every variable at
every time step with sdrev's ensemble engine, scores every link and loop by
the Loops that Matter method (Schoenberg, Davidsen & Eberlein 2020;
:mod:`sdrev.loops.scores`), names the loops from the model's documentation
(:mod:`sdrev.loops.naming`) and finds the dominant periods
(:mod:`sdrev.loops.dominance`). :mod:`sdrev.loops.metrics` turns an analysis
into numbers for sensitivity analysis. :func:`analyze_ensemble` does the same
for every run of a sample at once (:mod:`sdrev.loops.batch`,
:mod:`sdrev.loops.chunks`: the same numbers, run by run) and gives the
probability that each documented loop dominates (:mod:`sdrev.loops.ensemble`).

Examples
--------
>>> import sdrev, sdrev.loops
>>> analysis = sdrev.loops.analyze(sdrev.load("crrc_standards"), scenario="baseline")
>>> analysis.loops[["id", "name", "polarity", "length"]]  # doctest: +SKIP
>>> analysis.dominant_periods  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sdrev.errors import InvalidValueError, UnknownNameError, suggest
from sdrev.loops import batch as _batch
from sdrev.loops import graph as _graph
from sdrev.loops import scores as _scores
from sdrev.loops.ensemble import EnsembleLoopAnalysis, analyze_ensemble
from sdrev.loops.dominance import (DOMINANCE_THRESHOLD, documented_periods,
                                   dominant_periods)
from sdrev.loops.graph import MAX_LOOPS
from sdrev.loops.metrics import dominance_share, dominance_shift_time, relative_score_at
from sdrev.loops.naming import id_sort_key

__all__ = ["DOMINANCE_THRESHOLD", "MAX_LOOPS", "EnsembleLoopAnalysis", "LoopAnalysis",
           "analyze", "analyze_ensemble", "causal_structure",
           "dominance_share", "dominance_shift_time", "relative_score_at"]

_LOOP_COLUMNS = ["id", "name", "polarity", "confidence", "length", "variables",
                 "partition", "documented", "mean_abs_score", "max_abs_score"]


@dataclass(frozen=True)
class LoopAnalysis:
    """Feedback loops of one run and their dominance.

    Attributes
    ----------
    model : str
        Model name.
    scenario : str or None
    params : mapping
        Parameters set on top of the scenario (Vensim names).
    loops : DataFrame
        One row per loop: ``id`` (R1, B1, U1, ...), ``name`` (documented
        name or ""), ``polarity`` (``reinforcing``, ``balancing``,
        ``mostly reinforcing``, ``mostly balancing`` or ``undetermined``),
        ``confidence`` (``|r - |b|| / (r + |b|)`` of its relative scores),
        ``length``, ``variables`` (tuple of Vensim names in causal order),
        ``partition`` (cycle partition; scores compare only within one),
        ``documented``, ``mean_abs_score`` and ``max_abs_score`` (of the
        relative score over saved times).
    relative_scores : DataFrame
        Relative loop scores indexed by saved time, one column per loop id.
    loop_scores : DataFrame
        Raw loop scores (products of link scores), same layout.
    dominant_periods : DataFrame
        ``partition``, ``start``, ``end``, ``loops``, ``polarity``, ``share``
        (see :func:`sdrev.loops.dominance.dominant_periods`).
    documented_periods : DataFrame
        The same among the model's documented loops only (see
        :func:`sdrev.loops.dominance.documented_periods` for why the full
        analysis is dominated by first-order balancing loops).
    method : str
        ``"exhaustive"`` (every loop) or ``"strongest path"`` (more than
        ``max_loops`` loops; the loops found by the strongest-path search).
    time_units : str
        The model's time unit, in which periods and times are given
        (``""`` when the model gives none).
    switches : mapping of str to str
        Timed settings of the run (Vensim name to ``"VALUE@TIME"``): the
        constant steps to VALUE at TIME, and the loops are scored along the
        run with the step (empty when none).
    """

    model: str
    scenario: str | None
    params: Mapping[str, float]
    loops: pd.DataFrame
    relative_scores: pd.DataFrame
    loop_scores: pd.DataFrame
    dominant_periods: pd.DataFrame
    method: str
    documented_periods: pd.DataFrame = field(default_factory=pd.DataFrame)
    _names: Mapping[str, str] = field(repr=False, default_factory=dict)
    time_units: str = ""
    switches: Mapping[str, str] = field(default_factory=dict)

    def _summary(self) -> list[tuple[str, object]]:
        polar = self.loops["polarity"].value_counts().to_dict() if len(self.loops) else {}
        periods = [f"{r.start:g}-{r.end:g} {', '.join(r.loops)}"
                   for r in self.dominant_periods.head(4).itertuples(index=False)]
        return [("scenario", self.scenario or "model constants"),
                ("loops", f"{len(self.loops)} ({self.method} search): "
                          + ", ".join(f"{n} {k}" for k, n in polar.items())),
                ("dominant periods", "; ".join(periods) or "none"),
                ("time unit", self.time_units or "missing")]

    def __repr__(self) -> str:
        from sdrev.display import summary_repr
        return summary_repr("LoopAnalysis", self.model, self._summary())

    def _repr_html_(self) -> str:
        from sdrev.display import summary_html
        table = self.loops[[c for c in ("id", "name", "polarity", "length",
                                        "mean_abs_score") if c in self.loops]] \
            if len(self.loops) else None
        return summary_html("LoopAnalysis", self.model, self._summary(), table=table,
                            caption="Loops")

    def loop_id(self, loop) -> str:
        """Id of a loop given by id, documented name or variables.

        Raises
        ------
        UnknownNameError
        """
        table = self.loops
        if isinstance(loop, str):
            if loop in set(table["id"]):
                return loop
            key = loop.strip().lower()
            for row in table.itertuples(index=False):
                if row.name and row.name.lower() == key:
                    return row.id
            raise UnknownNameError(
                f"no loop {loop!r} in {self.model}"
                + suggest(loop, list(table["id"]) + [n for n in table["name"] if n]))
        wanted = {self._names.get(_key(v), _key(v)) for v in loop}
        for row in table.itertuples(index=False):
            if {_key(v) for v in row.variables} == wanted:
                return row.id
        raise UnknownNameError(f"no loop through exactly {sorted(wanted)} in {self.model}")

    def dominant_at(self, time: float, partition: int | None = None) -> tuple[str, ...]:
        """Ids of the dominant loops at a saved time (largest partition by default)."""
        part = self.main_partition() if partition is None else partition
        rows = self.dominant_periods[self.dominant_periods["partition"] == part]
        for row in rows.itertuples(index=False):
            if row.start <= time <= row.end:
                return row.loops
        return ()

    def main_partition(self) -> int:
        """The partition with the most loops (ties: the lowest number)."""
        if self.loops.empty:
            return 0
        counts = self.loops["partition"].value_counts()
        return int(min(counts[counts == counts.max()].index))

    def to_dict(self) -> dict:
        """Plain-data form (lists, floats, strings) of the analysis."""
        def clean(v):
            if isinstance(v, (tuple, list)):
                return [clean(x) for x in v]
            if isinstance(v, (np.integer,)):
                return int(v)
            if isinstance(v, (float, np.floating)):
                return None if not math.isfinite(float(v)) else float(v)
            if isinstance(v, np.bool_):
                return bool(v)
            return v
        rel = self.relative_scores
        return {
            "model": self.model,
            "scenario": self.scenario,
            "params": dict(self.params),
            **({"switches": dict(self.switches)} if self.switches else {}),
            "method": self.method,
            "time_units": self.time_units,
            "loops": [{k: clean(v) for k, v in row.items()}
                      for row in self.loops.to_dict(orient="records")],
            "dominant_periods": [{k: clean(v) for k, v in row.items()}
                                 for row in self.dominant_periods.to_dict(orient="records")],
            "documented_periods": [
                {k: clean(v) for k, v in row.items()}
                for row in self.documented_periods.to_dict(orient="records")],
            "times": [float(t) for t in rel.index],
            "relative_scores": {c: [clean(x) for x in rel[c].to_numpy()] for c in rel},
        }

    def to_json(self, **kwargs) -> str:
        """The analysis as JSON (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), **kwargs)


def _key(name: str) -> str:
    return " ".join(str(name).replace("_", " ").split()).lower()


def causal_structure(path):
    """The compiled program and causal graph of a model file (cached).

    For a subscripted model the graph has one node per variable element
    (:mod:`sdrev.loops.elements`): the graph its loops are found in.

    Returns
    -------
    program : sdrev.ensemble.compile.Program
    graph : sdrev.loops.graph.CausalGraph

    Raises
    ------
    sdrev.ensemble.compile.UnsupportedConstructError
    """
    path = str(Path(path).resolve())
    program, cg, eg = _batch.compiled(path, os.path.getmtime(path))
    return program, (eg.graph if eg is not None else cg)


def analyze(model, *, scenario: str | None = None,
            params: Mapping[str, object] | None = None,
            max_loops: int = MAX_LOOPS,
            threshold: float = DOMINANCE_THRESHOLD, seed: int = 0,
            run: int = 0) -> LoopAnalysis:
    """Find a model's feedback loops and their dominance in one run.

    Parameters
    ----------
    model : sdrev.Model, str or Path
        A loaded model, a library name or a ``.mdl`` path.
    scenario : str, optional
    params : mapping, optional
        Constants (and ``FINAL TIME``, ``TIME STEP``, ``SAVEPER``) on top of
        the scenario, as for :func:`sdrev.simulate`, timed settings included
        (``"VALUE@TIME"`` or a :class:`~sdrev.scenario.Switch`): the run steps
        the constant to VALUE at TIME as Vensim's ``STEP`` does, and the loops
        are scored along that run (the switched constant is an input of the
        loops, on none of them, so the step moves the variables it feeds and
        the link scores see the loops' share of each change).
    max_loops : int
        Cap on exhaustive enumeration; a model with more loops is analysed
        with the strongest-path search instead (``method`` says which).
    threshold : float
        Combined share a dominant set must reach (0.5).
    seed, run : int
        For a model with RANDOM functions, the noise realisation the run
        (and its loop scores) follows: the stream that
        :func:`sdrev.ensemble.run` with this ``seed`` draws for the run of
        index ``run`` (default: run 0 of seed 0, the run of
        :func:`sdrev.simulate`). The scores are the loops' scores along that
        realisation; another realisation can rank the loops otherwise.

    Returns
    -------
    LoopAnalysis

    Raises
    ------
    UnknownNameError, InvalidValueError
        For a bad scenario or parameter.
    sdrev.ensemble.compile.UnsupportedConstructError
        For models the ensemble engine cannot compile (ALLOCATE, for one).
    """
    from sdrev.model import Model, load
    from sdrev.scenario import run_settings

    if not isinstance(model, Model):
        model = load(model)
    if max_loops < 1:
        raise InvalidValueError(f"max_loops must be at least 1, got {max_loops}")
    settings = run_settings(model, scenario=scenario, params=params, timed=True)
    st = _batch.structure(model.path, max_loops)
    program, cg, eg = st.program, st.variables, st.elements
    lg = st.graph  # the graph loops run in
    loops, complete, part = list(st.loops), st.complete, st.partitions
    constants = {program.resolve(name): _number(value)
                 for name, value in settings.params.items()}
    if settings.switches:  # the switched constant becomes a variable of the run
        from sdrev.ensemble.switches import switch_constants, with_switches
        switched = {program.resolve(name): s for name, s in settings.switches.items()}
        program = with_switches(program, switched)
        for name, switch in switched.items():
            before, after, at = switch_constants(name)
            constants[before] = constants.pop(name, program.constants[before])
            constants[after], constants[at] = switch.value, switch.at
    for key, value in (("initial_time", model.time.initial), ("final_time", model.time.final),
                       ("time_step", model.time.step), ("saveper", model.time.saveper)):
        if key not in program.constants:  # a control given as an expression
            constants[key] = float(value)
    constants.update({k: float(v) for k, v in settings.time.items()})
    for key, value in (("seed", seed), ("run", run)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
                0 <= value < 2**53):
            raise InvalidValueError(f"{key} must be an integer from 0 to 2**53 - 1, "
                                    f"got {value!r}")
    from sdrev.ensemble import noise
    if noise.has_noise(program):  # the run's own noise realisation
        constants.update(noise.stream_constants(int(seed), float(run)))
    try:
        traj = _scores.simulate_every_step(program, cg, constants)
    except ArithmeticError as exc:  # a division by zero among Python floats
        raise InvalidValueError(
            f"the run of {model.name} cannot be computed ({exc}); loop scores need finite "
            "values: check the settings that divide by zero or overflow") from None
    for name, values in traj.values.items():  # scores of NaN would all read "undetermined"
        finite = np.isfinite(np.asarray(values, dtype=float).reshape(len(traj.times), -1))
        if not finite.all():
            when = traj.times[int(np.flatnonzero(~finite.all(axis=1))[0])]
            raise InvalidValueError(
                f"the run of {model.name} gives NaN or infinite values from time {when:g} "
                f"on ({name}); loop scores need finite values: check the settings that "
                "divide by zero or overflow")
    if eg is None:
        links = _scores.link_scores(program, cg, traj)
    else:
        try:
            links = _scores.link_scores(program, cg, traj, elements=eg)
        except (ValueError, IndexError) as exc:  # a subscript pattern not handled yet
            from sdrev.ensemble.compile import UnsupportedConstructError
            raise UnsupportedConstructError(
                f"loop analysis of {model.name}: the link scores of its subscripted "
                f"equations cannot be computed yet ({' '.join(str(exc).split())})") from exc
    method = "exhaustive"
    if not complete:
        method = "strongest path"
        step = max(1, int(round(np.count_nonzero(traj.saved) / 50)))
        times = np.flatnonzero(traj.saved)[1::step]
        loops = _graph.strongest_path_loops(lg, links, times=times)
    raw = _scores.loop_scores(loops, links)
    if raw.shape[1] != len(traj.times):  # no loop, or no link at all
        raw = np.zeros((len(loops), len(traj.times)))
    partition = [part[loop[0]] for loop in loops]
    rel = _scores.relative_scores(raw, partition)
    saved = traj.saved
    times = traj.times[saved]
    rel_s, raw_s = rel[:, saved], raw[:, saved]
    polarity = [_scores.classify_polarity(r) for r in rel_s]
    names = _batch.loop_names(st, loops, [p for p, _ in polarity], model.loops)
    index = pd.Index(np.round(times, 10), name="time")
    ids = [n.id for n in names]
    rows = []
    for i, loop in enumerate(loops):
        rows.append({
            "id": ids[i], "name": names[i].name, "polarity": polarity[i][0],
            "confidence": polarity[i][1], "length": len(loop),
            "variables": tuple(lg.label(v) for v in loop),
            "partition": partition[i], "documented": names[i].documented,
            "mean_abs_score": float(np.abs(rel_s[i]).mean()) if len(times) else 0.0,
            "max_abs_score": float(np.abs(rel_s[i]).max()) if len(times) else 0.0,
        })
    table = pd.DataFrame(rows, columns=_LOOP_COLUMNS)
    order = sorted(range(len(rows)), key=lambda i: _sort_key(ids[i]))
    table = table.iloc[order].reset_index(drop=True)
    ordered = [ids[i] for i in order]
    relative = pd.DataFrame(rel_s.T, index=index, columns=ids)[ordered] \
        if loops else pd.DataFrame(index=index)
    raw_df = pd.DataFrame(raw_s.T, index=index, columns=ids)[ordered] \
        if loops else pd.DataFrame(index=index)
    periods = dominant_periods(relative, table, threshold=threshold)
    names_map = {_key(v): _key(k) for k, v in lg.labels.items()}
    return LoopAnalysis(model=model.name, scenario=scenario,
                        params=dict(settings.params), loops=table,
                        switches={k: str(v) for k, v in settings.switches.items()},
                        relative_scores=relative, loop_scores=raw_df,
                        dominant_periods=periods, method=method,
                        time_units=model.time.units,
                        documented_periods=documented_periods(
                            raw_df, table, threshold=threshold),
                        _names={**names_map, **{_key(k): _key(lg.label(k))
                                                for k in lg.labels}})


def _number(value):
    """A parameter value as the engine takes it: a float, or an array for a
    subscripted constant."""
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=float)


_sort_key = id_sort_key
