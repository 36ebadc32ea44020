"""Link, loop and relative scores of a chunk of runs from a tape of operations.

The link scores of Loops that Matter (Schoenberg, Davidsen & Eberlein 2020;
the formulas of :func:`sdrev.loops.links.link_scores`) evaluate each
equation once with every input at ``t - dt`` and once per input with only
that input moved to ``t``. :func:`build_tape` translates those evaluations,
for the links of the model's loops, into a flat program of element-wise
operations over registers (each register a row of values, one per run of a
block); :func:`run_tape` runs it, compiled by numba once for every model
(the interpreter does not depend on the model, so nothing is compiled per
model), over the values the fused kernel (:mod:`sdrev.loops.fused`) stored
at each saving time and the step before, then multiplies link scores into
loop scores and divides by each cycle partition's sum of absolute scores.

Each operation is the numpy engine's, on machine floats, in the equation's
own order (no reassociation, no fast-math; ``XIDZ``/``ZIDZ``/``WHERE`` are
the compiled kernel's scalar helpers, ``MAX``/``MIN`` numpy's rule, signs of
zeros included; ``STEP``, ``RAMP`` and ``PULSE`` spelled out as the arithmetic of
:mod:`sdrev.ensemble.functions`; ``LOOKUP`` the kernel's ``k_lookup``, equal
to :func:`sdrev.ensemble.functions.lookup` bit for bit for every kind, at
and beyond the table's ends), so every number equals the numpy path's
(:mod:`sdrev.loops.batch`) bit for bit, except where a link equation calls
``exp``, ``log``, a power, ``sqrt`` or a trigonometric function: those are
the C library's (as in the compiled kernel), and numpy built with AVX-512
runs its own SIMD versions, which differ from them in the last bit on about
0.1-5% of inputs (with those loops switched off, numpy's are the C
library's and the scores are the same bit for bit:
``tests/test_loops_fused.py``). A link score divides the changes over one
step, so such differences (the trajectories' more than the tape's own) can
grow where a change is tiny beside its value, at a flow's turning point: the
scores then agree with the per-run analysis within 1e-8 (relative scores)
and 1e-5 relative (raw loop scores), measured at most 1.6e-9 and 1.4e-6, as
much as the per-run analysis itself moves between numpy with and without
AVX-512 (:data:`sdrev.loops.batch.LIBM_CALLS`). Anything outside that
vocabulary raises :class:`~sdrev.ensemble.kernelgen.NotCovered` and the
numpy path runs.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np

__all__ = ["OPS", "Tape", "build_tape", "run_tape"]

#: Operation codes of a tape row ``(op, destination, a, b, c)``.
OPS = ("ADD", "SUB", "MUL", "DIV", "NEG", "MAX", "MIN", "WHERE", "XIDZ", "ZIDZ", "ABS",
       "LT", "LE", "GT", "GE", "EQ", "NE", "TRUNC", "CONST", "COPY", "LINK", "RATIOABS",
       "SIGN", "POW", "LOOKUP", "EXP", "LOG", "SQRT", "SIN", "COS", "TAN", "ARCSIN",
       "ARCCOS", "ARCTAN", "SINH", "COSH", "TANH")
_OP = {name: i for i, name in enumerate(OPS)}
_BINARY = {ast.Add: "ADD", ast.Sub: "SUB", ast.Mult: "MUL", ast.Div: "DIV",
           ast.Pow: "POW"}
_COMPARE = {ast.Lt: "LT", ast.LtE: "LE", ast.Gt: "GT", ast.GtE: "GE", ast.Eq: "EQ",
            ast.NotEq: "NE"}
_CALLS = {("np", "maximum", 2): "MAX", ("np", "minimum", 2): "MIN",
          ("np", "where", 3): "WHERE", ("fn", "if_then_else", 3): "WHERE",
          ("fn", "xidz", 3): "XIDZ", ("fn", "zidz", 2): "ZIDZ", ("np", "abs", 1): "ABS",
          ("np", "trunc", 1): "TRUNC", ("fn", "integer", 1): "TRUNC",
          ("np", "power", 2): "POW",
          **{("np", f, 1): f.upper() for f in ("exp", "log", "sqrt", "sin", "cos", "tan",
                                                "arcsin", "arccos", "arctan", "sinh",
                                                "cosh", "tanh")}}
#: Lookup kinds as the compiled kernel's ``k_lookup`` numbers them
#: (:data:`sdrev.ensemble.kernelgen.HELPERS`).
LOOKUP_KINDS = {"interpolate": 0, "hold_backward": 1, "extrapolate": 2, "look_forward": 3}


@dataclass(frozen=True)
class Tape:
    """A model's link-score program (:func:`build_tape`).

    Attributes
    ----------
    variables : tuple of str
        Variables read at ``t - dt`` and ``t``, in the order of the values'
        variable axis: registers ``i`` (before) and ``len + i`` (after).
    constants : tuple of str
        Constants read, registers from ``2 * len(variables)`` on.
    code : ndarray of int64, shape (operations, 5)
    immediates : ndarray
        Numbers loaded by ``CONST``.
    registers : int
    links : ndarray of int64, shape (loops, longest loop)
        Register of each link score of each loop, in loop order.
    lengths : ndarray of int64
    part : ndarray of int64
        Each loop's partition (0 ... parts - 1).
    parts : int
    """

    variables: tuple
    constants: tuple
    code: np.ndarray
    immediates: np.ndarray
    registers: int
    links: np.ndarray
    lengths: np.ndarray
    part: np.ndarray
    parts: int


class _Builder:
    def __init__(self, variables, constants, synthetic, lookups=()):
        nv = len(variables)
        self.lookups = lookups  # the program's tables: (xs, ys, kind)
        self.tables: dict = {}  # table index -> offset of its points in imm
        self.reg = {("pre", v): i for i, v in enumerate(variables)}
        self.reg.update({("post", v): nv + i for i, v in enumerate(variables)})
        self.reg.update({("const", c): 2 * nv + i for i, c in enumerate(constants)})
        self.reg[("pre", "time")] = 2 * nv + len(constants)
        self.reg[("post", "time")] = 2 * nv + len(constants) + 1
        self.next = 2 * nv + len(constants) + 2
        for name in synthetic:
            self.reg[("pre", name)] = self.new()
            self.reg[("post", name)] = self.new()
        self.code: list = []
        self.imm: list = []
        self.imm_reg: dict = {}
        self.base: dict = {}  # id of a node -> register of its value before the step
        self.reads: dict = {}  # id of a node -> the names it reads

    def change(self, name: str) -> int:
        """Register of ``name(t) - name(t - dt)`` (computed once)."""
        key = ("change", name)
        if key not in self.base:
            self.base[key] = self.emit("SUB", self.reg[("post", name)], self.reg[("pre", name)])
        return self.base[key]

    def new(self) -> int:
        self.next += 1
        return self.next - 1

    def emit(self, op, a=0, b=0, c=0, out=None) -> int:
        d = self.new() if out is None else out
        self.code.append((_OP[op], d, a, b, c))
        return d

    def const(self, value: float) -> int:
        key = float(value).hex()
        if key not in self.imm_reg:
            self.imm.append(float(value))
            self.imm_reg[key] = self.emit("CONST", len(self.imm) - 1)
        return self.imm_reg[key]

    def names(self, node) -> set:
        key = id(node)
        if key not in self.reads:
            self.reads[key] = {"time" if n.id == "time" else n.id[2:]
                               for n in ast.walk(node) if isinstance(n, ast.Name)}
        return self.reads[key]

    def expr(self, node, moved) -> int:
        """Register holding ``node`` with ``moved`` (a variable, or ``ALL``)
        at ``t`` and every other input at ``t - dt``: a part that does not
        read ``moved`` is its value before the step, computed once (the same
        operations give the same number)."""
        if moved is None:
            if id(node) not in self.base:
                self.base[id(node)] = self._expr(node, None)
            return self.base[id(node)]
        if moved != ALL and moved not in self.names(node):
            return self.expr(node, None)
        return self._expr(node, moved)

    def _expr(self, node, moved) -> int:
        from sdrev.ensemble.kernelgen import NotCovered

        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise NotCovered(f"constant {node.value!r}")
            return self.const(node.value)
        if isinstance(node, ast.Name):
            name = node.id
            key = "time" if name == "time" else name[2:] if name.startswith("v_") else None
            if ("pre", key) in self.reg:
                return self.reg[("post" if moved in (key, ALL) else "pre", key)]
            if ("const", key) in self.reg:
                return self.reg[("const", key)]
            raise NotCovered(f"name {name} in a link equation")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            a = self.expr(node.left, moved)
            return self.emit(_BINARY[type(node.op)], a, self.expr(node.right, moved))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            a = self.expr(node.operand, moved)
            return self.emit("NEG" if isinstance(node.op, ast.USub) else "COPY", a)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 \
                and type(node.ops[0]) in _COMPARE:
            a = self.expr(node.left, moved)
            return self.emit(_COMPARE[type(node.ops[0])], a,
                             self.expr(node.comparators[0], moved))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and not node.keywords:
            module, name, count = node.func.value.id, node.func.attr, len(node.args)
            op = _CALLS.get((module, name, count))
            if op is not None:
                args = [self.expr(a, moved) for a in node.args] + [0, 0]
                return self.emit(op, *args[:3])
            if module == "fn" and (name, count) in (("step", 4), ("ramp", 3), ("ramp", 4),
                                                    ("pulse", 4)):
                return self._timed(name, [self.expr(a, moved) for a in node.args])
            if module == "fn" and name == "lookup":
                return self._lookup(node, moved)
        raise NotCovered(ast.unparse(node)[:60])

    def _timed(self, name: str, args: list) -> int:
        """``STEP``, ``RAMP`` and ``PULSE`` in :mod:`sdrev.ensemble.functions`'
        order of operations: ``value * (time + dt / 2 > start)``, ``(time +
        SMALL > start) * slope * (final - start)`` and ``where((start - SMALL
        <= time) & (time < start + width), 1.0, 0.0)`` (a comparison's 1.0 or
        0.0 multiplies as numpy's boolean does)."""
        from sdrev.ensemble.functions import SMALL_VENSIM

        if name == "pulse":
            time, _, start, width = args
            after = self.emit("LE", self.emit("SUB", start, self.const(SMALL_VENSIM)), time)
            before = self.emit("LT", time, self.emit("ADD", start, width))
            return self.emit("WHERE", self.emit("MUL", after, before), self.const(1.0),
                             self.const(0.0))
        if name == "step":
            time, dt, value, start = args
            half = self.emit("DIV", dt, self.const(2.0))
            on = self.emit("GT", self.emit("ADD", time, half), start)
            return self.emit("MUL", value, on)
        time, slope, start = args[:3]
        final = time if len(args) == 3 else self.emit("MIN", args[3], time)
        on = self.emit("GT", self.emit("ADD", time, self.const(SMALL_VENSIM)), start)
        return self.emit("MUL", self.emit("MUL", on, slope), self.emit("SUB", final, start))

    def _lookup(self, node, moved) -> int:
        """``fn.lookup(x, *L[i])``: the table's points kept among the
        immediates (its length, then x, then y values) at an offset that
        the ``LOOKUP`` row carries with the kind."""
        from sdrev.ensemble.kernelgen import NotCovered

        x, table = (node.args + [None])[:2]
        if not (len(node.args) == 2 and isinstance(table, ast.Starred)
                and isinstance(table.value, ast.Subscript)
                and isinstance(table.value.value, ast.Name) and table.value.value.id == "L"
                and isinstance(table.value.slice, ast.Constant)
                and isinstance(table.value.slice.value, int)):
            raise NotCovered(ast.unparse(node)[:60])
        index = table.value.slice.value
        xs, ys, kind = self.lookups[index]
        xs = np.asarray(xs, dtype=float)
        ys = np.asarray(ys, dtype=float)
        if kind not in LOOKUP_KINDS or xs.ndim != 1 or ys.shape != xs.shape or not len(xs):
            raise NotCovered(f"lookup table {index} ({kind})")
        if index not in self.tables:
            self.tables[index] = len(self.imm)
            self.imm.extend([float(len(xs)), *xs.tolist(), *ys.tolist()])
        return self.emit("LOOKUP", self.expr(x, moved), self.tables[index],
                         LOOKUP_KINDS[kind])


#: Every input at ``t`` (a synthetic net flow's value after the step).
ALL = "*all*"


def build_tape(st, variables, loops, partition) -> tuple[Tape, tuple]:
    """The link-score program of ``loops``.

    Parameters
    ----------
    st : sdrev.loops.batch.LoopStructure
    variables : collection of str
        The variables the fused kernel can store (its outputs).
    loops : sequence of tuple of str
    partition : sequence of int

    Returns
    -------
    tape : Tape
    stored : tuple of str
        The variables to store (``tape.variables``).

    Raises
    ------
    sdrev.ensemble.kernelgen.NotCovered
    """
    from sdrev.ensemble.kernelgen import NotCovered

    program, cg = st.program, st.variables
    outputs = set(variables)
    synthetic = [f.name for flows in cg.stocks.values() for f in flows
                 if f.name not in outputs and f.name in cg.equations]
    edges = [list(zip(lp, lp[1:] + lp[:1])) for lp in loops]
    wanted = {e for loop in edges for e in loop}
    read: set = set()
    trees = {z: ast.parse(e, mode="eval").body for z, e in cg.equations.items()}

    def refs(z):
        return {n.id[2:] for n in ast.walk(trees[z]) if isinstance(n, ast.Name)
                and n.id.startswith("v_")}

    g = cg.graph
    scored = []
    for z in sorted(g.nodes):
        preds = sorted(x for x in g.predecessors(z) if (x, z) in wanted)
        if preds:
            scored.append((z, preds))
            read.update(preds, [z])
            if z in cg.stocks:
                read.update(f.name for f in cg.stocks[z])
            elif z not in cg.delayed:
                read.update(refs(z))
    for name in synthetic:
        read.update(refs(name))
    known = set(program.constants) | {"initial_time", "final_time", "time_step", "saveper"}
    stored = tuple(sorted(v for v in read if v in outputs))
    constants = tuple(sorted(v for v in read if v not in outputs and v not in synthetic
                             and v in known))
    missing = read - set(stored) - set(constants) - set(synthetic)
    if missing:
        raise NotCovered(f"link equations read {sorted(missing)[:3]}")
    b = _Builder(stored, constants, synthetic, program.lookups)
    # synthetic net flows: registers of their own, computed first (as
    # batch.simulate_pairs adds them)
    for name in synthetic:
        for when, moved in (("pre", None), ("post", ALL)):
            b.emit("COPY", b.expr(trees[name], moved), out=b.reg[(when, name)])
    link: dict = {}
    for z, preds in scored:
        dz = b.change(z)
        if z in cg.stocks:
            flows = cg.stocks[z]
            totals = []
            for when in ("post", "pre"):  # (0.0 + s1 * f1 + s2 * f2 ...), in order
                acc = b.const(0.0)
                for f in flows:
                    term = b.emit("MUL", b.const(float(f.sign)), b.reg[(when, f.name)])
                    acc = b.emit("ADD", acc, term)
                totals.append(acc)
            dn = b.emit("SUB", *totals)
            for f in flows:
                if (f.name, z) in wanted:
                    df = b.change(f.name)
                    size = b.emit("RATIOABS", df, dn)
                    link[(f.name, z)] = b.emit("MUL", b.const(float(f.sign)), size)
            continue
        if z in cg.delayed:
            for x in preds:
                dx = b.change(x)
                link[(x, z)] = b.emit("SIGN", b.emit("MUL", dz, dx))
            continue
        base = b.expr(trees[z], None)
        for x in preds:
            dxz = b.emit("SUB", b.expr(trees[z], x), base)
            dx = b.change(x)
            link[(x, z)] = b.emit("LINK", dxz, dz, dx)
    first = 2 * len(stored) + len(constants) + 2 + 2 * len(synthetic)
    keep = set(b.imm_reg.values()) | set(link.values())
    code, where, registers = _allocate(b.code, first, keep)
    table = np.zeros((len(edges), max(len(e) for e in edges)), dtype=np.int64)
    for k, loop in enumerate(edges):
        table[k, :len(loop)] = [where[link[e]] for e in loop]
    parts = sorted(set(partition))
    tape = Tape(variables=stored, constants=constants,
                code=np.array(code, dtype=np.int64).reshape(-1, 5),
                immediates=np.array(b.imm or [0.0]), registers=registers, links=table,
                lengths=np.array([len(e) for e in edges], dtype=np.int64),
                part=np.array([parts.index(p) for p in partition], dtype=np.int64),
                parts=len(parts))
    return tape, stored


#: Operand slots each operation reads (the others are unused).
_ARITY = {**dict.fromkeys(range(len(OPS)), 1), _OP["CONST"]: 0,
          **{_OP[op]: 2 for op in ("ADD", "SUB", "MUL", "DIV", "MAX", "MIN", "ZIDZ", "LT",
                                    "LE", "GT", "GE", "EQ", "NE", "RATIOABS", "POW")},
          _OP["WHERE"]: 3, _OP["XIDZ"]: 3, _OP["LINK"]: 3}


def _allocate(code, first: int, keep) -> tuple[list, dict, int]:
    """Registers reused once their value is read for the last time (so that
    a block's registers stay in cache): registers below ``first`` (inputs)
    and those of ``keep`` (numbers, link scores) keep their own. A
    destination is never an operand of its own operation: the interpreter's
    loops over a block's runs are vectorised where their rows do not overlap
    (in place they run one value at a time, 1.4x slower on crrc_standards)."""
    last = {}
    for i, (op, _, *args) in enumerate(code):
        for r in args[:_ARITY[op]]:
            last[r] = i
    where = {r: r for r in range(first)}
    top = first
    free: list = []
    out = []
    for i, (op, d, *args) in enumerate(code):
        reads = [where[r] for r in args[:_ARITY[op]]]
        freed = [where[r] for r in set(args[:_ARITY[op]])
                 if r >= first and r not in keep and last[r] == i]
        if d in where:
            target = where[d]
        elif d in keep or not free:
            target = where[d] = top
            top += 1
        else:
            target = where[d] = free.pop()
        free.extend(freed)  # for the next operations, not this one's result
        full = reads + list(args[len(reads):])  # the rest: immediates (CONST, LOOKUP)
        out.append((op, target, *full))
    return out, where, top


_RUNNER = '''

@njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def k_ratio(num, den):
    # sdrev.loops.links.ratio: 0 where the quotient is not finite
    q = num / den
    return q if q - q == 0.0 else 0.0


@njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def t_maximum(a, b):
    # np.maximum: NaN wins, ties (0.0 and -0.0) give the second argument
    return a if a > b or a != a else b


@njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def t_minimum(a, b):
    return a if a < b or a != a else b


@njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def k_sign(x):
    # np.sign: 1, -1, 0 (of either zero), NaN
    s = 1.0 * (x > 0) - 1.0 * (x < 0)
    return s if x == x else x


@njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def t_math(op, x):
    # the kernel's element-wise numpy functions (OPS from SQRT on)
    if op == 27:
        return np.sqrt(x)
    if op == 28:
        return np.sin(x)
    if op == 29:
        return np.cos(x)
    if op == 30:
        return np.tan(x)
    if op == 31:
        return np.arcsin(x)
    if op == 32:
        return np.arccos(x)
    if op == 33:
        return np.arctan(x)
    if op == 34:
        return np.sinh(x)
    if op == 35:
        return np.cosh(x)
    return np.tanh(x)


@njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def run(X, pre, post, C, times_pre, times_post, code, imm, registers, links, lengths,
        part, parts, raw, rel, sums, start, stop):
    nv = X.shape[1]
    nc = C.shape[0]
    pairs = pre.shape[0]
    count = links.shape[0]
    R = np.empty((registers, B))
    den = np.empty((parts, B))
    OUT = np.empty((2, count, pairs, B))
    for b0 in range(start, stop, B):
        m = min(B, stop - b0)
        for i in range(nc):
            for j in range(m):
                R[2 * nv + i, j] = C[i, b0 + j]
        for p in range(pairs):
            # the stored values before and at the saving time, one row of
            # runs at a time (one stream each: the copies vectorise)
            s0 = pre[p]
            s1 = post[p]
            o = b0 - start
            for i in range(nv):
                for j in range(m):
                    R[i, j] = X[s0, i, o + j]
            for i in range(nv):
                for j in range(m):
                    R[nv + i, j] = X[s1, i, o + j]
            for j in range(m):
                R[2 * nv + nc, j] = times_pre[p]
                R[2 * nv + nc + 1, j] = times_post[p]
            for row in range(code.shape[0]):
                op = code[row, 0]
                d = code[row, 1]
                a = code[row, 2]
                b = code[row, 3]
                c = code[row, 4]
                if op == 0:
                    for j in range(m):
                        R[d, j] = R[a, j] + R[b, j]
                elif op == 1:
                    for j in range(m):
                        R[d, j] = R[a, j] - R[b, j]
                elif op == 2:
                    for j in range(m):
                        R[d, j] = R[a, j] * R[b, j]
                elif op == 3:
                    for j in range(m):
                        R[d, j] = R[a, j] / R[b, j]
                elif op == 4:
                    for j in range(m):
                        R[d, j] = -R[a, j]
                elif op == 5:
                    for j in range(m):
                        R[d, j] = t_maximum(R[a, j], R[b, j])
                elif op == 6:
                    for j in range(m):
                        R[d, j] = t_minimum(R[a, j], R[b, j])
                elif op == 7:
                    for j in range(m):
                        R[d, j] = k_where(R[a, j], R[b, j], R[c, j])
                elif op == 8:
                    for j in range(m):
                        R[d, j] = k_xidz(R[a, j], R[b, j], R[c, j])
                elif op == 9:
                    for j in range(m):
                        R[d, j] = k_zidz(R[a, j], R[b, j])
                elif op == 10:
                    for j in range(m):
                        R[d, j] = abs(R[a, j])
                elif op == 11:
                    for j in range(m):
                        R[d, j] = 1.0 * (R[a, j] < R[b, j])
                elif op == 12:
                    for j in range(m):
                        R[d, j] = 1.0 * (R[a, j] <= R[b, j])
                elif op == 13:
                    for j in range(m):
                        R[d, j] = 1.0 * (R[a, j] > R[b, j])
                elif op == 14:
                    for j in range(m):
                        R[d, j] = 1.0 * (R[a, j] >= R[b, j])
                elif op == 15:
                    for j in range(m):
                        R[d, j] = 1.0 * (R[a, j] == R[b, j])
                elif op == 16:
                    for j in range(m):
                        R[d, j] = 1.0 * (R[a, j] != R[b, j])
                elif op == 17:
                    for j in range(m):
                        R[d, j] = k_integer(R[a, j])
                elif op == 18:
                    for j in range(m):
                        R[d, j] = imm[a]
                elif op == 19:
                    for j in range(m):
                        R[d, j] = R[a, j]
                elif op == 20:
                    for j in range(m):
                        R[d, j] = abs(k_ratio(R[a, j], R[b, j])) * k_sign(
                            k_ratio(R[a, j], R[c, j]))
                elif op == 21:
                    for j in range(m):
                        R[d, j] = abs(k_ratio(R[a, j], R[b, j]))
                elif op == 22:
                    for j in range(m):
                        R[d, j] = k_sign(R[a, j])
                elif op == 23:
                    for j in range(m):
                        R[d, j] = np.power(R[a, j], R[b, j])
                elif op == 24:
                    # a lookup: b is the offset of its table in imm, c its kind
                    size = int(imm[b])
                    xs = imm[b + 1:b + 1 + size]
                    ys = imm[b + 1 + size:b + 1 + 2 * size]
                    for j in range(m):
                        R[d, j] = k_lookup(R[a, j], xs, ys, c)
                elif op == 25:
                    for j in range(m):
                        R[d, j] = np.exp(R[a, j])
                elif op == 26:
                    for j in range(m):
                        R[d, j] = np.log(R[a, j])
                else:
                    for j in range(m):
                        R[d, j] = t_math(op, R[a, j])
            # loop scores: products from each loop's first link, partition
            # sums over the loops in order (as batch.saved_scores); kept in
            # the block's buffers, runs along the contiguous axis
            for q in range(parts):
                for j in range(m):
                    den[q, j] = 0.0
            for k in range(count):
                first = links[k, 0]
                q = part[k]
                for j in range(m):
                    OUT[0, k, p, j] = R[first, j]
                for e in range(1, lengths[k]):
                    r = links[k, e]
                    for j in range(m):
                        OUT[0, k, p, j] *= R[r, j]
                for j in range(m):
                    den[q, j] += abs(OUT[0, k, p, j])
            for k in range(count):
                q = part[k]
                for j in range(m):
                    OUT[1, k, p, j] = k_ratio(OUT[0, k, p, j], den[q, j])
        # each run's scores, contiguous; a loop at a time (its block of the
        # buffers, read across runs, stays in the first-level cache)
        for k in range(count):
            for j in range(m):
                for p in range(pairs):
                    raw[b0 + j, k, p + 1] = OUT[0, k, p, j]
            for j in range(m):
                pos = 0.0
                neg = 0.0
                for p in range(pairs):
                    value = OUT[1, k, p, j]
                    rel[b0 + j, k, p + 1] = value
                    # adding 0.0 leaves a sum as it is: the sums of the
                    # positive and of the negative scores, without branches
                    pos += max(value, 0.0)
                    neg += min(value, 0.0)
                sums[b0 + j, k, 0] = pos
                sums[b0 + j, k, 1] = neg
'''


def _runner():
    """The compiled interpreter (one for every model; numba's machine code
    kept in sdrev's kernel cache folder)."""
    if not _MODULE:
        import hashlib
        import sys

        import numba

        from sdrev.ensemble.kernel import load_generated
        from sdrev.ensemble.kernelgen import HELPERS
        source = "\n".join(["import math", "import numpy as np", "from numba import njit",
                            HELPERS, f"B = {RUNS}", _RUNNER])
        key = hashlib.sha256(f"{source}|{numba.__version__}|{np.__version__}|"
                             f"{sys.version}".encode()).hexdigest()[:24]
        _MODULE.append(load_generated(source, f"ltm_tape_{key}", entry="run"))
    return _MODULE[0]


_MODULE: list = []

#: Runs scored side by side (a block's registers and scores stay in cache).
RUNS = 32


def run_tape(tape: Tape, X, pre, post, C, times_pre, times_post, raw, rel, sums,
             start: int, stop: int) -> bool:
    """Score runs ``start:stop`` into ``raw`` and ``rel`` (False: no compiled
    interpreter, no writable cache).

    Parameters
    ----------
    tape : Tape
    X : ndarray, shape (stored steps, variables, runs from ``start``)
        The stored variables (``tape.variables``) of runs ``start:stop``.
    pre, post : ndarray of int64
        Stored step of each saving time's step before and of itself.
    C : ndarray, shape (constants, runs)
    times_pre, times_post : ndarray
    raw, rel : ndarray, shape (runs, loops, saving times)
    sums : ndarray, shape (runs, loops, 2)
        Receives the sums of each run's positive and of its negative
        relative scores over time (added in time order).
    """
    module = _runner()
    if module is None:
        return False
    module.run(X, pre, post, C, times_pre, times_post, tape.code, tape.immediates,
               tape.registers, tape.links, tape.lengths, tape.part, tape.parts, raw, rel,
               sums, start, stop)
    from sdrev.ensemble.kernel import seal_after_call
    seal_after_call(module.run)
    return True
