"""Builder methods for calls over arrays and lookup tables.

SUM/PROD/VMIN/VMAX over ``Range!`` axes, XMILE's one-argument MIN/MAX,
VECTOR SELECT, INVERT MATRIX, calls of subscripted lookups and Vensim's
lookup functions that read a table in a mode of their own (LOOKUP
EXTRAPOLATE/FORWARD/BACKWARD). :class:`ArrayCalls` is mixed into
:class:`~sdrev.ensemble.builder.Builder`; its methods use the builder's
``expr``, ``align``, ``const`` and tables. :class:`Context`, the state of
one equation being compiled, lives here for both.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from sdrev.ensemble.layout import is_numeric
from sdrev.ensemble.program import UnsupportedConstructError
from sdrev.translate import abstract_expressions as ae

__all__ = ["LOOKUP_MODES", "ArrayCalls", "Context", "bang_subscripts", "range_subscripts"]

#: Vensim's lookup functions that read a table in a mode of their own.
LOOKUP_MODES = {"lookup_extrapolate": "extrapolate",
                "lookup_forward": "look_forward",
                "lookup_backward": "hold_backward"}


@dataclass
class Context:
    """Mutable state while compiling one element in one phase."""

    element: str
    phase: str
    builder: ArrayCalls
    refs: set = field(default_factory=set)
    pre: list = field(default_factory=list)
    #: ``(name, elements)`` of each trailing array axis: the subscript
    #: ranges of the equation being compiled, then the ``Range!`` axes of
    #: enclosing SUM/PROD/VMIN/VMAX calls
    axes: tuple = ()

    @property
    def tail(self) -> tuple[int, ...]:
        """Shape of the equation's values after the run axis."""
        return tuple(len(e) for _, e in self.axes)


class ArrayCalls:
    """Calls over arrays and lookup tables (a mixin of the builder)."""

    def vector_select(self, args, ctx: Context) -> str:
        """VECTOR SELECT as PySD computes it: selection and expression
        broadcast over the union of their ``Range!`` axes, reduced over
        them where the selection is non-zero, ``missing`` where it is zero
        everywhere."""
        error = args[4]
        if not (is_numeric(error) and not isinstance(error, np.ndarray)):
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

    def bang_context(self, node, ctx: Context, func: str):
        """Context with the ``Range!`` axes used in ``node`` appended, the
        positions of those axes and the number of axes after the run axis."""
        bangs = []
        for sub in bang_subscripts(node):
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
        inner = dataclasses.replace(ctx, axes=ctx.axes + tuple(
            (b, tuple(self.ranges[b[:-1]])) for b in bangs))
        k = len(ctx.axes)
        return (inner, tuple(1 + k + i for i in range(len(bangs))),
                k + len(bangs))

    def reduce(self, func: str, node, ctx: Context) -> str:
        inner, axes, ndim = self.bang_context(node, ctx, func.upper())
        code = self.expr(node, inner)
        np_func = {"sum": "np.sum", "prod": "np.prod", "vmin": "np.min",
                   "vmax": "np.max"}[func]
        return f"fn.reduce({np_func}, {code}, {axes}, {ndim})"

    def reduce_all(self, func: str, node, ctx: Context) -> str:
        """XMILE's one-argument MIN/MAX (PySD's ``vmin_xmile``), MEAN and
        SIZE (XMILE 1.0, array builtins): the extreme, the mean or the
        number of every element of the argument, one value per run.

        The argument is compiled with one axis per subscript range written
        in it (``MIN(x[Region])``, ``MIN(x[*])``), whatever the equation's
        own subscripts, and every axis is reduced.
        """
        ranges = []
        for sub in range_subscripts(node):
            name = sub[:-1] if sub.endswith("!") else sub
            if name in self.ranges and sub not in [r for r, _ in ranges]:
                ranges.append((sub, tuple(self.ranges[name])))
        if not ranges:
            raise UnsupportedConstructError(
                f"element {ctx.element!r}: {func.upper()} of one argument "
                "needs the argument's subscript ranges written out")
        inner = dataclasses.replace(ctx, axes=tuple(ranges))
        code = self.expr(node, inner)
        if func == "size":
            return repr(float(np.prod([len(e) for _, e in ranges])))
        np_func = {"vmin": "np.min", "vmax": "np.max", "mean": "np.mean"}[func]
        axes = tuple(range(1, len(ranges) + 1))
        out = f"fn.reduce({np_func}, {code}, {axes}, {len(ranges)})"
        return f"fn.up({out}, {len(ctx.axes)})" if ctx.axes else out

    def lookup_nd(self, node, ctx: Context) -> str:
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

    def lookup_mode(self, name: str, args, ctx: Context) -> str:
        """``LOOKUP EXTRAPOLATE/FORWARD/BACKWARD(table, x)``: a lookup table
        of the model read in another mode (Vensim reference manual, Lookup
        functions): extrapolated linearly from the two end points, or the
        y of the next (forward) or previous (backward) point between x
        values. The table is shared; only its mode changes."""
        kind = LOOKUP_MODES[name]
        table = args[0]
        py = self.clean.get(getattr(table, "reference", None))
        subs = getattr(table, "subscripts", None)
        if py in self.ltables and subs:
            xs, ys, _, dims, coords = self.ltables[py]
            ctx.refs.add(py)
            ys_code = self.align(self.const(ys), table.reference, dims, coords,
                                 list(subs.subscripts), ctx)
            xs_code = (self.align(self.const(xs), table.reference, dims, coords,
                                  list(subs.subscripts), ctx)
                       if np.ndim(xs) > 1 else self.const(xs))
            x = self.expr(args[1], ctx)
            return f"fn.lookup_nd({x}, {xs_code}, {ys_code}, {kind!r})"
        if py not in self.lookups_of or subs:
            raise UnsupportedConstructError(
                f"element {ctx.element!r}: {name.upper()} needs a lookup "
                "table as its first argument")
        ctx.refs.add(py)
        key = (self.lookups_of[py], kind)
        if key not in self.mode_tables:
            xs, ys, _ = self.tables[key[0]]
            self.tables.append((xs, ys, kind))
            self.mode_tables[key] = len(self.tables) - 1
        return f"fn.lookup({self.expr(args[1], ctx)}, *L[{self.mode_tables[key]}])"

    def invert(self, arg, ctx: Context) -> str:
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


def bang_subscripts(node) -> list[str]:
    """``Range!`` subscripts used anywhere inside a syntax tree."""
    return [s for s in range_subscripts(node) if s.endswith("!")]


def range_subscripts(node) -> list[str]:
    """Subscripts (ranges, ``Range!`` and elements alike) written anywhere
    inside a syntax tree, in order of appearance, each once."""
    out: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, ae.SubscriptsReferenceStructure):
            out += list(item.subscripts)
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif hasattr(item, "__dict__") and not isinstance(item, np.ndarray):
            stack.extend(reversed(list(vars(item).values())))
    return list(dict.fromkeys(out))
