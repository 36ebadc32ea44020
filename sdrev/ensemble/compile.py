"""Compile stage: PySD's abstract model -> a vectorised program.

The model is read exactly as PySD reads it (``sdrev.translate``), then each
element's syntax tree is turned into a numpy expression over arrays with a
leading run axis. Subscripted elements (``compile_model(path,
subscripts=True)``) add one axis per subscript range, with PySD's dimension
names; references are aligned to the equation's ranges (by range, subrange
or positional mapping), ``Range!`` axes are reduced by SUM/PROD/VMIN/VMAX,
and elements defined by several equations (single elements, subranges,
``:EXCEPT:``) are assembled from their regions. Stateful functions (INTEG, SMOOTH, DELAY,
DELAY FIXED, TREND, FORECAST, INITIAL, SAMPLE IF TRUE) become *slots*: a
piece of state with its initialisation, its current value and its Euler
update, following PySD's ``statefuls`` module line by line. External
constants, lookups and data (GET XLS/DIRECT ...) use the values PySD loads
from the files (``sdrev.translate.external_values``); subscripted lookups
keep one table per element; macro calls are expanded inline, each call
with its own copy of the macro's elements and state.

:func:`compile_model` returns a :class:`Program`; :func:`build_simulator`
turns it, for a given list of outputs, into two Python functions generated
from source: ``init(C, n)`` and ``step(S, C, time)``.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdrev.errors import SdrevError, UnknownNameError, suggest
from sdrev.ensemble import functions as fn
from sdrev.translate import abstract_expressions as ae
from sdrev.translate import abstract_model, python_names, subscript_manager

__all__ = [
    "CONTROL",
    "Program",
    "Simulator",
    "UnsupportedConstructError",
    "build_simulator",
    "compile_model",
]

#: Python names of Vensim's control variables.
CONTROL = ("initial_time", "final_time", "time_step", "saveper")

_UNARY = {"abs": "np.abs", "exp": "np.exp", "sin": "np.sin", "cos": "np.cos",
          "tan": "np.tan", "arcsin": "np.arcsin", "arccos": "np.arccos",
          "arctan": "np.arctan", "sinh": "np.sinh", "cosh": "np.cosh",
          "tanh": "np.tanh", "sqrt": "np.sqrt", "ln": "np.log",
          "integer": "fn.integer"}
_BINARY = {"min": "np.minimum", "max": "np.maximum", "power": "np.power",
           "modulo": "fn.modulo", "quantum": "fn.quantum", "zidz": "fn.zidz"}
_OPS = {"^": "**", "*": "*", "/": "/", "+": "+", "-": "-", "=": "==",
        "<>": "!=", ">=": ">=", ">": ">", "<=": "<=", "<": "<"}


class UnsupportedConstructError(SdrevError, NotImplementedError):
    """A model uses a construct the ensemble engine cannot vectorise yet."""


@dataclass(frozen=True)
class Slot:
    """One stateful function instance.

    Attributes
    ----------
    index : int
        Position in the state tuple.
    kind : str
        ``integ``, ``nninteg``, ``smooth``, ``delay``, ``delayn``,
        ``delayfixed``, ``trend``, ``forecast``, ``initial`` or ``sample``.
    element : str
        Python name of the element it belongs to.
    value : str
        Expression of its current value.
    init_code : tuple of str
        Statements that create its state at initialisation.
    update_code : tuple of str
        Statements that compute its next state into ``n{index}``.
    update_refs : frozenset of str
        Elements the update reads.
    """

    index: int
    kind: str
    element: str
    value: str
    init_code: tuple[str, ...]
    update_code: tuple[str, ...]
    update_refs: frozenset[str]


@dataclass(frozen=True)
class Equation:
    """Code of one element in one phase (initialisation or time step)."""

    pre: tuple[str, ...]
    expr: str
    refs: frozenset[str]


@dataclass(frozen=True)
class Program:
    """A model compiled for vectorised simulation.

    Attributes
    ----------
    path : Path
        The model file.
    names : dict of str to str
        Vensim name -> Python name, for every element.
    constants : dict of str to float
        Default value of every element defined by a number (the values a
        sample may vary), by Python name.
    limits : dict of str to tuple
        ``(lo, hi)`` range of each constant from the units field
        (``None`` where open).
    stateful : frozenset of str
        Python names of elements holding state (may not be overridden).
    init : dict of str to Equation
        Initialisation equation of every element.
    step : dict of str to Equation
        Time-step equation of every element.
    slots : tuple of Slot
    lookups : tuple of tuple
        ``(xs, ys, kind)`` tables referenced as ``L[i]`` in the code.
    dims : dict of str to tuple of str
        Subscript ranges of each subscripted element (PySD's dimension
        names); its values have shape ``(runs, *sizes)``.
    coords : dict of str to tuple
        Elements of each of those ranges, per subscripted element.
    arrays : tuple
        Constant arrays and index tuples referenced as ``K[i]``.
    """

    path: Path
    names: dict[str, str]
    constants: dict[str, float]
    limits: dict[str, tuple[float | None, float | None]]
    stateful: frozenset[str]
    init: dict[str, Equation]
    step: dict[str, Equation]
    slots: tuple[Slot, ...]
    lookups: tuple[tuple[np.ndarray, np.ndarray, str], ...]
    dims: dict[str, tuple[str, ...]] = field(default_factory=dict)
    coords: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    arrays: tuple = ()

    def resolve(self, name: str) -> str:
        """Python name of ``name`` (a Vensim or Python name).

        Raises
        ------
        UnknownNameError
            If the model has no such variable.
        """
        if name in self.step:
            return name
        if name in self.names:
            return self.names[name]
        lowered = {k.lower(): v for k, v in self.names.items()}
        key = " ".join(name.replace("_", " ").split()).lower()
        if key in lowered:
            return lowered[key]
        raise UnknownNameError(
            f"{self.path.name} has no variable {name!r}"
            + suggest(name, list(self.names) + list(self.step)))


@dataclass(frozen=True)
class Simulator:
    """Generated code of a program for a fixed set of outputs and overrides.

    ``init(C, n)`` returns ``(S, control, orders, hoisted)``: the state
    tuple, the values of the control variables, the delay orders and the
    elements constant in time (to merge into ``C``); ``step(S, C, time,
    orders)`` returns ``(S_next, outputs)``: the state after one Euler step
    and the outputs at ``time``.
    """

    outputs: tuple[str, ...]
    source: str
    init: object = field(repr=False)
    step: object = field(repr=False)
    #: shape of each subscripted output after the run axis
    shapes: dict = field(default_factory=dict)
    #: ``prepare(C)`` -> values constant in time hoisted out of ``step``
    prepare: object = field(default=None, repr=False)
    #: the program's lookup tables ``(xs, ys, kind)``, read as ``L[i]``
    lookups: tuple = field(default=(), repr=False)
    #: whether the program has subscripted elements
    subscripted: bool = False


# --------------------------------------------------------------- compiling

@dataclass
class _Ctx:
    """Mutable state while compiling one element in one phase."""

    element: str
    phase: str
    builder: "_Builder"
    refs: set = field(default_factory=set)
    pre: list = field(default_factory=list)
    #: ``(name, elements)`` of each trailing array axis: the subscript
    #: ranges of the equation being compiled, then the ``Range!`` axes of
    #: enclosing SUM/PROD/VMIN/VMAX calls
    axes: tuple = ()

    def sub(self) -> "_Ctx":
        return _Ctx(self.element, self.phase, self.builder, set(), self.pre,
                    self.axes)

    @property
    def tail(self) -> tuple[int, ...]:
        """Shape of the equation's values after the run axis."""
        return tuple(len(e) for _, e in self.axes)


