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

This module holds the builder (syntax tree -> numpy expression),
:func:`compile_model` and its program cache; the other steps have their own
modules: :mod:`~sdrev.ensemble.program` (data model),
:mod:`~sdrev.ensemble.macros`, :mod:`~sdrev.ensemble.externals`,
:mod:`~sdrev.ensemble.layout` (subscript regions) and
:mod:`~sdrev.ensemble.codegen` (:func:`build_simulator`). ``CONTROL``,
:class:`Program`, :class:`Simulator`, :class:`UnsupportedConstructError` and
:func:`build_simulator` are importable from here too.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdrev.ensemble import functions as fn
from sdrev.ensemble.codegen import build_simulator
from sdrev.ensemble.externals import (_Series, _external_parts,
                                      _external_scalar, _externals,
                                      _subscripted_lookup)
from sdrev.ensemble.layout import _fit, _layout, _Layout, _numeric
from sdrev.ensemble.macros import _expand_macros
from sdrev.ensemble.program import (CONTROL, Equation, Program, Simulator, Slot,
                                    UnsupportedConstructError, _describe)
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


_UNARY = {"abs": "np.abs", "exp": "np.exp", "sin": "np.sin", "cos": "np.cos",
          "tan": "np.tan", "arcsin": "np.arcsin", "arccos": "np.arccos",
          "arctan": "np.arctan", "sinh": "np.sinh", "cosh": "np.cosh",
          "tanh": "np.tanh", "sqrt": "np.sqrt", "ln": "np.log",
          "integer": "fn.integer"}
_BINARY = {"min": "np.minimum", "max": "np.maximum", "power": "np.power",
           "modulo": "fn.modulo", "quantum": "fn.quantum", "zidz": "fn.zidz"}
_OPS = {"^": "**", "*": "*", "/": "/", "+": "+", "-": "-", "=": "==",
        "<>": "!=", ">=": ">=", ">": ">", "<=": "<=", "<": "<"}


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

    from sdrev import cache as store

    target = _cache_entry(path, subscripts)
    if target is None:
        return _compile(path, subscripts)
    key = store.usable_root()[1]
    try:
        # sealed with the user's cache key: a planted pickle is never loaded
        data = store.unseal(target.read_bytes(), key)
        if data is None:
            store.note_once(f"cache entry {target.name} failed its integrity "
                            "check; rebuilt")
        else:
            return pickle.loads(data)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError,
            ImportError, TypeError, ValueError):
        pass  # absent or unreadable: compile and store
    program = _compile(path, subscripts)
    try:
        store.private_dir(target.parent)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(store.seal(
            pickle.dumps(program, protocol=pickle.HIGHEST_PROTOCOL), key))
        os.replace(tmp, target)
    except OSError:
        pass  # a read-only cache only costs the next compile
    return program


#: Vensim's functions that read other files (data, constants, lookups,
#: subscript ranges): a model using them depends on more than its own file,
#: so its program is not cached.
_EXTERNAL = re.compile(r"\bGET[ _]+(XLS|DIRECT|123|DATA|VDF)", re.IGNORECASE)

#: Modules of this package whose source defines the compiled program (and
#: the code generated from it): a change to any of them invalidates every
#: cached program.
_COMPILER_SOURCES = ("program.py", "compile.py", "macros.py", "externals.py",
                     "layout.py", "codegen.py", "functions.py", "../xmile.py")


def _cache_entry(path: Path, subscripts: bool) -> Path | None:
    """Cache file of a compiled program, or ``None`` when not cacheable."""
    import hashlib

    from sdrev.cache import usable_root
    from sdrev.translate import PYSD_VERSION

    try:
        data = path.read_bytes()
    except OSError:
        return None  # let the parser report it
    if _EXTERNAL.search(data.decode("utf-8", errors="replace")):
        return None
    digest = hashlib.sha256(data)
    here = Path(__file__).parent
    for source in _COMPILER_SOURCES:
        digest.update((here / source).read_bytes())
    digest.update(f"|{path}|{subscripts}|{PYSD_VERSION}|{np.__version__}"
                  .encode())
    return usable_root()[0] / "programs" / f"{path.stem[:40]}-{digest.hexdigest()[:24]}.pkl"


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
