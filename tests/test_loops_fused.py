"""Loop scores from the compiled passes (sdrev.loops.fused, sdrev.loops.tape): the
numpy path's numbers bit for bit, each tape operation numpy's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sdrev
from sdrev import loops
from sdrev.ensemble import functions as fn
from sdrev.ensemble import sample_lhs
from sdrev.ensemble.kernel import available
from sdrev.ensemble.kernelgen import operations
from sdrev.loops import batch, chunks, fused, tape

MODELS = Path(__file__).parent.parent / "models"
FIXTURES = Path(__file__).parent / "fixtures"

pytestmark = pytest.mark.skipif(not available(), reason="numba is not installed")


def _numpy_path(st, table, loops_, partition):
    sp = batch.simulate_pairs(st, table.base, table.varied, table.runs)
    links = batch.batch_link_scores(st, sp, batch.loop_edges(loops_))
    raw, rel = batch.saved_scores(list(loops_), partition, links, sp, compiled=False)
    return sp.times, raw, rel


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_scores_equal_the_numpy_path_bit_for_bit(threads):
    """crrc_standards (its kernel integrates as numpy does): raw and relative
    scores of every run, loop and saving time equal, signs of zeros included;
    the sums over time give the same polarities; runs split between threads
    give the same numbers."""
    model = sdrev.load(MODELS / "crrc_standards.mdl")
    st = batch.structure(model.path, loops.MAX_LOOPS)
    samples = sample_lhs({p.name: tuple(p.range) for p in model.parameters
                          if p.range and p.range[0] < p.range[1]}, 70, seed=4)
    table = chunks.run_table(model, samples, scenario="baseline", program=st.program)
    part = tuple(st.partitions[lp[0]] for lp in st.loops)
    out = fused.score_chunk(st, table.base, table.varied, table.runs, list(st.loops), part,
                            threads=threads)
    assert out is not None  # the compiled passes ran
    times, raw, rel, sums = out
    ref_times, ref_raw, ref_rel = _numpy_path(st, table, st.loops, part)
    np.testing.assert_array_equal(times, ref_times)
    for a, b in ((raw, ref_raw), (rel, ref_rel)):
        assert np.abs(a).max() > 0 and (a != 0).mean() > 0.5
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(np.signbit(a), np.signbit(b))
    np.testing.assert_allclose(sums, chunks.score_sums(ref_rel), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(chunks.polarity_codes(sums)[0],
                                  chunks.polarities(ref_rel)[0])


def _scores(path, runs: int, seed: int):
    """Fused and numpy-path scores of ``runs`` sampled runs of a model file."""
    model = sdrev.load(path)
    st = batch.structure(model.path, loops.MAX_LOOPS)
    samples = sample_lhs({p.name: tuple(p.range) for p in model.parameters
                          if p.range and p.range[0] < p.range[1]}, runs, seed=seed)
    table = chunks.run_table(model, samples, scenario=None, program=st.program)
    part = tuple(st.partitions[lp[0]] for lp in st.loops)
    out = fused.score_chunk(st, table.base, table.varied, table.runs, list(st.loops), part)
    return st, out, (_numpy_path(st, table, st.loops, part) if out is not None else None)


@pytest.mark.slow
def test_lookups_steps_ramps_on_loops_equal_the_numpy_path_bit_for_bit():
    """A model whose loops run through a lookup table, STEP, RAMP, PULSE and
    SQRT (tests/fixtures/crowding.mdl): the compiled passes cover it (the
    tape has LOOKUP and SQRT rows) and every score equals the numpy path's."""
    st, out, ref = _scores(FIXTURES / "crowding.mdl", 40, seed=3)
    assert out is not None and len(st.loops) == 3
    sim, exact = batch.simulator(st.program)
    assert not exact and batch.fused_allowed(st.program)
    part = tuple(st.partitions[lp[0]] for lp in st.loops)
    program, _ = tape.build_tape(st, sim.outputs, list(st.loops), part)
    assert {"LOOKUP", "SQRT"} <= {tape.OPS[op] for op in program.code[:, 0]}
    for a, b in zip(out[1:3], ref[1:]):
        assert (a != 0).mean() > 0.5
        np.testing.assert_array_equal(a, b)