class _Builder:
    def __init__(self, clean: dict[str, str], lookups_of: dict[str, int],
                 subscripts=None):
        self.clean = clean
        self.lookups_of = lookups_of
        self.sm = subscripts
        self.ranges: dict = dict(subscripts.subscripts) if subscripts else {}
        self.dims: dict[str, tuple] = {}
        self.coords: dict[str, tuple] = {}
        self.arrays: list = []  # constant arrays K[i] and indices I[i]
        self.tables: list = []
        #: subscripted lookups: ``(xs, ys, kind, dims, coords)`` with ys of
        #: shape ``(len(xs), *sizes)``
        self.ltables: dict = {}
        self.slots: dict[int, Slot] = {}
        self.slot_init_refs: dict[int, frozenset] = {}
        self.slot_value_refs: dict[int, frozenset] = {}
        self.counter = itertools.count()

    # -- references
    def ref(self, name: str, ctx: _Ctx) -> str:
        if name == "time":
            ctx.refs.add("time")
            return "time"
        if name not in self.clean and self.sm is not None:
            number = self.subscript_number(name, ctx)
            if number is not None:
                return number
        if name not in self.clean:
            raise UnsupportedConstructError(
                f"element {ctx.element!r} refers to {name!r}, "
                "which is not a variable of the model")
        py = self.clean[name]
        ctx.refs.add(py)
        return f"v_{py}"

    def expr(self, node, ctx: _Ctx) -> str:
        if isinstance(node, bool):
            return repr(float(node))
        if isinstance(node, (int, float, np.number)):
            value = float(node)
            if not np.isfinite(value):
                return "np.nan" if np.isnan(value) else (
                    "np.inf" if value > 0 else "-np.inf")
            return repr(value)
        if isinstance(node, np.ndarray):
            return self.array(node, ctx)
        if isinstance(node, ae.ReferenceStructure):
            if node.subscripts is not None or ctx.axes or (
                    self.dims.get(self.clean.get(node.reference))):
                return self.subscripted_ref(node, ctx)
            return self.ref(node.reference, ctx)
        if isinstance(node, (ae.ArithmeticStructure, ae.LogicStructure)):
            return self.operation(node, ctx)
        if isinstance(node, ae.CallStructure):
            return self.call(node, ctx)
        if isinstance(node, ae.GameStructure):
            return self.expr(node.expression, ctx)
        if isinstance(node, ae.InlineLookupsStructure):
            table = self.table(node.lookups)
            return f"fn.lookup({self.expr(node.argument, ctx)}, *L[{table}])"
        if type(node).__name__ in _SLOT_TYPES:
            return self.slot(node, ctx)
        if isinstance(node, _Series):
            ctx.refs.add("time")
            call = (f"fn.series(time, {self.const(node.x)}, "
                    f"{self.const(node.values)}, {node.interp!r})")
            return f"{call}[None]" if ctx.axes else call
        raise UnsupportedConstructError(
            f"element {ctx.element!r} uses {_describe(node)}, which the "
            "ensemble engine does not support yet")

    # -- subscripts
    def _range_named(self, name: str):
        for range_ in self.ranges:
            if range_.replace(" ", "_").lower() == name.lower():
                return range_
        return None

    def _main_elements(self, range_: str) -> list:
        for main, subs in self.sm.subranges.items():
            if range_ == main or range_ in subs:
                return list(self.ranges[main])
        return list(self.ranges[range_])

    def subscript_number(self, name: str, ctx: _Ctx):
        """A range or element used as a number: its position (from 1) in
        its main range, as Vensim (and PySD) evaluate it."""
        range_ = self._range_named(name)
        if range_ is not None:
            main = self._main_elements(range_)
            axis, elements = self.match_axis(range_, ctx, name)
            shape = [1] * (1 + len(ctx.axes))
            shape[1 + axis] = len(elements)
            values = np.array([main.index(e) + 1 for e in elements],
                              dtype=float).reshape(shape)
            return self.const(values)
        for main in self.sm.subranges:
            for k, element in enumerate(self.ranges[main]):
                if element.replace(" ", "_").lower() == name.lower():
                    return repr(float(k + 1))
        return None

    def const(self, value) -> str:
        """Name of a constant array in the generated code's namespace."""
        self.arrays.append(value)
        return f"K[{len(self.arrays) - 1}]"

    def array(self, node: np.ndarray, ctx: _Ctx) -> str:
        ranged = tuple(len(e) for n, e in ctx.axes if not n.endswith("!"))
        node = np.asarray(node, dtype=float)
        if node.shape != ranged and node.size == int(np.prod(ranged)):
            node = node.reshape(ranged)  # tabbed arrays come flat
        if node.shape != ranged or len(ranged) != len(ctx.axes):
            raise UnsupportedConstructError(
                f"element {ctx.element!r}: a constant array of shape "
                f"{node.shape} does not fit its subscripts")
        return self.const(node[None])

    def subscripted_ref(self, node, ctx: _Ctx) -> str:
        code = self.ref(node.reference, ctx)
        if code == "time" or node.reference not in self.clean:
            return code  # time, or a subscript used as a number
        py = self.clean[node.reference]
        subs = list(node.subscripts.subscripts) if node.subscripts else []
        return self.align(code, node.reference, self.dims.get(py, ()),
                          self.coords.get(py, ()), subs, ctx)

    def align(self, code: str, reference: str, dims, coords, subs,
              ctx: _Ctx) -> str:
        """``code`` (an array with a leading run or table axis, then one
        axis per range of ``dims``) indexed by ``subs`` and aligned to the
        axes of ``ctx``."""
        k = len(ctx.axes)
        if not dims:
            if subs:
                raise UnsupportedConstructError(
                    f"element {ctx.element!r} subscripts the scalar "
                    f"{reference!r}")
            return f"fn.up({code}, {k})" if k else code
        if len(subs) != len(dims):
            raise UnsupportedConstructError(
                f"element {ctx.element!r} refers to {reference!r} with "
                f"{len(subs)} subscript(s); it has {len(dims)}")
        basic, takes, targets = [], [], []
        for j, sub in enumerate(subs):
            own = coords[j]
            name = sub[:-1] if sub.endswith("!") else sub
            if name not in self.ranges and sub in own:  # one element
                basic.append(str(own.index(sub)))
                continue
            axis, wanted = self.match_axis(sub, ctx, reference)
            try:
                index = [own.index(e) for e in wanted]
            except ValueError:
                raise UnsupportedConstructError(
                    f"element {ctx.element!r}: {reference}[{sub}] "
                    f"reaches outside the elements of {reference!r}"
                ) from None
            basic.append(":")
            takes.append(None if index == list(range(len(own))) else index)
            targets.append(axis)
        if len(set(targets)) != len(targets):
            raise UnsupportedConstructError(
                f"element {ctx.element!r} uses one subscript range twice in "
                f"{reference}[{', '.join(subs)}]")
        if any(b != ":" for b in basic):
            code = f"{code}[:, {', '.join(basic)}]"
        for r, index in enumerate(takes):
            if index is not None:
                code = (f"np.take({code}, {self.const(np.array(index))}, "
                        f"axis={1 + r})")
        order = sorted(range(len(targets)), key=lambda r: targets[r])
        if order != list(range(len(targets))):
            code = (f"np.transpose({code}, "
                    f"{tuple([0] + [1 + r for r in order])})")
        present = set(targets)
        if len(present) < k:
            code += "[:, " + ", ".join(
                ":" if q in present else "None" for q in range(k)) + "]"
        return code

    def match_axis(self, sub: str, ctx: _Ctx, reference: str):
        """Axis of ``ctx`` a range subscript runs along, and its elements.

        The range itself; a range mapped to or from it (elements matched
        by position); or a subrange axis of the range (the axis's
        elements).
        """
        names = [n for n, _ in ctx.axes]
        if sub in names:
            return names.index(sub), ctx.axes[names.index(sub)][1]
        elements = self.ranges.get(sub)
        if elements is None:
            raise UnsupportedConstructError(
                f"element {ctx.element!r}: {sub!r} in {reference}[...] is "
                "not a subscript range or element")
        mapping = self.sm.mapping if self.sm else {}
        for q, (name, axis_elements) in enumerate(ctx.axes):
            linked = (sub in [m for m in mapping.get(name, []) if isinstance(m, str)]
                      or name in [m for m in mapping.get(sub, []) if isinstance(m, str)])
            if linked and len(axis_elements) == len(elements):
                return q, tuple(elements)
        for q, (name, axis_elements) in enumerate(ctx.axes):
            if not name.endswith("!") and set(axis_elements) <= set(elements):
                return q, axis_elements
        raise UnsupportedConstructError(
            f"element {ctx.element!r}: subscript range {sub!r} of "
            f"{reference}[...] matches none of the equation's subscripts "
            f"{names}")

    def vector_select(self, args, ctx: _Ctx) -> str:
        """VECTOR SELECT as PySD computes it: selection and expression
        broadcast over the union of their ``Range!`` axes, reduced over
        them where the selection is non-zero, ``missing`` where it is zero
        everywhere."""
        error = args[4]
        if not (_numeric(error) and not isinstance(error, np.ndarray)):
            raise UnsupportedConstructError(
                f"element {ctx.element!r}: VECTOR SELECT needs its error "
                "action given as a number")
        if error != 0:
            raise UnsupportedConstructError(
                f"element {ctx.element!r}: VECTOR SELECT with error action "
                f"{error:g} (only 0 is supported)")
        action = self.expr(args[3], ctx)
        missing = self.expr(args[2], ctx)
        pair = [args[0], args[1]]
        inner, axes, ndim = self.bang_context(pair, ctx, "VECTOR SELECT")
        sel, values = self.expr(args[0], inner), self.expr(args[1], inner)
        return (f"fn.vector_select({sel}, {values}, {missing}, "
                f"{action}, {axes}, {ndim})")

    def bang_context(self, node, ctx: _Ctx, func: str):
        """Context with the ``Range!`` axes used in ``node`` appended, the
        positions of those axes and the number of axes after the run axis."""
        bangs = []
        for sub in _bang_subscripts(node):
            if sub not in [n for n, _ in ctx.axes] and sub not in bangs:
                bangs.append(sub)
        if not bangs:
            raise UnsupportedConstructError(
                f"element {ctx.element!r}: {func} needs a "
                "subscript range marked with '!'")
        for sub in bangs:
            if sub[:-1] not in self.ranges:
                raise UnsupportedConstructError(
                    f"element {ctx.element!r}: {sub!r} is not a range")
        inner = _Ctx(ctx.element, ctx.phase, self, ctx.refs, ctx.pre,
                     ctx.axes + tuple((b, tuple(self.ranges[b[:-1]]))
                                      for b in bangs))
        k = len(ctx.axes)
        return (inner, tuple(1 + k + i for i in range(len(bangs))),
                k + len(bangs))

    def reduce(self, func: str, node, ctx: _Ctx) -> str:
        inner, axes, ndim = self.bang_context(node, ctx, func.upper())
        code = self.expr(node, inner)
        np_func = {"sum": "np.sum", "prod": "np.prod", "vmin": "np.min",
                   "vmax": "np.max"}[func]
        return f"fn.reduce({np_func}, {code}, {axes}, {ndim})"

    def operation(self, node, ctx: _Ctx) -> str:
        # a negative number stays bare, as PySD writes it: -2^2 is -(2^2)
        args = [repr(float(a)) if _numeric(a) and not isinstance(a, np.ndarray)
                and np.isfinite(a) and a < 0 else f"({self.expr(a, ctx)})"
                for a in node.arguments]
        ops = list(node.operators)
        if ops and all(op == "^" for op in ops) and len(args) > 1:
            # np.power, not **: a negative base to a fractional power is
            # NaN (as in PySD's arrays), never a Python complex number
            out = args[-1]
            for arg in reversed(args[:-1]):
                if arg.startswith("-"):  # -2^x is -(2^x)
                    out = f"(-np.power({arg[1:]}, {out}))"
                else:
                    out = f"np.power({arg}, {out})"
            return out
        if len(args) == 1:
            op = ops[0]
            if op == "negative":
                return f"-{args[0]}"
            if op == ":NOT:":
                return f"np.logical_not{args[0]}"
            raise UnsupportedConstructError(
                f"element {ctx.element!r} uses the unary operator {op!r}")
        if all(op in (":AND:", ":OR:") for op in ops):
            out = args[0]
            for op, arg in zip(ops, args[1:]):
                name = "logical_and" if op == ":AND:" else "logical_or"
                out = f"np.{name}({out}, {arg})"
            return out
        parts = [args[0]]
        for op, arg in zip(ops, args[1:]):
            if op not in _OPS:
                raise UnsupportedConstructError(
                    f"element {ctx.element!r} uses the operator {op!r}")
            parts += [_OPS[op], arg]
        return " ".join(parts)

    def call(self, node, ctx: _Ctx) -> str:
        name = node.function.reference
        args = node.arguments
        if name in self.clean and self.clean[name] in self.ltables:
            return self.lookup_nd(node, ctx)
        if name in self.clean and self.clean[name] in self.lookups_of:
            table = self.lookups_of[self.clean[name]]
            ctx.refs.add(self.clean[name])
            return f"fn.lookup({self.expr(args[0], ctx)}, *L[{table}])"
        if name == "elmcount" and len(args) == 1 and self.sm is not None:
            range_ = self._range_named(getattr(args[0], "reference", ""))
            if range_ is not None:
                return repr(float(len(self.ranges[range_])))
        if name in ("sum", "prod", "vmin", "vmax") and len(args) == 1:
            return self.reduce(name, args[0], ctx)
        if name == "vector_select" and len(args) == 5:
            return self.vector_select(args, ctx)
        if name == "invert_matrix" and len(args) == 2:
            return self.invert(args[0], ctx)
        if name == "active_initial":
            return self.expr(args[1] if ctx.phase == "init" else args[0], ctx)
        if name in ("step", "pulse", "pulse_train", "Xpulse"):
            ctx.refs.add("time")
            ctx.refs.add("time_step")
        if name in ("ramp", "Xramp"):
            ctx.refs.add("time")
        code = [self.expr(a, ctx) for a in args]
        if name in _UNARY and len(code) == 1:
            return f"{_UNARY[name]}({code[0]})"
        if name in _BINARY and len(code) == 2:
            return f"{_BINARY[name]}({code[0]}, {code[1]})"
        match name, len(code):
            case "if_then_else", 3:
                return f"fn.if_then_else({', '.join(code)})"
            case "xidz", 3:
                return f"fn.xidz({', '.join(code)})"
            case "log", 2:
                return f"(np.log({code[0]}) / np.log({code[1]}))"
            case "pi", 0:
                return "np.pi"
            case "step", 2:
                return f"fn.step(time, v_time_step, {code[0]}, {code[1]})"
            case "ramp", 3:
                return f"fn.ramp(time, {', '.join(code)})"
            case "Xramp", 2:
                return f"fn.ramp(time, {', '.join(code)})"
            case "pulse", 2:
                return f"fn.pulse(time, v_time_step, {code[0]}, {code[1]})"
            case "Xpulse", 2:
                return (f"fn.pulse(time, v_time_step, {code[0]}, "
                        f"magnitude={code[1]})")
            case "pulse_train", 4:
                return f"fn.pulse_train(time, v_time_step, {', '.join(code)})"
        raise UnsupportedConstructError(
            f"element {ctx.element!r} calls the function {name.upper()!r} "
            f"with {len(code)} argument(s), which the ensemble engine does "
            "not support yet")

    def lookup_nd(self, node, ctx: _Ctx) -> str:
        """A call of a subscripted lookup: one table per element, sharing
        the x values."""
        name = node.function.reference
        py = self.clean[name]
        xs, ys, kind, dims, coords = self.ltables[py]
        subs = node.function.subscripts
        if len(node.arguments) != 1 or not subs:
            raise UnsupportedConstructError(
                f"element {ctx.element!r} calls the subscripted lookup "
                f"{name!r} without its subscripts")
        ctx.refs.add(py)
        table = self.align(self.const(ys), name, dims, coords,
                           list(subs.subscripts), ctx)
        if np.ndim(xs) > 1:  # one table per element
            xs_code = self.align(self.const(xs), name, dims, coords,
                                 list(subs.subscripts), ctx)
        else:
            xs_code = self.const(xs)
        x = self.expr(node.arguments[0], ctx)
        return f"fn.lookup_nd({x}, {xs_code}, {table}, {kind!r})"

    def invert(self, arg, ctx: _Ctx) -> str:
        """INVERT MATRIX: the inverse over the last two subscripts (as
        PySD's ``invert_matrix``), for a reference subscripted exactly by
        the equation's ranges."""
        names = [n for n, _ in ctx.axes]
        subs = (list(arg.subscripts.subscripts) if isinstance(
            arg, ae.ReferenceStructure) and arg.subscripts else None)
        if (subs != names or len(names) < 2
                or len(ctx.axes[-1][1]) != len(ctx.axes[-2][1])):
            raise UnsupportedConstructError(
                f"element {ctx.element!r}: INVERT MATRIX is supported on a "
                "variable subscripted by the equation's own ranges, square "
                "in the last two")
        return f"np.linalg.inv(fn.bcast({self.expr(arg, ctx)}, {ctx.tail}))"

    def table(self, lookups) -> int:
        xs = np.asarray(lookups.x, dtype=float)
        ys = np.asarray(lookups.y, dtype=float)
        kind = lookups.type
        if kind not in ("interpolate", "hold_backward", "extrapolate"):
            raise UnsupportedConstructError(
                f"lookup type {kind!r} is not supported; supported: "
                "'interpolate', 'hold_backward', 'extrapolate'")
        self.tables.append((xs, ys, kind))
        return len(self.tables) - 1

    # -- stateful functions
    def slot(self, node, ctx: _Ctx) -> str:
        key = id(node)
        if key not in self.slots:
            self.slots[key] = self.new_slot(node, ctx)
        slot = self.slots[key]
        ctx.refs |= self.slot_value_refs[key]
        if ctx.phase == "init":
            ctx.refs |= self.slot_init_refs[key]
            ctx.pre.extend(slot.init_code)
        return slot.value

    def new_slot(self, node, ctx: _Ctx) -> Slot:
        i = next(self.counter)
        s = f"s{i}"
        kind = type(node).__name__
        if any(name.endswith("!") for name, _ in ctx.axes):
            raise UnsupportedConstructError(
                f"element {ctx.element!r} uses a stateful function inside "
                "SUM/PROD/VMIN/VMAX")
        tail = f", {ctx.tail}" if ctx.axes else ""

        def code(arg, phase):
            sub = _Ctx(ctx.element, phase, self, axes=ctx.axes)
            text = self.expr(arg, sub)
            return text, sub

        def init_code(arg):
            sub = _Ctx(ctx.element, "init", self, axes=ctx.axes)
            text = self.expr(arg, sub)
            return text, sub

        pre: list[str] = []
        init_refs: set = set()
        value_refs: set = set()
        upd_refs: set = set()

        def args(*names):
            """Compile arguments for the step phase (update and value)."""
            out = []
            for name in names:
                text, sub = code(getattr(node, name), "step")
                upd_refs.update(sub.refs)
                out.append(text)
            return out

        def inits(*names):
            out = []
            for name in names:
                text, sub = init_code(getattr(node, name))
                pre.extend(sub.pre)
                init_refs.update(sub.refs)
                out.append(text)
            return out

        if kind == "IntegStructure":
            flow, = args("flow")
            init, = inits("initial")
            new = f"s{i} + ({flow}) * v_time_step"
            if node.non_negative:
                new = f"np.maximum({new}, 0.0)"
            slot_kind = "nninteg" if node.non_negative else "integ"
            init_lines = [f"{s} = fn.full({init}, n{tail})"]
            update = [f"n{i} = {new}"]
            value = s
            upd_refs.add("time_step")
        elif kind in ("SmoothStructure", "SmoothNStructure"):
            inp, time_ = args("input", "smooth_time")
            init, order = inits("initial", "order")
            slot_kind = "smooth"
            init_lines = [f"o{i} = _order({order})",
                          f"{s} = np.stack([fn.full({init}, n{tail})] * o{i})",
                          f"O[{i}] = o{i}"]
            update = [f"t{i} = np.roll({s}, 1, axis=0)",
                      f"t{i}[0] = {inp}",
                      f"n{i} = {s} + (t{i} - {s}) * O[{i}] / ({time_}) * v_time_step"]
            value = f"{s}[-1]"
            upd_refs.add("time_step")
        elif kind in ("DelayStructure", "DelayNStructure"):
            inp, time_ = args("input", "delay_time")
            init, order, dtime = inits("initial", "order", "delay_time")
            variable = kind == "DelayNStructure"
            slot_kind = "delayn" if variable else "delay"
            init_lines = [
                f"o{i} = _delay_order({order}, {dtime}, v_time_step)",
                f"{s} = np.stack([fn.full(({init}) * ({dtime}), n{tail})] * o{i})",
                f"O[{i}] = o{i}"]
            if variable:
                init_lines += [
                    f"T{i} = np.stack([fn.full({dtime}, n{tail})] * o{i})",
                    f"{s} = np.concatenate([{s}, T{i}])"]
                update = [
                    f"o{i} = O[{i}]",
                    f"T{i} = np.roll({s}[o{i}:], 1, axis=0)",
                    f"T{i}[0] = {time_}",
                    f"f{i} = {s}[:o{i}] / T{i}",
                    f"g{i} = np.roll(f{i}, 1, axis=0)",
                    f"g{i}[0] = {inp}",
                    f"n{i} = np.concatenate([{s}[:o{i}] + (g{i} - f{i}) * o{i} "
                    f"* v_time_step, T{i}])"]
                value = f"({s}[O[{i}] - 1] / {s}[O[{i}]])"
            else:
                update = [
                    f"f{i} = {s} / ({time_})",
                    f"g{i} = np.roll(f{i}, 1, axis=0)",
                    f"g{i}[0] = {inp}",
                    f"n{i} = {s} + (g{i} - f{i}) * O[{i}] * v_time_step"]
                dvalue, sub = code(node.delay_time, "step")
                value_refs.update(sub.refs)
                value = f"({s}[-1] / ({dvalue}))"
            init_refs.add("time_step")
            upd_refs.add("time_step")
        elif kind == "DelayFixedStructure":
            inp, = args("input")
            init, dtime = inits("initial", "delay_time")
            slot_kind = "delayfixed"
            init_lines = [
                f"o{i} = _fixed_order({dtime}, v_time_step)",
                f"{s} = np.concatenate([np.zeros((1, n) + {ctx.tail}), "
                f"np.stack([fn.full({init}, n{tail})] * o{i})])",
                f"O[{i}] = o{i}"]
            # row 0 holds the pointer; rows 1.. the pipe
            update = [
                f"n{i} = {s}.copy()",
                f"p{i} = int({s}[0].flat[0])",
                f"n{i}[1 + p{i}] = {inp}",
                f"n{i}[0] = (p{i} + 1) % O[{i}]"]
            value = f"{s}[1 + int({s}[0].flat[0])]"
            init_refs.add("time_step")
        elif kind == "TrendStructure":
            inp, avg = args("input", "average_time")
            init_in, init_avg, init_trend = inits(
                "input", "average_time", "initial_trend")
            slot_kind = "trend"
            init_lines = [f"{s} = fn.full(({init_in}) / (1 + ({init_trend}) "
                          f"* ({init_avg})), n{tail})"]
            update = [f"n{i} = {s} + (({inp}) - {s}) / ({avg}) * v_time_step"]
            upd_refs.add("time_step")
            value = f"fn.zidz(({inp}) - {s}, ({avg}) * np.abs({s}))"
            value_refs.update(upd_refs - {"time_step"})
        elif kind == "ForecastStructure":
            inp, avg, hor = args("input", "average_time", "horizon")
            init_in, init_trend = inits("input", "initial_trend")
            slot_kind = "forecast"
            init_lines = [f"{s} = fn.full(({init_in}) / (1 + ({init_trend})), n{tail})"]
            update = [f"n{i} = {s} + (({inp}) - {s}) / ({avg}) * v_time_step"]
            upd_refs.add("time_step")
            value = (f"(({inp}) * (1 + fn.zidz(({inp}) - {s}, ({avg}) * {s}) "
                     f"* ({hor})))")
            value_refs.update(upd_refs - {"time_step"})
        elif kind == "InitialStructure":
            init, = inits("initial")
            slot_kind = "initial"
            init_lines = [f"{s} = fn.full({init}, n{tail})"]
            update = [f"n{i} = {s}"]
            value = s
        elif kind == "SampleIfTrueStructure":
            cond, inp = args("condition", "input")
            init, = inits("initial")
            slot_kind = "sample"
            init_lines = [f"{s} = fn.full({init}, n{tail})"]
            update = [f"n{i} = np.where({cond}, {inp}, {s}) + 0.0 * {s}"]
            value = f"np.where({cond}, {inp}, {s})"
            value_refs.update(upd_refs)
            # at initialisation the value needs the condition and input too
            c_init, c_sub = init_code(node.condition)
            i_init, i_sub = init_code(node.input)
            init_refs.update(c_sub.refs | i_sub.refs)
        else:  # pragma: no cover - guarded by _SLOT_TYPES
            raise UnsupportedConstructError(f"{kind} is not supported")
        self.slot_init_refs[id(node)] = frozenset(init_refs | value_refs)
        self.slot_value_refs[id(node)] = frozenset(value_refs)
        return Slot(index=i, kind=slot_kind, element=ctx.element, value=value,
                    init_code=tuple(pre + init_lines), update_code=tuple(update),
                    update_refs=frozenset(upd_refs))


