"""Kernel source: the generated ``step`` of a simulator, rewritten for numba.

The numpy engine (:mod:`sdrev.ensemble.engine`) evaluates every equation
once per time step over arrays with a leading run axis. This module
rewrites the generated ``step`` function of a
:class:`~sdrev.ensemble.program.Simulator` into the Python source of a loop
over runs whose body is the whole time loop of one run on machine floats
(:func:`kernel_source`); :mod:`sdrev.ensemble.kernel` compiles it with
numba, caches and runs it.

The rewrite is a translation of the same expressions in the same order
(no reassociation, no fast-math), so results equal the numpy engine's up
to the last bits of library functions such as ``exp``. It covers scalar
models (no subscripts) whose steps use arithmetic, comparisons, the
element-wise numpy functions, the Vensim builtins of
:mod:`sdrev.ensemble.functions` and the stateful functions INTEG, SMOOTH,
SMOOTH N, DELAY (fixed order), TREND, FORECAST, INITIAL and SAMPLE IF TRUE.
Anything else (subscripts, DELAY N, DELAY FIXED) raises :class:`NotCovered`
(:func:`covers` says so in advance) and the numpy engine, the reference,
runs the model. Nothing here imports numba.
"""

from __future__ import annotations

import ast as pyast
from typing import NamedTuple

__all__ = ["BLOCK", "NotCovered", "StepTranslation", "covers", "kernel_source",
           "HELPERS", "operations", "translate_step"]

#: element-wise numpy functions numba evaluates on floats as numpy does
_NP_FUNCS = {"abs", "exp", "sin", "cos", "tan",
             "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "sqrt",
             "log", "power", "logical_and", "logical_or", "logical_not",
             "trunc", "mod"}
_NP_CONSTANTS = {"pi", "nan", "inf"}
#: sdrev.ensemble.functions builtin -> scalar kernel helper (by arity)
_FN_FUNCS = {("if_then_else", 3): "k_where", ("maximum", 2): "k_maximum",
             ("minimum", 2): "k_minimum", ("xidz", 3): "k_xidz",
             ("zidz", 2): "k_zidz", ("integer", 1): "k_integer",
             ("quantum", 2): "k_quantum", ("modulo", 2): "k_modulo",
             ("step", 4): "k_step", ("ramp", 3): "k_ramp2",
             ("ramp", 4): "k_ramp3", ("pulse", 4): "k_pulse",
             ("pulse_train", 6): "k_pulse_train",
             ("random_0_1", 6): "k_uniform",
             ("random_uniform", 8): "k_random_uniform",
             ("random_normal", 10): "k_random_normal",
             ("random_exponential", 10): "k_random_exponential",
             ("random_triangular", 11): "k_random_triangular"}
_LOOKUP_KINDS = {"interpolate": 0, "hold_backward": 1, "extrapolate": 2,
                 "look_forward": 3}
#: Runs integrated side by side in the kernel's innermost loop.
BLOCK = 64

