"""Loops that Matter for many runs at once, on the compiled program.

The per-run analysis (:func:`sdrev.loops.analyze`, the reference) runs the
model once, keeping every variable at every time step, and scores every
link with the model's own numpy expressions evaluated over the time axis
(:mod:`sdrev.loops.scores`, :mod:`sdrev.loops.elements`). The relative loop
scores it reports are those at the saving times (SAVEPER), and the score at
a time ``t`` depends only on the values at ``t`` and at ``t - dt``. This
module computes the same numbers for a whole chunk of runs at once:

1. the structure (causal graph, loops, partitions) is found once per model
   (:func:`structure`, cached);
2. the ensemble engine integrates all runs of the chunk together and keeps
   every variable at each saving time and at the step before it
   (:func:`simulate_pairs`): on the numpy engine, as the per-run analysis,
   or on the compiled kernel when the model's equations use only
   operations the kernel evaluates bit for bit as numpy does (arithmetic,
   comparisons, MIN/MAX, IF THEN ELSE, XIDZ/ZIDZ: :func:`kernel_exact`;
   ``exp``, ``ln``, powers and lookups differ in the last bits, and a
   link score, a ratio of differences, can magnify that: such models,
   :func:`kernel_close`, are scored by :mod:`sdrev.loops.fused` within a
   documented tolerance, and integrated here by the numpy engine);
3. the link scores are the same expressions, in the same order of
   operations, evaluated over a flat axis of ``runs x saving times``
   (:func:`batch_link_scores`), so every number equals the per-run
   analysis's bit for bit (up to the summation order of a few sums);
4. loop and relative scores follow as in :mod:`sdrev.loops.scores`.

Models with more loops than the enumeration cap are analysed run by run
with the strongest-path search (Eberlein & Schoenberg 2020) over the batch's
link scores, as :func:`sdrev.loops.analyze` does, so each run keeps its
own loops; that search is Python and dominates the cost of such models.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sdrev.ensemble.program import Program
from sdrev.errors import UnknownNameError
from sdrev.loops import elements as _elements
from sdrev.loops import graph as _graph
from sdrev.loops import links
from sdrev.loops.dominance import COMPILED_MIN_SIZE
from sdrev.loops.elements import ElementGraph
from sdrev.loops.graph import CausalGraph
from sdrev.loops.links import evaluate, ratio
from sdrev.loops.naming import LoopName, name_element_loops, name_loops

__all__ = ["LoopStructure", "StepPairs", "batch_link_scores", "compiled", "fused_allowed",
           "kernel_close", "kernel_exact", "loop_names", "saved_scores", "simulate_pairs", "simulator", "structure",
           "uniform"]


@functools.lru_cache(maxsize=16)
def compiled(path: str, mtime: float):
    """Program, variable-level graph and (subscripted models) element graph
    of a model file (cached by path and modification time).

    Raises
    ------
    sdrev.ensemble.compile.UnsupportedConstructError
    """
    from sdrev.ensemble.compile import UnsupportedConstructError, compile_model
    program = compile_model(path, subscripts=True)
    cg = _graph.causal_graph(program)
    try:
        eg = _elements.element_graph(program, cg) if program.dims else None
    except (ValueError, IndexError) as exc:  # a subscript pattern not handled yet
        raise UnsupportedConstructError(
            f"loop analysis of {Path(path).stem}: which element feeds which cannot be "
            f"worked out for its subscripted equations yet "
            f"({' '.join(str(exc).split())})") from exc
    return program, cg, eg


@dataclass(frozen=True)
class LoopStructure:
    """What a model's loop analysis needs before any run.

    Attributes
    ----------
    program : Program
    variables : CausalGraph
        The variable-level graph.
    elements : ElementGraph or None
        The element graph of a subscripted model.
    graph : CausalGraph
        The graph loops run in (``elements.graph`` or ``variables``).
    loops : tuple of tuple of str
        Every loop (``complete``), or the first ``max_loops`` found.
    complete : bool
        False when the model has more loops than the cap: loops are then
        found run by run with the strongest-path search.
    partitions : dict of str to int
        Cycle partition of every node on a loop.
    """

    program: Program
    variables: CausalGraph
    elements: ElementGraph | None
    graph: CausalGraph
    loops: tuple
    complete: bool
    partitions: dict


@functools.lru_cache(maxsize=16)
def _cached_structure(path: str, mtime: float, max_loops: int) -> LoopStructure:
    program, cg, eg = compiled(path, mtime)
    lg = eg.graph if eg is not None else cg
    loops, complete = _graph.enumerate_loops(lg, max_loops=max_loops)
    return LoopStructure(program=program, variables=cg, elements=eg, graph=lg,
                         loops=tuple(loops), complete=complete,
                         partitions=_graph.partitions(lg))


def structure(path, max_loops: int) -> LoopStructure:
    """The loop structure of a model file (cached by path, modification time
    and cap)."""
    path = str(Path(path).resolve())
    return _cached_structure(path, os.path.getmtime(path), int(max_loops))


def loop_names(st: LoopStructure, loops, polarities, documented) -> list[LoopName]:
    """Ids and names of ``loops`` given their polarities in a run
    (:func:`sdrev.loops.naming.name_loops` with the model's names)."""
    program, cg = st.program, st.variables
    users: dict = {}
    for node, refs in cg.refs.items():
        for ref in refs:
            users.setdefault(ref, set()).add(node)
    synthetic = frozenset(n for n in cg.equations if n not in program.step)

    def py_of(name):
        try:
            return program.resolve(name)
        except UnknownNameError:
            return None

    if st.elements is None:
        return name_loops(list(loops), list(polarities), documented=documented,
                          py_of=py_of, users_of=lambda c: users.get(c, set()),
                          synthetic=synthetic)
    return name_element_loops(list(loops), list(polarities),
                              variable_of=st.elements.variable.get,
                              documented=documented, py_of=py_of,
                              users_of=lambda c: users.get(c, set()),
                              synthetic=synthetic)


# ------------------------------------------------------------ simulation

@dataclass(frozen=True)
class StepPairs:
    """Every variable of a chunk of runs at each saving time and the step
    before it.

    The leading axes of ``before`` and ``after`` run over runs, then saving
    times after the first (the first saving time is INITIAL TIME: no step
    before): ``(runs, pairs)`` for a scalar model, whose equations are
    element-wise, so that per-run constants of shape ``(runs, 1)``
    broadcast; one flat axis of ``runs * pairs`` for a subscripted model
    (its equations index the subscript axes after one leading axis). Index
    ``r * pairs + p`` (flattened) is run ``r`` at saving time ``p + 1``.

    Attributes
    ----------
    times : ndarray
        Every saving time (the first included).
    runs, pairs : int
    shape : tuple
        Leading shape of every value (see above).
    before, after : dict of str to ndarray
        Python name -> values at ``t - dt`` and ``t``, shape
        ``(*shape, *subscripts)``; ``"time"`` included.
    constants : dict of str to float or ndarray
        The constants as the equations read them.
    """

    times: np.ndarray
    runs: int
    pairs: int
    shape: tuple
    before: dict
    after: dict
    constants: dict


_SIMULATORS: dict = {}


def simulator(program: Program):
    """The simulator with every variable as an output, and whether the
    compiled kernel runs it exactly (:func:`kernel_exact`); one per program."""
    key = id(program)
    hit = _SIMULATORS.get(key)
    if hit is None or hit[0] is not program:
        from sdrev.ensemble.codegen import build_simulator
        outputs = tuple(sorted(n for n in program.step
                               if n not in program.constants and n != "time"))
        if len(_SIMULATORS) > 8:
            _SIMULATORS.clear()
        sim = build_simulator(program, outputs)
        hit = _SIMULATORS[key] = (program, sim, kernel_exact(sim), kernel_close(sim))
    return hit[1], hit[2]


def fused_allowed(program: Program) -> bool:
    """Whether the compiled loop passes (:mod:`sdrev.loops.fused`) may score
    ``program``'s runs (:func:`kernel_close` of its :func:`simulator`)."""
    simulator(program)
    return _SIMULATORS[id(program)][3]


#: Calls in generated code that the compiled kernel evaluates exactly as the
#: numpy engine does (IEEE arithmetic, selections), so that its trajectories
#: equal the numpy engine's bit for bit.
EXACT_CALLS = frozenset({"fn.full", "fn.xidz", "fn.zidz", "fn.if_then_else", "np.maximum",
                         "np.minimum", "np.min", "np.max", "np.abs", "fn.integer"})


def kernel_exact(sim) -> bool:
    """Whether the compiled kernel integrates ``sim`` bit for bit as the
    numpy engine (the per-run analysis's engine) does: no subscripts, no
    lookup, no power and no call but :data:`EXACT_CALLS`
    (:func:`sdrev.ensemble.kernelgen.operations`)."""
    return _kernel_covers(sim, EXACT_CALLS)


#: Calls the compiled kernel evaluates with the C library's functions (numba
#: calls libm) where the numpy engine runs numpy's own loops (SIMD ``exp``,
#: ``log``, ``power``: the two differ in the last bit on a few percent of
#: inputs), or with its own scalar helpers (``STEP``, ``RAMP``, ``PULSE``,
#: lookups: ``np.interp`` as numba implements it).
LIBM_CALLS = frozenset({"np.exp", "np.log", "np.power", "**", "np.sqrt", "np.sin", "np.cos",
                        "np.tan", "np.arcsin", "np.arccos", "np.arctan", "np.sinh",
                        "np.cosh", "np.tanh", "fn.step", "fn.ramp", "fn.pulse", "fn.lookup",
                        "L"})


def kernel_close(sim) -> bool:
    """Whether the compiled kernel integrates ``sim`` as the numpy engine
    does up to the last bits of :data:`LIBM_CALLS`' values: no subscripts
    and no call but :data:`EXACT_CALLS` and :data:`LIBM_CALLS`. Such
    models' loop scores come from the compiled passes
    (:mod:`sdrev.loops.fused`) and equal the per-run analysis's within 1e-8
    (relative scores) and 1e-5 relative (raw loop scores), bit for bit
    where numpy's ``exp``, ``log`` and ``power`` are the C library's (see
    :mod:`sdrev.loops.tape` for why; ``tests/test_loops_ensemble.py`` over
    every library model)."""
    return _kernel_covers(sim, EXACT_CALLS | LIBM_CALLS)


def _kernel_covers(sim, calls: frozenset) -> bool:
    """Whether ``sim`` is scalar, the compiled kernel is available and its
    generated code calls nothing outside ``calls``."""
    from sdrev.ensemble.kernel import available
    from sdrev.ensemble.kernelgen import operations

    if sim.subscripted or not available():
        return False
    return operations(sim) <= calls


def uniform(name: str, value) -> float:
    """The one value of a control variable across runs.

    Raises
    ------
    InvalidValueError
        If the runs differ.
    """
    from sdrev.errors import InvalidValueError
    values = np.unique(np.asarray(value, dtype=float))
    if len(values) != 1:
        raise InvalidValueError(f"{name.upper()} must be the same in every run of a loop "
                                f"ensemble; got {len(values)} different values")
    return float(values[0])


def simulate_pairs(st: LoopStructure, base: dict, varied: dict, n: int, *,
                   threads: int | None = None) -> StepPairs:
    """Run ``n`` runs together; keep what their link scores need.

    Parameters
    ----------
    st : LoopStructure
    base : dict of str to float or ndarray
        Every constant by Python name, as one run of the per-run analysis
        takes them (control variables included).
    varied : dict of str to ndarray
        Constants that differ between runs, shape ``(n,)``.
    n : int
    threads : int, optional
        Threads of the compiled kernel (default: the cores, up to 8).
    """
    from sdrev.ensemble.engine import simulate_chunk, time_grid

    program = st.program
    sim, jit = simulator(program)
    c = dict(base)
    shapes = {}
    for name, column in varied.items():
        dims = program.dims.get(name, ())
        shape = tuple(len(e) for e in program.coords[name]) if dims else ()
        shapes[name] = shape
        c[name] = np.broadcast_to(np.asarray(column, dtype=float).reshape(
            (n,) + (1,) * len(shape)), (n,) + shape)
    control = [uniform(k, c[k]) for k in ("initial_time", "final_time",
                                           "time_step", "saveper")]
    grid = time_grid(*control)
    saved = np.flatnonzero(grid.saved)
    later = saved[saved > 0]
    steps = np.union1d(later - 1, saved)
    _, data = simulate_chunk(sim, c, n, steps=steps, jit=jit,
                             threads=(threads or min(os.cpu_count() or 1, 8)) if jit else 1)
    where = {int(k): i for i, k in enumerate(steps)}
    i_after = np.array([where[int(k)] for k in later], dtype=int)
    i_before = np.array([where[int(k) - 1] for k in later], dtype=int)
    pairs = len(later)
    lead = (n, pairs) if not program.dims else (n * pairs,)
    before, after = {}, {}
    for name, values in data.items():
        values = np.asarray(values, dtype=float)
        tail = values.shape[2:]
        before[name] = values[:, i_before].reshape(lead + tail)
        after[name] = values[:, i_after].reshape(lead + tail)
    before["time"] = np.broadcast_to(grid.times[later - 1], (n, pairs)).reshape(lead)
    after["time"] = np.broadcast_to(grid.times[later], (n, pairs)).reshape(lead)
    consts = {}
    for k, v in c.items():
        if k in varied and not program.dims:
            consts[k] = np.asarray(v, dtype=float).reshape(n, 1)
        elif k in varied:
            consts[k] = np.repeat(np.ascontiguousarray(v), pairs, axis=0)
        else:
            consts[k] = float(v) if np.ndim(v) == 0 else np.asarray(v, dtype=float)
    cg = st.variables
    for stock, flows in cg.stocks.items():  # synthetic net-flow nodes
        for f in flows:
            if f.name not in before and f.name in cg.equations:
                shape = np.shape(before[stock])
                before[f.name] = evaluate(cg.equations[f.name], program, before,
                                          consts, shape=shape)
                after[f.name] = evaluate(cg.equations[f.name], program, after,
                                         consts, shape=shape)
    return StepPairs(times=grid.times[saved], runs=n, pairs=pairs, shape=lead,
                     before=before, after=after, constants=consts)


# ------------------------------------------------------------ link scores

def batch_link_scores(st: LoopStructure, sp: StepPairs, edges=None) -> dict:
    """Link score of every edge (of ``edges``, by default all) at every pair:
    :func:`sdrev.loops.links.link_scores` over the batch's leading axes.

    Returns
    -------
    dict of (str, str) to ndarray
        Keyed as :func:`sdrev.loops.scores.link_scores` (element nodes for a
        subscripted model), each of shape :attr:`StepPairs.shape`
        (flattened for a subscripted model).
    """
    return links.link_scores(st.program, st.variables, sp.before, sp.after, sp.constants,
                             lead=sp.shape, elements=st.elements, edges=edges)


# ------------------------------------------------------------ loop scores

def loop_edges(loops) -> set:
    """Every link of ``loops``."""
    return {(a, b) for loop in loops for a, b in zip(loop, loop[1:] + loop[:1])}


def saved_scores(loops, partition, links: dict, sp: StepPairs, found=None, *,
                 compiled: bool | None = None):
    """Raw and relative loop scores at the saving times.

    Parameters
    ----------
    loops : sequence of tuple of str
    partition : sequence of int
        Cycle partition of each loop.
    links : dict
        From :func:`batch_link_scores`.
    sp : StepPairs
    found : ndarray of bool, shape (runs, loops), optional
        Which loops each run's analysis has (strongest-path models); the
        others score 0 and take no part in the relative scores.
    compiled : bool, optional
        Multiply and normalise in a loop compiled by numba
        (:func:`_loop_scores`: one pass over each run, the same operations in
        the same order, so the same numbers) rather than with numpy arrays.
        Default: when numba is installed, ``found`` is not given and the
        scores number at least
        :data:`~sdrev.loops.dominance.COMPILED_MIN_SIZE`.

    Returns
    -------
    raw, relative : ndarray, shape (runs, loops, saving times)
        0 at the first saving time, as in the per-run analysis.
    """
    n, pairs, count = sp.runs, sp.pairs, len(loops)
    raw = np.zeros((n, count, pairs + 1))
    rel = np.zeros((n, count, pairs + 1))
    if compiled is None:
        compiled = found is None and raw.size >= COMPILED_MIN_SIZE
    scan = _compiled_loop_scores() if compiled and found is None and count else None
    if scan is not None:
        edges = [list(zip(loop, loop[1:] + loop[:1])) for loop in loops]
        used = sorted({e for loop in edges for e in loop})
        where = {e: i for i, e in enumerate(used)}
        stack = np.stack([links[e].reshape(n, pairs) for e in used])
        table = np.zeros((count, max(len(e) for e in edges)), dtype=np.int64)
        for k, loop in enumerate(edges):
            table[k, :len(loop)] = [where[e] for e in loop]
        lengths = np.array([len(e) for e in edges], dtype=np.int64)
        parts = sorted(set(partition))
        index = np.array([parts.index(p) for p in partition], dtype=np.int64)
        scan(stack, table, lengths, index, len(parts), raw, rel)
        return raw, rel
    for k, loop in enumerate(loops):  # the product in the per-run analysis's order
        edges = list(zip(loop, loop[1:] + loop[:1]))
        row = raw[:, k, 1:]
        row[...] = links[edges[0]].reshape(n, pairs)
        for edge in edges[1:]:
            np.multiply(row, links[edge].reshape(n, pairs), out=row)
    if found is not None:
        raw *= found[:, :, None]
    part = np.asarray(partition)
    for p in sorted(set(partition)):
        cols = np.flatnonzero(part == p)
        block = raw[:, cols, 1:]
        denom = np.abs(block).sum(axis=1)  # over the loops in order, as per run
        rel[:, cols, 1:] = ratio(block, denom[:, None, :])
    return raw, rel


def _loop_scores(stack, edges, lengths, part, parts, raw, rel):  # pragma: no cover - numba
    """Raw and relative loop scores of every run into ``raw``/``rel``
    ``(runs, loops, 1 + pairs)``: ``stack`` holds the link scores ``(links,
    runs, pairs)``, ``edges[k, :lengths[k]]`` the links of loop ``k`` in
    order and ``part[k]`` its partition (of ``parts``). Each product is
    taken from the loop's first link on and each partition's sum of
    absolute scores over its loops in order, as :func:`saved_scores` does
    with numpy; a ratio that is not finite (a zero sum) is 0."""
    n, pairs = stack.shape[1], stack.shape[2]
    count = edges.shape[0]
    denom = np.empty((parts, pairs))
    for r in range(n):
        denom[:, :] = 0.0
        for k in range(count):
            first = edges[k, 0]
            for p in range(pairs):
                raw[r, k, p + 1] = stack[first, r, p]
            for j in range(1, lengths[k]):
                e = edges[k, j]
                for p in range(pairs):
                    raw[r, k, p + 1] *= stack[e, r, p]
            q = part[k]
            for p in range(pairs):
                denom[q, p] += abs(raw[r, k, p + 1])
        for k in range(count):
            q = part[k]
            for p in range(pairs):
                value = raw[r, k, p + 1] / denom[q, p]
                rel[r, k, p + 1] = value if np.isfinite(value) else 0.0


_LOOP_SCORES: list = []


def _compiled_loop_scores():
    """:func:`_loop_scores` compiled by numba (cached as
    :func:`sdrev.loops.dominance.dominant_membership`'s scan), or None."""
    if not _LOOP_SCORES:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a dependency
            _LOOP_SCORES.append(None)
        else:
            _LOOP_SCORES.append(numba.njit(nogil=True, cache=True,
                                           error_model="numpy")(_loop_scores))
    return _LOOP_SCORES[0]


def strongest_loops(st: LoopStructure, links: dict, sp: StepPairs) -> list[list]:
    """Each run's loops by the strongest-path search, at the saving times
    :func:`sdrev.loops.analyze` searches at."""
    saved = len(sp.times)
    step = max(1, round(saved / 50))
    at = np.arange(saved)[1::step]  # saving-time indices (0: no link scores)
    found = []
    for r in range(sp.runs):
        cols = r * sp.pairs + at - 1
        run_links = {e: np.concatenate([[0.0], s.reshape(-1)[cols]])
                     for e, s in links.items()}
        found.append(_graph.strongest_path_loops(st.graph, run_links,
                                                 times=range(1, len(at) + 1)))
    return found
