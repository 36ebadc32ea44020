"""Loop analysis over an ensemble (sdrev.loops.analyze_ensemble, sdrev.loops.chunks):
the same numbers as the per-run analysis (the reference), run by run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sdrev
from sdrev import loops
from sdrev.ensemble import sample_lhs
from sdrev.errors import InvalidValueError, UnknownNameError
from sdrev.loops import batch, chunks
from sdrev.loops.dominance import dominant_membership, dominant_sets, set_words
from sdrev.loops.bands import band_quantiles

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = Path(__file__).parent.parent / "models"
SHARED = Path(__file__).parent.parent.parent / "shared" / "test-models" / "tests"
LIBRARY = sorted(p.stem for p in MODELS.glob("*.mdl"))

_LOADED: dict = {}


def _load(path):
    if path not in _LOADED:
        _LOADED[path] = sdrev.load(path)
    return _LOADED[path]


def _samples(model, n: int, seed: int) -> pd.DataFrame:
    """A Latin hypercube over the documented ranges (or +-50% of each constant)."""
    ranges = {}
    for p in model.parameters:
        if p.range and np.isfinite(p.range).all() and p.range[0] < p.range[1]:
            ranges[p.name] = tuple(p.range)
        elif isinstance(p.value, (int, float)) and float(p.value) != 0:
            v = float(p.value)
            ranges[p.name] = tuple(sorted((0.5 * v, 1.5 * v)))
    if not ranges:  # nothing to vary: n identical runs
        return pd.DataFrame(index=range(n))
    return sample_lhs(dict(list(ranges.items())[:16]), n, seed=seed)


def _scenario(model):
    return "baseline" if "baseline" in model.scenarios else None


def _period_hits(periods: pd.DataFrame, times: np.ndarray) -> dict:
    """Loop id -> whether each of ``times`` lies in one of the periods in
    which the loop is among the dominant loops (one pass over the periods)."""
    out: dict = {}
    for start, end, members in zip(periods["start"], periods["end"], periods["loops"]):
        inside = (times >= start) & (times <= end)
        for loop_id in members:
            out[loop_id] = out.get(loop_id, np.zeros(len(times), dtype=bool)) | inside
    return out


def _hits(periods: pd.DataFrame, loop_id: str, times: np.ndarray) -> np.ndarray:
    return _period_hits(periods, times).get(loop_id, np.zeros(len(times), dtype=bool))


#: Tolerances of relative scores (absolute) and raw loop scores (relative)
#: for models whose compiled passes call the C library's exp, log or power
#: (batch.fused_allowed but not kernel_exact) while numpy runs its own SIMD
#: loops, which differ in the last bit on a few percent of inputs. Link
#: scores divide one step's changes; at a flow's turning point that change is
#: 1e-7 of the flow or less, and the last-bit differences of the trajectories
#: become differences of up to 1.6e-9 in relative scores and 1.4e-6 in raw loop
#: scores (measured over 450 runs each of machine_tool_io and
#: network_reverse_innovation): the per-run analysis's own numbers move as
#: much between numpy with and without AVX-512. Where numpy uses the C
#: library's functions they agree bit for bit (test_loops_fused).
LIBM_TOLERANCE = (1e-8, 1e-5)


def _assert_same_as_per_run(model, samples: pd.DataFrame, *, chunk_size: int) -> None:
    """Every run of the ensemble equals ``loops.analyze`` with its constants:
    loops, ids, names, polarities, relative and raw scores (1e-9, or
    :data:`LIBM_TOLERANCE`), dominant sets over all loops and among the
    documented loops (exactly)."""
    scenario = _scenario(model)
    st = batch.structure(model.path, loops.MAX_LOOPS)
    libm = batch.fused_allowed(st.program) and not batch.simulator(st.program)[1]
    rel_tol, raw_tol = LIBM_TOLERANCE if libm else (1e-9, 1e-9)
    table = chunks.run_table(model, samples, scenario=scenario, program=st.program)
    done = 0
    for chunk in chunks.iter_chunks(model, table, max_loops=loops.MAX_LOOPS,
                                    chunk_size=chunk_size):
        for r in range(chunk.runs):
            row = samples.iloc[chunk.start + r].to_dict()
            ref = loops.analyze(model, scenario=scenario, params=row)
            group = chunk.groups[chunk.group[r]]
            assert len(group.loops) == len(ref.loops)
            times = ref.relative_scores.index.to_numpy(dtype=float)
            np.testing.assert_array_equal(chunk.times, times)
            never = np.zeros(len(times), dtype=bool)
            dominant = _period_hits(ref.dominant_periods, times)
            documented = _period_hits(ref.documented_periods, times)
            for loop in ref.loops.itertuples(index=False):
                i = chunk.labels.index(tuple(loop.variables))
                assert i in group.loops
                assert group.names[i].id == loop.id
                assert group.names[i].name == loop.name
                assert group.polarity[i] == loop.polarity
                np.testing.assert_allclose(chunk.relative[r, i],
                                           ref.relative_scores[loop.id].to_numpy(),
                                           rtol=0, atol=rel_tol)
                np.testing.assert_allclose(chunk.raw[r, i],
                                           ref.loop_scores[loop.id].to_numpy(),
                                           rtol=raw_tol, atol=1e-12)
                np.testing.assert_array_equal(chunk.dominant[r, i],
                                              dominant.get(loop.id, never))
                np.testing.assert_array_equal(chunk.documented_dominant[r, i],
                                              documented.get(loop.id, never))
            done += 1
    assert done == len(samples)


def test_library_model_equals_per_run_analysis():
    model = _load(MODELS / "crrc_standards.mdl")
    _assert_same_as_per_run(model, _samples(model, 6, seed=11), chunk_size=4)


@pytest.mark.slow
@pytest.mark.parametrize("name", LIBRARY)
def test_library_model_equals_per_run_analysis_50_sets(name):
    model = _load(MODELS / f"{name}.mdl")
    _assert_same_as_per_run(model, _samples(model, 50, seed=5),
                            chunk_size=16)


SHARED_WITH_LOOPS = ["odd_number_quotes/teacup_3quotes.mdl", "ln/test_ln.mdl",
                     "subscript_numeric_range/test_subscript_numeric_range.mdl",
                     "subscript_switching/subscript_switching.mdl"]


@pytest.mark.parametrize("rel", SHARED_WITH_LOOPS)
def test_shared_test_model_equals_per_run_analysis(rel):
    path = SHARED / rel
    if not path.is_file():
        pytest.skip(f"shared test model {rel} not present")
    model = _load(path)
    samples = _samples(model, 6, seed=2)
    _assert_same_as_per_run(model, samples, chunk_size=4)


# ------------------------------------------------------------- dominance

@pytest.mark.parametrize("compiled", [True, False])
def test_dominant_membership_equals_dominant_sets_with_ties(compiled):
    """Both the compiled scan and the numpy arrays give dominant_sets' sets."""
    rng = np.random.default_rng(3)
    pols = ["reinforcing", "balancing", "undetermined", "mostly balancing",
            "mostly reinforcing", "balancing", "undetermined"]
    scores = rng.choice([-0.4, -0.25, -0.1, 0.0, 0.1, 0.25, 0.4], size=(30, 7, 12))
    member = dominant_membership(scores, pols, threshold=0.5, compiled=compiled)
    ids = [f"L{i}" for i in range(7)]
    for r in range(30):
        sets = dominant_sets(scores[r], ids, pols, threshold=0.5)
        for k, s in enumerate(sets):
            assert {ids[i] for i in np.flatnonzero(member[r, :, k])} == set(s)


