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
from sdrev.loops import batch, chunks, fused, tape

MODELS = Path(__file__).parent.parent / "models"

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


def test_fused_path_only_where_the_kernel_integrates_as_numpy():
    """A model whose kernel would not integrate bit for bit as numpy (exp,
    powers) is left to the numpy path."""
    model = sdrev.load(MODELS / "digital_disruption.mdl")
    st = batch.structure(model.path, loops.MAX_LOOPS)
    samples = sample_lhs({p.name: tuple(p.range) for p in model.parameters
                          if p.range and p.range[0] < p.range[1]}, 4, seed=1)
    table = chunks.run_table(model, samples, scenario=None, program=st.program)
    part = tuple(st.partitions[lp[0]] for lp in st.loops)
    assert fused.score_chunk(st, table.base, table.varied, table.runs, list(st.loops),
                             part) is None


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
                "SIGN": lambda: np.sign(a)}[op]()


def _ratio(num, den):
    from sdrev.loops.links import ratio
    return ratio(num, den)


@pytest.mark.parametrize("op", [o for o in tape.OPS if o != "CONST"])
def test_each_tape_operation_is_numpys(op):
    """Every operation of the interpreter, over zeros of both signs, tiny and
    huge numbers, infinities and NaN in every position: numpy's numbers (and
    sdrev.ensemble.functions' / sdrev.loops.links.ratio's), bit for bit."""
    a, b, c = _operands(3)
    n = len(a)
    code = np.array([(tape.OPS.index(op), 8, 0, 1, 2)], dtype=np.int64)
    program = tape.Tape(variables=("a", "b", "c"), constants=(), code=code,
                        immediates=np.zeros(1), registers=9,
                        links=np.array([[8]], dtype=np.int64),
                        lengths=np.array([1], dtype=np.int64),
                        part=np.array([0], dtype=np.int64), parts=1)
    X = np.stack([a, b, c])[None]  # one stored step, variables a, b, c (registers 0-2)
    raw = np.zeros((n, 1, 2))
    rel = np.zeros_like(raw)
    sums = np.zeros((n, 1, 2))
    zero = np.zeros(1, dtype=np.int64)
    assert tape.run_tape(program, X, zero, zero, np.zeros((0, n)), np.zeros(1),
                         np.ones(1), raw, rel, sums, 0, n)
    expected = np.broadcast_to(_as_numpy(op, a, b, c), (n,))
    # the "after" registers hold the same values as the "before" ones here
    np.testing.assert_array_equal(raw[:, 0, 1], expected)
    same = ~np.isnan(expected)
    np.testing.assert_array_equal(np.signbit(raw[same, 0, 1]), np.signbit(expected[same]))
