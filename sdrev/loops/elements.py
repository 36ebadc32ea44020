"""Subscripted models: the causal graph over variable elements.

A subscripted variable (``Subsidiary Capability[Subsidiary]``) is one node
per element in the causal graph (``subsidiary_capability[sub1]``, ...), as
pysimlin names them, so a loop runs through particular elements and its
score is computed from their values. Scalar variables stay single nodes.

Which element of ``x`` feeds which element of ``z`` is read from ``z``'s
compiled numpy expression (:mod:`sdrev.ensemble.compile`) by evaluating it
once over *dependency sets* instead of numbers: every value is an object
array whose cells carry the set of ``x``'s elements they depend on (a bit
mask), every arithmetic operation, comparison and element-wise function
returns the union of its operands' sets, and the expression's subscript
alignment (indexing, ``np.take``, transposes, broadcasting, ``SUM`` over
``Range!`` axes, regions of multi-equation elements) runs unchanged on the
object arrays. This is exact for every construct the ensemble engine
compiles: a condition counts as an input of ``IF THEN ELSE`` whichever
branch it picks. Links into SMOOTH/DELAY/TREND elements are aligned by
element (same subscripts: element to element; scalar input: to every
element; otherwise every pair), since their state is not expanded.

Link scores over the element graph are computed with every other link
score, in :func:`sdrev.loops.links.link_scores`.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

import networkx as nx
import numpy as np

from sdrev.ensemble import functions as fn
from sdrev.ensemble.program import Program
from sdrev.loops.graph import CausalGraph, Flow, stock_slots

__all__ = ["ElementGraph", "element_graph", "element_name", "dependencies"]


# ------------------------------------------------------ dependency probing

class _Dep:
    """A set of input elements, as a bit mask; every operation unites."""

    __slots__ = ("bits",)

    def __init__(self, bits: int = 0):
        self.bits = bits

    def _unite(self, other=None):
        if isinstance(other, np.ndarray):
            return NotImplemented  # numpy applies the operation per cell
        return _Dep(self.bits | _bits(other))

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _unite
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _unite
    __pow__ = __rpow__ = __mod__ = __rmod__ = _unite
    __and__ = __rand__ = __or__ = __ror__ = __xor__ = __rxor__ = _unite
    __lt__ = __le__ = __gt__ = __ge__ = _unite
    __hash__ = None

    def __eq__(self, other):  # type: ignore[override]
        return self._unite(other)

    def __ne__(self, other):  # type: ignore[override]
        return self._unite(other)

    def __neg__(self):
        return self

    __pos__ = __abs__ = __invert__ = __neg__

    def __bool__(self):
        raise TypeError("a dependency set has no truth value")


def _bits(value) -> int:
    return value.bits if isinstance(value, _Dep) else 0


_unite2 = np.frompyfunc(lambda a, b: _Dep(_bits(a) | _bits(b)), 2, 1)


def _union(*args, **kwargs):
    """Element-wise union of the dependency sets of all arguments."""
    out = _Dep(0)
    for arg in list(args) + list(kwargs.values()):
        if isinstance(arg, str):
            continue
        out = _unite2(out, arg)
    return out


def _object(x) -> np.ndarray:
    if isinstance(x, np.ndarray) and x.dtype == object:
        return x
    arr = np.empty(np.shape(x), dtype=object)
    if arr.ndim == 0:
        arr[()] = x if isinstance(x, _Dep) else _Dep(0)
        return arr
    flat = np.asarray(x).ravel()
    arr.ravel()[:] = [v if isinstance(v, _Dep) else _Dep(0) for v in flat] \
        if flat.dtype == object else [_Dep(0)] * flat.size
    return arr


def _sum(x, axis=None, **kwargs):
    x = _object(x)
    if x.ndim == 0:
        return x
    axes = tuple(range(x.ndim)) if axis is None else (
        (axis,) if isinstance(axis, int) else tuple(axis))
    out = x
    for ax in sorted(axes, reverse=True):
        out = functools.reduce(_unite2, np.moveaxis(out, ax, 0))
        out = _object(out)
    return out


class _NumpyProbe:
    """``np`` for dependency probing: shape functions are numpy's own,
    value functions unite their arguments' dependency sets."""

    _SHAPE = frozenset({"take", "transpose", "stack", "concatenate", "reshape",
                        "broadcast_to", "expand_dims", "moveaxis", "shape",
                        "ndim", "newaxis", "pi", "nan", "inf", "e"})

    def __getattr__(self, name):
        if name in ("sum", "prod", "min", "max", "amin", "amax"):
            return _sum
        attr = getattr(np, name)
        if name in self._SHAPE or not callable(attr):
            return attr
        return _union