#: Scalar versions of the builtins, compiled into each kernel's module.
#: Each follows its array twin in sdrev.ensemble.functions operation by
#: operation (booleans become 1.0/0.0 before they multiply, as in numpy).
_HELPERS = '''
SMALL = 1e-06


@njit
def k_maximum(a, b):
    # numpy's rule: NaN wins, ties keep the first argument
    if a >= b or a != a:
        return 1.0 * a
    return 1.0 * b


@njit
def k_minimum(a, b):
    if a <= b or a != a:
        return 1.0 * a
    return 1.0 * b


@njit
def k_where(c, a, b):
    if c:
        return 1.0 * a
    return 1.0 * b


@njit
def k_xidz(num, den, x):
    if np.abs(den) < SMALL:
        return 1.0 * x
    return num / den


@njit
def k_zidz(num, den):
    return k_xidz(num, den, 0.0)


@njit
def k_integer(x):
    return np.trunc(x)


@njit
def k_quantum(a, b):
    if b < SMALL:
        return 1.0 * a
    return b * np.trunc(a / b)


@njit
def k_modulo(x, m):
    return x - k_quantum(x, m)


@njit
def k_step(time, dt, value, start):
    return value * (1.0 if time + dt / 2 > start else 0.0)


@njit
def k_ramp2(time, slope, start):
    return (1.0 if time + SMALL > start else 0.0) * slope * (time - start)


@njit
def k_ramp3(time, slope, start, finish):
    return ((1.0 if time + SMALL > start else 0.0) * slope
            * (k_minimum(finish, time) - start))


@njit
def k_pulse(time, dt, start, width):
    if (start - SMALL <= time) and (time < start + width):
        return 1.0
    return 0.0


@njit
def k_pulse_mag(time, dt, start, magnitude):
    if (start - SMALL <= time) and (time < start + 0.5 * dt):
        return magnitude / dt
    return 0.0


@njit
def k_pulse_train(time, dt, start, repeat_time, width, end):
    if repeat_time == 0:
        return k_pulse(time, dt, start, width)
    if ((start <= time) and (time < end)
            and np.mod(time - start + SMALL, repeat_time) < width):
        return 1.0
    return 0.0


# RANDOM functions: sdrev.ensemble.noise, one run at a time (the same
# hash of seed, run, call and step; the normal quantile by Acklam's
# approximation refined by one Halley step on erfc, as scipy's to ~1e-15)

@njit
def k_mix(z):
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit
def k_word(x):
    return np.uint64(np.int64(np.rint(x)))


@njit
def k_uniform(seed, run, site, time, t0, dt):
    g = np.uint64(0x9E3779B97F4A7C15)
    h = k_mix(k_word(seed) + g)
    h = k_mix(h + k_word(run) * g)
    h = k_mix(h + k_word(site) * g)
    h = k_mix(h + k_word((time - t0) / dt) * g)
    return (np.float64(h >> np.uint64(11)) + 0.5) * 2.0 ** -53


@njit
def k_random_uniform(seed, run, site, time, t0, dt, m, x):
    u = k_uniform(seed, run, site, time, t0, dt)
    return m + u * (x - m)


@njit
def k_ndtr(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


@njit
def k_ndtri(p):
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    a = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
         1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
    b = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
         6.680131188771972e+01, -1.328068155288572e+01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
         -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
         3.754408661907416e+00)
    if p < 0.02425:
        q = math.sqrt(-2.0 * math.log(p))
        z = ((((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
             / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0))
    elif p > 1.0 - 0.02425:
        q = math.sqrt(-2.0 * math.log1p(-p))
        z = -((((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
              / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0))
    else:
        q = p - 0.5
        t = q * q
        z = ((((((a[0] * t + a[1]) * t + a[2]) * t + a[3]) * t + a[4]) * t + a[5]) * q
             / (((((b[0] * t + b[1]) * t + b[2]) * t + b[3]) * t + b[4]) * t + 1.0))
    e = k_ndtr(z) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(z * z / 2.0)
    return z - u / (1.0 + z * u / 2.0)


@njit
def k_random_normal(seed, run, site, time, t0, dt, m, x, h, r):
    u = k_uniform(seed, run, site, time, t0, dt)
    if np.abs(r) < 1e-300:
        return k_minimum(k_maximum(h, m), x)
    a = (m - h) / r
    b = (x - h) / r
    lo = k_minimum(a, b)
    hi = k_maximum(a, b)
    flip = lo > 0
    if flip:
        lo, hi = -hi, -lo
    p_lo = k_ndtr(lo)
    p_hi = k_ndtr(hi)
    z = k_minimum(k_maximum(k_ndtri(p_lo + u * (p_hi - p_lo)), lo), hi)
    if flip:
        z = -z
    return h + np.abs(r) * z


@njit
def k_random_exponential(seed, run, site, time, t0, dt, m, x, h, r):
    u = k_uniform(seed, run, site, time, t0, dt)
    loc = k_maximum(m, h)
    width = (x - loc) / r
    mass = -np.expm1(-width)
    return loc + r * -np.log1p(-u * mass)


@njit
def k_tri_cdf(v, start, peak, end):
    span = end - start
    if not span > 0:
        return 0.5
    v = k_minimum(k_maximum(v, start), end)
    if v <= peak:
        if not peak - start > 0:
            return 0.0
        return (v - start) ** 2 / (span * (peak - start))
    if not end - peak > 0:
        return 1.0
    return 1 - (end - v) ** 2 / (span * (end - peak))


@njit
def k_random_triangular(seed, run, site, time, t0, dt, m, x, start, peak, end):
    u = k_uniform(seed, run, site, time, t0, dt)
    span = end - start
    if not span > 0:
        return k_minimum(k_maximum(start, m), x)
    p_lo = k_tri_cdf(m, start, peak, end)
    p = p_lo + u * (k_tri_cdf(x, start, peak, end) - p_lo)
    if p <= (peak - start) / span:
        out = start + np.sqrt(p * span * (peak - start))
    else:
        out = end - np.sqrt((1 - p) * span * (end - peak))
    return k_minimum(k_maximum(out, m), x)


@njit
def k_lookup(x, xs, ys, kind):
    if kind == 1:
        index = np.searchsorted(xs, x, side="right") - 1
        if index < 0:
            index = 0
        if index > len(xs) - 1:
            index = len(xs) - 1
        return ys[index]
    if kind == 3:
        index = np.searchsorted(xs, x, side="left")
        if index > len(xs) - 1:
            index = len(xs) - 1
        return ys[index]
    out = np.interp(x, xs, ys)
    if kind == 2 and len(xs) > 1:
        if x < xs[0]:
            return ys[0] + (ys[1] - ys[0]) / (xs[1] - xs[0]) * (x - xs[0])
        if x > xs[-1]:
            return ys[-1] + (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]) * (x - xs[-1])
    return out
'''
#: The scalar helpers' source, for other generated kernels.
HELPERS = _HELPERS


