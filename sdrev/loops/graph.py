"""Structure stage of loop analysis: the causal graph and its feedback loops.

The graph is read from the program the ensemble engine compiles from PySD's
abstract model (:func:`sdrev.ensemble.compile.compile_model`), so it is the
model exactly as PySD reads it:

* a node per stock, flow and auxiliary (constants, lookups, control
  variables and ``Time`` are not nodes: nothing feeds back into them);
* an edge ``x -> z`` for every variable ``x`` in ``z``'s equation;
* an edge ``f -> S`` from every flow into or out of stock ``S``, signed
  ``+1`` for an inflow and ``-1`` for an outflow. A stock whose rate is not
  a signed sum of variables (``INTEG((a - S) / t, ...)``) gets a synthetic
  inflow node ``<stock>_net_flow`` (label ``"<Stock> net flow"``) carrying
  that expression, as pysimlin does;
* no edge into an ``INITIAL(x)`` element: it reads ``x`` only once, at the
  start, so it cannot carry feedback (pysimlin 0.8.5 keeps such edges and so
  reports loops whose score is always zero);
* edges into SMOOTH/DELAY/TREND elements from their inputs, marked
  ``"delay"`` (their internal stocks are not expanded; see
  :mod:`sdrev.loops.scores`).

Loops are the elementary cycles of this graph, enumerated with Johnson's
algorithm (:func:`networkx.simple_cycles`) up to a cap (:data:`MAX_LOOPS`).
Above the cap, :func:`strongest_path_loops` finds the loops that matter
from the link scores instead (Eberlein & Schoenberg 2020).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from sdrev.ensemble.program import CONTROL, Program, Slot

__all__ = ["MAX_LOOPS", "CausalGraph", "Flow", "canonical_cycle", "causal_graph",
           "enumerate_loops", "partitions", "stock_slots", "strongest_path_loops",
           "strongest_path_python", "strongest_paths"]

#: Most loops :func:`enumerate_loops` lists before giving up on exhaustive
#: enumeration (Johnson's algorithm is linear per loop, but the number of
#: loops can grow exponentially with the model's size).
MAX_LOOPS: int = 2000


@dataclass(frozen=True)
class Flow:
    """A flow into (+1) or out of (-1) a stock."""

    name: str      # python name of the flow (or the synthetic net-flow node)
    sign: int


@dataclass(frozen=True)
class CausalGraph:
    """The causal structure of a model.

    Attributes
    ----------
    graph : networkx.DiGraph
        Nodes are Python names; each edge has ``kind`` (``"aux"``,
        ``"flow"`` or ``"delay"``) and, for flow edges, ``sign``.
    stocks : dict of str to tuple of Flow
        The flows of every stock.
    equations : dict of str to str
        Numpy expression of every non-stock node (from the compiled
        program; synthetic net-flow nodes included).
    refs : dict of str to frozenset
        Every name each expression reads (constants and ``time`` included).
    labels : dict of str to str
        Python name -> Vensim name, for display.
    """

    graph: nx.DiGraph
    stocks: dict[str, tuple[Flow, ...]]
    equations: dict[str, str]
    refs: dict[str, frozenset]
    labels: dict[str, str]
    delayed: frozenset = field(default_factory=frozenset)

    def label(self, node: str) -> str:
        return self.labels.get(node, node)


def _flow_terms(node, sign: int, out: list) -> bool:
    """Split ``node`` (a Python AST) into signed variable references."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        return (_flow_terms(node.left, sign, out)
                and _flow_terms(node.right, -sign if isinstance(node.op, ast.Sub)
                                else sign, out))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _flow_terms(node.operand, -sign if isinstance(node.op, ast.USub)
                           else sign, out)
    if isinstance(node, ast.Name) and node.id.startswith("v_"):
        out.append((node.id[2:], sign))
        return True
    return False


