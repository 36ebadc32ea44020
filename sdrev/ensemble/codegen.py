"""Code generation: a :class:`Program` -> ``init``/``prepare``/``step``.

:func:`build_simulator` orders the equations (topological sort, algebraic
loops rejected), finds the elements constant in time, hoists time-invariant
subexpressions out of the step and generates Python source that is
executed into a :class:`Simulator`.

The source is kept as ``Simulator.source`` and registered with
:mod:`linecache` under a name of its own (:func:`source_name`: the model
file's name and a hash of the source), so a traceback through ``init``,
``prepare`` or ``step`` shows the generated lines. Each hoisted value
``_h{i}`` carries a comment naming the model variables whose equations it
comes from.
"""

from __future__ import annotations

import hashlib
import linecache
from typing import Any

import numpy as np

from sdrev.ensemble import functions as fn
from sdrev.ensemble.program import (CONTROL, Equation, Program, Simulator,
                                    UnsupportedConstructError)
from sdrev.sanitize import audit_generated

__all__ = ["build_simulator", "source_name"]


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
    statics = ", ".join(f"{k!r}: v_{k}" for k in sorted(static))
    lines.append(f"    return ({state}{',' if program.slots else ''}), "
                 f"({control}), O, {{{statics}}}")
    body = [f"v_{name} = {step_eqs[name].expr}" for name in step_order]
    owners = list(step_order)
    for slot in program.slots:
        body += list(slot.update_code)
        owners += [slot.element] * len(slot.update_code)
    reads = {f"v_{name}": step_eqs[name].expr for name in step_order
             if step_eqs[name].expr.startswith(("C[", "fn.bcast(C["))}
    body, hoisted = _hoist_invariants(body, reads, owners)
    vensim = {py: name for name, py in program.names.items()}
    notes = {name: _owners_comment(users, vensim) for name, _, users in hoisted}
    lines += ["", "def prepare(C):"]
    lines += [f"    {name} = {expr}" for name, expr in reads.items()]
    lines += [f"    {name} = {expr}  {notes[name]}" for name, expr, _ in hoisted]
    lines.append("    return {" + ", ".join(f"{n!r}: {n}" for n, _, _ in hoisted)
                 + "}")
    lines += ["", "def step(S, C, time, O):"]
    if program.slots:
        lines.append(f"    ({state}{','}) = S")
    lines += [f"    {name} = C[{name!r}]  {notes[name]}" for name, _, _ in hoisted]
    lines += [f"    {line}" for line in body]
    new = ", ".join(f"n{s.index}" for s in program.slots)
    outs = ", ".join(f"v_{o}" for o in outputs)
    lines.append(f"    return ({new}{',' if program.slots else ''}), "
                 f"({outs}{',' if outputs else ''})")
    source = "\n".join(lines) + "\n"
    # the model file is untrusted: only the engine's own names may appear
    audit_generated(source, name=program.path.name, names=_NAMES,
                    attributes=_ATTRIBUTES)
    # the names the generated code runs with; init, prepare and step land here
    namespace: dict[str, Any] = {"np": np, "fn": fn, "L": program.lookups,
                                 "K": program.arrays, "_order": _order,
                                 "_delay_order": _delay_order, "_fixed_order": _fixed_order}
    filename = source_name(source, model=program.path.name)
    _register_source(source, filename)
    exec(compile(source, filename, "exec"), namespace)
    shapes = {o: tuple(len(c) for c in program.coords[o])
              for o in outputs if program.dims.get(o)}
    return Simulator(outputs=outputs, source=source, init=namespace["init"],
                     step=namespace["step"], shapes=shapes,
                     prepare=namespace["prepare"], lookups=program.lookups,
                     subscripted=bool(program.dims),
                     orders=tuple(s.index for s in program.slots if s.ordered))


def source_name(source: str, *, model: str) -> str:
    """The file name generated code is compiled under (and shown in tracebacks).

    Parameters
    ----------
    source : str
        The generated source (``Simulator.source``).
    model : str
        The model file's name.

    Returns
    -------
    str
        ``<sdrev ensemble MODEL HASH>``, HASH the first 12 hex digits of the
        source's SHA-256: the same in every process for the same code, and
        different for different code of the same model.
    """
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]
    return f"<sdrev ensemble {model} {digest}>"


def _register_source(source: str, filename: str) -> None:
    """Put ``source`` in :mod:`linecache` under ``filename``, so that tracebacks
    through the code compiled under that name show its lines.

    The entry has no modification time, so ``linecache.checkcache`` keeps it
    (as for code typed at the interactive prompt). Lines are split at ``\\n``
    only, as the compiler numbers them.
    """
    lines = [f"{line}\n" for line in source.split("\n")]
    if source.endswith("\n"):
        lines.pop()
    linecache.cache[filename] = (len(source), None, lines, filename)


