"""Policy timing: a constant switched to a value at a chosen time (``NAME=VALUE@TIME``).

The reference is PySD running the same model with the constant replaced by
``before + STEP(after - before, T)`` built through PySD's own API (a
callable component calling PySD's ``step``), independent of sdrev's code for
timed settings.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sdrev
from sdrev.cli import main
from sdrev.errors import InvalidValueError, UnknownNameError
from sdrev.scenario import Switch, run_settings
from sdrev.simulate import trajectories

FIXTURES = Path(__file__).parent / "fixtures"
SWITCH = "Ecology Rebuilding Switch"
#: the scenario that turns the switch off: it is 0 before the switch time
OFF = "no_ecology_rebuilding"


@pytest.fixture(scope="module")
def crrc():
    return sdrev.load("crrc_standards")


def _reference(model, name: str, before: float, after: float, at: float) -> pd.DataFrame:
    """PySD with constant ``name`` replaced by ``before + STEP(after - before, at)``."""
    from pysd.py_backend.functions import step

    from sdrev import translate
    from sdrev.simulate import output_variables

    pysd_model = translate.load_pysd(model.translation)
    clock = pysd_model.time
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pysd_model.set_components({name: lambda: before + step(clock, after - before, at)})
        frame = pysd_model.run(return_columns=[v.name for v in output_variables(model)])
    return frame.rename(columns={v.name: v.py_name for v in output_variables(model)})


@pytest.mark.slow
@pytest.mark.parametrize("at", [2012.0, 2012.03])  # on the time grid, between two steps
def test_timed_switch_on_the_engine_equals_pysd_with_a_step(crrc, at):
    run = trajectories(crrc, run_settings(crrc, scenario=OFF, params={SWITCH: f"1@{at}"}, timed=True),
                       engine="sdrev")
    assert run.engine == "sdrev"
    reference = _reference(crrc, SWITCH, 0.0, 1.0, at)
    expected = reference[list(run.columns)].to_numpy(dtype=float)
    assert np.allclose(run.times, reference.index.to_numpy(dtype=float))
    np.testing.assert_allclose(run.values, expected, rtol=0, atol=1e-9)


def test_the_switch_time_matters(crrc):
    def run(at):
        return sdrev.simulate(crrc, scenario=OFF, params={SWITCH: Switch(1, at=at)},
                              engine="sdrev")

    early, late = run(2010), run(2025)
    off = sdrev.simulate(crrc, scenario=OFF, engine="sdrev")
    before = early.index < 2010
    assert before.any()
    pd.testing.assert_frame_equal(early[before], late[before])
    pd.testing.assert_frame_equal(early[before], off[before])
    gap = (early - late).abs().max(axis=1)
    assert gap[early.index >= 2010.5].gt(1e-6).any()
    # from the later switch on both runs have the switch on, yet differ by their history
    assert (late.index[(late - off).abs().max(axis=1) > 0] >= 2025).all()


def test_the_value_before_the_switch_is_the_scenario_or_set_value(crrc):
    settings = run_settings(crrc, scenario=OFF, params={SWITCH: "1@2020"}, timed=True)
    assert settings.before(crrc, SWITCH) == 0.0 and settings.switches[SWITCH] == Switch(1, 2020)
    assert run_settings(crrc, params={SWITCH: "0@2020"}, timed=True).before(crrc, SWITCH) == 1.0


def test_the_pysd_path_equals_the_engine(crrc):
    settings = run_settings(crrc, scenario=OFF, params={SWITCH: "1@2015.5"}, timed=True)
    engine = trajectories(crrc, settings, engine="sdrev")
    pysd = trajectories(crrc, settings, engine="pysd")
    assert engine.columns == pysd.columns
    np.testing.assert_allclose(engine.values, pysd.values, rtol=0, atol=1e-9)


@pytest.mark.slow
def test_an_ensemble_varies_the_switch_time_per_run(crrc):
    times = [2005.0, 2012.03, 2030.0]
    samples = pd.DataFrame({SWITCH: 0.0, f"{SWITCH}@value": 1.0, f"{SWITCH}@time": times})
    from sdrev import ensemble

    data = ensemble.run(crrc, samples, outputs=["Standards Influence"], progress=False,
                              workers=1, engine="sdrev", jit=False)
    for k, at in enumerate(times):
        one = sdrev.simulate(crrc, scenario=OFF, params={SWITCH: Switch(1, at=at)})
        np.testing.assert_allclose(data["standards_influence"].values[k],
                                   one["standards_influence"].to_numpy(), rtol=0, atol=1e-9)
    assert len({data["standards_influence"].values[k, -1] for k in range(3)}) == 3


@pytest.mark.parametrize("value, message", [
    ("1@1990", "outside [INITIAL TIME, FINAL TIME] = [2000, 2040]"),
    ("1@2041", "outside [INITIAL TIME, FINAL TIME] = [2000, 2040]"),
    ("1@soon", "NAME=VALUE@TIME"),
    ("x@2010", "VALUE@TIME"),
])
def test_bad_timed_settings_are_refused(crrc, value, message):
    with pytest.raises(InvalidValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_settings(crrc, params={SWITCH: value}, timed=True)


def test_only_constants_can_be_timed(crrc):
    with pytest.raises(UnknownNameError, match="not a constant.*NAME=VALUE@TIME"):
        run_settings(crrc, params={"Standards Influence": "1@2010"}, timed=True)
    with pytest.raises(InvalidValueError, match="FINAL TIME cannot be timed"):
        run_settings(crrc, params={"FINAL TIME": "2030@2010"}, timed=True)


@pytest.mark.parametrize("setting, message", [
    (f"{SWITCH}=1@1999", "outside [INITIAL TIME, FINAL TIME]"),
    (f"{SWITCH}=1@", "NAME=VALUE@TIME"),
    ("Standards Influence=1@2010", "not a constant"),
])
def test_simulate_refuses_a_bad_timed_setting_in_one_line(setting, message, capsys, tmp_path):
    code = main(["simulate", "crrc_standards", "--set", setting, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err and "VALUE@TIME" in err
    assert not (tmp_path / "r").exists()


def test_simulate_cli_records_the_switch(capsys, tmp_path):
    folder = tmp_path / "run"
    code = main(["simulate", "crrc_standards", "--scenario", OFF, "--set", f"{SWITCH}=1@2012",
                 "--out", str(folder)])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["switches"] == {SWITCH: {"value": 1.0, "at": 2012.0}}
    frame = pd.read_csv(folder / "trajectories.csv", index_col="time")
    one = sdrev.simulate(crrc_model := sdrev.load("crrc_standards"), scenario=OFF,
                         params={SWITCH: "1@2012"})
    assert crrc_model.name == "crrc_standards"
    np.testing.assert_allclose(frame.to_numpy(), one[frame.columns].to_numpy(), atol=1e-9)


def test_loop_dominance_over_runs_refuses_a_timed_setting_in_one_line(capsys, tmp_path):
    """`sdrev loops --sample`: its compiled passes take constants only; the single
    run (`sdrev loops --set NAME=VALUE@TIME`) takes the timing."""
    code = main(["loops", "crrc_standards", "--sample", "lhs:4", "--set", f"{SWITCH}=1@2012",
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "takes constant settings" in err and "without --samples" in err
    assert not (tmp_path / "r").exists()


def test_loops_of_a_timed_run_follow_the_step(crrc):
    """Scored along the run with the step: the scores of the run without it until
    the switch time, then others; a switch at INITIAL TIME is the constant set."""
    from sdrev import loops

    def scores(analysis):  # columns keyed by the loop's variables (ids follow polarity)
        ids = {r.id: tuple(sorted(r.variables)) for r in analysis.loops.itertuples()}
        return analysis.relative_scores.rename(columns=ids)

    off = scores(loops.analyze(crrc, scenario=OFF))
    on = scores(loops.analyze(crrc, scenario=OFF, params={SWITCH: 1}))
    start = scores(loops.analyze(crrc, scenario=OFF,
                                 params={SWITCH: f"1@{crrc.time.initial}"}))
    timed = loops.analyze(crrc, scenario=OFF, params={SWITCH: Switch(1, at=2012)})
    assert timed.switches == {SWITCH: "1@2012"}
    assert timed.to_dict()["switches"] == {SWITCH: "1@2012"}
    from sdrev.report import loops_table_text
    assert loops_table_text(timed).splitlines()[1] == f"in the run with {SWITCH} = 1 from 2012"
    late = scores(timed)[off.columns]
    pd.testing.assert_frame_equal(start[off.columns], on[off.columns])
    before = off.index < 2012
    np.testing.assert_array_equal(late[before].to_numpy(), off[before].to_numpy())
    assert np.abs(late[~before].to_numpy() - off[~before].to_numpy()).max() > 0.1
    assert np.abs(late[~before].to_numpy() - on[off.columns][~before].to_numpy()).max() > 0.1


@pytest.mark.slow
def test_ensemble_cli_takes_switch_times_from_a_samples_file(tmp_path, capsys, crrc):
    import xarray as xr

    times = [2004.0, 2016.5, 2033.0]
    samples = tmp_path / "times.csv"
    pd.DataFrame({f"{SWITCH}@time": times}).to_csv(samples, index=False)
    folder = tmp_path / "e"
    code = main(["ensemble", "crrc_standards", "--samples", str(samples), "--scenario", OFF,
                 "--set", f"{SWITCH}=1@2010", "--outputs", "Standards Influence",
                 "--out", str(folder), "--quiet"])
    assert code == 0, capsys.readouterr().err
    written = pd.read_csv(folder / "samples.csv", index_col="run")
    assert written[f"{SWITCH}@time"].tolist() == times  # sampled: not the --set time
    assert (written[f"{SWITCH}@value"] == 1).all() and (written[SWITCH] == 0).all()
    with xr.open_dataset(folder / "ensemble.nc") as data:
        for k, at in enumerate(times):
            one = sdrev.simulate(crrc, scenario=OFF, params={SWITCH: Switch(1, at=at)})
            np.testing.assert_allclose(data["standards_influence"].values[k],
                                       one["standards_influence"].to_numpy(), atol=1e-9)


@pytest.mark.parametrize("columns, message", [
    ({f"{SWITCH}@time": [2010.0]}, f"needs its pair {SWITCH}@value"),
    ({f"{SWITCH}@value": [1.0], f"{SWITCH}@time": [2050.0]}, "outside [INITIAL TIME"),
    ({f"{SWITCH}@when": [2010.0]}, "NAME@value"),
])
def test_ensemble_refuses_bad_switch_columns_in_one_line(columns, message, tmp_path, capsys):
    samples = tmp_path / "bad.csv"
    pd.DataFrame(columns).to_csv(samples, index=False)
    code = main(["ensemble", "crrc_standards", "--samples", str(samples),
                 "--outputs", "Standards Influence", "--out", str(tmp_path / "e"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "e").exists()


@pytest.mark.parametrize("at", [2000.0, 2010.0])
def test_a_switch_at_initial_time_sets_initial_values_a_later_one_does_not(at, widgets_path):
    model = sdrev.load(widgets_path)
    run = trajectories(model, run_settings(model, params={"Initial A": f"4@{at}"}, timed=True),
                       engine="sdrev")
    expected = _reference(model, "Initial A", 1.0, 4.0, at)[list(run.columns)]
    np.testing.assert_allclose(run.values, expected.to_numpy(dtype=float), rtol=0, atol=1e-9)
    assert run.column("stock_a")[0] == (4.0 if at == 2000.0 else 1.0)


def test_a_subscripted_constant_cannot_be_timed():
    model = sdrev.load(FIXTURES / "macro_subscripted.mdl")
    with pytest.raises(InvalidValueError, match="subscripted; a timed setting"):
        run_settings(model, params={"Delay": "1@2"}, timed=True)
