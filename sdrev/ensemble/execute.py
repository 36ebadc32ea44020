"""Execute stage: split runs into chunks and run them locally or on Dask.

A chunk is a block of rows of the samples table. Each worker compiles the
model once (cached per process) and integrates its chunk with
:func:`sdrev.ensemble.engine.simulate_chunk`; models the engine cannot
vectorise run through PySD, one run at a time, in the same workers. The
caller receives chunks as they finish, in any order, and places them by
their first row, so memory holds the result plus the chunks in flight.
Locally, models the compiled kernel covers (:mod:`sdrev.ensemble.kernel`)
run in the calling process instead, each chunk's runs shared by threads
and written straight into the result.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sdrev.errors import InvalidValueError
from sdrev.ensemble.codegen import build_simulator
from sdrev.ensemble.compile import compile_model
from sdrev.ensemble.engine import simulate_chunk
from sdrev.ensemble.program import Program

__all__ = ["ChunkResult", "Job", "iter_chunks", "kernel_ready", "run_chunk"]


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to run one chunk.

    Attributes
    ----------
    path : str
        The model file.
    outputs : tuple of str
        Python names of the outputs (native engine) or Vensim names
        (fallback).
    columns : tuple of str
        Python names of the varied parameters.
    start : int
        Index of the chunk's first run.
    values : ndarray
        Parameter values, shape ``(runs, len(columns))``.
    saveper : float or None
        Saving interval replacing the model's SAVEPER.
    fallback : bool
        Run with PySD instead of the vectorised engine.
    program : Program or None
        The compiled model (sent to workers so they need not parse it).
    jit : bool
        Integrate with the compiled kernel when it covers the model
        (:mod:`sdrev.ensemble.kernel`).
    seed : int
        The ensemble's seed of RANDOM functions.
    runs : ndarray or None
        Index of each run in the ensemble (keys its random draws with
        ``seed``); ``None``: ``start``, ``start + 1``, ...
    """

    path: str
    outputs: tuple[str, ...]
    columns: tuple[str, ...]
    start: int
    values: np.ndarray
    saveper: float | None
    fallback: bool
    program: Program | None = None
    jit: bool = False
    seed: int = 0
    runs: np.ndarray | None = None


@dataclass(frozen=True)
class ChunkResult:
    """Outputs of one chunk: ``data[name]`` has shape ``(runs, times)``."""

    start: int
    times: np.ndarray
    data: dict
    #: peak resident memory of the process that ran the chunk, in MiB
    peak_mib: float = 0.0
    #: whether the compiled kernel integrated the chunk
    kernel: bool = False


_SIMULATORS: dict = {}


def _simulator(job: Job):
    """Simulator of a job, built once per worker process and job kind."""
    key = (job.path, os.path.getmtime(job.path), job.outputs, job.columns)
    if key not in _SIMULATORS:
        program = job.program or compile_model(job.path)
        if len(_SIMULATORS) > 8:
            _SIMULATORS.clear()
        _SIMULATORS[key] = (build_simulator(program, job.outputs,
                                            overrides=job.columns), program)
    return _SIMULATORS[key]


def run_chunk(job: Job, threads: int = 1, sink=None) -> ChunkResult:
    """Run one chunk (in a worker process or inline; ``threads`` share the
    compiled kernel's runs, which it writes into ``sink``'s array, see
    :func:`sdrev.ensemble.engine.simulate_chunk`)."""
    if job.fallback:
        return _run_chunk_pysd(job)
    sim, program = _simulator(job)
    n = len(job.values)
    constants: dict = dict(program.constants)
    for k, name in enumerate(job.columns):
        column = np.ascontiguousarray(job.values[:, k], dtype=float)
        dims = program.dims.get(name, ())
        # a subscripted constant set by one number takes it in every element
        constants[name] = column.reshape((n,) + (1,) * len(dims))
    if "_noise_run" in program.constants:  # one random stream per run
        runs = job.runs if job.runs is not None else np.arange(job.start, job.start + n)
        constants["_noise_run"] = np.asarray(runs, dtype=float)
        constants["_noise_seed"] = float(job.seed)
    report: dict = {}
    times, data = simulate_chunk(sim, constants, n, saveper=job.saveper,
                                 jit=job.jit, threads=threads, report=report,
                                 sink=sink, shift=job.start)
    return ChunkResult(start=job.start, times=times, data=data,
                       peak_mib=_peak_mib(), kernel=report.get("kernel", False))