def test_band_quantiles_are_numpys_byte_for_byte():
    """The band's quantiles from a sort equal np.quantile's (linear method)
    bit for bit: weights under and over 0.5, ties, zeros of both signs or of
    one, one and two runs."""
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 20, 1000):
        x = np.round(rng.normal(size=(n, 40)) * 4) / 4
        x[:, :10] = rng.normal(size=(n, 10))
        x[rng.random(x.shape) < 0.2] = 0.0
        x[rng.random(x.shape) < 0.1] = -0.0
        # zeros of one sign only, at the places read
        x[:, 30:] = np.where(rng.random((n, 10)) < 0.6, -0.0, rng.normal(size=(n, 10)))
        want = np.quantile(x, [0.05, 0.5, 0.95], axis=0)
        assert band_quantiles(x).tobytes() == want.tobytes()


def test_set_words_are_the_packed_rows():
    """set_words packs each run and time's flags (some loops, at scattered
    bits) as the time stamp and np.packbits' bytes of one machine word."""
    rng = np.random.default_rng(5)
    member = rng.random((7, 9, 300)) < 0.3
    local, positions = [1, 4, 5, 8], [0, 9, 17, 47]
    words = set_words(member, local, positions)
    full = np.zeros((7, 300, 48), dtype=bool)
    full[:, :, positions] = member[:, local].transpose(0, 2, 1)
    stamp = np.broadcast_to(np.arange(300, dtype=">u2").view(np.uint8).reshape(1, 300, 2),
                            (7, 300, 2))
    rows = np.concatenate([stamp, np.packbits(full, axis=-1)], axis=-1).reshape(-1, 8)
    np.testing.assert_array_equal(words, np.ascontiguousarray(rows).view("<u8").ravel())
    with pytest.raises(ValueError, match="48 bits"):
        set_words(member, [0], [48])