_SLOT_TYPES = {"IntegStructure", "SmoothStructure", "SmoothNStructure",
               "DelayStructure", "DelayNStructure", "DelayFixedStructure",
               "TrendStructure", "ForecastStructure", "InitialStructure",
               "SampleIfTrueStructure"}


def _describe(node) -> str:
    name = type(node).__name__.replace("Structure", "")
    words = {"AllocateAvailable": "ALLOCATE AVAILABLE",
             "AllocateByPriority": "ALLOCATE BY PRIORITY",
             "GetLookups": "GET LOOKUPS", "GetData": "GET DATA",
             "GetConstants": "GET CONSTANTS", "Data": "a data variable",
             "SubscriptsReference": "subscripts"}
    return words.get(name, name)


def compile_model(path: str | Path, *, subscripts: bool = False,
                  cache: bool = True) -> Program:
    """Compile a Vensim model for vectorised simulation.

    Parameters
    ----------
    path : str or Path
        The ``.mdl`` file.
    subscripts : bool, optional
        Compile subscripted models (values get one array axis per
        subscript range after the run axis). ``False`` (the default, for
        consumers that need scalar programs, such as loop analysis) raises
        :class:`UnsupportedConstructError` for models with subscript
        ranges.
    cache : bool, optional
        Reuse the program compiled earlier from the same file contents
        (kept under ``<sdrev cache>/programs``, keyed by the file's hash,
        its path, sdrev's compiler source and the PySD and numpy
        versions). Models that read other files (GET XLS, data, external
        subscripts) are always compiled afresh.

    Returns
    -------
    Program

    Raises
    ------
    ModelParseError
        If PySD cannot parse the file.
    UnsupportedConstructError
        If the model uses something the engine cannot vectorise; the
        message names the construct and the element.
    """
    path = Path(path).resolve()
    if not cache:
        return _compile(path, subscripts)
    import pickle

    target = _cache_entry(path, subscripts)
    if target is None:
        return _compile(path, subscripts)
    try:
        with open(target, "rb") as handle:
            return pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError,
            ImportError, TypeError, ValueError):
        pass  # absent or unreadable: compile and store
    program = _compile(path, subscripts)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as handle:
            pickle.dump(program, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, target)
    except OSError:
        pass  # a read-only cache only costs the next compile
    return program