def test_fused_path_only_where_the_kernel_covers_the_model(tmp_path):
    """A call outside the compiled passes' vocabulary (PULSE TRAIN) leaves
    the model to the numpy path."""
    text = (FIXTURES / "crowding.mdl").read_text()
    path = tmp_path / "pulsed.mdl"
    path.write_text(text.replace("STEP(Stress Height, Stress Year)",
                                 "PULSE TRAIN(Stress Year, 1, 5, 30) * Stress Height"))
    st, out, _ = _scores(path, 4, seed=1)
    sim, _ = batch.simulator(st.program)
    assert "fn.pulse_train" in operations(sim) and not batch.fused_allowed(st.program)
    assert out is None


#: Run in a process whose numpy computes exp, log and power with the C
#: library's functions (its AVX-512 loops switched off), as the compiled
#: kernel does: there the libm models' scores equal the numpy path's bit for bit.
_LIBM_CHECK = """
import sys
import numpy as np
from numba import njit
sys.path.insert(0, sys.argv[1])
from test_loops_fused import MODELS, _scores

@njit
def scalar(x, y):
    out = np.empty((3, x.size))
    for i in range(x.size):
        out[0, i] = np.exp(x[i])
        out[1, i] = np.log(y[i])
        out[2, i] = np.power(y[i], x[i])
    return out

x = np.random.default_rng(0).uniform(-5, 5, 20000)
y = np.random.default_rng(1).uniform(0.01, 10, 20000)
if not np.array_equal(scalar(x, y), np.stack([np.exp(x), np.log(y), np.power(y, x)])):
    print("SKIP numpy's exp, log or power differ from the C library's here")
    sys.exit(0)
for name in ("machine_tool_io",):
    st, out, ref = _scores(MODELS / f"{name}.mdl", 40, seed=7)
    assert out is not None, name
    for a, b in zip(out[1:3], ref[1:]):
        assert (a != 0).mean() > 0.3, name
        assert np.array_equal(a, b), (name, float(np.abs(a - b).max()))
print("OK")
"""


@pytest.mark.slow
def test_libm_models_equal_the_numpy_path_where_numpy_uses_libm():
    """machine_tool_io (exp, log and power on its loops): with numpy's
    AVX-512 loops switched off (NPY_DISABLE_CPU_FEATURES), numpy's exp, log
    and power are the C library's, and the compiled passes' scores equal
    the numpy path's bit for bit: what remains between them on an AVX-512
    machine is numpy's SIMD functions' last bits."""
    import os
    import subprocess
    import sys

    from numpy.lib.introspect import opt_func_info

    targets = set()
    for per_type in opt_func_info(func_name="^(exp|log|power)$",
                                  signature="float64").values():
        for info in per_type.values():
            targets.update(info["available"].split() + [info["current"]])
    off = sorted(t for t in targets if t.startswith("AVX512") or t == "X86_V4")
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(off)}
    done = subprocess.run([sys.executable, "-c", _LIBM_CHECK, str(Path(__file__).parent)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    if done.stdout.startswith("SKIP"):
        pytest.skip(done.stdout.strip())
    assert done.stdout.strip().endswith("OK"), done.stdout


_SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 2.5, -3.0, 1e-7, -1e-7, 1e300, np.inf, -np.inf,
                     np.nan, 5e-324])


def _operands(count: int):
    """Every combination of special and ordinary numbers, one per run."""
    grids = np.meshgrid(*([_SPECIAL] * count), indexing="ij")
    return [g.ravel() for g in grids]


def _as_numpy(op: str, a, b, c):
    with np.errstate(all="ignore"):
        return {"ADD": lambda: a + b, "SUB": lambda: a - b, "MUL": lambda: a * b,
                "DIV": lambda: a / b, "NEG": lambda: -a,
                "MAX": lambda: np.maximum(a, b), "MIN": lambda: np.minimum(a, b),
                "WHERE": lambda: fn.if_then_else(a, b, c),
                "XIDZ": lambda: fn.xidz(a, b, c), "ZIDZ": lambda: fn.zidz(a, b),
                "ABS": lambda: np.abs(a), "LT": lambda: 1.0 * (a < b),
                "LE": lambda: 1.0 * (a <= b), "GT": lambda: 1.0 * (a > b),
                "GE": lambda: 1.0 * (a >= b), "EQ": lambda: 1.0 * (a == b),
                "NE": lambda: 1.0 * (a != b), "TRUNC": lambda: fn.integer(a),
                "COPY": lambda: np.array(a),
                "LINK": lambda: np.abs(_ratio(a, b)) * np.sign(_ratio(a, c)),
                "RATIOABS": lambda: np.abs(_ratio(a, b)),
                "SIGN": lambda: np.sign(a), "POW": lambda: np.power(a, b),
                **{f.upper(): (lambda f=f: getattr(np, f)(a))
                   for f in ("exp", "log", "sqrt", "sin", "cos", "tan", "arcsin", "arccos",
                             "arctan", "sinh", "cosh", "tanh")}}[op]()


