"""Loop-dominance metrics of sampled runs: one loop analysis per run.

For every row of a sample, :func:`evaluate` runs :func:`sdrev.loops.analyze`
with the row's constants on top of the spec's scenario and reduces the
analysis to the spec's loop metrics (:mod:`sdrev.loops.metrics`). A loop
analysis saves every variable at every time step and scores every link, so
it costs far more than an ensemble run (about 60 ms for ``crrc_standards``);
the rows are spread over worker processes.
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

#: Fewest rows for which worker processes are started (below: this process).
PARALLEL_ROWS = 16
#: Chunks per worker: enough for an even load and a moving progress bar.
CHUNKS_PER_WORKER = 8


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


def _values(model: Model, scenario: str | None, metrics: Sequence[LoopMetric],
            rows: Sequence[Mapping[str, float]]) -> np.ndarray:
    """``(len(rows), len(metrics))`` metric values, one analysis per row."""
    from sdrev.loops import analyze

    out = np.empty((len(rows), len(metrics)))
    for i, row in enumerate(rows):
        analysis = analyze(model, scenario=scenario, params=row)
        out[i] = [metric_value(analysis, m) for m in metrics]
    return out


_WORKER: dict = {}


def _init_worker(source: str) -> None:
    """Load the model once per worker process (cached translation and compilation)."""
    from sdrev.model import load
    _WORKER["model"] = load(source)


def _run_chunk(scenario, metrics, rows) -> np.ndarray:
    return _values(_WORKER["model"], scenario, metrics, rows)


def evaluate(model: Model, metrics: Sequence[LoopMetric], rows: Sequence[Mapping[str, float]],
             *, scenario: str | None = None, workers: int | None = None,
             progress: bool = False) -> dict[str, np.ndarray]:
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

    Returns
    -------
    dict of str to ndarray
        NaN where a dominance shift never happens.
    """
    from tqdm.auto import tqdm

    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise InvalidValueError(f"workers must be at least 1, got {workers}")
    rows = [{k: float(v) for k, v in row.items()} for row in rows]
    metrics = list(metrics)
    values = np.empty((len(rows), len(metrics)))
    bar = tqdm(total=len(rows), desc="loop analyses", unit="run", disable=not progress)
    try:
        if workers == 1 or len(rows) < PARALLEL_ROWS:
            size = max(1, math.ceil(len(rows) / 20))
            for start in range(0, len(rows), size):
                part = rows[start:start + size]
                values[start:start + len(part)] = _values(model, scenario, metrics, part)
                bar.update(len(part))
        else:
            size = max(1, math.ceil(len(rows) / (workers * CHUNKS_PER_WORKER)))
            with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                                     initargs=(str(model.path),)) as pool:
                futures = {pool.submit(_run_chunk, scenario, metrics, rows[s:s + size]): s
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