def stock_slots(program: Program) -> dict[str, Slot]:
    """The INTEG slot of every stock, by the stock's Python name.

    A stock is an element defined by one INTEG (non-negative or not) over
    all its subscripts. An element whose subscript regions are separate
    INTEGs (several INTEG slots) is not a stock here: it is scored as an
    auxiliary of its flows, as the rate of no single INTEG is its net flow.
    """
    found: dict[str, list[Slot]] = {}
    for slot in program.slots:
        if slot.kind in ("integ", "nninteg") and slot.element in program.step:
            found.setdefault(slot.element, []).append(slot)
    return {py: slots[0] for py, slots in found.items() if len(slots) == 1}


def causal_graph(program: Program) -> CausalGraph:
    """Build the causal graph of a compiled model."""
    labels = {py: name for name, py in program.names.items()}
    slots = {s.index: s for s in program.slots}
    skip = set(CONTROL) | set(program.constants) | {"time"}
    stock_names = {py: slot.index for py, slot in stock_slots(program).items()}
    g = nx.DiGraph()
    equations: dict[str, str] = {}
    refs: dict[str, frozenset] = {}
    delayed = set()
    for py, eq in program.step.items():
        if py in skip or py in stock_names:
            continue
        g.add_node(py)
        inputs = set(eq.refs)
        used = {s for s in slots.values() if f"s{s.index}" in eq.expr
                and s.element == py and s.kind not in ("integ", "nninteg")}
        for slot in used:
            if slot.kind == "initial":
                continue
            delayed.add(py)
            for ref in slot.update_refs - skip:
                g.add_edge(ref, py, kind="delay")
        if used:  # the element's value comes from its state, not its refs
            inputs = inputs - set().union(*(s.update_refs for s in used))
        equations[py] = eq.expr
        refs[py] = frozenset(eq.refs)
        for ref in inputs - skip:
            if ref in program.step:
                g.add_edge(ref, py, kind="aux")
    stocks: dict[str, tuple[Flow, ...]] = {}
    for py, index in stock_names.items():
        g.add_node(py)
        slot = slots[index]
        rate = ast.parse(slot.rate, mode="eval").body
        terms: list = []
        if not _flow_terms(rate, 1, terms) or any(t in skip for t, _ in terms):
            name = f"{py}_net_flow"
            while name in program.step:
                name += "_"
            labels[name] = f"{labels.get(py, py)} net flow"
            equations[name] = slot.rate
            refs[name] = frozenset(slot.update_refs - {"time_step"})
            for ref in refs[name] - skip:
                if ref in program.step:
                    g.add_edge(ref, name, kind="aux")
            terms = [(name, 1)]
        merged: dict[str, int] = {}
        for name, sign in terms:
            merged[name] = merged.get(name, 0) + sign
        flows = tuple(Flow(n, int(np.sign(s))) for n, s in merged.items() if s)
        stocks[py] = flows
        for f in flows:
            g.add_edge(f.name, py, kind="flow", sign=f.sign)
    return CausalGraph(graph=g, stocks=stocks, equations=equations, refs=refs,
                       labels=labels, delayed=frozenset(delayed))


def canonical_cycle(cycle) -> tuple[str, ...]:
    """Rotate a cycle so that it starts at its smallest node (a stable key)."""
    cycle = list(cycle)
    i = cycle.index(min(cycle))
    return tuple(cycle[i:] + cycle[:i])


def enumerate_loops(cg: CausalGraph, *, max_loops: int = MAX_LOOPS
                    ) -> tuple[list[tuple[str, ...]], bool]:
    """Every elementary feedback loop, or the first ``max_loops`` of them.

    Returns
    -------
    loops : list of tuple of str
        Each loop's nodes in causal order, starting at its smallest name.
    complete : bool
        False when the cap stopped the enumeration.
    """
    loops = []
    for cycle in nx.simple_cycles(cg.graph):
        if len(loops) >= max_loops:
            return sorted(loops), False
        loops.append(canonical_cycle(cycle))
    return sorted(loops, key=lambda c: (len(c), c)), True