def _owners_comment(users: list[str], vensim: dict[str, str]) -> str:
    """``# from 'Name' (py_name), ...``: the variables whose equations a hoisted
    value comes from, model names as :func:`ascii` quotes them (one line,
    whatever characters the untrusted model file used)."""
    named = [f"{ascii(vensim.get(py, py))} ({py})" for py in users]
    return "# from " + ", ".join(named)


#: names and attributes generated code may use (checked before it runs)
_NAMES = (r"C|K|L|O|S|n|time|fn|np|float|int|_order|_delay_order|_fixed_order"
          r"|v_\w+|[A-Za-z]\d+|_h\d+|init|prepare|step")
_ATTRIBUTES = r"(np|np\.linalg|fn)\.[a-z]\w*|[A-Za-z]\d+(\[\d+\])?\.(copy|flat)"

#: calls whose value is constant in time when their arguments are
_PURE_CALLS = {"np.maximum", "np.minimum", "np.abs", "np.exp", "np.log",
               "np.sqrt", "np.power", "np.sin", "np.cos", "np.tan",
               "np.arctan", "np.tanh", "fn.xidz", "fn.zidz", "fn.integer",
               "fn.modulo", "fn.quantum", "fn.if_then_else", "fn.up"}


def _hoist_invariants(body: list[str], reads: dict,
                      owners: list[str]) -> tuple[list[str], list]:
    """Move subexpressions constant in time out of the time step.

    ``reads`` are the step's names read from the constants (varied
    parameters and elements constant in time). Every maximal subexpression
    of the step built only from them and from numbers is computed once per
    chunk (``prepare``) and read as a local ``_h{i}`` in the step: the same
    operations in the same order, so results are bit-identical, with fewer
    array operations per step. ``owners`` names, per line of ``body``, the
    Python name of the element whose equation the line computes.

    Returns the new body and ``(name, expression, owners)`` per hoisted
    value, ``owners`` the elements whose lines use it, in order.
    """
    import ast as pyast
    import copy

    invariant = set(reads)
    # an invariant element's later uses read what it was found equal to (a
    # hoisted value, another invariant name or a number: INITIAL TIME =
    # start year), which ``prepare`` knows: a hoisted expression never reads
    # a name only the step defines
    aliases: dict[str, Any] = {}
    hoisted: list = []
    seen: dict = {}
    users: dict[str, list[str]] = {}
    current = {"owner": ""}  # the element whose line is being rewritten

    def hoist(node):
        if isinstance(node, (pyast.Name, pyast.Constant)):
            return node
        text = pyast.unparse(node)
        if text not in seen:
            seen[text] = f"_h{len(seen)}"
            users[seen[text]] = []
            hoisted.append((seen[text], text, users[seen[text]]))
        if current["owner"] not in users[seen[text]]:
            users[seen[text]].append(current["owner"])
        return pyast.Name(id=seen[text], ctx=pyast.Load())

    def visit(node):
        if isinstance(node, pyast.Constant):
            return node, True
        if isinstance(node, pyast.Name):
            if node.id in aliases:
                return copy.copy(aliases[node.id]), True
            return node, node.id in invariant
        if isinstance(node, pyast.BinOp):
            (lhs, li), (rhs, ri) = visit(node.left), visit(node.right)
            binop = pyast.BinOp(left=lhs, op=node.op, right=rhs)
            if li and ri:
                return binop, True
            binop.left = hoist(lhs) if li else lhs
            binop.right = hoist(rhs) if ri else rhs
            return binop, False
        if isinstance(node, pyast.UnaryOp):
            o, oi = visit(node.operand)
            return pyast.UnaryOp(op=node.op, operand=o), oi
        if isinstance(node, pyast.Call) and not node.keywords and not any(
                isinstance(a, pyast.Starred) for a in node.args):
            parts = [visit(a) for a in node.args]
            call = pyast.Call(func=node.func, args=[a for a, _ in parts],
                              keywords=[])
            if (pyast.unparse(node.func) in _PURE_CALLS
                    and all(i for _, i in parts)):
                return call, True
            call.args = [hoist(a) if i else a for a, i in parts]
            return call, False
        return node, False

    out = []
    for line, owner in zip(body, owners, strict=True):
        current["owner"] = owner
        tree = pyast.parse(line)
        stmt = tree.body[0]
        if (isinstance(stmt, pyast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], pyast.Name)):
            value, inv = visit(stmt.value)
            if inv and not isinstance(value, (pyast.Name, pyast.Constant)):
                value = hoist(value)
            if inv:
                invariant.add(stmt.targets[0].id)
                aliases[stmt.targets[0].id] = value
            stmt.value = value
            line = pyast.unparse(stmt)
        out.append(line)
    return out, hoisted
