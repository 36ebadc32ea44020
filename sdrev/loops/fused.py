"""Loop scores of a chunk of runs from two compiled passes.

:mod:`sdrev.loops.batch` integrates a chunk of runs keeping every variable
at each saving time and the step before it, then scores the links over
those arrays with numpy. Here the same numbers come from compiled code, a
block of :data:`SPAN` runs at a time (so that what passes between the two
stays in cache):

1. a generated kernel integrates the block (the statements of
   :func:`sdrev.ensemble.kernelgen.translate_step`, the ensemble kernel's
   own) and keeps only the variables the link scores read, at each saving
   time and the step before it (:func:`fused_source`);
2. the link-score program of :mod:`sdrev.loops.tape` (one interpreter
   compiled for every model) scores each link of the loops from those
   values (Schoenberg, Davidsen & Eberlein 2020, the formulas of
   :func:`sdrev.loops.links.link_scores`), multiplies them into loop
   scores and divides by each cycle partition's sum of absolute loop
   scores, as :func:`sdrev.loops.batch.saved_scores` does.

Every operation is the numpy path's, in the same order. For models whose
kernel integrates bit for bit as the numpy engine
(:func:`sdrev.loops.batch.kernel_exact`: arithmetic, comparisons, MIN/MAX,
IF THEN ELSE, XIDZ/ZIDZ) every score equals the numpy path's bit for bit.
Models that also call ``exp``, ``ln``, powers, square roots, trigonometric
functions, lookups, STEP, RAMP or PULSE (:func:`sdrev.loops.batch.kernel_close`)
run here too: numba calls the C library's ``exp``/``log``/``pow`` where
numpy built with AVX-512 runs its own SIMD loops, and the two differ in the
last bit on a few percent of inputs, so those models' scores agree with the
per-run analysis within 1e-8 (relative scores, absolute) and 1e-5 (raw loop
scores, relative) rather than bit for bit; the differences (measured at most
1.6e-9 and 1.4e-6 over the library models) arise where a link score divides a
change that is tiny beside its value, and the per-run analysis's own
numbers move as much between numpy with and without AVX-512 (see
:mod:`sdrev.loops.tape`). Without subscripts and with every loop
enumerated; :func:`score_chunk` returns None otherwise and the numpy path
runs.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

__all__ = ["SPAN", "FusedScorer", "fused_source", "score_chunk", "scorer"]

@dataclass(frozen=True)
class FusedScorer:
    """A compiled kernel that integrates runs and stores what their link
    scores read, and the link-score program.

    Attributes
    ----------
    func : callable
        ``func(P, S, times, slot, LX, LY, start, stop, X)``: integrates runs
        ``start:stop``; at step ``k`` with ``slot[k] >= 0`` stores the
        variables of ``tape.variables`` into ``X[slot[k], :, run - start]``.
    params : tuple of str
        Constants, one row of ``P`` each.
    states : tuple
        ``(position, order)`` per state block (rows of ``S``).
    tables : tuple of int
        Lookup tables read, in the order of ``LX``/``LY``.
    tape : sdrev.loops.tape.Tape
    source : str
    """

    func: object
    params: tuple
    states: tuple
    tables: tuple
    tape: object
    source: str


def fused_source(sim, orders: dict, kinds: dict, stored) -> tuple:
    """The source of the kernel that integrates runs and stores ``stored``.

    Parameters
    ----------
    sim : Simulator
        With every variable as an output.
    orders, kinds : dict
        Delay orders and lookup kinds (as for the ensemble kernel).
    stored : sequence of str
        Variables to store (outputs of ``sim``).

    Returns
    -------
    source : str
    params, states, tables : tuple

    Raises
    ------
    sdrev.ensemble.kernelgen.NotCovered
    """
    from sdrev.ensemble.kernelgen import BLOCK, HELPERS, translate_step

    step = translate_step(sim, orders, kinds)
    tr = step.translator
    out_local = dict(zip(sim.outputs, step.out_names))
    n_par = len(tr.params)
    stores = [c for name in step.state_names for c in _components(tr, name)]
    news = [c for name in step.new_names for c in _components(tr, name)]
    s_row = {c: n_par + i for i, c in enumerate(stores)}
    o_row = n_par + len(stores)
    # every value of a block of runs lives in one work array W, row by row
    # at offsets fixed here (as in the ensemble kernel: the compiler sees
    # that no store overlaps another row's load and vectorises)
    rows = o_row + len(stored)
    pad = " " * 16
    src = ["import math", "import numpy as np", "from numba import njit", HELPERS, "",
           f"B = {BLOCK}", "",
           '@njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)',
           "def store(P, S, times, slot, LX, LY, start, stop, X):",
           "    steps = times.shape[0]",
           f"    W = np.empty({rows} * B)",
           "    for b0 in range(start, stop, B):",
           "        m = min(B, stop - b0)",
           f"        for i in range({n_par}):",
           "            for j in range(m):",
           "                W[i * B + j] = P[i, b0 + j]",
           f"        for i in range({len(stores)}):",
           "            for j in range(m):",
           f"                W[({n_par} + i) * B + j] = S[i, b0 + j]",
           "        for k in range(steps):",
           "            time = times[k]",
           "            for j in range(m):"]
    src += [f"{pad}{name} = W[{row} * B + j]" for name, row in tr.param_names]
    src += [f"{pad}{c} = W[{s_row[c]} * B + j]" for c in stores]
    src += [f"{pad}{line}" for line in step.lines]
    src += [f"{pad}W[{o_row + q} * B + j] = {out_local[name]}"
            for q, name in enumerate(stored)]
    src += [f"{pad}W[{s_row[c]} * B + j] = {new}" for c, new in zip(stores, news)]
    src += ["            c = slot[k]",
            "            if c >= 0:  # a saving time or the step before one",
            f"                for q in range({len(stored)}):",
            "                    for j in range(m):",
            f"                        X[c, q, b0 - start + j] = W[({o_row} + q) * B + j]"]
    return ("\n".join(src) + "\n", tuple(tr.params), tuple(step.states), tuple(tr.tables))


def _components(tr, name) -> list[str]:
    size = tr.arrays.get(name, 0)
    return [name] if not size else [f"{name}__{j}" for j in range(size)]


_SCORERS: dict = {}

#: Runs integrated, stored and scored together (their stored values, about
#: 60 kB a run for crrc_standards, stay in cache between the two passes).
SPAN = 64


def scorer(st, sim, orders: dict, kinds: dict, loops, partition) -> FusedScorer | None:
    """The compiled kernel and link-score program for these loops, or None
    where they do not apply (a construct not covered, no writable cache).

    Compiled once per process and source; numba keeps the machine code in
    sdrev's kernel cache folder (:func:`sdrev.ensemble.kernel.load_generated`).
    """
    memo = (sim.source, tuple(sorted(orders.items())), tuple(sorted(kinds.items())),
            tuple(loops), tuple(partition), id(st.variables))
    if memo in _SCORERS:
        return _SCORERS[memo]
    import sys

    import numba

    from sdrev.ensemble.kernel import load_generated
    from sdrev.ensemble.kernelgen import NotCovered
    from sdrev.loops.tape import build_tape

    try:
        tape, stored = build_tape(st, sim.outputs, loops, partition)
        source, params, states, tables = fused_source(sim, orders, kinds, stored)
    except NotCovered:
        _SCORERS[memo] = None
        return None
    key = hashlib.sha256(f"{source}|{numba.__version__}|{np.__version__}|{sys.version}"
                         .encode()).hexdigest()[:24]
    module = load_generated(source, f"ltm_{key}", entry="store")
    found = None if module is None else FusedScorer(
        func=module.store, params=params, states=states, tables=tables, tape=tape,
        source=source)
    if len(_SCORERS) > 16:
        _SCORERS.clear()
    _SCORERS[memo] = found
    return found


def score_chunk(st, base: dict, varied: dict, n: int, loops, partition, *,
                threads: int | None = None):
    """Raw and relative loop scores of ``n`` runs, integrated by the fused
    kernel and scored by the link-score program.

    Parameters
    ----------
    st : sdrev.loops.batch.LoopStructure
    base, varied : dict
        As for :func:`sdrev.loops.batch.simulate_pairs`.
    n : int
    loops, partition : sequence
        The loops (all of the model's) and each one's cycle partition.
    threads : int, optional
        Threads sharing the runs (default: the cores, up to 8).

    Returns
    -------
    tuple or None
        ``(times, raw, rel, sums)``: every saving time, the scores, shape
        ``(runs, loops, saving times)``, 0 at the first saving time as in
        :func:`sdrev.loops.batch.saved_scores`, and the sums of each run's
        positive and negative relative scores ``(runs, loops, 2)``
        (:func:`sdrev.loops.chunks.polarity_codes`); None when the fused kernel
        does not cover the model (the numpy path runs then).

    Raises
    ------
    sdrev.ensemble.kernel.KernelFailed
        numba failed to compile or run the kernel.
    """
    from sdrev.ensemble.engine import time_grid
    from sdrev.ensemble.kernel import KernelFailed, available, seal_after_call
    from sdrev.loops.batch import fused_allowed, simulator, uniform
    from sdrev.loops.tape import run_tape

    program = st.program
    if not (st.complete and loops and st.elements is None and available()):
        return None
    if not fused_allowed(program):
        return None
    sim, _ = simulator(program)
    c = dict(base)
    for name, column in varied.items():
        c[name] = np.asarray(column, dtype=float).reshape(n)
    control = [uniform(k, c[k]) for k in ("initial_time", "final_time", "time_step",
                                          "saveper")]
    grid = time_grid(*control)
    with np.errstate(all="ignore"):
        state, _, orders, hoisted = sim.init(c, n)
        consts = {**c, **hoisted}
        if sim.prepare is not None:
            consts.update(sim.prepare(consts))
    kinds = {i: table[2] for i, table in enumerate(sim.lookups)}
    fused = scorer(st, sim, dict(orders), kinds, loops, partition)
    if fused is None:
        return None
    tape = fused.tape
    P = np.empty((len(fused.params), n))
    for row, key in enumerate(fused.params):
        P[row] = consts[key]
    C = np.empty((len(tape.constants), n))
    for row, key in enumerate(tape.constants):
        C[row] = c[key]
    S = np.empty((sum(order or 1 for _, order in fused.states), n))
    row = 0
    for position, order in fused.states:
        S[row:row + (order or 1)] = np.asarray(state[position], dtype=float)
        row += order or 1
    LX = tuple(np.ascontiguousarray(sim.lookups[t][0], dtype=float)
               for t in fused.tables) or (np.zeros(1),)
    LY = tuple(np.ascontiguousarray(sim.lookups[t][1], dtype=float)
               for t in fused.tables) or (np.zeros(1),)
    saved = np.flatnonzero(grid.saved)
    later = saved[saved > 0]
    steps = np.union1d(later - 1, later)
    slot = np.full(len(grid.times), -1, dtype=np.int64)
    slot[steps] = np.arange(len(steps))
    raw = np.zeros((n, len(loops), len(saved)))
    rel = np.zeros(raw.shape)  # pages zeroed by the system (zeros_like writes them)
    sums = np.zeros((n, len(loops), 2))
    times = np.ascontiguousarray(grid.times, dtype=float)
    pre, post = slot[later - 1], slot[later]
    t_pre, t_post = times[later - 1], times[later]

    def work(a: int, b: int) -> bool:
        # a block of runs at a time: its stored values stay in cache
        X = np.empty((len(steps), len(tape.variables), min(SPAN, b - a)))
        for s in range(a, b, SPAN):
            e = min(b, s + SPAN)
            fused.func(P, S, times, slot, LX, LY, s, e, X)
            if not run_tape(tape, X, pre, post, C, t_pre, t_post, raw, rel, sums, s, e):
                return False
        return True

    threads = max(1, min(threads or min(os.cpu_count() or 1, 8), n))
    try:
        if threads == 1:
            done = [work(0, n)]
        else:
            bounds = np.linspace(0, n, threads + 1).astype(int)
            pool = _pool(threads - 1)
            futures = [pool.submit(work, int(a), int(b))
                       for a, b in zip(bounds[1:-1], bounds[2:])]
            done = [work(0, int(bounds[1]))] + [f.result() for f in futures]
        seal_after_call(fused.func)
    except Exception as exc:
        if not type(exc).__module__.startswith("numba"):
            raise
        _SCORERS.clear()
        raise KernelFailed(f"{type(exc).__name__}: {str(exc).strip()[:200]}") from exc
    if not all(done):
        return None
    return grid.times[saved], raw, rel, sums


_POOLS: dict = {}


def _pool(workers: int):
    """Threads kept for the process (keyed by process id: a forked worker
    makes its own)."""
    from concurrent.futures import ThreadPoolExecutor

    key = (os.getpid(), workers)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(max_workers=workers,
                                         thread_name_prefix="sdrev-ltm")
    return _POOLS[key]