# --------------------------------------------------------- the analysis

@pytest.fixture(scope="module")
def crrc():
    return _load(MODELS / "crrc_standards.mdl")


@pytest.fixture(scope="module")
def crrc_ensemble(crrc):
    samples = sample_lhs({"R and D Spending": (0.05, 0.2),
                          "International Cooperation Intensity": (0.0, 0.3),
                          "Standards Policy Push": (0.0, 0.5)}, 12, seed=4)
    return samples, loops.analyze_ensemble(crrc, samples, scenario="baseline",
                                           chunk_size=5)


def test_dominance_probability_is_the_share_of_runs(crrc, crrc_ensemble):
    samples, result = crrc_ensemble
    assert result.runs == 12 and result.method == "exhaustive"
    documented = {lp.id for lp in crrc.loops}
    assert set(result.documented) == documented
    refs = [loops.analyze(crrc, scenario="baseline", params=samples.iloc[r].to_dict())
            for r in range(12)]
    times = result.times
    for loop_id in result.documented:
        hits = np.array([_hits(a.dominant_periods, loop_id, times) for a in refs])
        doc = np.array([_hits(a.documented_periods, loop_id, times) for a in refs])
        rows = result.dominance[result.dominance["loop"] == loop_id]
        np.testing.assert_allclose(rows["probability"], hits.mean(axis=0))
        np.testing.assert_allclose(rows["documented_probability"], doc.mean(axis=0))
        rel = np.array([a.relative_scores[loop_id].to_numpy() for a in refs])
        np.testing.assert_allclose(rows["median"], np.median(rel, axis=0), atol=1e-12)
        np.testing.assert_allclose(rows["low"], np.quantile(rel, 0.05, axis=0), atol=1e-12)
        np.testing.assert_allclose(rows["high"], np.quantile(rel, 0.95, axis=0), atol=1e-12)
        j = result.documented.index(loop_id)
        np.testing.assert_allclose(result.relative[:, j], rel, atol=1e-9)
    # dominant sets: each time's shares (over sets of >= 1% of runs) at most 1
    sets = result.dominant_sets
    assert set(sets["analysis"]) == {"all", "documented"}
    total = sets.groupby(["analysis", "partition", "time"])["share"].sum()
    assert (total <= 1 + 1e-12).all() and total.max() == pytest.approx(1.0)
    first = refs[0].dominant_at(times[-1])
    assert first in set(sets[(sets["analysis"] == "all")
                             & (sets["time"] == times[-1])]["loops"])


