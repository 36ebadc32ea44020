"""Expression builder: PySD's syntax tree of one equation -> a numpy expression.

Each node is turned into a numpy expression over arrays with a leading run
axis, dispatched on the node's class (:data:`HANDLERS`, as PySD's own
builders are dispatched). Subscripted equations add one axis per
subscript range after the run axis, with PySD's dimension names;
references are aligned to the equation's ranges (by range, subrange or
positional mapping) and ``Range!`` axes are reduced by SUM/PROD/VMIN/VMAX.
Stateful functions become slots (:mod:`~sdrev.ensemble.slots`); external
values arrive as numbers, arrays or :class:`~sdrev.ensemble.externals.Series`
already put in the tree (:mod:`~sdrev.ensemble.externals`).

The builder collects what the generated code reads besides the model's
values: constant arrays ``K[i]``, lookup tables ``L[i]`` and slots.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sdrev.ensemble.arraycalls import LOOKUP_MODES, ArrayCalls, Context
from sdrev.ensemble.externals import Series
from sdrev.ensemble.layout import is_numeric
from sdrev.ensemble.noise import site_key
from sdrev.ensemble.program import Slot, UnsupportedConstructError, describe
from sdrev.ensemble.slots import (
    SLOT_TYPES,
    NpvStructure,
    PreviousStructure,
    build_slot,
)
from sdrev.translate import abstract_expressions as ae

__all__ = ["HANDLERS", "NOISE_CONSTANTS", "RANDOM_ARITY", "Builder", "Context"]

_UNARY = {"abs": "np.abs", "exp": "np.exp", "sin": "np.sin", "cos": "np.cos",
          "tan": "np.tan", "arcsin": "np.arcsin", "arccos": "np.arccos",
          "arctan": "np.arctan", "sinh": "np.sinh", "cosh": "np.cosh",
          "tanh": "np.tanh", "sqrt": "np.sqrt", "ln": "np.log",
          "integer": "fn.integer"}
_BINARY = {"min": "np.minimum", "max": "np.maximum", "power": "np.power",
           "modulo": "fn.modulo", "quantum": "fn.quantum", "zidz": "fn.zidz"}
#: Vensim's RANDOM functions: name -> number of arguments (the last is
#: Vensim's stream ID); drawn by :mod:`sdrev.ensemble.noise`
RANDOM_ARITY = {"random_0_1": 0, "random_uniform": 3, "random_normal": 5,
                "random_exponential": 5, "random_triangular": 6,
                "random_poisson": 6, "random_gamma": 6, "random_weibull": 6,
                "random_beta": 7, "random_binomial": 7,
                "random_negative_binomial": 7, "random_lookup": 6}
#: what a RANDOM call reads besides its arguments: the ensemble's seed, the
#: run's index (constants set per run, see ``NOISE_CONSTANTS``) and the
#: time step's index
NOISE_REFS = frozenset({"time", "initial_time", "time_step", "_noise_seed",
                        "_noise_run"})
#: Python names of the per-run constants a model with RANDOM calls reads
NOISE_CONSTANTS = ("_noise_seed", "_noise_run")
_OPS = {"^": "**", "*": "*", "/": "/", "+": "+", "-": "-", "=": "==",
        "<>": "!=", ">=": ">=", ">": ">", "<=": "<=", "<": "<"}


class Builder(ArrayCalls):
    """Turns syntax trees into numpy expressions; holds what they share.

    Parameters
    ----------
    clean : dict
        Model name -> Python name of every element.
    lookups_of : dict
        Python name of a lookup -> its table's index (filled by the driver).
    subscripts : SubscriptManager, optional
        PySD's subscripts of a subscripted model.
    """

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
        #: ``(table, kind)`` -> the same table read in another mode
        self.mode_tables: dict[tuple[int, str], int] = {}
        #: subscripted lookups: ``(xs, ys, kind, dims, coords)`` with ys of
        #: shape ``(len(xs), *sizes)``
        self.ltables: dict = {}
        self.slots: dict[tuple, Slot] = {}
        self.slot_init_refs: dict[tuple, frozenset] = {}
        self.slot_value_refs: dict[tuple, frozenset] = {}
        self.counter = itertools.count()
        #: ``(element, id(node))`` of each RANDOM call -> its key (the same
        #: in both phases, so a variable has one value per time step)
        self.noise_sites: dict[tuple, int] = {}

    # -- references
    def ref(self, name: str, ctx: Context) -> str:
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

    def expr(self, node, ctx: Context) -> str:
        """Numpy expression of a node, by the handler of its class."""
        for cls in type(node).__mro__:
            handler = HANDLERS.get(cls)
            if handler is not None:
                return handler(self, node, ctx)
        raise UnsupportedConstructError(
            f"element {ctx.element!r} uses {describe(node)}, which the "
            "ensemble engine does not support yet")

    def boolean(self, node, ctx: Context) -> str:
        return repr(float(node))

    def number(self, node, ctx: Context) -> str:
        value = float(node)
        if not np.isfinite(value):
            return "np.nan" if np.isnan(value) else (
                "np.inf" if value > 0 else "-np.inf")
        return repr(value)

    def reference(self, node, ctx: Context) -> str:
        if node.subscripts is not None or ctx.axes or (
                self.dims.get(self.clean.get(node.reference))):
            return self.subscripted_ref(node, ctx)
        return self.ref(node.reference, ctx)

    def game(self, node, ctx: Context) -> str:
        return self.expr(node.expression, ctx)

    def inline_lookup(self, node, ctx: Context) -> str:
        table = self.table(node.lookups)
        return f"fn.lookup({self.expr(node.argument, ctx)}, *L[{table}])"

    def series(self, node: Series, ctx: Context) -> str:
        ctx.refs.add("time")
        call = (f"fn.series(time, {self.const(node.x)}, "
                f"{self.const(node.values)}, {node.interp!r})")
        return f"{call}[None]" if ctx.axes else call

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

    def subscript_number(self, name: str, ctx: Context):
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

    def array(self, node: np.ndarray, ctx: Context) -> str:
        ranged = tuple(len(e) for n, e in ctx.axes if not n.endswith("!"))
        node = np.asarray(node, dtype=float)
        if node.shape != ranged and node.size == int(np.prod(ranged)):
            node = node.reshape(ranged)  # tabbed arrays come flat
        if node.shape != ranged or len(ranged) != len(ctx.axes):
            raise UnsupportedConstructError(
                f"element {ctx.element!r}: a constant array of shape "
                f"{node.shape} does not fit its subscripts")
        return self.const(node[None])

    def subscripted_ref(self, node, ctx: Context) -> str:
        code = self.ref(node.reference, ctx)
        if code == "time" or node.reference not in self.clean:
            return code  # time, or a subscript used as a number
        py = self.clean[node.reference]
        subs = list(node.subscripts.subscripts) if node.subscripts else []
        return self.align(code, node.reference, self.dims.get(py, ()),
                          self.coords.get(py, ()), subs, ctx)

    def align(self, code: str, reference: str, dims, coords, subs,
              ctx: Context) -> str:
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
        if not subs and set(dims) <= {name for name, _ in ctx.axes}:
            # XMILE's apply-to-all: an array named without subscripts in an
            # equation over its own dimensions is read element by element
            subs = list(dims)
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

    def match_axis(self, sub: str, ctx: Context, reference: str):
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

    def operation(self, node, ctx: Context) -> str:
        # a negative number stays bare, as PySD writes it: -2^2 is -(2^2)
        args = [repr(float(a)) if is_numeric(a) and not isinstance(a, np.ndarray)
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

    def call(self, node, ctx: Context) -> str:
        name = node.function.reference
        args = node.arguments
        if name in self.clean and self.clean[name] in self.ltables:
            return self.lookup_nd(node, ctx)
        if name in self.clean and self.clean[name] in self.lookups_of:
            table = self.lookups_of[self.clean[name]]
            ctx.refs.add(self.clean[name])
            return f"fn.lookup({self.expr(args[0], ctx)}, *L[{table}])"
        if name in LOOKUP_MODES and len(args) == 2:
            return self.lookup_mode(name, args, ctx)
        if name == "npv" and len(args) == 4:
            return self.slot(NpvStructure(*args), ctx)
        if name == "previous" and len(args) == 2:
            return self.slot(PreviousStructure(*args), ctx)
        if name == "elmcount" and len(args) == 1 and self.sm is not None:
            range_ = self._range_named(getattr(args[0], "reference", ""))
            if range_ is not None:
                return repr(float(len(self.ranges[range_])))
        if name in ("sum", "prod", "vmin", "vmax") and len(args) == 1:
            return self.reduce(name, args[0], ctx)
        if name in ("vmin_xmile", "vmax_xmile") and len(args) == 1:
            return self.reduce_all(name[:4], args[0], ctx)
        if name in ("mean", "size") and len(args) == 1:  # XMILE array builtins
            return self.reduce_all(name, args[0], ctx)
        if name == "vector_select" and len(args) == 5:
            return self.vector_select(args, ctx)
        if name == "invert_matrix" and len(args) == 2:
            return self.invert(args[0], ctx)
        if name in RANDOM_ARITY:
            return self.random(node, ctx)
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

    def random(self, node, ctx: Context) -> str:
        """A RANDOM call: ``fn.random_*`` of the run's stream key (seed,
        run index), the call's key, the time and the arguments before the
        stream ID, one draw per element of the equation's subscripts."""
        name = node.function.reference
        args = list(node.arguments)
        arity = RANDOM_ARITY[name]
        if len(args) != arity:
            raise UnsupportedConstructError(
                f"element {ctx.element!r} calls {name.upper()} with "
                f"{len(args)} argument(s); Vensim's takes {arity}")
        stream = 0.0
        if arity:
            last = args.pop()
            if not (is_numeric(last) and not isinstance(last, np.ndarray)):
                raise UnsupportedConstructError(
                    f"element {ctx.element!r}: the stream ID of {name.upper()} "
                    "must be a number")
            stream = float(last)
        key = (ctx.element, id(node))
        if key not in self.noise_sites:
            k = sum(1 for e, _ in self.noise_sites if e == ctx.element)
            self.noise_sites[key] = site_key(ctx.element, k, stream)
        ctx.refs |= NOISE_REFS
        if name == "random_lookup":  # the density's table: its points
            table = args.pop(0)
            py = self.clean.get(getattr(table, "reference", None))
            if py not in self.lookups_of or getattr(table, "subscripts", None):
                raise UnsupportedConstructError(
                    f"element {ctx.element!r}: RANDOM LOOKUP needs a lookup "
                    "table without subscripts as its first argument")
            ctx.refs.add(py)
            args.insert(0, _Code(f"*L[{self.lookups_of[py]}]"))
        code = [a.code if isinstance(a, _Code) else self.expr(a, ctx)
                for a in args]
        tail = [repr(ctx.tail)] if ctx.tail else []
        return (f"fn.{name}(v__noise_seed, v__noise_run, "
                f"{self.noise_sites[key]}, time, v_initial_time, v_time_step"
                + "".join(f", {c}" for c in code + tail) + ")")

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
    def slot(self, node, ctx: Context) -> str:
        # one slot per stateful call of an equation, found by its structure:
        # PySD gives SMOOTH its input twice (as input and as initial value),
        # and a function nested in it must be one slot in both phases
        key = (ctx.element, ctx.axes, structure(node))
        if key not in self.slots:
            self.slots[key] = self.new_slot(node, ctx, key)
        slot = self.slots[key]
        ctx.refs |= self.slot_value_refs[key]
        if ctx.phase == "init":
            ctx.refs |= self.slot_init_refs[key]
            ctx.pre.extend(slot.init_code)
        return slot.value

    def new_slot(self, node, ctx: Context, key) -> Slot:
        i = next(self.counter)

        def compile_arg(arg, phase):
            sub = Context(ctx.element, phase, self, axes=ctx.axes)
            return self.expr(arg, sub), sub.refs, sub.pre

        built = build_slot(node, i, ctx.element, ctx.axes, compile_arg)
        self.slot_init_refs[key] = built.init_refs
        self.slot_value_refs[key] = built.value_refs
        return built.slot

    def add_series_table(self, series: Series) -> int:
        """A lookup tabulated by PySD from a file: its table's index."""
        self.tables.append((series.x, series.values, series.interp))
        return len(self.tables) - 1


