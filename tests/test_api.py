"""The Python API: load, parameters, scenarios, simulate."""

from __future__ import annotations

import numpy as np
import pytest

import sdrev
from sdrev.errors import (InvalidValueError, ModelNotFoundError, ModelParseError,
                          UnknownNameError)


def test_load_user_model_reads_structure_and_documentation(user_model_copy):
    model = sdrev.load(user_model_copy)
    assert model.name == "widgets"
    assert [s.name for s in model.stocks] == ["Stock A"]
    assert {f.name for f in model.flows} == {"Inflow A", "Outflow A"}
    rate = model.parameter("rate")
    assert (rate.name, rate.value, rate.units, rate.range) == ("Rate", 0.5, "widgets/Year",
                                                                (0.1, 1.0))
    assert model.time.initial == 2000 and model.time.step == 0.0625
    assert set(model.scenarios) == {"baseline", "fast"}
    assert model.scenarios["fast"].params == {"Rate": 1.0}


def test_translation_is_cached_outside_the_model_folder(user_model_copy):
    sdrev.simulate(sdrev.load(user_model_copy))
    assert sorted(p.name for p in user_model_copy.parent.iterdir()) == [
        "widgets.mdl", "widgets.toml"]


def test_simulate_returns_snake_case_frame_indexed_by_time(user_model_copy):
    frame = sdrev.simulate(sdrev.load(user_model_copy))
    assert frame.index.name == "time"
    assert frame.index[0] == 2000 and frame.index[-1] == 2040
    assert np.allclose(np.diff(frame.index), 0.5)
    assert set(frame.columns) == {"stock_a", "inflow_a", "outflow_a"}


def test_scenario_and_params_override_in_order(user_model_copy):
    model = sdrev.load(user_model_copy)
    base = sdrev.simulate(model, scenario="baseline")["stock_a"]
    fast = sdrev.simulate(model, scenario="fast")["stock_a"]
    both = sdrev.simulate(model, scenario="fast", params={"Rate": 0.5})["stock_a"]
    assert fast.iloc[-1] > base.iloc[-1]
    np.testing.assert_allclose(both, base)


def test_runs_are_independent(user_model_copy):
    model = sdrev.load(user_model_copy)
    first = sdrev.simulate(model)["stock_a"]
    sdrev.simulate(model, params={"Cap": 20, "FINAL TIME": 2010})
    np.testing.assert_allclose(sdrev.simulate(model)["stock_a"], first)


def test_time_settings_can_be_changed_per_run(user_model_copy):
    frame = sdrev.simulate(sdrev.load(user_model_copy),
        params={"TIME STEP": 0.125, "FINAL TIME": 2010, "SAVEPER": 1})
    assert list(frame.index) == list(range(2000, 2011))


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"params": {"Rat": 1}}, UnknownNameError, "did you mean 'Rate'"),
    ({"params": {"Stock A": 1}}, UnknownNameError, "is a stock"),
    ({"params": {"Rate": "fast"}}, InvalidValueError, "must be a number"),
    ({"params": {"TIME STEP": 0}}, InvalidValueError, "must be positive"),
    ({"scenario": "slow"}, UnknownNameError, "known scenarios: baseline, fast"),
])
def test_bad_run_input_is_named(user_model_copy, kwargs, error, message):
    with pytest.raises(error, match=message):
        sdrev.simulate(sdrev.load(user_model_copy), **kwargs)


def test_unknown_model_lists_library():
    with pytest.raises(ModelNotFoundError, match="known models: .*crrc_standards"):
        sdrev.load("no_such_model")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        sdrev.load(tmp_path / "absent.mdl")


def test_unparsable_model_says_where(tmp_path, widgets_path):
    broken = tmp_path / "broken.mdl"
    broken.write_text(widgets_path.read_text().replace("Inflow A - Outflow A", "Inflow A - ,"))
    with pytest.raises(ModelParseError, match=r"broken.mdl at line 2: near"):
        sdrev.load(broken)


def test_undefined_variable_is_named(tmp_path, widgets_path):
    broken = tmp_path / "undefined.mdl"
    broken.write_text(widgets_path.read_text().replace("Stock A / Lifetime", "Stock A / Lifespan"))
    with pytest.raises(ModelParseError, match="'lifespan' is used .* never defined"):
        sdrev.load(broken)


def test_scenario_file_with_unknown_constant_is_rejected(user_model_copy):
    meta = user_model_copy.with_suffix(".toml")
    meta.write_text(meta.read_text().replace('"Rate" = 1.0', '"Speed" = 1.0'))
    with pytest.raises(InvalidValueError, match="scenario 'fast': unknown parameter 'Speed'"):
        sdrev.load(user_model_copy)


def test_list_models_describes_every_library_model():
    entries = sdrev.list_models()
    assert "crrc_standards" in [e.name for e in entries]
    assert all(e.description for e in entries)


def test_saveper_given_as_time_step_is_read(tmp_path, widgets_path):
    """Vensim's template writes ``SAVEPER = TIME STEP``: an expression, not a constant."""
    import sdrev.loops as loops

    text = widgets_path.read_text().replace("SAVEPER  = \n        0.5", "SAVEPER  = \n        TIME STEP")
    assert "TIME STEP\n\t~\tYear [0,?]" in text
    path = tmp_path / "template.mdl"
    path.write_text(text)
    model = sdrev.load(path)
    assert model.time.saveper == model.time.step == 0.0625
    frame = sdrev.simulate(model)
    assert frame.index[1] - frame.index[0] == pytest.approx(0.0625)
    analysis = loops.analyze(model)
    times = analysis.relative_scores.index.to_numpy(dtype=float)
    assert times[1] - times[0] == pytest.approx(0.0625)


def test_a_model_without_feedback_loops_has_empty_loop_tables(tmp_path):
    import sdrev.loops as loops

    path = tmp_path / "open.mdl"
    path.write_text("{UTF-8}\nStock= INTEG(Inflow, 0)\n\t~\tthings\t~\t|\n"
                    "Inflow= 2\n\t~\tthings/Year\t~\t|\n"
                    "FINAL TIME = 4\n\t~\tYear\t~\t|\nINITIAL TIME = 0\n\t~\tYear\t~\t|\n"
                    "SAVEPER = TIME STEP\n\t~\tYear\t~\t|\nTIME STEP = 1\n\t~\tYear\t~\t|\n")
    analysis = loops.analyze(sdrev.load(path))
    assert analysis.loops.empty and analysis.dominant_periods.empty
    assert analysis.documented_periods.empty
