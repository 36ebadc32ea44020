"""Loop-dominance metrics of sampled runs, from the ensemble loop scores.

:func:`evaluate` computes the loop analysis of every row of a sample at once
(:mod:`sdrev.loops.chunks`: the ensemble engine integrates a chunk of runs
together and their link scores are computed together; each run's numbers
equal those of :func:`sdrev.loops.analyze` with the row's constants on top
of the spec's scenario) and reduces it to the spec's loop metrics, run by
run, with the array versions of :mod:`sdrev.loops.metrics`. Large samples
are split over worker processes. :func:`metric_value` is the same metric
from one :class:`~sdrev.loops.LoopAnalysis` (the reference).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TYPE_CHECKING

import numpy as np

from sdrev.errors import InvalidValueError, UnknownNameError
from sdrev.sensitivity.spec import LoopMetric

if TYPE_CHECKING:
    from sdrev.loops import LoopAnalysis
    from sdrev.model import Model

__all__ = ["evaluate", "metric_value", "resolve"]

#: Fewest rows for which worker processes are started (below: this process,
#: where the compiled structure is already cached).
PARALLEL_ROWS = 4096
#: Slices per worker: an even load and a moving progress bar.
CHUNKS_PER_WORKER = 2


def resolve(analysis: LoopAnalysis, loop) -> str:
    """Id of a spec loop (documented name or id, or tuple of variables) in ``analysis``.

    Raises
    ------
    UnknownNameError
        If the run has no such loop, or the id found is not the documented loop's.
    """
    if isinstance(loop, str):
        loop_id = analysis.loop_id(loop)
        row = analysis.loops[analysis.loops["id"] == loop_id].iloc[0]
        if not bool(row["documented"]):
            raise UnknownNameError(f"loop {loop!r} of {analysis.model} was not found in this "
                                   "run (its id belongs to an undocumented loop)")
        return loop_id
    return analysis.loop_id(list(loop))


def metric_value(analysis: LoopAnalysis, metric: LoopMetric) -> float:
    """The value of one loop metric in one analysis (NaN: a shift that never happens)."""
    from sdrev.loops import metrics as lm

    if metric.kind == "dominance_shift":
        return lm.dominance_shift_time(analysis, resolve(analysis, metric.loop),
                                       resolve(analysis, metric.to_loop), after=metric.after)
    if metric.kind == "relative_score":
        return lm.relative_score_at(analysis, resolve(analysis, metric.loop), metric.time)
    if metric.kind == "dominance_share":
        return lm.dominance_share(analysis, resolve(analysis, metric.loop),
                                  start=metric.start, end=metric.end)
    raise InvalidValueError(f"unknown loop metric {metric.kind!r}")  # pragma: no cover


def _chunk_values(chunk, metric: LoopMetric) -> np.ndarray:
    """One loop metric of every run of a :class:`~sdrev.loops.chunks.LoopChunk`."""
    from sdrev.loops import chunks as lc

    def index(loop):
        return chunk.loop_index(loop if isinstance(loop, str) else list(loop),
                                documented=isinstance(loop, str))

    if metric.kind == "dominance_shift":
        return lc.dominance_shift_time(chunk, index(metric.loop), index(metric.to_loop),
                                       after=metric.after)
    if metric.kind == "relative_score":
        return lc.relative_score_at(chunk, index(metric.loop), metric.time)
    if metric.kind == "dominance_share":
        return lc.dominance_share(chunk, index(metric.loop), start=metric.start,
                                  end=metric.end)
    raise InvalidValueError(f"unknown loop metric {metric.kind!r}")  # pragma: no cover


def _values(model: Model, scenario: str | None, metrics: Sequence[LoopMetric],
            rows: Sequence[Mapping[str, float]], progress=None,
            noise=(0, None)) -> np.ndarray:
    """``(len(rows), len(metrics))`` metric values from the ensemble loop scores
    (``noise``: the seed and each row's noise stream, see :func:`evaluate`)."""
    import pandas as pd

    from sdrev.loops import MAX_LOOPS
    from sdrev.loops import batch as lb
    from sdrev.loops import chunks as lc

    out = np.empty((len(rows), len(metrics)))
    if not len(rows):
        return out
    program = lb.structure(model.path, MAX_LOOPS).program
    table = lc.run_table(model, pd.DataFrame(list(rows)), scenario=scenario,
                         program=program)
    table = lc.with_noise(table, program, seed=noise[0], streams=noise[1])
    shares = any(m.kind == "dominance_share" for m in metrics)
    for chunk in lc.iter_chunks(model, table, max_loops=MAX_LOOPS,
                                dominance=("all",) if shares else ()):
        part = slice(chunk.start, chunk.start + chunk.runs)
        for j, m in enumerate(metrics):
            try:
                out[part, j] = _chunk_values(chunk, m)
            except UnknownNameError as exc:
                raise UnknownNameError(f"loop {m.loop!r} of {model.name}: {exc}") from None
        if progress is not None:
            progress(chunk.runs)
    return out


_WORKER: dict = {}


def _init_worker(source: str) -> None:
    """Load the model once per worker process (cached translation and compilation)."""
    from sdrev.model import load
    _WORKER["model"] = load(source)


def _run_chunk(scenario, metrics, rows, noise) -> np.ndarray:
    return _values(_WORKER["model"], scenario, metrics, rows, noise=noise)


def evaluate(model: Model, metrics: Sequence[LoopMetric], rows: Sequence[Mapping[str, float]],
             *, scenario: str | None = None, workers: int | None = None,
             progress: bool = False, seed: int = 0,
             streams: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """Loop metrics of each run: ``{metric name: (len(rows),) array}``.

    Parameters
    ----------
    model : Model
    metrics : sequence of LoopMetric
    rows : sequence of mapping
        Constants of each run (Vensim names), on top of ``scenario``.
    scenario : str, optional
    workers : int, optional
        Worker processes (default all cores); ``1``, or fewer than
        :data:`PARALLEL_ROWS` rows, analyses in this process.
    progress : bool, optional
        Show a tqdm progress bar.
    seed : int, optional
        Seed of the model's RANDOM functions.
    streams : sequence of int, optional
        For a model with RANDOM functions, the noise stream each row's run
        draws (as the ensemble's run of that index with ``seed``); default:
        stream 0 for every row.

    Returns
    -------
    dict of str to ndarray
        NaN where a dominance shift never happens.

    Raises
    ------
    UnknownNameError
        For a loop no run's analysis has (or, named by a string, one that
        is not documented).
    """
    from tqdm.auto import tqdm

    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise InvalidValueError(f"workers must be at least 1, got {workers}")
    rows = [{k: float(v) for k, v in row.items()} for row in rows]
    streams = None if streams is None else np.asarray(streams, dtype=np.int64)
    if streams is not None and len(streams) != len(rows):
        raise InvalidValueError(f"{len(streams)} noise streams for {len(rows)} rows")
    metrics = list(metrics)
    values = np.empty((len(rows), len(metrics)))
    bar = tqdm(total=len(rows), desc="loop scores", unit="run", disable=not progress)
    try:
        if workers == 1 or len(rows) < PARALLEL_ROWS:
            values[:] = _values(model, scenario, metrics, rows, progress=bar.update,
                                noise=(seed, streams))
        else:
            size = max(1, math.ceil(len(rows) / (workers * CHUNKS_PER_WORKER)))
            with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                                     initargs=(str(model.path),)) as pool:
                futures = {pool.submit(_run_chunk, scenario, metrics, rows[s:s + size],
                                       (seed, None if streams is None else
                                        streams[s:s + size])): s
                           for s in range(0, len(rows), size)}
                try:
                    for done in as_completed(futures):
                        start = futures[done]
                        part = done.result()
                        values[start:start + len(part)] = part
                        bar.update(len(part))
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    finally:
        bar.close()
    return {m.name: values[:, j] for j, m in enumerate(metrics)}