#: PySD's abstract-expression class (or a value's type) -> the builder's
#: method for it; :meth:`Builder.expr` looks up the node's class, then its
#: bases.
HANDLERS: dict[type, Callable[[Builder, object, Context], str]] = {
    bool: Builder.boolean,
    int: Builder.number,
    float: Builder.number,
    np.number: Builder.number,
    np.ndarray: Builder.array,
    ae.ReferenceStructure: Builder.reference,
    ae.ArithmeticStructure: Builder.operation,
    ae.LogicStructure: Builder.operation,
    ae.CallStructure: Builder.call,
    ae.GameStructure: Builder.game,
    ae.InlineLookupsStructure: Builder.inline_lookup,
    Series: Builder.series,
    **{getattr(ae, name): Builder.slot for name in sorted(SLOT_TYPES)
       if hasattr(ae, name)},
    NpvStructure: Builder.slot,
    PreviousStructure: Builder.slot,
}


@dataclass(frozen=True)
class _Code:
    """An argument given as generated code (a lookup table's points)."""

    code: str


def structure(node):
    """A hashable value equal for syntax trees of the same structure (node
    classes, fields, numbers, names and arrays), whether or not they share
    objects."""
    import dataclasses

    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (type(node).__name__,) + tuple(
            structure(getattr(node, f.name)) for f in dataclasses.fields(node))
    if isinstance(node, (list, tuple)):
        return ("seq",) + tuple(structure(item) for item in node)
    if isinstance(node, np.ndarray):
        return ("array", node.shape, str(node.dtype), node.tobytes())
    if isinstance(node, dict):
        return ("map",) + tuple(sorted((str(k), structure(v))
                                       for k, v in node.items()))
    try:
        hash(node)
    except TypeError:
        return ("object", repr(node))
    return (type(node).__name__, node)