def partitions(cg: CausalGraph) -> dict[str, int]:
    """Cycle partition of every node on a loop.

    Nodes in one strongly connected component share their stocks' feedback;
    relative loop scores are normalised within a partition. Partitions are
    numbered by their smallest stock name, so the numbering is stable.
    """
    comps = [c for c in nx.strongly_connected_components(cg.graph)
             if len(c) > 1 or cg.graph.has_edge(next(iter(c)), next(iter(c)))]
    comps.sort(key=lambda c: min(c))
    return {node: k for k, comp in enumerate(comps) for node in comp}


def strongest_path_loops(cg: CausalGraph, link_scores: dict, *,
                         times=None, max_loops: int | None = None
                         ) -> list[tuple[str, ...]]:
    """The loops that matter, found from the link scores (no enumeration).

    For every stock and every selected time, a depth-first search follows
    links from the stock in order of decreasing ``|link score|`` and keeps
    the strongest closed path back to the stock, pruning a branch when it
    reaches a variable more weakly than an earlier path did (Eberlein &
    Schoenberg 2020, "Finding the loops that matter").

    The searches run compiled by numba over the graph as integer arrays
    (:func:`strongest_paths`); a time with a NaN link score is searched in
    Python (:func:`strongest_path_python`), whose sort order of NaN weights
    the compiled sort does not reproduce. Both give the same loops.

    Parameters
    ----------
    cg : CausalGraph
    link_scores : dict of (str, str) to ndarray
        Link score series per edge.
    times : iterable of int, optional
        Indices into the score series to search at (default: all).
    max_loops : int, optional
        Stop once this many distinct loops are found (default: no limit;
        at most one loop per stock and time is found anyway).
    """
    length = len(next(iter(link_scores.values()))) if link_scores else 0
    indices = list(range(length) if times is None else times)
    stocks = list(cg.stocks)
    paths = strongest_paths(cg, link_scores, indices)
    found: set = set()
    for k, time_paths in zip(indices, paths):
        if time_paths is None:  # NaN scores at this time
            time_paths = [strongest_path_python(cg.graph, stock, link_scores, k)
                          for stock in stocks]
        for loop in time_paths:
            if loop:
                found.add(canonical_cycle(loop))
            if max_loops is not None and len(found) >= max_loops:
                return sorted(found, key=lambda c: (len(c), c))
    return sorted(found, key=lambda c: (len(c), c))


def strongest_paths(cg: CausalGraph, link_scores: dict, times) -> list:
    """The compiled strongest-path search at each of ``times``.

    Returns
    -------
    list
        Per time, per stock of ``cg.stocks``, the strongest closed path's
        nodes (a list from the stock; empty when there is none); None for a time with a NaN link score (or for every
        time when numba is missing), to be searched by
        :func:`strongest_path_python`.
    """
    g = cg.graph
    index = {node: i for i, node in enumerate(g)}
    heads, succ, edges = [0], [], []
    for node in g:  # successors in the graph's order (the sort is stable)
        for s in g.successors(node):
            succ.append(index[s])
            edges.append((node, s))
        heads.append(len(succ))
    times = np.asarray(list(times), dtype=np.int64)
    weight = np.zeros((len(times), len(edges)))
    for j, e in enumerate(edges):
        if e in link_scores:
            weight[:, j] = np.abs(np.asarray(link_scores[e], dtype=float)[times])
    search = _compiled_search()
    if search is None:  # pragma: no cover - numba is a dependency
        return [None] * len(times)
    stocks = np.array([index[s] for s in cg.stocks], dtype=np.int64)
    lengths, found = search(np.asarray(heads, dtype=np.int64),
                            np.asarray(succ, dtype=np.int64), weight, stocks)
    nodes = list(g)
    nan = np.isnan(weight).any(axis=1)
    return [None if nan[k] else [[nodes[i] for i in found[k, j, :lengths[k, j]]]
                                 for j in range(len(stocks))]
            for k in range(len(times))]


