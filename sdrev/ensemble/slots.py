"""Slot constructors: a stateful function of the model -> a :class:`Slot`.

INTEG, SMOOTH, DELAY, DELAY FIXED, TREND, FORECAST, INITIAL, SAMPLE IF
TRUE, NPV and PREVIOUS become *slots*: a piece of state with its
initialisation, its current value and its Euler update, following PySD's
``statefuls`` module line by line (NPV and XMILE's PREVIOUS, which PySD
lacks: the equations of Vensim's reference manual and the XMILE 1.0
standard). :func:`build_slot` writes one; the builder
(:class:`~sdrev.ensemble.builder.Builder`) passes in how to compile the
function's arguments, so this module does not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sdrev.ensemble.program import Slot, UnsupportedConstructError

__all__ = ["SLOT_TYPES", "BuiltSlot", "NpvStructure", "PreviousStructure", "build_slot"]

#: Names of PySD's abstract-expression classes (and :class:`NpvStructure`)
#: that become slots.
SLOT_TYPES = frozenset({
    "IntegStructure", "SmoothStructure", "SmoothNStructure", "DelayStructure",
    "DelayNStructure", "DelayFixedStructure", "TrendStructure",
    "ForecastStructure", "InitialStructure", "SampleIfTrueStructure",
    "NpvStructure", "PreviousStructure"})


@dataclass(frozen=True)
class NpvStructure:
    """Vensim's ``NPV(stream, discount rate, init val, factor)``, which PySD
    parses as a plain call: the net present value of ``stream`` (Vensim
    reference manual, Financial functions). Its equations there:
    ``NPV = (ACCUM + stream * TIME STEP * df) * factor``,
    ``ACCUM = INTEG(stream * df, init val)``,
    ``df = INTEG(-df * discount rate / (1 + discount rate * TIME STEP), 1)``.
    """

    stream: object
    rate: object
    initial: object
    factor: object


@dataclass(frozen=True)
class PreviousStructure:
    """XMILE's ``PREVIOUS(x, init)`` (XMILE 1.0, OASIS 2015), which PySD
    parses as a plain call: the value ``x`` had one time step earlier,
    ``init`` at the initial time."""

    input: object
    initial: object

#: ``compile_arg(node, phase)`` -> ``(code, refs, pre)``: a numpy expression,
#: the names it reads and the statements it needs first (initialisation).
CompileArg = Callable[[object, str], tuple[str, set, list]]


@dataclass(frozen=True)
class BuiltSlot:
    """A slot and the names its value reads (at initialisation, at a step)."""

    slot: Slot
    init_refs: frozenset
    value_refs: frozenset


@dataclass(frozen=True)
class _Compiled:
    refs: set
    pre: list


def build_slot(node, index: int, element: str, axes: tuple,
               compile_arg: CompileArg) -> BuiltSlot:
    """The slot of one stateful function.

    Parameters
    ----------
    node : AbstractSyntax
        PySD's structure of the function (a class named in
        :data:`SLOT_TYPES`).
    index : int
        The slot's number: its state is ``s{index}`` in the generated code.
    element : str
        Python name of the element being compiled (for messages).
    axes : tuple
        ``(name, elements)`` of each subscript axis of the equation.
    compile_arg : callable
        ``compile_arg(node, phase)`` -> ``(code, refs, pre)`` for an
        argument, in phase ``"init"`` or ``"step"``.

    Returns
    -------
    BuiltSlot

    Raises
    ------
    UnsupportedConstructError
        Inside SUM/PROD/VMIN/VMAX (a ``Range!`` axis).
    """
    i = index
    s = f"s{i}"
    kind = type(node).__name__
    if any(name.endswith("!") for name, _ in axes):
        raise UnsupportedConstructError(
            f"element {element!r} uses a stateful function inside "
            "SUM/PROD/VMIN/VMAX")
    shape = tuple(len(e) for _, e in axes)  # after the run axis
    tail = f", {shape}" if axes else ""

    def code(arg, phase):
        text, refs, pre = compile_arg(arg, phase)
        return text, _Compiled(refs, pre)

    def init_code(arg):
        return code(arg, "init")

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
            f"{s} = np.concatenate([np.zeros((1, n) + {shape}), "
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
        _, c_sub = init_code(node.condition)
        _, i_sub = init_code(node.input)
        init_refs.update(c_sub.refs | i_sub.refs)
    elif kind == "NpvStructure":
        stream, rate, factor = args("stream", "rate", "factor")
        init, = inits("initial")
        slot_kind = "npv"
        # row 0 the accumulated discounted stream, row 1 the discount factor
        init_lines = [f"{s} = np.stack([fn.full({init}, n{tail}), "
                      f"fn.full(1.0, n{tail})])"]
        update = [f"n{i} = np.stack([{s}[0] + ({stream}) * {s}[1] * v_time_step, "
                  f"{s}[1] - {s}[1] * ({rate}) / (1 + ({rate}) * v_time_step) "
                  "* v_time_step])"]
        upd_refs.add("time_step")
        value = f"(({s}[0] + ({stream}) * v_time_step * {s}[1]) * ({factor}))"
        value_refs.update(upd_refs)
    elif kind == "PreviousStructure":
        inp, = args("input")
        init, = inits("initial")
        slot_kind = "previous"
        init_lines = [f"{s} = fn.full({init}, n{tail})"]
        update = [f"n{i} = ({inp}) + 0.0 * {s}"]  # the state's shape
        value = s
    else:  # pragma: no cover - guarded by SLOT_TYPES
        raise UnsupportedConstructError(f"{kind} is not supported")
    slot = Slot(index=i, kind=slot_kind, element=element, value=value,
                init_code=tuple(pre + init_lines), update_code=tuple(update),
                update_refs=frozenset(upd_refs),
                rate=flow if kind == "IntegStructure" else None,
                ordered=slot_kind in ("smooth", "delay", "delayn", "delayfixed"))
    return BuiltSlot(slot, frozenset(init_refs | value_refs),
                     frozenset(value_refs))