#: Vensim's functions that read other files (data, constants, lookups,
#: subscript ranges): a model using them depends on more than its own file,
#: so its program is not cached.
_EXTERNAL = re.compile(r"\bGET[ _]+(XLS|DIRECT|123|DATA|VDF)", re.IGNORECASE)


def _cache_entry(path: Path, subscripts: bool) -> Path | None:
    """Cache file of a compiled program, or ``None`` when not cacheable."""
    import hashlib

    from sdrev.translate import PYSD_VERSION, cache_root

    try:
        data = path.read_bytes()
    except OSError:
        return None  # let the parser report it
    if _EXTERNAL.search(data.decode("utf-8", errors="replace")):
        return None
    digest = hashlib.sha256(data)
    here = Path(__file__).parent
    for source in ("compile.py", "functions.py"):
        digest.update((here / source).read_bytes())
    digest.update(f"|{path}|{subscripts}|{PYSD_VERSION}|{np.__version__}"
                  .encode())
    return cache_root() / "programs" / f"{path.stem[:40]}-{digest.hexdigest()[:24]}.pkl"


def _compile(path: Path, subscripts: bool) -> Program:
    """Compile without the cache (see :func:`compile_model`)."""
    model = abstract_model(path)
    section = model.sections[0]
    if len(model.sections) > 1:
        section = _expand_macros(section, model.sections[1:], path)
    if section.subscripts and not subscripts:
        raise UnsupportedConstructError(
            f"{path.name} defines subscript ranges; compile it with "
            "subscripts=True (loop analysis needs scalar models)")
    namespace, clean = python_names(section)
    constants: dict = {}
    limits: dict[str, tuple] = {}
    lookups_of: dict[str, int] = {}
    manager = subscript_manager(section, path.parent) if section.subscripts else None
    builder = _Builder(clean, lookups_of, manager)
    externals = _externals(path, section)
    elements = []
    for element in section.elements:
        py = namespace[element.name]
        comps = element.components
        if not any(c.subscripts and c.subscripts[0] for c in comps):
            if len(comps) != 1:
                raise UnsupportedConstructError(
                    f"element {element.name!r} has {len(comps)} equations "
                    "without subscripts")
            comp = _external_scalar(comps[0], externals.get(py, {}),
                                    element.name)
            if comp.type == "Lookup" and isinstance(comp.ast, _Series):
                builder.tables.append((comp.ast.x, comp.ast.values,
                                       comp.ast.interp))
                lookups_of[py] = len(builder.tables) - 1
                continue
            if comp.type == "Lookup":
                if not isinstance(comp.ast, ae.LookupsStructure):
                    raise UnsupportedConstructError(
                        f"element {element.name!r} uses "
                        f"{_describe(comp.ast)}, which the ensemble engine "
                        "does not support yet")
                lookups_of[py] = builder.table(comp.ast)
                continue
            if comp.type not in ("Auxiliary", "Constant") and not (
                    comp.type == "Data" and isinstance(comp.ast, _Series)):
                raise UnsupportedConstructError(
                    f"element {element.name!r} is of type {comp.type!r} "
                    "(supported: Auxiliary, Constant, Lookup, external "
                    "Data)")
            if isinstance(comp.ast, (int, float)) and not isinstance(comp.ast, bool):
                constants[py] = float(comp.ast)
                lo, hi = (tuple(element.limits) + (None, None))[:2]
                limits[py] = (lo, hi)
            elements.append((py, comp.ast, None))
            continue
        if all(c.type == "Lookup" for c in comps):
            builder.ltables[py] = _subscripted_lookup(
                builder, element, py, externals.get(py, {}))
            continue
        layout = _layout(builder, element, py)
        comps = _external_parts(element, comps, layout, builder.dims[py],
                                builder.coords[py], externals.get(py, {}))
        for comp in comps:
            if comp.type not in ("Auxiliary", "Constant") and not (
                    comp.type == "Data" and isinstance(comp.ast, _Series)):
                raise UnsupportedConstructError(
                    f"element {element.name!r} is a subscripted "
                    f"{comp.type!r}; the ensemble engine supports subscripted "
                    "auxiliaries, constants, stocks, lookups and external "
                    "data")
        if all(_numeric(c.ast) for c in comps):
            full = np.full(layout.shape, np.nan)
            for comp, part in zip(comps, layout.parts):
                value = _fit(np.asarray(comp.ast, dtype=float), part, element.name)
                region = fn.region(value[None], part.fixed, part.shape)[0]
                full[part.target] = region[part.source]
            constants[py] = full[None]
            lo, hi = (tuple(element.limits) + (None, None))[:2]
            limits[py] = (lo, hi)
        elements.append((py, comps, layout))
    init: dict[str, Equation] = {}
    step: dict[str, Equation] = {}
    stateful = set()
    for py, ast, layout in elements:
        for phase, target in (("step", step), ("init", init)):
            before = len(builder.slots)
            if layout is None:
                ctx = _Ctx(py, phase, builder)
                text = builder.expr(ast, ctx)
                refs, pre = ctx.refs, ctx.pre
                asts = [ast]
            else:
                text, refs, pre = _compile_subscripted(builder, py, ast,
                                                       layout, phase)
                asts = [c.ast for c in ast]
            target[py] = Equation(pre=tuple(pre) if phase == "init" else (),
                                  expr=text, refs=frozenset(refs))
            if len(builder.slots) > before or any(
                    type(a).__name__ in _SLOT_TYPES for a in asts):
                stateful.add(py)
    for name in CONTROL:
        if name not in step:
            raise UnsupportedConstructError(
                f"{path.name} does not define {name.upper()}")
    slots = tuple(sorted(builder.slots.values(), key=lambda s: s.index))
    return Program(path=path, names=dict(namespace), constants=constants,
                   limits=limits, stateful=frozenset(stateful), init=init,
                   step=step, slots=slots, lookups=tuple(builder.tables),
                   dims=dict(builder.dims), coords=dict(builder.coords),
                   arrays=tuple(builder.arrays))