#: Operations the interpreter computes with the C library's functions (as the
#: compiled kernel does), where numpy runs its own SIMD loops: within 2 units
#: in the last place of numpy's number, not bit for bit.
LIBM = {"POW", "EXP", "LOG", "SQRT", "SIN", "COS", "TAN", "ARCSIN", "ARCCOS", "ARCTAN",
        "SINH", "COSH", "TANH"}


def _ratio(num, den):
    from sdrev.loops.links import ratio
    return ratio(num, den)


def _one_row(row, operands, immediates=None):
    """The value of one tape row over ``operands`` (registers 0-2), one run
    per element."""
    n = len(operands[0])
    program = tape.Tape(variables=("a", "b", "c"), constants=(),
                        code=np.array([row], dtype=np.int64),
                        immediates=np.zeros(1) if immediates is None else immediates,
                        registers=9, links=np.array([[8]], dtype=np.int64),
                        lengths=np.array([1], dtype=np.int64),
                        part=np.array([0], dtype=np.int64), parts=1)
    X = np.stack(operands)[None]  # one stored step, variables a, b, c (registers 0-2)
    raw = np.zeros((n, 1, 2))
    rel = np.zeros_like(raw)
    sums = np.zeros((n, 1, 2))
    zero = np.zeros(1, dtype=np.int64)
    assert tape.run_tape(program, X, zero, zero, np.zeros((0, n)), np.zeros(1),
                         np.ones(1), raw, rel, sums, 0, n)
    # the "after" registers hold the same values as the "before" ones here
    return raw[:, 0, 1]


@pytest.mark.parametrize("op", [o for o in tape.OPS if o not in ("CONST", "LOOKUP")])
def test_each_tape_operation_is_numpys(op):
    """Every operation of the interpreter, over zeros of both signs, tiny and
    huge numbers, infinities and NaN in every position: numpy's numbers (and
    sdrev.ensemble.functions' / sdrev.loops.links.ratio's), bit for bit; the
    C library's functions (LIBM) within 2 units in the last place, with
    numpy's NaNs, infinities and zeros."""
    a, b, c = _operands(3)
    got = _one_row((tape.OPS.index(op), 8, 0, 1, 2), (a, b, c))
    expected = np.broadcast_to(_as_numpy(op, a, b, c), got.shape)
    same = ~np.isnan(expected)
    np.testing.assert_array_equal(np.signbit(got[same]), np.signbit(expected[same]))
    if op not in LIBM:
        np.testing.assert_array_equal(got, expected)
        return
    np.testing.assert_array_equal(np.isnan(got), ~same)
    np.testing.assert_array_equal(got[~np.isfinite(expected)], expected[~np.isfinite(expected)])
    finite = np.isfinite(expected)
    gap = np.abs(got[finite] - expected[finite])
    assert (gap <= 2 * np.spacing(np.abs(expected[finite]))).all()


@pytest.mark.parametrize("kind", sorted(tape.LOOKUP_KINDS))
def test_tape_lookup_is_the_engines(kind):
    """LOOKUP reads its table from the immediates (length, x values, y values
    at the row's offset) and gives sdrev.ensemble.functions.lookup's numbers
    bit for bit: at and between the points, beyond both ends (held, or
    extrapolated along the end segments), at infinities and NaN."""
    xs = np.array([0.0, 0.5, 2.0, 2.5, 4.0])
    ys = np.array([1.0, -0.25, 3.0, 3.0, 0.125])
    x = np.concatenate([np.linspace(-3.0, 7.0, 97), xs, np.nextafter(xs, np.inf),
                        [np.inf, -np.inf, np.nan, -0.0]])
    imm = np.concatenate([[7.5, 9.5], [len(xs)], xs, ys])  # the table from offset 2
    got = _one_row((tape.OPS.index("LOOKUP"), 8, 0, 2, tape.LOOKUP_KINDS[kind]),
                   (x, x, x), immediates=imm)
    expected = fn.lookup(x, xs, ys, kind)
    np.testing.assert_array_equal(got, expected)
    assert len(np.unique(got[np.isfinite(got)])) >= (4 if kind.startswith(("hold", "look"))
                                                    else 40)
