"""One run on the compiled engine: PySD's numbers within 1e-9, PySD as the
fallback, a run folder byte for byte as before, and a warm run that loads
neither PySD nor pandas nor numba."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sdrev
from sdrev.cli import main
from sdrev.ensemble.program import UnsupportedConstructError
from sdrev.library import list_models
from sdrev.report.text import summary_table
from sdrev.scenario import run_settings
from sdrev.simulate import Trajectories, trajectories

SUITE = Path(__file__).resolve().parents[2] / "shared" / "test-models" / "tests"
#: Shared test models covering delays, smoothing, lookups, IF THEN ELSE, initial
#: values, SAMPLE IF TRUE, macros and subscripts (1-3 ranges, subranges,
#: elements defined one by one).
SUITE_MODELS = ("delay_fixed", "smooth_and_stock", "lookups", "if_stmt", "initial_function",
                "sample_if_true", "macro_stock", "subscript_1d_arrays", "subscript_3d_arrays",
                "subrange_merge", "subscript_individually_defined_stocks", "delay_pipeline",
                "subscripted_delays")


def _assert_same(got: Trajectories, ref: Trajectories) -> None:
    assert got.columns == ref.columns
    np.testing.assert_array_equal(got.times, ref.times)
    assert np.array_equal(np.isfinite(got.values), np.isfinite(ref.values))
    np.testing.assert_allclose(got.values, ref.values, rtol=1e-9, atol=1e-9)


def _compare(path, scenario=None, params=None) -> Trajectories:
    model = sdrev.load(path)
    settings = run_settings(model, scenario=scenario, params=params)
    got = trajectories(model, settings, engine="sdrev")
    _assert_same(got, trajectories(model, settings, engine="pysd"))
    assert got.engine == "sdrev"
    return got


def test_engine_equals_pysd_with_settings(user_model_copy):
    got = _compare(user_model_copy, scenario="fast",
                   params={"Rate": 0.3, "TIME STEP": 0.5, "FINAL TIME": 2012})
    assert got.times[-1] == 2012


@pytest.mark.slow
@pytest.mark.parametrize("name", [entry.name for entry in list_models()])
def test_every_library_model_equals_pysd(name):
    model = sdrev.load(name)
    for scenario in list(model.scenarios)[:2] or [None]:
        _compare(name, scenario=scenario)


@pytest.mark.slow
@pytest.mark.parametrize("name", SUITE_MODELS)
def test_shared_test_models_equal_pysd(name):
    paths = sorted((SUITE / name).glob("*.mdl"))
    if not paths:
        pytest.skip("the shared Vensim test models are not beside this checkout")
    got = _compare(paths[0])
    if name.startswith("subscript"):
        assert any("[" in column for column in got.columns)


@pytest.mark.slow
def test_unsupported_model_falls_back_to_pysd_with_one_warning(caplog):
    path = SUITE / "allocate_available" / "test_allocate_available.mdl"
    if not path.exists():
        pytest.skip("the shared Vensim test models are not beside this checkout")
    model = sdrev.load(path)
    with caplog.at_level(logging.WARNING, logger="sdrev.simulate"):
        run = trajectories(model, run_settings(model))
    assert run.engine == "pysd-fallback" and "ALLOCATE AVAILABLE" in run.fallback_reason
    notes = [r.getMessage() for r in caplog.records if "running it with PySD" in r.getMessage()]
    assert len(notes) == 1 and "\n" not in notes[0]
    _assert_same(run, trajectories(model, run_settings(model), engine="pysd"))
    with pytest.raises(UnsupportedConstructError):
        trajectories(model, run_settings(model), engine="sdrev")


def test_engine_failure_falls_back_and_bad_input_does_not(user_model_copy, monkeypatch):
    from sdrev.ensemble import engine

    model = sdrev.load(user_model_copy)
    reference = trajectories(model, run_settings(model), engine="pysd")

    def broken(*args, **kwargs):
        raise FloatingPointError("overflow in the generated step")

    monkeypatch.setattr(engine, "simulate_chunk", broken)
    run = trajectories(model, run_settings(model))
    assert run.engine == "pysd-fallback" and "FloatingPointError" in run.fallback_reason
    _assert_same(run, reference)
    with pytest.raises(FloatingPointError):
        trajectories(model, run_settings(model), engine="sdrev")
    with pytest.raises(sdrev.SdrevError, match="unknown engine 'numba'; valid engines: auto"):
        trajectories(model, run_settings(model), engine="numba")


def test_csv_is_written_byte_for_byte_as_pandas_writes_it(tmp_path):
    values = np.array([[0.1 + 0.2, -0.0, np.nan, 1e-300],
                       [np.inf, -np.inf, 2.5e17, 1 / 3],
                       [100000.0, 12345678901234.0, -7.0, 5e-324]])
    run = Trajectories(times=np.array([2000.0, 2000.03125, 2001.0]),
                       columns=("plain", "stock[north,a]", 'quote"d', "x[a b]"),
                       values=values, engine="sdrev")
    run.write_csv(tmp_path / "ours.csv")
    run.to_frame().to_csv(tmp_path / "pandas.csv")
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
    assert run.non_finite() == {"plain": 2000.03125, "stock[north,a]": 2000.03125,
                                'quote"d': 2000.0}


def _pandas_summary(model, frame: pd.DataFrame, points: int = 5) -> str:
    """The summary table as sdrev printed it with pandas before."""
    by_name = {v.name: v for v in model.variables}
    times = frame.index.to_numpy()
    picks = sorted({times[int(round(i))] for i in np.linspace(0, len(times) - 1, points)})
    rows = {}
    for name in model.key_outputs:
        var = by_name.get(name)
        if var is None or var.py_name not in frame:
            continue
        label = f"{name} ({var.units})" if var.units else name
        rows[label] = [frame.at[t, var.py_name] for t in picks]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=[f"{t:g}" for t in picks])
    table.columns.name = f"Time ({model.time.units})"
    return table.to_string(float_format=lambda x: f"{x:.4g}")


@pytest.mark.parametrize("seed", range(4))
def test_summary_table_is_laid_out_as_pandas_lays_it_out(seed):
    model = sdrev.load("machine_tool_io")
    rng = np.random.default_rng(seed)
    times = 2000 + np.arange(41) * 0.5
    columns = tuple(v.py_name for v in model.variables
                    if v.kind in ("stock", "flow", "auxiliary"))
    scale = 10.0 ** rng.integers(-12, 12, size=len(columns))
    values = rng.normal(size=(len(times), len(columns))) * scale
    values[rng.random(values.shape) < 0.05] = np.nan
    values[0, 0] = np.inf
    run = Trajectories(times=times, columns=columns, values=values, engine="sdrev")
    assert summary_table(model, run) == _pandas_summary(model, run.to_frame())


def test_cli_run_folder_is_the_same_on_either_engine(tmp_path, user_model_copy, capsys):
    folders, printed = {}, {}
    for engine in ("pysd", "auto"):
        folders[engine] = tmp_path / engine
        assert main(["simulate", str(user_model_copy), "--engine", engine,
                     "--out", str(folders[engine])]) == 0
        printed[engine] = capsys.readouterr().out.split("\n\nrun written")[0]
    assert printed["pysd"] == printed["auto"] and "Stock A" in printed["auto"]
    csv = {e: (f / "trajectories.csv").read_bytes() for e, f in folders.items()}
    assert csv["pysd"] == csv["auto"]
    manifests = {e: json.loads((f / "manifest.json").read_text()) for e, f in folders.items()}
    assert manifests["pysd"]["engine"] == "pysd" and manifests["auto"]["engine"] == "sdrev"
    for key in ("parameters", "time", "overrides", "scenario", "files"):
        assert manifests["pysd"][key] == manifests["auto"][key]


def test_bad_engine_on_the_command_line_is_one_line(tmp_path, user_model_copy, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", str(user_model_copy), "--engine", "numba",
              "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert "invalid choice: 'numba'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_warm_run_loads_neither_pysd_nor_pandas_nor_numba(tmp_path, user_model_copy):
    """The second ``sdrev simulate`` of a model reads the translation's
    structure and the compiled program from the cache."""
    code = ("import sys\nfrom sdrev.cli import main\nmain(sys.argv[1:])\n"
            "print(sorted(m for m in ('pysd', 'pandas', 'numba', 'xarray', 'scipy', "
            "'importlib.metadata') "
            "if m in sys.modules))")
    env = {**os.environ, "SDREV_CACHE_DIR": str(tmp_path / "cache")}
    loaded = []
    for k in range(2):
        out = subprocess.run(
            [sys.executable, "-c", code, "simulate", str(user_model_copy),
             "--out", str(tmp_path / f"run{k}")], capture_output=True, text=True,
            check=True, env=env).stdout.strip().splitlines()[-1]
        loaded.append(out)
    assert "pysd" in loaded[0]  # the first run translates the model
    assert loaded[1] == "[]", f"a warm sdrev simulate imported {loaded[1]}"
    assert (tmp_path / "run0" / "trajectories.csv").read_bytes() == \
        (tmp_path / "run1" / "trajectories.csv").read_bytes()


def test_structure_is_read_from_the_cache_and_a_tampered_entry_is_rebuilt(
        user_model_copy, monkeypatch):
    from sdrev import translate

    first = sdrev.load(user_model_copy)
    (entry,) = first.translation.py_path.parent.parent.glob(
        first.translation.py_path.parent.name + ".structure-*.json")

    def no_pysd(*args, **kwargs):
        raise AssertionError("PySD loaded although the structure is cached")

    with monkeypatch.context() as patch:
        patch.setattr(translate, "load_pysd", no_pysd)
        again = sdrev.load(user_model_copy)
    assert (again.parameters, again.variables, again.time) == \
        (first.parameters, first.variables, first.time)
    entry.write_bytes(entry.read_bytes().replace(b"Rate", b"Rato"))
    with monkeypatch.context() as patch:
        patch.setattr(translate, "load_pysd", no_pysd)
        with pytest.raises(AssertionError, match="PySD loaded"):
            sdrev.load(user_model_copy)
    assert sdrev.load(user_model_copy).parameters == first.parameters


def test_sdrev_simulate_is_the_module_and_runs_a_model(user_model_copy):
    import sdrev.simulate as module

    model = sdrev.load(user_model_copy)
    assert sdrev.simulate is module
    frame = sdrev.simulate(model, scenario="fast")
    assert frame.index.name == "time" and "stock_a" in frame
    np.testing.assert_array_equal(
        frame.to_numpy(), module.simulate(model, scenario="fast", engine="pysd").to_numpy())
    assert not hasattr(sdrev.Model, "simulate")
    assert math.isfinite(frame["stock_a"].iloc[-1])


def test_one_run_steps_on_numpy_scalars_with_the_same_numbers():
    """``scalar=True`` (sdrev simulate's one run) steps on numpy scalars, not
    arrays of length 1, and gives the array loop's numbers bit for bit."""
    import dataclasses

    from sdrev.ensemble.codegen import build_simulator
    from sdrev.ensemble.compile import compile_model
    from sdrev.ensemble.engine import simulate_chunk

    program = compile_model(sdrev.load("machine_tool_io").path, subscripts=True)
    sim = build_simulator(program, [k for k in program.step if k not in program.constants])
    seen = []

    def step(state, *args):
        seen.append(type(state[0]))
        return sim.step(state, *args)

    spy = dataclasses.replace(sim, step=step)
    _, arrays = simulate_chunk(spy, dict(program.constants), 1)
    assert seen[-1] is np.ndarray
    _, scalars = simulate_chunk(spy, dict(program.constants), 1, scalar=True)
    assert seen[-1] is np.float64
    for name, values in arrays.items():
        np.testing.assert_array_equal(scalars[name], values)


@pytest.mark.parametrize("name", ["numpy", "pysd", "pandas", "SALib", "salib", "sdrev"])
def test_versions_read_from_folder_names_equal_importlib_metadata(name):
    from importlib import metadata

    from sdrev.versions import version

    assert version(name) == metadata.version(name)
    assert version("no-such-distribution-here") is None
