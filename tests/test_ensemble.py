"""The ensemble engine reproduces PySD run for run, and its API behaves.

For every model in ``models/`` random parameter sets inside the
documented ranges (the ``[lo, hi]`` of the units field) are run with the
vectorised engine (the compiled kernel where it covers the model, and the
numpy engine) and, one by one, with PySD (the reference); every saved
value must agree to a relative 1e-9. ``SDREV_ENSEMBLE_SETS`` sets per
model (default 50, as the issue asks; 10 for the one model PySD runs
slowly, see ``SLOW_IN_PYSD``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sdrev.errors import InvalidValueError, UnknownNameError
from sdrev.ensemble import (UnsupportedConstructError, compile_model, run,
                            sample_lhs, write)
from sdrev.ensemble import functions as fn
from sdrev.ensemble.compile import CONTROL
from sdrev.translate import load_pysd, translate

MODELS = sorted((Path(__file__).parents[1] / "models").glob("*.mdl"))
N_SETS = int(os.environ.get("SDREV_ENSEMBLE_SETS", "50"))

TINY = """\
Stock= INTEG (Inflow - Outflow, Initial Stock)
\t~\tunits\t~\t|
Initial Stock= 10
\t~\tunits [1,20]\t~\t|
Inflow= Rate * Effect(Stock / Reference) + STEP(Jump, 3) + PULSE(2, 1)
\t~\tunits/Year\t~\t|
Outflow= XIDZ(Stock, Residence Time, 0) + SMOOTH3(Inflow, 2) * 0
\t~\tunits/Year\t~\t|
Delayed= DELAY3(Inflow, 1.5) + DELAY1I(Inflow, 1, 2) + TREND(Stock, 2, 0)
\t~\tunits/Year\t~\t|
Held= SAMPLE IF TRUE(Time >= 5 :AND: Time < 5.2, Stock, 0) + INITIAL(Stock)
\t~\tunits\t~\t|
Effect(
\t[(0,0)-(2,2)],(0,0.5),(1,1),(2,1.5))
\t~\tDmnl\t~\t|
Rate= 2
\t~\tunits/Year [0,5]\t~\t|
Jump= 1
\t~\tunits/Year [0,3]\t~\t|
Reference= 10
\t~\tunits [5,15]\t~\t|
Residence Time= 4
\t~\tYear [1,8]\t~\t|
Ramped= RAMP(0.5, 2, 6) + IF THEN ELSE(Stock > 12, MIN(Stock, 20), MAX(0, Stock))
\t~\tunits\t~\t|
********************************************************
\t.Control
********************************************************~
\t\tSimulation Control Parameters
\t|
FINAL TIME  = 10
\t~\tYear\t~\t|
INITIAL TIME  = 0
\t~\tYear\t~\t|
SAVEPER  = 0.5
\t~\tYear [0,?]\t~\t|
TIME STEP  = 0.125
\t~\tYear [0,?]\t~\t|
"""


def _ranges(program) -> dict:
    return {k: v for k, v in program.limits.items()
            if k not in CONTROL and v[0] is not None and v[1] is not None
            and v[0] < v[1]}


def _assert_close(actual, desired, rtol: float, message: str) -> None:
    """Equal to ``rtol``, where a value that should be exactly zero (a net
    flow at equilibrium) may be off by rounding: absolute slack of 1e-12
    times the largest magnitude of the series. (The compiled kernel takes
    ``exp`` and ``pow`` from the C library, numpy from its own SIMD code;
    they can differ in the last bit, and a difference of two equal terms
    then gives 1e-16 instead of 0.)"""
    desired = np.asarray(desired, dtype=float)
    finite = np.abs(desired[np.isfinite(desired)])
    scale = float(finite.max()) if finite.size else 0.0
    np.testing.assert_allclose(actual, desired, rtol=rtol,
                               atol=max(1e-12 * scale, 1e-300),
                               equal_nan=True, err_msg=message)


def _check_against_pysd(path: Path, n_sets: int, seed: int) -> None:
    try:
        program = compile_model(path, subscripts=True)
    except UnsupportedConstructError as exc:
        pytest.xfail(f"runs through the PySD fallback: {exc}")
    ranges = _ranges(program)
    rng = np.random.default_rng(seed)
    samples = pd.DataFrame({k: rng.uniform(lo, hi, n_sets)
                            for k, (lo, hi) in ranges.items()})
    outputs = [k for k in program.step if k not in program.constants]
    result = run(path, samples, outputs=outputs, progress=False, workers=2,
                 engine="sdrev", jit=True)
    reference = run(path, samples, outputs=outputs, progress=False,
                    workers=1, engine="sdrev", jit=False)
    assert result.attrs["kernel"] == int(not program.dims)
    assert reference.attrs["kernel"] == 0
    for o in outputs:  # compiled kernel and numpy engine agree
        _assert_close(result[o].values, reference[o].values, 1e-12,
                      f"{path.name}: {o}")
    vensim = {v: k for k, v in program.names.items()}
    # one PySD model object: every run sets the same parameters, so runs do
    # not leak into each other (PySD keeps parameter changes between runs)
    model = load_pysd(translate(path))
    for i in range(n_sets):
        params = {vensim[k]: float(samples[k].iloc[i]) for k in samples}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                frame = model.run(params=params, progress=False,
                                  return_columns=[vensim[o] for o in outputs])
        except (ArithmeticError, ValueError):
            # PySD cannot finish this run; the ensemble must not hide it
            assert any(not np.isfinite(result[o].values[i]).all()
                       for o in outputs), f"run {i} of {path.name}"
            continue
        np.testing.assert_allclose(result["time"].values,
                                   frame.index.to_numpy(float), rtol=0, atol=1e-9)
        for o in outputs:
            ours = result[o].values[i]
            for cell in np.ndindex(ours.shape[1:]):  # () for scalars
                column = vensim[o]
                if cell:  # PySD's column of one element: Name[a,b]
                    column += "[" + ",".join(
                        program.coords[o][j][c] for j, c in enumerate(cell)) + "]"
                _assert_close(
                    ours[(slice(None),) + cell], frame[column].to_numpy(float),
                    1e-9, f"{path.name}: {column}, run {i}, params {params}")


@pytest.mark.slow
@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_library_model_matches_pysd(path):
    # 50 sets each, as issue 4 asks; the subscripted mne model takes PySD
    # about 7 s a run on a quiet machine (its xarray operations: 85 s for 12
    # sets, the suite's longest test), so it gets 6: the comparison is exact
    # (1e-9) at every saved time of every variable and element, the same
    # equations at each set, and its loop scores are compared on 50 sets
    # with the per-run analysis (test_loops_ensemble)
    sets = 6 if path.stem == "mne_reverse_knowledge" else N_SETS
    _check_against_pysd(path, sets, seed=len(path.stem))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "tiny.mdl"
    path.write_text(TINY)
    return path


@pytest.mark.slow
def test_builtins_match_pysd(tiny):
    _check_against_pysd(tiny, 4, seed=3)


def test_lookup_holds_end_values_and_interpolates():
    xs, ys = np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.0, 1.5])
    got = fn.lookup(np.array([-1.0, 0.5, 3.0]), xs, ys)
    np.testing.assert_allclose(got, [0.5, 0.75, 1.5])
    ext = fn.lookup(np.array([-1.0, 3.0]), xs, ys, "extrapolate")
    np.testing.assert_allclose(ext, [0.0, 2.0])


def test_lookup_nd_is_one_vensim_lookup_per_element():
    rng = np.random.default_rng(5)
    shared = np.array([0.0, 1.0, 2.5, 4.0])
    ys = rng.normal(size=(4, 3))
    x = rng.uniform(-1, 5, size=(6, 3))
    got = fn.lookup_nd(x, shared, ys)
    for e in range(3):
        np.testing.assert_allclose(got[:, e], np.interp(x[:, e], shared, ys[:, e]),
                                   rtol=1e-12)
        np.testing.assert_array_equal(
            fn.lookup_nd(x, shared, ys, "hold_backward")[:, e],
            fn.lookup(x[:, e], shared, ys[:, e], "hold_backward"))
    # one x per element; the shorter table repeats its last point
    xs = np.array([[0.0, 0.0], [1.0, 2.0], [3.0, 5.0], [3.0, 6.0]])
    yt = np.array([[1.0, 0.0], [2.0, 4.0], [0.5, 1.0], [0.5, 3.0]])
    x = np.array([[-1.0, 7.0], [0.5, 1.0], [2.0, 5.5], [9.0, -2.0]])
    got = fn.lookup_nd(x, xs, yt)
    want0 = np.interp(x[:, 0], xs[:3, 0], yt[:3, 0])
    want1 = np.interp(x[:, 1], xs[:, 1], yt[:, 1])
    np.testing.assert_allclose(got, np.stack([want0, want1], axis=1), rtol=1e-12)


def test_series_follows_pysd_data_interpolation():
    times = np.array([0.0, 2.0, 4.0])
    values = np.array([[0.0, 10.0], [2.0, 20.0], [8.0, 40.0]])
    np.testing.assert_allclose(fn.series(1.0, times, values), [1.0, 15.0])
    np.testing.assert_allclose(fn.series(3.0, times, values, "look_forward"),
                               [8.0, 40.0])
    np.testing.assert_allclose(fn.series(3.0, times, values, "hold_backward"),
                               [2.0, 20.0])
    assert np.isnan(fn.series(3.0, times, values, "raw")).all()
    np.testing.assert_allclose(fn.series(2.0, times, values, "raw"), [2.0, 20.0])
    np.testing.assert_allclose(fn.series(9.0, times, values), [8.0, 40.0])
    np.testing.assert_allclose(fn.series(-1.0, times, values), [0.0, 10.0])


def test_vector_select_reduces_where_selected_and_fills_missing():
    sel = np.array([[[1.0, 0.0, 2.0], [0.0, 0.0, 0.0]]])  # (run, row, col!)
    val = np.array([[[5.0, 7.0, 3.0], [1.0, 2.0, 3.0]]])
    got = fn.vector_select(sel, val, -1.0, 0, (2,), 2)  # weighted sum
    np.testing.assert_allclose(got, [[11.0, -1.0]])
    np.testing.assert_allclose(fn.vector_select(sel, val, -1.0, 8.0, (2,), 2),
                               [[3.0, -1.0]])  # minimum of the selected
    np.testing.assert_allclose(fn.vector_select(sel, val, -1.0, 10, (2,), 2),
                               [[4.0, -1.0]])  # mean of the selected
    with pytest.raises(InvalidValueError, match="numerical action"):
        fn.vector_select(sel, val, -1.0, 11, (2,), 2)


SUBSCRIPTED_LOOKUPS = """\
Dim: a, b, c
\t~\t~\t|
Table[a](
\t[(0,0)-(10,10)],(0,0),(5,10),(10,0))
\t~\t~\t|
Table[b](
\t[(0,0)-(10,10)],(0,1),(2,3),(4,2),(10,8))
\t~\t~\t|
Table[c](
\t[(0,0)-(10,10)],(1,1),(9,9))
\t~\t~\t|
Speed= 1
\t~\tDmnl [0.2,2]\t~\t|
Out[Dim]= Table[Dim](Time * Speed)
\t~\tDmnl\t~\t|
Level[Dim]= INTEG(Out[Dim], 0)
\t~\tDmnl\t~\t|
FINAL TIME  = 10
\t~\tYear\t~\t|
INITIAL TIME  = 0
\t~\tYear\t~\t|
SAVEPER  = 1
\t~\tYear\t~\t|
TIME STEP  = 0.25
\t~\tYear\t~\t|
"""


def test_subscripted_lookups_run_natively_and_match_pysd(tmp_path):
    path = tmp_path / "sublookup.mdl"
    path.write_text(SUBSCRIPTED_LOOKUPS)
    samples = pd.DataFrame({"Speed": [0.3, 1.0, 1.7]})
    ds = run(path, samples, outputs=["Out", "Level"], progress=False, workers=1,
             engine="sdrev")
    ref = run(path, samples, outputs=["Out", "Level"], progress=False, workers=1,
              engine="pysd")
    assert ds.attrs["engine"] == "sdrev"
    for name in ("out", "level"):
        assert ds[name].dims == ref[name].dims
        np.testing.assert_allclose(ds[name].values, ref[name].values,
                                   rtol=1e-9, atol=1e-12)


def test_xidz_zidz_use_vensim_small_value():
    np.testing.assert_allclose(fn.xidz(np.array([1.0, 1.0]),
                                       np.array([1e-7, 2.0]), 9.0), [9.0, 0.5])
    np.testing.assert_allclose(fn.zidz(1.0, np.array([0.0, 4.0])), [0.0, 0.25])


def test_result_shape_coords_and_names(tiny):
    samples = pd.DataFrame({"Rate": [1.0, 2.0, 3.0], "initial_stock": [5, 10, 15]})
    ds = run(tiny, samples, outputs=["Stock", "delayed"], progress=False,
             workers=1)
    assert ds.attrs["engine"] == "sdrev"
    assert dict(ds.sizes) == {"run": 3, "time": 21}
    np.testing.assert_allclose(ds["stock"].values[:, 0], [5, 10, 15])
    np.testing.assert_allclose(ds["rate"].values, [1, 2, 3])
    assert ds["time"].values[-1] == 10


def test_saveper_override(tiny):
    ds = run(tiny, None, outputs=["Stock"], progress=False, workers=1,
             saveper=1.0)
    np.testing.assert_allclose(ds["time"].values, np.arange(11.0))


def test_unknown_names_are_reported(tiny):
    with pytest.raises(UnknownNameError, match="Stok"):
        run(tiny, None, outputs=["Stok"], progress=False, workers=1)
    with pytest.raises(UnknownNameError, match="Rat"):
        run(tiny, pd.DataFrame({"Ratee": [1.0]}), outputs=["Stock"],
            progress=False, workers=1)
    with pytest.raises(InvalidValueError, match="chunk_size"):
        run(tiny, None, outputs=["Stock"], chunk_size=0, progress=False)


def test_chunks_and_processes_give_the_same_result(tiny):
    samples = sample_lhs({"Rate": (0, 5), "Residence Time": (1, 8)}, 40, seed=7)
    one = run(tiny, samples, outputs=["Stock"], progress=False, workers=1)
    many = run(tiny, samples, outputs=["Stock"], progress=False, workers=2,
               chunk_size=7)
    np.testing.assert_array_equal(one["stock"].values, many["stock"].values)


@pytest.mark.filterwarnings("ignore")
def test_dask_local_cluster_gives_the_same_result(tiny):
    pytest.importorskip("distributed")
    samples = sample_lhs({"Rate": (0, 5)}, 30, seed=2)
    local = run(tiny, samples, outputs=["Stock"], progress=False, workers=1)
    dask = run(tiny, samples, outputs=["Stock"], progress=False, workers=1,
               chunk_size=10, scheduler="local")
    np.testing.assert_array_equal(local["stock"].values, dask["stock"].values)


def test_sample_lhs_is_reproducible_and_in_range():
    a = sample_lhs({"x": (1, 2), "y": (-5, 5)}, 50, seed=1)
    b = sample_lhs({"x": (1, 2), "y": (-5, 5)}, 50, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert a["x"].between(1, 2).all() and a["y"].between(-5, 5).all()
    # one sample per stratum
    assert sorted(np.floor((a["x"] - 1) * 50).astype(int)) == list(range(50))
    with pytest.raises(InvalidValueError, match="lo <= hi"):
        sample_lhs({"x": (2, 1)}, 5, seed=1)


def test_write_netcdf_and_manifest(tiny, tmp_path):
    ds = run(tiny, pd.DataFrame({"Rate": [1.0, 2.0]}), outputs=["Stock"],
             progress=False, workers=1)
    target = write(ds, tmp_path / "run", manifest={"model": "tiny"})
    back = xr.open_dataset(target, engine="scipy")
    np.testing.assert_array_equal(back["stock"].values, ds["stock"].values)
    back.close()
    manifest = (tmp_path / "run" / "manifest.json").read_text()
    assert '"runs": 2' in manifest and '"model": "tiny"' in manifest
    with pytest.raises(InvalidValueError, match="format"):
        write(ds, tmp_path / "x", format="excel")


#: Two regions growing at one rate, and their SUM (tests/fixtures/regions.mdl).
SUBSCRIPTED = (Path(__file__).parent / "fixtures" / "regions.mdl").read_text()


MACRO = """\
:MACRO: SCALED(input, factor)
SCALED = input * factor
\t~\tinput\t~\t|
:END OF MACRO:
Level= INTEG (SCALED(Level, Rate), 1)
\t~\tunits\t~\t|
Rate= 0.1
\t~\t1/Year [0,0.5]\t~\t|
FINAL TIME  = 4
\t~\tYear\t~\t|
INITIAL TIME  = 0
\t~\tYear\t~\t|
SAVEPER  = 1
\t~\tYear\t~\t|
TIME STEP  = 0.5
\t~\tYear\t~\t|
"""


def test_subscripts_run_natively_with_dims_and_coords(tmp_path):
    path = tmp_path / "sub.mdl"
    path.write_text(SUBSCRIPTED)
    ds = run(path, pd.DataFrame({"Rate": [0.1, 0.2]}), outputs=["Total", "Level"],
             progress=False, workers=1, engine="sdrev")
    assert ds.attrs["engine"] == "sdrev"
    assert ds["level"].dims == ("run", "time", "Region")
    assert list(ds["Region"].values) == ["north", "south"]
    np.testing.assert_allclose(ds["total"].values[:, -1],
                               [2 * 1.05 ** 8, 2 * 1.1 ** 8], rtol=1e-12)
    np.testing.assert_allclose(ds["level"].sel(Region="south").values[:, -1],
                               [1.05 ** 8, 1.1 ** 8], rtol=1e-12)
    # the PySD reference gives the same arrays, dims and coords
    ref = run(path, pd.DataFrame({"Rate": [0.1, 0.2]}), outputs=["Total", "Level"],
              progress=False, workers=1, engine="pysd")
    assert ref["level"].dims == ds["level"].dims
    np.testing.assert_allclose(ref["level"].values, ds["level"].values, rtol=1e-12)


def test_macros_are_expanded_and_run_natively(tmp_path):
    path = tmp_path / "macro.mdl"
    path.write_text(MACRO)
    samples = pd.DataFrame({"Rate": [0.1, 0.2]})
    ds = run(path, samples, outputs=["Level"], progress=False, workers=1,
             engine="sdrev")
    assert ds.attrs["engine"] == "sdrev"
    np.testing.assert_allclose(ds["level"].values[:, -1],
                               [1.05 ** 8, 1.1 ** 8], rtol=1e-12)
    ref = run(path, samples, outputs=["Level"], progress=False, workers=1,
              engine="pysd")
    np.testing.assert_allclose(ds["level"].values, ref["level"].values,
                               rtol=1e-12)


#: VECTOR RANK is not vectorised: the model runs through PySD
UNSUPPORTED = SUBSCRIPTED.replace(
    "Level[Region]= INTEG (Growth[Region], 1)",
    "Level[Region]= INTEG (Growth[Region] + 0 * VECTOR RANK(Growth[Region], 1), 1)")


def test_unsupported_construct_is_named_and_falls_back(tmp_path):
    path = tmp_path / "rank.mdl"
    path.write_text(UNSUPPORTED)
    with pytest.raises(UnsupportedConstructError, match="VECTOR_RANK"):
        run(path, None, outputs=["Total"], progress=False, engine="sdrev")
    ds = run(path, pd.DataFrame({"Rate": [0.1, 0.2]}), outputs=["Total"],
             progress=False, workers=1)
    assert ds.attrs["engine"] == "pysd-fallback"
    assert "VECTOR_RANK" in ds.attrs["fallback_reason"]
    np.testing.assert_allclose(ds["total"].values[:, -1],
                               [2 * 1.05 ** 8, 2 * 1.1 ** 8], rtol=1e-12)


def test_kernel_matches_numpy_engine_on_every_builtin(tiny):
    # TINY uses SMOOTH3, DELAY3, DELAY1I, TREND, SAMPLE IF TRUE, INITIAL,
    # a lookup, STEP, PULSE, RAMP, XIDZ, MIN, MAX and IF THEN ELSE
    pytest.importorskip("numba")
    program = compile_model(tiny)
    samples = sample_lhs(_ranges(program), 301, seed=11)
    outputs = [k for k in program.step if k not in program.constants]
    compiled = run(tiny, samples, outputs=outputs, progress=False, workers=2,
                   chunk_size=100, jit=True)
    numpy_ = run(tiny, samples, outputs=outputs, progress=False, workers=1,
                 jit=False)
    assert compiled.attrs["kernel"] == 1 and numpy_.attrs["kernel"] == 0
    for o in outputs:
        _assert_close(compiled[o].values, numpy_[o].values, 1e-12, o)
    # machine code is cached in sdrev's cache folder, never beside the model
    from sdrev.translate import cache_root

    assert list((cache_root() / "kernels").glob("k_*.py"))
    assert sorted(p.name for p in tiny.parent.iterdir()) == ["tiny.mdl"]


DELAY_FIXED = TINY.replace("Ramped= RAMP(0.5, 2, 6)",
                           "Ramped= DELAY FIXED(Stock, 1, 3) + RAMP(0.5, 2, 6)")


def test_kernel_leaves_uncovered_models_to_the_numpy_engine(tmp_path):
    path = tmp_path / "fixed.mdl"
    path.write_text(DELAY_FIXED)
    samples = pd.DataFrame({"Rate": np.linspace(0, 5, 20)})
    a = run(path, samples, outputs=["Ramped"], progress=False, jit=True,
            workers=1)
    b = run(path, samples, outputs=["Ramped"], progress=False, jit=False,
            workers=1)
    assert a.attrs["kernel"] == 0
    np.testing.assert_array_equal(a["ramped"].values, b["ramped"].values)


def test_compiled_program_is_cached_by_content(tmp_path):
    from sdrev.translate import cache_root

    path = tmp_path / "tiny.mdl"
    path.write_text(TINY)
    first = compile_model(path)
    entries = set((cache_root() / "programs").glob("tiny-*.pkl"))
    again = compile_model(path)
    assert set((cache_root() / "programs").glob("tiny-*.pkl")) == entries
    assert again.constants == first.constants and again.step == first.step
    path.write_text(TINY.replace("Rate= 2", "Rate= 3"))
    changed = compile_model(path)
    assert changed.constants["rate"] == 3.0
    assert len(set((cache_root() / "programs").glob("tiny-*.pkl"))) == len(entries) + 1


def test_model_names_are_read_once_per_file_contents(tmp_path, monkeypatch):
    """model_namespace parses a file once while its bytes stay the same, and
    again (same size, same place) when they change; callers get copies."""
    import sdrev.translate
    from sdrev.ensemble.api import model_namespace

    parses = []
    real = sdrev.translate.abstract_model
    monkeypatch.setattr(sdrev.translate, "abstract_model",
                        lambda p: parses.append(p) or real(p))
    path = tmp_path / "tiny.mdl"
    path.write_text(TINY)
    first = model_namespace(path)
    first["Rate"] = "changed by a caller"
    assert model_namespace(path)["Rate"] == "rate" and len(parses) == 1
    path.write_text(TINY.replace("Rate", "Pace"))  # as many bytes
    names = model_namespace(path)
    assert len(parses) == 2 and names["Pace"] == "pace" and "Rate" not in names