# ------------------------------------------------------------------ macros

def _map_tree(node, func):
    """A syntax tree with ``func`` applied top-down: where ``func`` returns
    a different object it replaces the node (and its subtree); every other
    structure is copied, so no node is shared with the original tree."""
    import dataclasses

    new = func(node)
    if new is not node:
        return new
    if isinstance(node, list):
        return [_map_tree(item, func) for item in node]
    if isinstance(node, tuple) and not hasattr(node, "_fields"):
        return tuple(_map_tree(item, func) for item in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return dataclasses.replace(node, **{
            f.name: _map_tree(getattr(node, f.name), func)
            for f in dataclasses.fields(node) if f.init})
    return node


def _clean(name: str) -> str:
    """PySD's form of a name in references (lower case, ``_`` for spaces)."""
    return name.lower().replace(" ", "_")


def _expand_macros(section, macros, path: Path):
    """The main section with every macro call expanded in place.

    Each call gets its own copy of the macro's elements (named ``<macro>
    <k> <element>``, with their own state), its parameters become
    elements equal to the call's arguments, and the call becomes a
    reference to the copy of the macro's output element, as Vensim (and
    PySD, one ``Macro`` object per call) evaluates it.
    """
    import dataclasses

    from sdrev.translate import abstract_model_types

    AbstractElement, AbstractComponent = abstract_model_types()
    by_name = {_clean(m.name): m for m in macros}
    for macro in macros:
        if macro.returns:
            raise UnsupportedConstructError(
                f"{path.name}: macro {macro.name!r} has more than one output; "
                "such macros run through the PySD fallback")
    taken = {_clean(e.name) for e in section.elements}
    added: list = []
    counter = itertools.count(1)

    def expand(tree, host: str, subscripted: bool, depth: int):
        def visit(node):
            if not (isinstance(node, ae.CallStructure)
                    and isinstance(node.function, ae.ReferenceStructure)
                    and node.function.reference in by_name):
                return node
            macro = by_name[node.function.reference]
            if subscripted:
                raise UnsupportedConstructError(
                    f"element {host!r} calls the macro {macro.name!r} in a "
                    "subscripted equation; such models run through the PySD "
                    "fallback")
            if depth > 20:
                raise UnsupportedConstructError(
                    f"macro {macro.name!r} calls itself")
            if len(node.arguments) != len(macro.params):
                raise UnsupportedConstructError(
                    f"element {host!r} calls the macro {macro.name!r} with "
                    f"{len(node.arguments)} argument(s); it takes "
                    f"{len(macro.params)}")
            args = [expand(a, host, subscripted, depth) for a in node.arguments]
            prefix = f"{macro.name.replace('_', ' ')} {next(counter)}"
            rename = {_clean(p): _clean(f"{prefix} {p}") for p in macro.params}
            rename.update({_clean(e.name): _clean(f"{prefix} {e.name}")
                           for e in macro.elements})
            clash = set(rename.values()) & taken
            if clash or _clean(macro.name) not in rename:
                raise UnsupportedConstructError(
                    f"{path.name}: cannot expand the macro {macro.name!r} "
                    "inline (name clash or no output element)")
            taken.update(rename.values())
            for param, arg in zip(macro.params, args):
                added.append(AbstractElement(
                    name=f"{prefix} {param}",
                    components=[AbstractComponent(([], []), arg)]))

            def renamed(item):
                if (isinstance(item, ae.ReferenceStructure)
                        and item.reference in rename):
                    return dataclasses.replace(
                        item, reference=rename[item.reference],
                        subscripts=_map_tree(item.subscripts, lambda x: x))
                return item

            for element in macro.elements:
                if any(c.subscripts[0] for c in element.components):
                    raise UnsupportedConstructError(
                        f"macro {macro.name!r} has subscripted elements")
                comps = [dataclasses.replace(c, ast=expand(
                    _map_tree(c.ast, renamed), host, False, depth + 1))
                    for c in element.components]
                added.append(dataclasses.replace(
                    element, name=f"{prefix} {element.name}", components=comps))
            return ae.ReferenceStructure(rename[_clean(macro.name)], None)

        return _map_tree(tree, visit)

    elements = []
    for element in section.elements:
        subscripted = any(c.subscripts[0] for c in element.components)
        elements.append(dataclasses.replace(element, components=[
            dataclasses.replace(c, ast=expand(c.ast, element.name,
                                              subscripted, 0))
            for c in element.components]))
    return dataclasses.replace(section, elements=elements + added)


# ------------------------------------------------------------ external data

@dataclass(frozen=True)
class _Series:
    """Values tabulated over x (lookups) or time (data), loaded by PySD.

    ``values`` has shape ``(len(x), *ranged sizes)``.
    """

    x: np.ndarray
    values: np.ndarray
    interp: str


_EXTERNAL_TYPES = {"GetConstantsStructure": "constant",
                   "GetLookupsStructure": "lookup", "GetDataStructure": "data"}


def _externals(path: Path, section) -> dict:
    """Values of the model's external constants, lookups and data as PySD
    loads them (empty, without building the PySD model, when none)."""
    if not any(type(c.ast).__name__ in _EXTERNAL_TYPES
               for e in section.elements for c in e.components):
        return {}
    from sdrev.translate import external_values

    return external_values(path)


def _external(values: dict, ast, name: str):
    kind = _EXTERNAL_TYPES[type(ast).__name__]
    if kind not in values:
        raise UnsupportedConstructError(
            f"element {name!r}: PySD loaded no external {kind} for it")
    return values[kind]


def _external_scalar(comp, values: dict, name: str):
    """A scalar component with its external values put in its syntax tree."""
    import dataclasses

    if type(comp.ast).__name__ not in _EXTERNAL_TYPES:
        return comp
    ext = _external(values, comp.ast, name)
    if ext.dims:
        raise UnsupportedConstructError(
            "an element without subscripts reads subscripted external data")
    if ext.kind == "constant":
        return dataclasses.replace(comp, ast=float(ext.values))
    return dataclasses.replace(comp, ast=_Series(
        np.asarray(ext.x, dtype=float), np.asarray(ext.values, dtype=float),
        ext.interp or "interpolate"))


def _aligned(ext, dims, coords, name: str, lead: int) -> np.ndarray:
    """External values reordered to the element's coordinates (after
    ``lead`` leading axes: 1 for lookups and data)."""
    values = np.asarray(ext.values, dtype=float)
    if len(ext.coords) != len(coords):
        raise UnsupportedConstructError(
            f"element {name!r}: the external data has dimensions "
            f"{list(ext.dims)}, the element {list(dims)}")
    for j, (own, theirs) in enumerate(zip(coords, ext.coords)):
        try:
            index = [theirs.index(e) for e in own]
        except ValueError:
            raise UnsupportedConstructError(
                f"element {name!r}: the external data does not cover the "
                f"elements of {dims[j]!r}") from None
        values = np.take(values, index, axis=lead + j)
    return values


def _external_parts(element, comps, layout, dims, coords, values: dict):
    """Components with their external constants (arrays) and data
    (:class:`_Series`) put in their syntax trees, over their regions."""
    import dataclasses

    out = []
    for comp, part in zip(comps, layout.parts):
        if type(comp.ast).__name__ not in _EXTERNAL_TYPES:
            out.append(comp)
            continue
        ext = _external(values, comp.ast, element.name)
        lead = 0 if ext.kind == "constant" else 1
        full = _aligned(ext, dims, coords, element.name, lead)
        head = full.shape[:lead]
        region = np.full(head + part.shape, np.nan)
        index = (slice(None),) * lead
        region[index + part.source] = full[index + part.target]
        ranged = tuple(len(e) for _, e in part.axes)
        region = region.reshape(head + ranged)
        if ext.kind == "constant":
            out.append(dataclasses.replace(comp, ast=region))
        elif ext.kind == "data":
            out.append(dataclasses.replace(comp, ast=_Series(
                np.asarray(ext.x, dtype=float), region,
                ext.interp or "interpolate")))
        else:
            raise UnsupportedConstructError(
                f"element {element.name!r} mixes lookups with other "
                "equations")
    return out


def _subscripted_lookup(builder: _Builder, element, py: str, values: dict):
    """``(xs, ys, kind, dims, coords)`` of a subscripted lookup: tables
    from the model (one per equation) and from external files, sharing
    their x values."""
    import warnings

    sm = builder.sm
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dims = sm.make_merge_list([c.subscripts[0] for c in element.components],
                                  element.name)
    if any(d is None for d in dims):
        raise UnsupportedConstructError(
            f"element {element.name!r}: cannot merge the subscripts of its "
            "equations into ranges")
    coords = tuple(tuple(sm.subscripts[d]) for d in dims)
    shape = tuple(len(c) for c in coords)
    tables, kinds = [], set()  # (x, y, cells) with cells a boolean mask
    for comp in element.components:
        if comp.subscripts[1]:
            raise UnsupportedConstructError(
                f"element {element.name!r}: a lookup defined with :EXCEPT:")
        if isinstance(comp.ast, ae.LookupsStructure):
            index = []
            for j, sub in enumerate(comp.subscripts[0]):
                elems = builder.ranges.get(sub, [sub])
                try:
                    index.append([coords[j].index(e) for e in elems])
                except ValueError:
                    raise UnsupportedConstructError(
                        f"element {element.name!r}: subscript {sub!r} is "
                        f"not in range {dims[j]!r}") from None
            cells = np.zeros(shape, dtype=bool)
            cells[np.ix_(*index)] = True
            x = np.asarray(comp.ast.x, dtype=float)
            y = np.asarray(comp.ast.y, dtype=float)
            tables.append((x, np.broadcast_to(
                y.reshape((len(x),) + (1,) * len(shape)), (len(x),) + shape),
                cells))
            kinds.add(comp.ast.type)
        elif type(comp.ast).__name__ == "GetLookupsStructure":
            ext = _external(values, comp.ast, element.name)
            full = _aligned(ext, dims, coords, element.name, 1)
            tables.append((np.asarray(ext.x, dtype=float), full,
                           ~np.all(np.isnan(full), axis=0)))
            kinds.add("interpolate")
        else:
            raise UnsupportedConstructError(
                f"element {element.name!r} uses {_describe(comp.ast)}, "
                "which the ensemble engine does not support yet")
    kind = kinds.pop() if len(kinds) == 1 else None
    if kind not in ("interpolate", "hold_backward", "extrapolate"):
        raise UnsupportedConstructError(
            f"element {element.name!r}: lookup type(s) {sorted(kinds)} not "
            "supported; supported: one of 'interpolate', 'hold_backward', "
            "'extrapolate'")
    if all(np.array_equal(x, tables[0][0]) for x, _, _ in tables):
        xs = tables[0][0]
        ys = np.full((len(xs),) + shape, np.nan)
        for _, y, cells in tables:
            ys[:, cells] = y[:, cells]
        return xs, ys, kind, tuple(dims), coords
    if kind == "extrapolate":
        raise UnsupportedConstructError(
            f"element {element.name!r}: extrapolating lookup tables with "
            "different x values")
    # one table per element: shorter tables repeat their last point
    n = max(len(x) for x, _, _ in tables)
    xs = np.full((n,) + shape, np.nan)
    ys = np.full((n,) + shape, np.nan)
    for x, y, cells in tables:
        pad = n - len(x)
        xp = np.concatenate([x, np.repeat(x[-1:], pad)])
        yp = np.concatenate([y, np.repeat(y[-1:], pad, axis=0)])
        xs[:, cells] = np.broadcast_to(
            xp.reshape((n,) + (1,) * len(shape)), (n,) + shape)[:, cells]
        ys[:, cells] = yp[:, cells]
    return xs, ys, kind, tuple(dims), coords


@dataclass(frozen=True)
class _Part:
    """Where one equation of a subscripted element writes its values."""

    axes: tuple      # (range, elements) of each ranged position
    fixed: tuple     # positions given as a single element
    shape: tuple     # region shape, one entry per position
    target: tuple    # index arrays into the element's array (kept cells)
    source: tuple    # index arrays into the region (kept cells)
    whole: bool      # the region is the whole element, in order


@dataclass(frozen=True)
class _Layout:
    shape: tuple
    parts: tuple


def _fit(value: np.ndarray, part: _Part, name: str) -> np.ndarray:
    """A constant's values shaped like the ranged subscripts of its part."""
    ranged = tuple(len(e) for _, e in part.axes)
    if value.ndim == 0:
        return np.broadcast_to(value, ranged)
    if value.shape != ranged and value.size == int(np.prod(ranged)):
        return value.reshape(ranged)  # tabbed arrays come flat
    if value.shape != ranged:
        raise UnsupportedConstructError(
            f"element {name!r}: {value.size} values do not fit its "
            f"subscripts {[n for n, _ in part.axes]}")
    return value


def _numeric(ast) -> bool:
    return isinstance(ast, (int, float, np.ndarray)) and not isinstance(ast, bool)


def _layout(builder: _Builder, element, py: str) -> _Layout:
    """Dimensions of a subscripted element (as PySD merges them) and the
    region each of its equations defines."""
    import warnings

    sm = builder.sm
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dims = sm.make_merge_list([c.subscripts[0] for c in element.components],
                                  element.name)
    if any(d is None for d in dims):
        raise UnsupportedConstructError(
            f"element {element.name!r}: cannot merge the subscripts of its "
            "equations into ranges")
    builder.ranges = dict(sm.subscripts)
    coords = tuple(tuple(sm.subscripts[d]) for d in dims)
    builder.dims[py] = tuple(dims)
    builder.coords[py] = coords
    shape = tuple(len(c) for c in coords)
    parts = []
    for comp in element.components:
        subs, excepts = comp.subscripts
        axes, fixed, lists = [], [], []
        for j, sub in enumerate(subs):
            if sub in builder.ranges:
                elems = tuple(builder.ranges[sub])
                axes.append((sub, elems))
            else:
                elems = (sub,)
                fixed.append(j)
            try:
                lists.append([coords[j].index(e) for e in elems])
            except ValueError:
                raise UnsupportedConstructError(
                    f"element {element.name!r}: subscript {sub!r} is not in "
                    f"range {dims[j]!r}") from None
        rshape = tuple(len(x) for x in lists)
        cells = np.indices(rshape).reshape(len(rshape), -1).T
        keep = np.ones(len(cells), dtype=bool)
        for ex in excepts:
            sets = [set(builder.ranges.get(e, [e])) for e in ex]
            hit = np.ones(len(cells), dtype=bool)
            for j, allowed in enumerate(sets):
                hit &= np.array([coords[j][lists[j][c]] in allowed
                                 for c in cells[:, j]])
            keep &= ~hit
        cells = cells[keep]
        target = tuple(np.array([lists[j][c] for c in cells[:, j]], dtype=int)
                       for j in range(len(rshape)))
        source = tuple(cells[:, j].copy() for j in range(len(rshape)))
        whole = (len(element.components) == 1 and not fixed and not excepts
                 and all(x == list(range(len(c))) for x, c in zip(lists, coords)))
        parts.append(_Part(tuple(axes), tuple(fixed), rshape, target, source,
                           whole))
    return _Layout(shape, tuple(parts))


def _compile_subscripted(builder: _Builder, py: str, comps, layout: _Layout,
                         phase: str):
    refs: set = set()
    pre: list = []
    pieces = []
    for comp, part in zip(comps, layout.parts):
        ctx = _Ctx(py, phase, builder, refs, pre, part.axes)
        text = builder.expr(comp.ast, ctx)
        if part.whole:
            return f"fn.bcast({text}, {layout.shape})", refs, pre
        where = builder.const((part.target, part.source))
        pieces.append(f"(fn.region({text}, {part.fixed}, {part.shape}), "
                      f"{where})")
    return (f"fn.assemble({layout.shape}, ({', '.join(pieces)},))", refs, pre)


# ----------------------------------------------------------- code generation

def _order(value) -> int:
    values = np.unique(np.asarray(value, dtype=float))
    if len(values) != 1:
        raise UnsupportedConstructError(
            "a SMOOTH N order differs between runs; it must be the same")
    return int(values[0])


def _delay_order(order, delay_time, dt) -> int:
    """Delay order as PySD sets it (reduced while order*dt > delay time)."""
    base = _order(order)
    orders = set()
    for d in np.asarray(delay_time, dtype=float).ravel():
        o = base
        while o * dt > d:
            o -= 1
        orders.add(o)
    if len(orders) != 1:
        raise UnsupportedConstructError(
            "a delay's effective order differs between runs (delay time "
            "below order * TIME STEP in some runs)")
    return orders.pop()


def _fixed_order(delay_time, dt) -> int:
    values = {round(max(d / dt, 1) + fn.SMALL_VENSIM)
              for d in np.asarray(delay_time, dtype=float).ravel()}
    if len(values) != 1:
        raise UnsupportedConstructError(
            "a DELAY FIXED time differs between runs; it must be the same")
    return values.pop()


def _toposort(equations: dict[str, Equation], roots, first=()) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name, trail):
        if name not in equations or state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join(trail[trail.index(name):] + [name])
            raise UnsupportedConstructError(
                f"simultaneous equations (algebraic loop): {cycle}")
        state[name] = 1
        for dep in sorted(equations[name].refs):
            visit(dep, trail + [name])
        state[name] = 2
        order.append(name)

    for name in list(first) + list(roots):
        visit(name, [])
    return order