def test_result_api_and_write(crrc_ensemble, tmp_path):
    _, result = crrc_ensemble
    with pytest.raises(AttributeError):
        result.method = "x"  # frozen
    p = result.probability("ecology")
    assert p.name == "R2" and len(p) == len(result.times)
    assert ((p >= 0) & (p <= 1)).all()
    with pytest.raises(UnknownNameError, match="ecology"):
        result.probability("ecolgy")
    tidy = result.relative_scores()
    assert len(tidy) == result.runs * len(result.documented) * len(result.times)
    assert list(tidy.columns) == ["run", "time", "loop", "relative_score"]
    assert "leads in" in result.text()
    files = result.write(tmp_path / "out")
    assert all(f.is_file() for f in files)
    back = pd.read_csv(tmp_path / "out" / "dominance.csv")
    assert len(back) == len(result.dominance)
    assert len(pd.read_parquet(tmp_path / "out" / "relative_scores.parquet")) == len(tidy)


def test_bad_samples(crrc):
    with pytest.raises(UnknownNameError, match="R and D Spendng"):
        loops.analyze_ensemble(crrc, pd.DataFrame({"R and D Spendng": [0.1]}))
    with pytest.raises(InvalidValueError, match="numeric"):
        loops.analyze_ensemble(crrc, pd.DataFrame({"R and D Spending": ["a"]}))
    with pytest.raises(InvalidValueError, match="at least one row"):
        loops.analyze_ensemble(crrc, pd.DataFrame({"R and D Spending": []}))
    with pytest.raises(InvalidValueError, match="TIME STEP"):
        loops.analyze_ensemble(crrc, pd.DataFrame({"TIME STEP": [0.0625, 0.125]}))


# ------------------------------------------------------- loop metrics

def test_sensitivity_loop_metrics_equal_per_run(crrc):
    from sdrev import sensitivity as sa
    from sdrev.sensitivity.loop_metrics import evaluate, metric_value

    spec = sa.load_spec(crrc, "crrc_standards_dominance")
    samples = sample_lhs({f.name: f.range for f in spec.factors}, 8, seed=9)
    rows = samples.to_dict(orient="records")
    got = evaluate(crrc, spec.loop_metrics, rows, scenario=spec.scenario, workers=1)
    for r, row in enumerate(rows):
        ref = loops.analyze(crrc, scenario=spec.scenario, params=row)
        for m in spec.loop_metrics:
            want = metric_value(ref, m)
            if math.isnan(want):
                assert math.isnan(got[m.name][r])
            else:
                assert got[m.name][r] == pytest.approx(want, abs=1e-9)


def test_loop_metric_naming_an_undocumented_loop_is_refused(crrc):
    from sdrev.sensitivity.loop_metrics import evaluate
    from sdrev.sensitivity.spec import LoopMetric

    undocumented = loops.analyze(crrc, scenario="baseline").loops
    loop_id = undocumented[~undocumented["documented"]]["id"].iloc[0]
    metric = LoopMetric(name="x", kind="dominance_share", loop=loop_id)
    with pytest.raises(UnknownNameError, match="undocumented"):
        evaluate(crrc, [metric], [{"R and D Spending": 0.1}], scenario="baseline")


# -------------------------------------------------------------- command line