def strongest_path_python(g: nx.DiGraph, start, link_scores: dict, k: int):
    """The strongest closed path from ``start`` back to it at time index
    ``k`` (a list of nodes from ``start``), or None: a depth-first search
    following each node's links in order of decreasing ``|link score|``
    (``sorted``, stable), the path's score the product of its weights; a
    branch is pruned when it reaches a node no more strongly than an earlier
    path did."""
    weight = {e: abs(float(s[k])) for e, s in link_scores.items()}
    best: dict = {}
    result = [0.0, None]

    def visit(node, score, path, on_path):
        for succ in sorted(g.successors(node),
                           key=lambda s: -weight.get((node, s), 0.0)):
            w = score * weight.get((node, succ), 0.0)
            if w <= 0.0:
                continue
            if succ == start:
                if w > result[0]:
                    result[0], result[1] = w, list(path)
                continue
            if succ in on_path or w <= best.get(succ, 0.0):
                continue
            best[succ] = w
            on_path.add(succ)
            path.append(succ)
            visit(succ, w, path, on_path)
            path.pop()
            on_path.discard(succ)

    visit(start, 1.0, [start], {start})
    return result[1]


def _search(heads, succ, weight, stocks):  # pragma: no cover - run compiled
    """Numba body of :func:`strongest_paths`: for every time (row of
    ``weight``, one column per edge in ``succ``'s order) each node's edges
    are sorted by decreasing weight (insertion sort: stable), then from every
    stock the depth-first search of :func:`strongest_path_python` runs with
    an explicit stack."""
    n = len(heads) - 1
    n_times, n_stocks = weight.shape[0], len(stocks)
    lengths = np.zeros((n_times, n_stocks), dtype=np.int64)
    found = np.zeros((n_times, n_stocks, max(n, 1)), dtype=np.int64)
    order = np.empty(len(succ), dtype=np.int64)
    best = np.zeros(n)
    on_path = np.zeros(n, dtype=np.bool_)
    path = np.empty(n + 1, dtype=np.int64)
    frame_node = np.empty(n + 1, dtype=np.int64)
    frame_next = np.empty(n + 1, dtype=np.int64)
    frame_score = np.empty(n + 1)
    for k in range(n_times):
        w_k = weight[k]
        for u in range(n):
            for p in range(heads[u], heads[u + 1]):
                e = p
                q = p
                while q > heads[u] and w_k[order[q - 1]] < w_k[e]:
                    order[q] = order[q - 1]
                    q -= 1
                order[q] = e
        for j in range(n_stocks):
            start = stocks[j]
            best[:] = 0.0
            on_path[:] = False
            top_score, top_len = 0.0, 0
            path[0] = start
            size = 1
            on_path[start] = True
            frame_node[0], frame_next[0], frame_score[0] = start, heads[start], 1.0
            depth = 0
            while depth >= 0:
                u = frame_node[depth]
                score = frame_score[depth]
                p = frame_next[depth]
                pushed = False
                while p < heads[u + 1]:
                    e = order[p]
                    p += 1
                    v = succ[e]
                    w = score * w_k[e]
                    if w <= 0.0:
                        continue
                    if v == start:
                        if w > top_score:
                            top_score, top_len = w, size
                            found[k, j, :size] = path[:size]
                        continue
                    if on_path[v] or w <= best[v]:
                        continue
                    best[v] = w
                    on_path[v] = True
                    path[size] = v
                    size += 1
                    frame_next[depth] = p
                    depth += 1
                    frame_node[depth], frame_next[depth], frame_score[depth] = v, heads[v], w
                    pushed = True
                    break
                if not pushed:  # every link of u followed: back to its predecessor
                    depth -= 1
                    size -= 1
                    on_path[path[size]] = False
            lengths[k, j] = top_len
    return lengths, found


_SEARCH: list = []


def _compiled_search():
    """:func:`_search` compiled by numba (cached on disk), or None."""
    if not _SEARCH:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a dependency
            _SEARCH.append(None)
        else:
            _SEARCH.append(numba.njit(nogil=True, cache=True)(_search))
    return _SEARCH[0]
