"""Compile stage: PySD's abstract model -> a vectorised program.

The model is read exactly as PySD reads it (``sdrev.translate``), then each
element's syntax tree is turned into a numpy expression over arrays whose
only axis is the run axis. Stateful functions (INTEG, SMOOTH, DELAY,
DELAY FIXED, TREND, FORECAST, INITIAL, SAMPLE IF TRUE) become *slots*: a
piece of state with its initialisation, its current value and its Euler
update, following PySD's ``statefuls`` module line by line.

:func:`compile_model` returns a :class:`Program`; :func:`build_simulator`
turns it, for a given list of outputs, into two Python functions generated
from source: ``init(C, n)`` and ``step(S, C, time)``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdrev.errors import SdrevError, UnknownNameError, suggest
from sdrev.ensemble import functions as fn
from sdrev.translate import abstract_expressions as ae
from sdrev.translate import abstract_model, python_names

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


# --------------------------------------------------------------- compiling

@dataclass
class _Ctx:
    """Mutable state while compiling one element in one phase."""

    element: str
    phase: str
    builder: "_Builder"
    refs: set = field(default_factory=set)
    pre: list = field(default_factory=list)

    def sub(self) -> "_Ctx":
        return _Ctx(self.element, self.phase, self.builder, set(), self.pre)


class _Builder:
    def __init__(self, clean: dict[str, str], lookups_of: dict[str, int]):
        self.clean = clean
        self.lookups_of = lookups_of
        self.tables: list = []
        self.slots: dict[int, Slot] = {}
        self.slot_init_refs: dict[int, frozenset] = {}
        self.slot_value_refs: dict[int, frozenset] = {}
        self.counter = itertools.count()

    # -- references
    def ref(self, name: str, ctx: _Ctx) -> str:
        if name == "time":
            ctx.refs.add("time")
            return "time"
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
            return repr(float(node))
        if isinstance(node, ae.ReferenceStructure):
            if node.subscripts is not None:
                raise UnsupportedConstructError(
                    f"element {ctx.element!r} uses subscripts "
                    f"({node.reference}[...]); subscripted models run "
                    "through the PySD fallback")
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
        raise UnsupportedConstructError(
            f"element {ctx.element!r} uses {_describe(node)}, which the "
            "ensemble engine does not support yet")

    def operation(self, node, ctx: _Ctx) -> str:
        args = [f"({self.expr(a, ctx)})" for a in node.arguments]
        ops = list(node.operators)
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
        if name in self.clean and self.clean[name] in self.lookups_of:
            table = self.lookups_of[self.clean[name]]
            ctx.refs.add(self.clean[name])
            return f"fn.lookup({self.expr(args[0], ctx)}, *L[{table}])"
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

        def code(arg, phase):
            sub = _Ctx(ctx.element, phase, self)
            text = self.expr(arg, sub)
            return text, sub

        def init_code(arg):
            sub = _Ctx(ctx.element, "init", self)
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
            init_lines = [f"{s} = fn.full({init}, n)"]
            update = [f"n{i} = {new}"]
            value = s
            upd_refs.add("time_step")
        elif kind in ("SmoothStructure", "SmoothNStructure"):
            inp, time_ = args("input", "smooth_time")
            init, order = inits("initial", "order")
            slot_kind = "smooth"
            init_lines = [f"o{i} = _order({order})",
                          f"{s} = np.stack([fn.full({init}, n)] * o{i})",
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
                f"{s} = np.stack([fn.full(({init}) * ({dtime}), n)] * o{i})",
                f"O[{i}] = o{i}"]
            if variable:
                init_lines += [
                    f"T{i} = np.stack([fn.full({dtime}, n)] * o{i})",
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
                f"{s} = np.concatenate([np.zeros((1, n)), "
                f"np.stack([fn.full({init}, n)] * o{i})])",
                f"O[{i}] = o{i}"]
            # row 0 holds the pointer; rows 1.. the pipe
            update = [
                f"n{i} = {s}.copy()",
                f"p{i} = int({s}[0, 0])",
                f"n{i}[1 + p{i}] = {inp}",
                f"n{i}[0] = (p{i} + 1) % O[{i}]"]
            value = f"{s}[1 + int({s}[0, 0])]"
            init_refs.add("time_step")
        elif kind == "TrendStructure":
            inp, avg = args("input", "average_time")
            init_in, init_avg, init_trend = inits(
                "input", "average_time", "initial_trend")
            slot_kind = "trend"
            init_lines = [f"{s} = fn.full(({init_in}) / (1 + ({init_trend}) "
                          f"* ({init_avg})), n)"]
            update = [f"n{i} = {s} + (({inp}) - {s}) / ({avg}) * v_time_step"]
            upd_refs.add("time_step")
            value = f"fn.zidz(({inp}) - {s}, ({avg}) * np.abs({s}))"
            value_refs.update(upd_refs - {"time_step"})
        elif kind == "ForecastStructure":
            inp, avg, hor = args("input", "average_time", "horizon")
            init_in, init_trend = inits("input", "initial_trend")
            slot_kind = "forecast"
            init_lines = [f"{s} = fn.full(({init_in}) / (1 + ({init_trend})), n)"]
            update = [f"n{i} = {s} + (({inp}) - {s}) / ({avg}) * v_time_step"]
            upd_refs.add("time_step")
            value = (f"(({inp}) * (1 + fn.zidz(({inp}) - {s}, ({avg}) * {s}) "
                     f"* ({hor})))")
            value_refs.update(upd_refs - {"time_step"})
        elif kind == "InitialStructure":
            init, = inits("initial")
            slot_kind = "initial"
            init_lines = [f"{s} = fn.full({init}, n)"]
            update = [f"n{i} = {s}"]
            value = s
        elif kind == "SampleIfTrueStructure":
            cond, inp = args("condition", "input")
            init, = inits("initial")
            slot_kind = "sample"
            init_lines = [f"{s} = fn.full({init}, n)"]
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


def compile_model(path: str | Path) -> Program:
    """Compile a Vensim model for vectorised simulation.

    Parameters
    ----------
    path : str or Path
        The ``.mdl`` file.

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
    model = abstract_model(path)
    if len(model.sections) > 1:
        names = ", ".join(s.name for s in model.sections[1:])
        raise UnsupportedConstructError(
            f"{path.name} defines macros ({names}); macros run through the "
            "PySD fallback")
    section = model.sections[0]
    if section.subscripts:
        raise UnsupportedConstructError(
            f"{path.name} defines subscript ranges; subscripted models run "
            "through the PySD fallback")
    namespace, clean = python_names(section)
    constants: dict[str, float] = {}
    limits: dict[str, tuple] = {}
    lookups_of: dict[str, int] = {}
    builder = _Builder(clean, lookups_of)
    elements = []
    for element in section.elements:
        py = namespace[element.name]
        if len(element.components) != 1:
            raise UnsupportedConstructError(
                f"element {element.name!r} has {len(element.components)} "
                "equations (subscripted definitions); it runs through the "
                "PySD fallback")
        comp = element.components[0]
        if comp.subscripts and comp.subscripts[0]:
            raise UnsupportedConstructError(
                f"element {element.name!r} is subscripted "
                f"({comp.subscripts[0]}); it runs through the PySD fallback")
        if comp.type == "Lookup":
            if not isinstance(comp.ast, ae.LookupsStructure):
                raise UnsupportedConstructError(
                    f"element {element.name!r} uses "
                    f"{_describe(comp.ast)}, which the ensemble engine "
                    "does not support yet")
            lookups_of[py] = builder.table(comp.ast)
            continue
        if comp.type not in ("Auxiliary", "Constant"):
            raise UnsupportedConstructError(
                f"element {element.name!r} is of type {comp.type!r} "
                "(supported: Auxiliary, Constant, Lookup)")
        if isinstance(comp.ast, (int, float)) and not isinstance(comp.ast, bool):
            constants[py] = float(comp.ast)
            lo, hi = (tuple(element.limits) + (None, None))[:2]
            limits[py] = (lo, hi)
        elements.append((py, comp.ast))
    init: dict[str, Equation] = {}
    step: dict[str, Equation] = {}
    stateful = set()
    for py, ast in elements:
        for phase, target in (("step", step), ("init", init)):
            ctx = _Ctx(py, phase, builder)
            before = len(builder.slots)
            text = builder.expr(ast, ctx)
            target[py] = Equation(pre=tuple(ctx.pre) if phase == "init" else (),
                                  expr=text, refs=frozenset(ctx.refs))
            if len(builder.slots) > before or type(ast).__name__ in _SLOT_TYPES:
                stateful.add(py)
    for name in CONTROL:
        if name not in step:
            raise UnsupportedConstructError(
                f"{path.name} does not define {name.upper()}")
    slots = tuple(sorted(builder.slots.values(), key=lambda s: s.index))
    return Program(path=path, names=dict(namespace), constants=constants,
                   limits=limits, stateful=frozenset(stateful), init=init,
                   step=step, slots=slots, lookups=tuple(builder.tables))


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
    for d in np.atleast_1d(np.asarray(delay_time, dtype=float)):
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
              for d in np.atleast_1d(np.asarray(delay_time, dtype=float))}
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

    def eqs(table):
        return {k: (Equation((), f"C[{k!r}]", frozenset()) if k in overrides
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
    lines += ["", "def step(S, C, time, O):"]
    if program.slots:
        lines.append(f"    ({state}{','}) = S")
    for name in step_order:
        lines.append(f"    v_{name} = {step_eqs[name].expr}")
    for slot in program.slots:
        lines += [f"    {u}" for u in slot.update_code]
    new = ", ".join(f"n{s.index}" for s in program.slots)
    outs = ", ".join(f"v_{o}" for o in outputs)
    lines.append(f"    return ({new}{',' if program.slots else ''}), "
                 f"({outs}{',' if outputs else ''})")
    source = "\n".join(lines) + "\n"
    namespace = {"np": np, "fn": fn, "L": program.lookups, "_order": _order,
                 "_delay_order": _delay_order, "_fixed_order": _fixed_order}
    exec(compile(source, f"<sdrev ensemble {program.path.name}>", "exec"),
         namespace)
    return Simulator(outputs=outputs, source=source, init=namespace["init"],
                     step=namespace["step"])