class NotCovered(Exception):
    """The generated step uses something the kernel does not translate."""


class _Translator:
    """Rewrite the body of the generated ``step`` into scalar statements."""

    def __init__(self, orders: dict[int, int], kinds: dict[int, int]):
        self.orders = orders
        self.kinds = kinds  # lookup table index -> kind code
        self.arrays: dict[str, int] = {}  # name -> number of components
        self.params: list[str] = []
        self.param_names: list[tuple[str, int]] = []
        self.tables: list[int] = []

    # -- expressions
    def scalar(self, node):
        return self._expr(node, None)

    def _expr(self, node, j):
        """``node`` as a scalar expression, or its component ``j``."""
        if isinstance(node, pyast.Constant):
            if isinstance(node.value, bool) or not isinstance(
                    node.value, (int, float)):
                raise NotCovered(f"constant {node.value!r}")
            return pyast.Constant(float(node.value))
        if isinstance(node, pyast.Name):
            if node.id in self.arrays:
                if j is None:
                    raise NotCovered(f"array {node.id} used as a number")
                return pyast.Name(f"{node.id}__{j}", pyast.Load())
            return pyast.Name(node.id, pyast.Load())
        if isinstance(node, pyast.BinOp):
            if not isinstance(node.op, (pyast.Add, pyast.Sub, pyast.Mult,
                                        pyast.Div, pyast.Pow)):
                raise NotCovered(f"operator {type(node.op).__name__}")
            return pyast.BinOp(self._expr(node.left, j), node.op,
                               self._expr(node.right, j))
        if isinstance(node, pyast.UnaryOp):
            if not isinstance(node.op, (pyast.USub, pyast.UAdd)):
                raise NotCovered(f"operator {type(node.op).__name__}")
            return pyast.UnaryOp(node.op, self._expr(node.operand, j))
        if isinstance(node, pyast.Compare):
            if len(node.ops) != 1 or not isinstance(
                    node.ops[0], (pyast.Eq, pyast.NotEq, pyast.Lt, pyast.LtE,
                                  pyast.Gt, pyast.GtE)):
                raise NotCovered("chained comparison")
            return pyast.Compare(self._expr(node.left, j), node.ops,
                                 [self._expr(node.comparators[0], j)])
        if isinstance(node, pyast.Attribute):
            if (isinstance(node.value, pyast.Name) and node.value.id == "np"
                    and node.attr in _NP_CONSTANTS):
                return node
            raise NotCovered(f"attribute {pyast.unparse(node)}")
        if isinstance(node, pyast.Subscript):
            return self._subscript(node)
        if isinstance(node, pyast.Call):
            return self._call(node, j)
        raise NotCovered(type(node).__name__)

    def _subscript(self, node):
        base = node.value
        index = node.slice
        if not (isinstance(base, pyast.Name) and isinstance(index, (
                pyast.Constant, pyast.UnaryOp))):
            raise NotCovered(pyast.unparse(node))
        try:
            k = int(pyast.literal_eval(index))
        except (ValueError, TypeError):
            raise NotCovered(pyast.unparse(node)) from None
        if base.id == "O" and k in self.orders:
            return pyast.Constant(float(self.orders[k]))
        if base.id in self.arrays:
            size = self.arrays[base.id]
            if not -size <= k < size:
                raise NotCovered(pyast.unparse(node))
            return pyast.Name(f"{base.id}__{k % size}", pyast.Load())
        raise NotCovered(pyast.unparse(node))

    def _call(self, node, j):
        func = node.func
        if not (isinstance(func, pyast.Attribute)
                and isinstance(func.value, pyast.Name)):
            raise NotCovered(pyast.unparse(func))
        module, name = func.value.id, func.attr
        args = node.args
        if module == "np" and name == "roll":
            if (j is None or len(args) != 2 or len(node.keywords) != 1
                    or pyast.unparse(args[1]) != "1"
                    or pyast.unparse(node.keywords[0]) != "axis=0"
                    or not isinstance(args[0], pyast.Name)
                    or args[0].id not in self.arrays):
                raise NotCovered(pyast.unparse(node))
            size = self.arrays[args[0].id]
            return pyast.Name(f"{args[0].id}__{(j - 1) % size}", pyast.Load())
        if module == "np" and name == "where" and len(args) == 3 \
                and not node.keywords:
            return self._helper("k_where", args, j)
        if module == "np" and (name, len(args)) in _FN_FUNCS \
                and not node.keywords:
            return self._helper(_FN_FUNCS[(name, len(args))], args, j)
        if module == "np" and name in _NP_FUNCS and not node.keywords:
            return pyast.Call(func, [self._expr(a, j) for a in args], [])
        if module != "fn":
            raise NotCovered(pyast.unparse(func))
        if name == "lookup":
            if (len(args) != 2 or node.keywords
                    or not isinstance(args[1], pyast.Starred)):
                raise NotCovered(pyast.unparse(node))
            table = args[1].value
            if not (isinstance(table, pyast.Subscript)
                    and isinstance(table.value, pyast.Name)
                    and table.value.id == "L"):
                raise NotCovered(pyast.unparse(node))
            index = int(pyast.literal_eval(table.slice))
            if index not in self.tables:
                self.tables.append(index)
            pos = self.tables.index(index)
            kind = self.kinds[index]
            return pyast.Call(
                pyast.Name("k_lookup", pyast.Load()),
                [self._expr(args[0], j),
                 pyast.parse(f"LX[{pos}]", mode="eval").body,
                 pyast.parse(f"LY[{pos}]", mode="eval").body,
                 pyast.Constant(kind)], [])
        if name == "pulse" and len(args) == 3 and len(node.keywords) == 1 \
                and node.keywords[0].arg == "magnitude":
            return self._helper("k_pulse_mag",
                                args + [node.keywords[0].value], j)
        helper = _FN_FUNCS.get((name, len(args)))
        if helper is None or node.keywords:
            raise NotCovered(f"fn.{name}")
        return self._helper(helper, args, j)

    def _helper(self, helper, args, j):
        return pyast.Call(pyast.Name(helper, pyast.Load()),
                          [self._expr(a, j) for a in args], [])

    def _uses_arrays(self, node) -> bool:
        """Whether ``node`` is array-valued (reads an array other than by
        a constant index)."""
        if isinstance(node, pyast.Subscript):
            return False
        if isinstance(node, pyast.Name):
            return node.id in self.arrays
        return any(self._uses_arrays(c) for c in pyast.iter_child_nodes(node))

    def _size(self, node) -> int:
        sizes = {self.arrays[n.id] for n in pyast.walk(node)
                 if isinstance(n, pyast.Name) and n.id in self.arrays}
        if len(sizes) != 1:
            raise NotCovered("arrays of different lengths in one expression")
        return sizes.pop()

    # -- statements
    def statements(self, body) -> list[str]:
        out: list[str] = []
        for stmt in body:
            if not isinstance(stmt, pyast.Assign) or len(stmt.targets) != 1:
                raise NotCovered(pyast.unparse(stmt)[:60])
            target, value = stmt.targets[0], stmt.value
            if isinstance(target, pyast.Subscript):
                # t[0] = input: the first component of an array
                if not (isinstance(target.value, pyast.Name)
                        and target.value.id in self.arrays
                        and pyast.unparse(target.slice) == "0"):
                    raise NotCovered(pyast.unparse(stmt)[:60])
                out.append(f"{target.value.id}__0 = "
                           f"{pyast.unparse(self.scalar(value))}")
                continue
            if not isinstance(target, pyast.Name):
                raise NotCovered(pyast.unparse(stmt)[:60])
            name = target.id
            if (isinstance(value, pyast.Subscript)
                    and isinstance(value.value, pyast.Name)
                    and value.value.id == "C"):
                key = pyast.literal_eval(value.slice)
                if key not in self.params:
                    self.params.append(key)
                self.param_names.append((name, self.params.index(key)))
                continue
            if self._uses_arrays(value):
                size = self._size(value)
                self.arrays[name] = size
                for j in range(size):
                    out.append(f"{name}__{j} = "
                               f"{pyast.unparse(self._expr(value, j))}")
                continue
            out.append(f"{name} = {pyast.unparse(self.scalar(value))}")
        return out