class _FunctionsProbe:
    """``fn`` for dependency probing."""

    up = staticmethod(fn.up)

    @staticmethod
    def bcast(x, shape):
        x = _object(x)
        if x.ndim == 0:
            x = x.reshape((1,) * (1 + len(shape)))
        return np.broadcast_to(x, (x.shape[0],) + tuple(shape))

    @staticmethod
    def region(x, fixed, shape):
        x = _object(x)
        if x.ndim == 0:
            x = x.reshape((1,) * (1 + len(shape)))
        else:
            for f in fixed:
                x = np.expand_dims(x, 1 + f)
        return np.broadcast_to(x, (x.shape[0],) + tuple(shape))

    @staticmethod
    def assemble(shape, parts):
        runs = max(p[0].shape[0] for p in parts)
        out = np.empty((runs,) + tuple(shape), dtype=object)
        out.ravel()[:] = [_Dep(0)] * out.size
        for values, (target, source) in parts:
            out[(slice(None),) + target] = values[(slice(None),) + source]
        return out

    @staticmethod
    def reduce(func, x, axes, ndim):
        x = _object(x)
        if x.ndim < ndim + 1:
            x = x.reshape(x.shape + (1,) * (ndim + 1 - x.ndim))
        return _sum(x, axis=axes)

    @staticmethod
    def lookup(x, *table):
        return _union(x)

    def __getattr__(self, name):
        return _union


class _Rewrite(ast.NodeTransformer):
    """Comparisons and boolean operators -> unions (numpy would turn object
    comparisons into booleans and drop the dependency)."""

    @staticmethod
    def _call(args):
        return ast.Call(func=ast.Name("_union", ast.Load()), args=args, keywords=[])

    def visit_Compare(self, node):
        self.generic_visit(node)
        return self._call([node.left, *node.comparators])

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        return self._call(list(node.values))

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        return self._call([node.operand]) if isinstance(node.op, ast.Not) else node

    def visit_IfExp(self, node):
        self.generic_visit(node)
        return self._call([node.test, node.body, node.orelse])


@functools.lru_cache(maxsize=4096)
def _probe_code(expr: str):
    tree = _Rewrite().visit(ast.parse(expr, mode="eval"))
    return compile(ast.fix_missing_locations(tree), "<sdrev probe>", "eval")


def dependencies(program: Program, expr: str, source: str,
                 shapes: dict) -> dict[int, frozenset]:
    """Which elements of ``source`` each element of ``expr``'s value reads.

    Parameters
    ----------
    program : Program
    expr : str
        A compiled numpy expression.
    source : str
        Python name of the input variable.
    shapes : dict of str to tuple
        Subscript shape of every variable (``()`` for scalars).

    Returns
    -------
    dict of int to frozenset of int
        Flat index of each output element -> flat indices of ``source``'s
        elements it depends on (outputs with no dependency left out).
    """
    ns = {"np": _NumpyProbe(), "fn": _FunctionsProbe(), "L": program.lookups,
          "K": program.arrays, "_union": _union, "time": _Dep(0)}
    for name, shape in shapes.items():
        if name == source:
            continue
        ns[f"v_{name}"] = _zeros(shape)
    for name, value in program.constants.items():
        if name != source:
            ns[f"v_{name}"] = _zeros(np.shape(value)[1:] if np.ndim(value) else ())
    shape = shapes[source]
    if shape:
        probe = np.empty((1,) + shape, dtype=object)
        probe.ravel()[:] = [_Dep(1 << j) for j in range(int(np.prod(shape)))]
    else:
        probe = _Dep(1)
    ns[f"v_{source}"] = probe
    out = _object(eval(_probe_code(expr), ns))
    out = out.reshape(-1)  # (1, *shape) or a scalar -> flat elements
    result = {}
    for i, cell in enumerate(out):
        bits = _bits(cell)
        if bits:
            result[i] = frozenset(j for j in range(bits.bit_length()) if bits >> j & 1)
    return result


def _zeros(shape: tuple):
    if not shape:
        return _Dep(0)
    arr = np.empty((1,) + tuple(shape), dtype=object)
    arr.ravel()[:] = [_Dep(0)] * arr.size
    return arr


# ---------------------------------------------------------- element graph