def _static(step_eqs: dict, init_eqs: dict, stateful) -> set[str]:
    """Elements constant in time: computed once at initialisation."""
    static: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, eq in step_eqs.items():
            if name in static or name in stateful or name in CONTROL:
                continue
            if eq.expr.startswith("C["):
                continue  # already read from C
            if init_eqs[name].expr != eq.expr or "time" in eq.refs:
                continue
            if all(r in static or step_eqs.get(r, eq).expr.startswith("C[")
                   for r in eq.refs if r in step_eqs) and all(
                       r in step_eqs or r not in ("time",) for r in eq.refs):
                static.add(name)
                changed = True
    return static


def build_simulator(program: Program, outputs, overrides=()) -> Simulator:
    """Generate the init and step functions of ``program``.

    Parameters
    ----------
    program : Program
    outputs : sequence of str
        Python names of the variables to return at each time.
    overrides : iterable of str
        Python names of elements whose value comes from the constants
        dictionary ``C`` instead of their equation (varied parameters).

    Returns
    -------
    Simulator
    """
    outputs = tuple(outputs)
    overrides = set(overrides) | set(program.constants)
    bad = overrides & program.stateful
    if bad:
        raise UnsupportedConstructError(
            f"cannot set stateful variable(s) {sorted(bad)} per run; set "
            "the constants their initial values use instead")

    def read(k):
        if program.dims.get(k):
            shape = tuple(len(c) for c in program.coords[k])
            return f"fn.bcast(C[{k!r}], {shape})"
        return f"C[{k!r}]"

    def eqs(table):
        return {k: (Equation((), read(k), frozenset()) if k in overrides
                    else v) for k, v in table.items()}

    init_eqs = eqs(program.init)
    step_eqs = eqs(program.step)
    # 'time' depends on the initial time during initialisation
    init_eqs["time"] = Equation((), "float(np.min(v_initial_time))",
                                frozenset({"initial_time"}))
    init_order = _toposort(init_eqs, list(init_eqs), first=CONTROL)
    update_refs = set().union(*(s.update_refs for s in program.slots)) \
        if program.slots else set()
    step_roots = sorted(update_refs | set(outputs) | {"time_step"})
    step_eqs.pop("time", None)
    static = _static(step_eqs, init_eqs, program.stateful)
    for name in static:
        step_eqs[name] = Equation((), f"C[{name!r}]", frozenset())
    step_order = _toposort(step_eqs, step_roots)
    lines = ["def init(C, n):", "    O = {}"]
    for name in init_order:
        eq = init_eqs[name]
        lines += [f"    {p}" for p in eq.pre]
        target = "time" if name == "time" else f"v_{name}"
        lines.append(f"    {target} = {eq.expr}")
    state = ", ".join(f"s{s.index}" for s in program.slots)
    control = ", ".join(f"v_{c}" for c in CONTROL)
    hoisted = ", ".join(f"{k!r}: v_{k}" for k in sorted(static))
    lines.append(f"    return ({state}{',' if program.slots else ''}), "
                 f"({control}), O, {{{hoisted}}}")
    body = [f"v_{name} = {step_eqs[name].expr}" for name in step_order]
    for slot in program.slots:
        body += list(slot.update_code)
    reads = {f"v_{name}": step_eqs[name].expr for name in step_order
             if step_eqs[name].expr.startswith(("C[", "fn.bcast(C["))}
    body, hoisted = _hoist_invariants(body, reads)
    lines += ["", "def prepare(C):"]
    lines += [f"    {name} = {expr}" for name, expr in reads.items()]
    lines += [f"    {name} = {expr}" for name, expr in hoisted]
    lines.append("    return {" + ", ".join(f"{n!r}: {n}" for n, _ in hoisted)
                 + "}")
    lines += ["", "def step(S, C, time, O):"]
    if program.slots:
        lines.append(f"    ({state}{','}) = S")
    lines += [f"    {name} = C[{name!r}]" for name, _ in hoisted]
    lines += [f"    {line}" for line in body]
    new = ", ".join(f"n{s.index}" for s in program.slots)
    outs = ", ".join(f"v_{o}" for o in outputs)
    lines.append(f"    return ({new}{',' if program.slots else ''}), "
                 f"({outs}{',' if outputs else ''})")
    source = "\n".join(lines) + "\n"
    namespace = {"np": np, "fn": fn, "L": program.lookups, "K": program.arrays,
                 "_order": _order,
                 "_delay_order": _delay_order, "_fixed_order": _fixed_order}
    exec(compile(source, f"<sdrev ensemble {program.path.name}>", "exec"),
         namespace)
    shapes = {o: tuple(len(c) for c in program.coords[o])
              for o in outputs if program.dims.get(o)}
    return Simulator(outputs=outputs, source=source, init=namespace["init"],
                     step=namespace["step"], shapes=shapes,
                     prepare=namespace["prepare"], lookups=program.lookups,
                     subscripted=bool(program.dims))