def _step_function(source: str) -> pyast.FunctionDef:
    tree = pyast.parse(source)
    for node in tree.body:
        if isinstance(node, pyast.FunctionDef) and node.name == "step":
            return node
    raise NotCovered("no step function")


def _hoisted_expressions(source: str) -> dict[str, str]:
    """``_h{i}`` -> the expression ``prepare`` computes it from (for the kernel's
    comments: the kernel reads hoisted values as parameters)."""
    found = {}
    for node in pyast.parse(source).body:
        if isinstance(node, pyast.FunctionDef) and node.name == "prepare":
            for stmt in node.body:
                if (isinstance(stmt, pyast.Assign) and len(stmt.targets) == 1
                        and isinstance(stmt.targets[0], pyast.Name)
                        and stmt.targets[0].id.startswith("_h")):
                    found[stmt.targets[0].id] = pyast.unparse(stmt.value)
    return found


def operations(sim) -> frozenset[str]:
    """What a simulator's generated code computes with, read from its syntax.

    Parameters
    ----------
    sim : Simulator

    Returns
    -------
    frozenset of str
        Every numpy and builtin name it uses (``"np.exp"``, ``"fn.zidz"``),
        ``"L"`` if it reads a lookup table and ``"**"`` if it raises to a
        power (in ``init``, ``prepare`` and ``step`` alike).
    """
    found = set()
    for node in pyast.walk(pyast.parse(sim.source)):
        if isinstance(node, pyast.Attribute) and isinstance(node.value, pyast.Name) \
                and node.value.id in ("np", "fn"):
            found.add(f"{node.value.id}.{node.attr}")
        elif isinstance(node, pyast.Subscript) and isinstance(node.value, pyast.Name) \
                and node.value.id == "L":
            found.add("L")
        elif isinstance(node, pyast.BinOp) and isinstance(node.op, pyast.Pow):
            found.add("**")
    return frozenset(found)