def _peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_chunk_pysd(job: Job) -> ChunkResult:
    from sdrev.ensemble.switches import split_switch_constant
    from sdrev.translate import run_pysd, translate

    translation = translate(Path(job.path))
    time = {} if job.saveper is None else {"saveper": job.saveper}
    data: dict = {}
    times = None
    runs = job.runs if job.runs is not None else np.arange(job.start, job.start + len(job.values))
    for row, values in enumerate(job.values):
        params, switches = {}, {}
        for name, v in zip(job.columns, values):
            timed = split_switch_constant(name)  # policy timing: (before, after, at)
            if timed is None:
                params[name] = float(v)
            else:
                switches.setdefault(timed[0], [None, None, None])[timed[1]] = float(v)
        # PySD draws RANDOM functions from numpy's global generator: seeded
        # per run from (seed, run index), a run's draws are reproducible
        # (they are PySD's, not the engine's: the same distributions)
        np.random.seed(np.random.SeedSequence([job.seed, int(runs[row])]).generate_state(1)[0])
        frame = run_pysd(translation, params=params, time=time,
                         return_columns=list(job.outputs),
                         switches={k: tuple(v) for k, v in switches.items()})
        if times is None:
            times = frame.index.to_numpy(dtype=float)
            data = {c: np.empty((len(job.values), len(frame))) for c in frame.columns}
        for column in frame.columns:
            data[column][row] = frame[column].to_numpy(dtype=float)
    return ChunkResult(start=job.start, times=times, data=data,
                       peak_mib=_peak_mib())


def iter_chunks(jobs, *, scheduler: str | None = None,
                workers: int | None = None,
                progress: Callable[[int], None] | None = None,
                isolate: bool = False, sink=None) -> Iterator[ChunkResult]:
    """Run jobs and yield their results as they finish.

    Parameters
    ----------
    jobs : sized iterable of Job
        Iterated once (chunks are made as they are submitted).
    scheduler : str, optional
        ``None`` for local worker processes, ``"local"`` for a local Dask
        cluster, or the address of a Dask scheduler (``tcp://host:8786``).
    workers : int, optional
        Local processes (default: all cores); ``1`` runs inline.
    progress : callable, optional
        Called with the number of runs of each finished chunk.
    isolate : bool, optional
        Start local workers from a clean forkserver process instead of
        forking the caller, so that they do not map the caller's memory
        (for large sample tables; costs ~1 s of worker start-up).
    sink : callable, optional
        Where chunks run in this process on the compiled kernel, ``sink(T)``
        gives the ``(outputs, runs, T)`` array they write into (their
        results are then views of it).
    """
    tick = progress or (lambda n: None)
    if scheduler is not None:
        yield from _iter_dask(jobs, scheduler, workers, tick)
        return
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise InvalidValueError(f"workers must be at least 1, got {workers}")
    queue = iter(jobs)
    if workers == 1 or len(jobs) == 1:
        for job in queue:
            result = run_chunk(job, threads=workers, sink=sink)
            tick(len(job.values))
            yield result
        return
    if _may_jit(jobs):
        # the compiled kernel runs in this process, its runs shared by
        # threads: no worker start-up and no copies of inputs or outputs
        first = next(queue)
        result = run_chunk(first, threads=workers, sink=sink)
        tick(len(first.values))
        yield result
        if result.kernel:
            for job in queue:
                result = run_chunk(job, threads=workers, sink=sink)
                tick(len(job.values))
                yield result
            return
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                             mp_context=_context(isolate)) as pool:
        pending = {}
        for job in queue:  # keep at most 2 chunks per worker in flight
            pending[pool.submit(run_chunk, job)] = job
            if len(pending) >= 2 * workers:
                break
        while pending:
            done = next(as_completed(pending))
            job = pending.pop(done)
            tick(len(job.values))
            yield done.result()
            nxt = next(queue, None)
            if nxt is not None:
                pending[pool.submit(run_chunk, nxt)] = nxt


def kernel_ready(job: Job | None) -> bool:
    """Whether a job runs on the compiled kernel: ``jit`` set, a program
    the kernel covers, and numba installed."""
    if job is None or job.fallback or not job.jit or job.program is None:
        return False
    if job.program.dims:
        return False
    from sdrev.ensemble.kernel import available, covers

    return covers(_simulator(job)[0]) and available()


def _may_jit(jobs) -> bool:
    return kernel_ready(getattr(jobs, "first", None))


def _context(isolate: bool):
    """Worker start method: the platform's default, or with ``isolate`` a
    forkserver (preloaded with the engine) where available."""
    import multiprocessing

    if not isolate:
        return None
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["sdrev.ensemble.execute"])
    return context


def _iter_dask(jobs, scheduler, workers, tick):
    from distributed import Client, LocalCluster, as_completed as dask_completed

    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1,
                               threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise InvalidValueError(
                f"cannot reach the Dask scheduler {scheduler!r}: {exc}; give "
                "'local' for a local cluster or an address like "
                "'tcp://host:8786'") from exc
    try:
        limit = 2 * max(1, len(client.scheduler_info().get("workers", {})))
        queue = iter(jobs)
        first = [job for job in (next(queue, None) for _ in range(limit))
                 if job is not None]
        futures = [client.submit(run_chunk, job, pure=False) for job in first]
        sizes = {f.key: len(j.values) for f, j in zip(futures, first)}
        pool = dask_completed(futures)
        for future in pool:
            result = future.result()
            tick(sizes.pop(future.key))
            future.release()
            yield result
            job = next(queue, None)
            if job is not None:
                new = client.submit(run_chunk, job, pure=False)
                sizes[new.key] = len(job.values)
                pool.add(new)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