def test_cli_loops_over_a_latin_hypercube(tmp_path, capsys):
    from sdrev.cli import main

    out = tmp_path / "dominance"
    code = main(["loops", str(MODELS / "crrc_standards.mdl"), "--sample", "lhs:6",
                 "--seed", "2", "--scenario", "baseline", "--out", str(out), "--quiet"])
    assert code == 0
    assert "loop dominance over 6 runs" in capsys.readouterr().out
    for name in ("dominance.csv", "dominant_sets.csv", "loops.csv", "samples.csv",
                 "relative_scores.parquet", "dominance_probability.png", "manifest.json"):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "dominance.csv")
    assert set(table["loop"]) == {lp.id for lp in _load(MODELS / "crrc_standards.mdl").loops}


@pytest.mark.parametrize("argv, message", [
    (["--sample", "lhs:x"], "lhs:N"),
    (["--sample", "lhs:4", "--posterior", "nowhere"], "posterior"),
])
def test_cli_loops_ensemble_bad_input(argv, message, tmp_path, capsys):
    from sdrev.cli import main

    code = main(["loops", str(MODELS / "crrc_standards.mdl"), *argv,
                 "--out", str(tmp_path / "x"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_worker_processes_give_the_same_result(crrc, crrc_ensemble, monkeypatch):
    from sdrev.loops import ensemble as module

    samples, one = crrc_ensemble
    monkeypatch.setattr(module, "PARALLEL_RUNS", 1)
    # crrc_standards runs in threads in one process; here in worker processes
    monkeypatch.setattr(module._chunks, "compiled_passes", lambda st: False)
    two = loops.analyze_ensemble(crrc, samples, scenario="baseline", workers=2, chunk_size=5)
    np.testing.assert_array_equal(two.relative, one.relative)
    pd.testing.assert_frame_equal(two.dominance, one.dominance)
    pd.testing.assert_frame_equal(two.dominant_sets, one.dominant_sets)
    pd.testing.assert_frame_equal(two.loops, one.loops, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize("name, exact, used", [
    ("crrc_standards", True, {"np.maximum", "fn.zidz", "fn.xidz"}),
    ("digital_disruption", False, {"np.exp", "np.power"})])
def test_compiled_kernel_only_where_it_integrates_as_numpy(name, exact, used):
    """The loop ensemble runs the compiled kernel only on models whose generated
    code uses operations the kernel computes bit for bit as numpy (read from the
    code's syntax by kernelgen.operations, not from its text)."""
    from sdrev.ensemble.codegen import build_simulator
    from sdrev.ensemble.kernel import available
    from sdrev.ensemble.kernelgen import operations

    program = batch.structure(MODELS / f"{name}.mdl", loops.MAX_LOOPS).program
    outputs = tuple(sorted(n for n in program.step
                           if n not in program.constants and n != "time"))
    sim = build_simulator(program, outputs)
    assert used <= operations(sim)
    assert "**" not in operations(sim) and "L" not in operations(sim)
    assert batch.kernel_exact(sim) is (exact and available())
    # both run on the compiled loop passes (digital_disruption within LIBM_TOLERANCE)
    assert batch.kernel_close(sim) is available()


def test_compiled_loop_scores_equal_numpy_bit_for_bit(crrc):
    """saved_scores' compiled loop (products and partition shares run by run)
    gives the numpy arrays' numbers exactly, signs of zeros included."""
    st = batch.structure(crrc.path, loops.MAX_LOOPS)
    samples = sample_lhs({"R and D Spending": (0.05, 0.2),
                          "Standards Policy Push": (0.0, 0.5)}, 6, seed=5)
    table = chunks.run_table(crrc, samples, scenario="baseline", program=st.program)
    sp = batch.simulate_pairs(st, table.base, table.varied, table.runs)
    links = batch.batch_link_scores(st, sp, batch.loop_edges(st.loops))
    part = tuple(st.partitions[lp[0]] for lp in st.loops)
    fast = batch.saved_scores(list(st.loops), part, links, sp, compiled=True)
    slow = batch.saved_scores(list(st.loops), part, links, sp, compiled=False)
    for a, b in zip(fast, slow):
        assert np.abs(a).max() > 0
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(np.signbit(a), np.signbit(b))