def covers(sim) -> bool:
    """Whether the kernel translates a simulator's step (whatever the
    orders of its SMOOTH/DELAY functions turn out to be)."""
    orders = dict.fromkeys(sim.orders, 1)
    kinds = {i: table[2] for i, table in enumerate(sim.lookups)}
    try:
        kernel_source(sim, orders, kinds)
    except NotCovered:
        return False
    return True


class StepTranslation(NamedTuple):
    """A simulator's ``step`` as scalar statements (:func:`translate_step`):
    ``translator.scalar(node)`` translates further expressions of the program
    (its ``params``, ``param_names`` and ``tables`` grow with them); ``lines``
    is the step of one run; state, new-state and output locals (outputs in
    the order of ``sim.outputs``); ``(position, order)`` of each state block."""

    translator: object
    lines: list
    state_names: list
    new_names: list
    out_names: list
    states: list


def translate_step(sim, orders: dict[int, int], kinds: dict[int, str]) -> StepTranslation:
    """The simulator's ``step`` as scalar statements (``orders``, ``kinds``
    as for :func:`kernel_source`); raises :class:`NotCovered` as it does."""
    if getattr(sim, "shapes", None) or getattr(sim, "subscripted", True):
        raise NotCovered("subscripts")
    func = _step_function(sim.source)
    body = list(func.body)
    ret = body.pop()
    if not (isinstance(ret, pyast.Return) and isinstance(ret.value, pyast.Tuple)
            and len(ret.value.elts) == 2):
        raise NotCovered("step return")
    new_state, outputs = ret.value.elts
    tr = _Translator(orders, {k: _LOOKUP_KINDS.get(v, -1)
                              for k, v in kinds.items()})
    if any(v == -1 for v in tr.kinds.values()):
        raise NotCovered("lookup kind")
    state_names: list[str] = []
    if body and isinstance(body[0], pyast.Assign) and \
            pyast.unparse(body[0].value) == "S":
        state_names = [e.id for e in body.pop(0).targets[0].elts]
    states = []
    for position, name in enumerate(state_names):
        index = int(name[1:])
        order = orders.get(index, 0)
        if order:
            tr.arrays[name] = order
        states.append((position, order))
    lines = tr.statements(body)
    new_names = [e.id for e in new_state.elts]
    out_names = [e.id for e in outputs.elts]
    for name in out_names:
        if name in tr.arrays:
            raise NotCovered(f"output {name} is an array")
    for old, new in zip(state_names, new_names):
        if tr.arrays.get(old, 0) != tr.arrays.get(new, 0):
            raise NotCovered(f"state {old} changes shape")
    return StepTranslation(translator=tr, lines=lines, state_names=state_names,
                           new_names=new_names, out_names=out_names, states=states)