def element_name(name: str, elements: tuple[str, ...]) -> str:
    """``name[e1,e2]`` (or ``name`` for a scalar)."""
    return f"{name}[{','.join(elements)}]" if elements else name


@dataclass(frozen=True)
class ElementGraph:
    """The causal graph over variable elements, and how it maps back.

    Attributes
    ----------
    graph : CausalGraph
        Nodes are element names (``py[e1,e2]``; scalars keep their Python
        name); labels are Vensim names with the elements appended.
    variable : dict of str to str
        Element node -> Python name of its variable.
    index : dict of str to int
        Element node -> flat index of the element in its variable's values.
    shapes : dict of str to tuple
        Subscript shape of every variable (and synthetic net flow).
    pairs : dict of (str, str) to tuple
        Variable-level edge -> ``(j, i)`` pairs of flat source and target
        element indices.
    rates : dict of str to str
        Stock (Python name) -> its INTEG's rate expression (its net flow,
        element by element).
    """

    graph: CausalGraph
    variable: dict
    index: dict
    shapes: dict
    pairs: dict
    rates: dict


def _shape(program: Program, name: str) -> tuple:
    return tuple(len(c) for c in program.coords.get(name, ())) \
        if program.dims.get(name) else ()


def _elements(program: Program, name: str, shape: tuple, stock_of=None):
    """Element tuples of a variable, in flat (C) order."""
    source = stock_of or name
    coords = program.coords.get(source, ()) if program.dims.get(source) else ()
    if not shape:
        return [()]
    return [tuple(c[k] for c, k in zip(coords, idx)) for idx in np.ndindex(*shape)]


def element_graph(program: Program, cg: CausalGraph) -> ElementGraph:
    """Expand the variable-level causal graph of a subscripted model.

    Parameters
    ----------
    program : Program
        Compiled with ``subscripts=True``.
    cg : CausalGraph
        Its variable-level graph (:func:`sdrev.loops.graph.causal_graph`).
    """
    g = cg.graph
    shapes = {n: _shape(program, n) for n in program.step}
    owner = {}
    for stock, flows in cg.stocks.items():
        for f in flows:
            if f.name not in program.step:  # synthetic net flow
                shapes[f.name] = shapes[stock]
                owner[f.name] = stock
    nodes: dict[str, list[str]] = {}
    variable, index, labels = {}, {}, {}
    for name in g.nodes:
        elems = _elements(program, name, shapes[name], owner.get(name))
        nodes[name] = []
        for k, e in enumerate(elems):
            node = element_name(name, e)
            nodes[name].append(node)
            variable[node], index[node] = name, k
            labels[node] = element_name(cg.label(name), e)
    pairs: dict = {}
    integs = stock_slots(program)
    rates = {stock: integs[stock].rate for stock in cg.stocks}
    for x, z, data in g.edges(data=True):
        if data["kind"] == "flow":
            dep = dependencies(program, rates[z], x, shapes)
        elif data["kind"] == "delay":
            dep = _aligned(shapes[x], shapes[z])
        else:
            dep = dependencies(program, cg.equations[z], x, shapes)
        pairs[(x, z)] = tuple(sorted((j, i) for i, js in dep.items() for j in js))
    eg = nx.DiGraph()
    eg.add_nodes_from(n for name in g.nodes for n in nodes[name])
    for (x, z), found in pairs.items():
        data = g.edges[x, z]
        for j, i in found:
            eg.add_edge(nodes[x][j], nodes[z][i], **data)
    stocks = {}
    for stock, flows in cg.stocks.items():
        for i, node in enumerate(nodes[stock]):
            stocks[node] = tuple(Flow(nodes[f.name][j], f.sign) for f in flows
                                 for j, k in pairs[(f.name, stock)] if k == i)
    delayed = frozenset(n for name in cg.delayed for n in nodes.get(name, ()))
    graph = CausalGraph(graph=eg, stocks=stocks,
                        equations={n: cg.equations[variable[n]] for n in variable
                                   if variable[n] in cg.equations},
                        refs={n: cg.refs[variable[n]] for n in variable
                              if variable[n] in cg.refs},
                        labels=labels, delayed=delayed)
    return ElementGraph(graph=graph, variable=variable, index=index,
                        shapes=shapes, pairs=pairs, rates=rates)


def _aligned(source: tuple, target: tuple) -> dict[int, frozenset]:
    n_s, n_t = int(np.prod(source)), int(np.prod(target))
    if source == target:
        return {i: frozenset({i}) for i in range(n_t)}
    return {i: frozenset(range(n_s)) for i in range(n_t)}