#: calls whose value is constant in time when their arguments are
_PURE_CALLS = {"np.maximum", "np.minimum", "np.abs", "np.exp", "np.log",
               "np.sqrt", "np.power", "np.sin", "np.cos", "np.tan",
               "np.arctan", "np.tanh", "fn.xidz", "fn.zidz", "fn.integer",
               "fn.modulo", "fn.quantum", "fn.if_then_else", "fn.up"}


def _hoist_invariants(body: list[str], reads: dict) -> tuple[list[str], list]:
    """Move subexpressions constant in time out of the time step.

    ``reads`` are the step's names read from the constants (varied
    parameters and elements constant in time). Every maximal subexpression
    of the step built only from them and from numbers is computed once per
    chunk (``prepare``) and read as a local ``_h{i}`` in the step: the same
    operations in the same order, so results are bit-identical, with fewer
    array operations per step.
    """
    import ast as pyast

    invariant = set(reads)
    hoisted: list = []
    seen: dict = {}

    def hoist(node):
        if isinstance(node, (pyast.Name, pyast.Constant)):
            return node
        text = pyast.unparse(node)
        if text not in seen:
            seen[text] = f"_h{len(seen)}"
            hoisted.append((seen[text], text))
        return pyast.Name(id=seen[text], ctx=pyast.Load())

    def visit(node):
        if isinstance(node, pyast.Constant):
            return node, True
        if isinstance(node, pyast.Name):
            return node, node.id in invariant
        if isinstance(node, pyast.BinOp):
            (l, li), (r, ri) = visit(node.left), visit(node.right)
            new = pyast.BinOp(left=l, op=node.op, right=r)
            if li and ri:
                return new, True
            new.left = hoist(l) if li else l
            new.right = hoist(r) if ri else r
            return new, False
        if isinstance(node, pyast.UnaryOp):
            o, oi = visit(node.operand)
            return pyast.UnaryOp(op=node.op, operand=o), oi
        if isinstance(node, pyast.Call) and not node.keywords and not any(
                isinstance(a, pyast.Starred) for a in node.args):
            parts = [visit(a) for a in node.args]
            new = pyast.Call(func=node.func, args=[a for a, _ in parts],
                             keywords=[])
            if (pyast.unparse(node.func) in _PURE_CALLS
                    and all(i for _, i in parts)):
                return new, True
            new.args = [hoist(a) if i else a for a, i in parts]
            return new, False
        return node, False

    out = []
    for line in body:
        tree = pyast.parse(line)
        stmt = tree.body[0]
        if (isinstance(stmt, pyast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], pyast.Name)):
            value, inv = visit(stmt.value)
            if inv and not isinstance(value, (pyast.Name, pyast.Constant)):
                value = hoist(value)
            if inv:
                invariant.add(stmt.targets[0].id)
            stmt.value = value
            line = pyast.unparse(stmt)
        out.append(line)
    return out, hoisted


def _bang_subscripts(node) -> list[str]:
    """``Range!`` subscripts used anywhere inside a syntax tree."""
    out: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, ae.SubscriptsReferenceStructure):
            out += [s for s in item.subscripts if s.endswith("!")]
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif hasattr(item, "__dict__") and not isinstance(item, np.ndarray):
            stack.extend(reversed(list(vars(item).values())))
    return list(dict.fromkeys(out))