def kernel_source(sim, orders: dict[int, int], kinds: dict[int, str]):
    """Generate the kernel's Python source from a simulator.

    Parameters
    ----------
    sim : Simulator
        Generated numpy code (its ``step`` function is translated).
    orders : dict of int to int
        Order of each SMOOTH/DELAY slot (from the simulator's ``init``).
    kinds : dict of int to str
        Kind of each lookup table (``L[i]``).

    Returns
    -------
    source : str
    params, states, outputs, tables
        As in :class:`Kernel`.

    Raises
    ------
    NotCovered
        If the step uses something the kernel does not translate.
    """
    step = translate_step(sim, orders, kinds)
    tr, lines, state_names = step.translator, step.lines, step.state_names
    new_names, out_names, states = step.new_names, step.out_names, step.states

    def components(name):
        size = tr.arrays.get(name, 0)
        return [name] if not size else [f"{name}__{j}" for j in range(size)]

    # Runs go in blocks of BLOCK. The innermost loop, over the runs of a
    # block, is the whole model step: straight-line code the compiler turns
    # into SIMD instructions (several runs per instruction). Parameters,
    # states and outputs of a block live in one work array W, row by row at
    # offsets fixed at compile time, so that the compiler sees that no
    # store overlaps another row's load and vectorises without checks.
    stores = [comp for name in state_names for comp in components(name)]
    news = [comp for name in new_names for comp in components(name)]
    n_par = len(tr.params)
    s_row = {c: n_par + i for i, c in enumerate(stores)}
    o_row = n_par + len(stores)
    rows = o_row + len(out_names)
    src = ["import math", "import numpy as np", "from numba import njit", _HELPERS, "",
           f"B = {BLOCK}", "",
           '@njit(cache=True, nogil=True, error_model="numpy", '
           'boundscheck=False)',
           "def kernel(P, S, times, saved, out, LX, LY, start, stop, shift):",
           "    steps = times.shape[0]",
           f"    W = np.empty({rows} * B)",
           "    for b0 in range(start, stop, B):",
           "        m = min(B, stop - b0)",
           f"        for i in range({n_par}):",
           "            for j in range(m):",
           "                W[i * B + j] = P[i, b0 + j]",
           f"        for i in range({len(stores)}):",
           "            for j in range(m):",
           f"                W[({n_par} + i) * B + j] = S[i, b0 + j]",
           "        col = 0",
           "        for k in range(steps):",
           "            time = times[k]",
           "            for j in range(m):"]
    pad = "                "
    # hoisted values (_h{i}, computed once per chunk by the simulator's
    # prepare) arrive as parameters: each line names the expression it holds
    hoisted = _hoisted_expressions(sim.source)
    src += [f"{pad}{name} = W[{row} * B + j]"
            + (f"  # {name} = {hoisted[name]}" if name in hoisted else "")
            for name, row in tr.param_names]
    src += [f"{pad}{c} = W[{s_row[c]} * B + j]" for c in stores]
    src += [f"{pad}{line}" for line in lines]
    src += [f"{pad}W[{o_row + q} * B + j] = {name}"
            for q, name in enumerate(out_names)]
    src += [f"{pad}W[{s_row[c]} * B + j] = {new}"
            for c, new in zip(stores, news)]
    src += ["            if saved[k]:",
            f"                for q in range({len(out_names)}):",
            "                    for j in range(m):",
            f"                        out[q, shift + b0 + j, col] = "
            f"W[({o_row} + q) * B + j]",
            "                col += 1"]
    return ("\n".join(src) + "\n", tuple(tr.params), tuple(states),
            len(out_names), tuple(tr.tables))
