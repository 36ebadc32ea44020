"""sdrev check: each fixture makes exactly the right check fail; the reference
kinds and observation kinds are judged right on known trajectories; the CLI's
exit codes, --json and --only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import sdrev
import sdrev.check as check
from sdrev.check import extremes
from sdrev.check.base import Session
from sdrev.check.modes import evaluate, evaluate_dominance, parse_references
from sdrev.check.reference import evaluate_observation
from sdrev.cli import main
from sdrev.errors import InvalidValueError, UnknownNameError
from sdrev.library import list_models
from sdrev.observations import Observation

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "check"
CLEAN = FIXTURES / "clean.mdl"
ALL_PASS = dict.fromkeys(check.CHECKS, "pass")


@pytest.fixture(scope="module")
def clean():
    return sdrev.load(CLEAN)


def statuses(report) -> dict[str, str]:
    return {r.name: r.status for r in report.results}


# -- the fixtures: exactly the right check fails ------------------------------

@pytest.mark.parametrize("fixture, failing", [
    ("clean", None),
    ("unit_error", "units"),
    ("zero_division", "extremes"),
    ("idle_loop", "mechanisms"),
    ("violated_reference", "reference"),
])
def test_each_fixture_fails_exactly_its_check(fixture, failing):
    data = FIXTURES / "clean.csv" if fixture == "clean" else None
    report = check.run(FIXTURES / f"{fixture}.mdl", data=data)
    expected = dict(ALL_PASS)
    if failing:
        expected[failing] = "fail"
    assert statuses(report) == expected, report.text()
    assert report.ok is (failing is None)
    assert report.summary_line() == f"{5 - bool(failing)} passed, {int(bool(failing))} failed"


def test_unit_error_names_the_equation_and_both_sides(clean):
    report = check.run(FIXTURES / "unit_error.mdl", only="units")
    failure = next(f for f in report.result("units").failures if f.subject == "Word of Mouth")
    assert "Contact Rate" in failure.message  # the equation
    assert "person/year" in failure.message and "1/year" in failure.message  # both sides
    assert check.run(clean, only="units").result("units").status == "pass"


def test_zero_division_names_the_setting_that_breaks(clean):
    result = check.run(FIXTURES / "zero_division.mdl", only="extremes").result("extremes")
    assert [f.subject for f in result.failures] == ["Innovation Time = 0"]
    assert "NaN or infinity" in result.failures[0].message


def test_idle_loop_is_named_and_the_working_loop_is_not():
    result = check.run(FIXTURES / "idle_loop.mdl", only="mechanisms").result("mechanisms")
    assert [f.subject for f in result.failures] == ["B2"]
    assert any(f.subject == "R1" and f.kind == "pass" for f in result.findings)
    assert any(f.subject == "B1" and f.kind == "note" for f in result.findings)  # no gain


def test_violated_observation_fails_the_reference_check(clean):
    ok = check.run(clean, only="reference", data=FIXTURES / "clean.csv")
    assert ok.result("reference").status == "pass"
    assert len(ok.result("reference").findings) == 9  # 5 observations + 4 modes
    bad = check.run(clean, only="reference", data=FIXTURES / "violated.csv")
    assert [f.subject for f in bad.result("reference").failures] == ["data line 3"]


# -- extremes -----------------------------------------------------------------

def test_extreme_settings_follow_the_documented_ranges(clean):
    labels = [label for label, _ in extremes.settings(Session(clean))]
    # range [0, 0.05] includes 0: zero, both ends, 10x
    assert {"Innovation Rate = 0", "Innovation Rate = 0.05 (range maximum)",
            "Innovation Rate = 0.1 (10x default)"} <= set(labels)
    # range [100, 10000] excludes 0: no zero run
    assert "Market Size = 0" not in labels
    assert "Market Size = 100 (range minimum)" in labels
    assert sum(label.startswith("joint sample") for label in labels) == 64


def _variant(tmp_path, name, replacements, toml=True):
    text = CLEAN.read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / f"{name}.mdl"
    path.write_text(text)
    if toml:
        path.with_suffix(".toml").write_text(CLEAN.with_suffix(".toml").read_text())
    return path


CHURN = [("Adoption,\n\t\tInitial Adopters)", "Adoption - Churn,\n\t\tInitial Adopters)"),
         ("Market Size=\n", "Churn=\n\t5\n\t~\tperson/Year [0,20]\n\t~\tA constant outflow.\n\t|"
                            "\n\nMarket Size=\n")]


def test_a_declared_non_negative_stock_that_goes_negative_fails(tmp_path):
    path = _variant(tmp_path, "churn", CHURN)
    result = check.run(path, only="extremes").result("extremes")
    assert result.status == "fail"
    assert any("non-negative stock Adopters falls to" in f.message for f in result.failures)
    # the same model without the declaration [0,?] on Adopters may go negative
    free = _variant(tmp_path, "churn_free", CHURN + [("person [0,?]\n\t~\tPeople who have",
                                                      "person\n\t~\tPeople who have")])
    result = check.run(free, only="extremes").result("extremes")
    assert not any("non-negative" in f.message for f in result.failures)


def test_a_crashing_run_is_found_among_the_others(monkeypatch):
    import sdrev.ensemble as ens
    real = ens.run

    def crashing(model, samples, **kw):
        if "Innovation Time" in samples and (samples["Innovation Time"] == 0).any():
            raise ZeroDivisionError("float division by zero")
        return real(model, samples, **kw)

    monkeypatch.setattr(ens, "run", crashing)
    result = check.run(FIXTURES / "zero_division.mdl", only="extremes",
                       samples=4).result("extremes")
    assert [f.subject for f in result.failures] == ["Innovation Time = 0"]
    assert "crashes (ZeroDivisionError" in result.failures[0].message


# -- dt -----------------------------------------------------------------------

def test_dt_fails_for_a_coarse_time_step(tmp_path):
    coarse = _variant(tmp_path, "coarse", [("TIME STEP  = 0.0625", "TIME STEP  = 1"),
                                           ("        0.5\n", "        1\n")])
    result = check.run(coarse, only="dt").result("dt")
    assert result.status == "fail"
    assert {f.subject for f in result.failures} == {"Adopters", "Potential Adopters"}


# -- reference modes, judged on known curves ----------------------------------

def _judge(model, entry, curves, rows=None):
    """Evaluate one [[reference]] entry on given trajectories."""
    ref = parse_references(model, [{"source": "test", **entry}])[0]
    t = np.linspace(0, 30, 61)

    def get(scenario, name):
        return t, curves[(scenario, name)](t) if (scenario, name) in curves else curves[name](t)

    return evaluate(ref, Session(model), get, lambda s: (rows or {}).get(s, {}))


def logistic(t, mid=10):
    return 1000 / (1 + np.exp(-(t - mid)))


@pytest.mark.parametrize("curve, passes", [
    (logistic, True),
    (lambda t: np.exp(t / 5), False),                           # exponential growth
    (lambda t: 1000 * (1 - np.exp(-t / 5)), False),             # saturation
    (lambda t: logistic(t, 6) + logistic(t, 20), False),        # two inflections
    (lambda t: logistic(t) - 200 * (t > 25), False),            # falls back
    (lambda t: 1000 - logistic(t), False),                      # falls
])
def test_s_shape(clean, curve, passes):
    assert _judge(clean, {"kind": "s_shape", "variable": "Adopters"},
                  {"Adopters": curve}).passed is passes


def test_s_shape_window(clean):
    entry = {"kind": "s_shape", "variable": "Adopters", "window": [5, 15]}
    assert _judge(clean, entry, {"Adopters": logistic}).passed
    assert not _judge(clean, entry, {"Adopters": lambda t: logistic(t, 20)}).passed


@pytest.mark.parametrize("curve, window, passes", [
    (lambda t: np.exp(-((t - 10) / 3) ** 2), [8, 12], True),
    (lambda t: np.exp(-((t - 10) / 3) ** 2), [14, 20], False),
    (lambda t: t, [25, 30], False),                              # a rise, no peak
])
def test_peak_time(clean, curve, window, passes):
    entry = {"kind": "peak_time", "variable": "Adoption", "window": window}
    assert _judge(clean, entry, {"Adoption": curve}).passed is passes


def test_peak_time_tolerance_widens_the_window(clean):
    entry = {"kind": "peak_time", "variable": "Adoption", "window": [11, 12], "tolerance": 1.5}
    assert _judge(clean, entry, {"Adoption": lambda t: np.exp(-((t - 10) / 3) ** 2)}).passed


def test_scenario_order(clean):
    entry = {"kind": "scenario_order", "variable": "Adopters",
             "scenarios": ["fast_word_of_mouth", "baseline"], "time": 10}
    fast = {("fast_word_of_mouth", "Adopters"): lambda t: 2 * t,
            ("baseline", "Adopters"): lambda t: t}
    assert _judge(clean, entry, fast).passed
    same = {("fast_word_of_mouth", "Adopters"): lambda t: t, ("baseline", "Adopters"): lambda t: t}
    assert not _judge(clean, entry, same).passed  # a tie is no order
    assert not _judge(clean, {**entry, "margin": 15}, fast).passed  # 20 vs 10: gap 10


def test_crossing_order(clean):
    entry = {"kind": "crossing_order", "variables": ["Adopters", "Potential Adopters"],
             "threshold": 500}
    assert _judge(clean, entry, {"Adopters": lambda t: 100 * t,
                                 "Potential Adopters": lambda t: 50 * t}).passed
    assert not _judge(clean, entry, {"Adopters": lambda t: 50 * t,
                                     "Potential Adopters": lambda t: 100 * t}).passed
    never = {"Adopters": lambda t: 10 * t, "Potential Adopters": lambda t: 5 * t}
    assert not _judge(clean, entry, never).passed


def test_crossing_order_threshold_from_a_constant(clean):
    entry = {"kind": "crossing_order", "variables": ["Adopters", "Potential Adopters"],
             "threshold": "Market Size"}  # 1000 in the model, 200 in this run
    curves = {"Adopters": lambda t: 100 * t, "Potential Adopters": lambda t: 20 * t}
    assert not _judge(clean, entry, curves).passed  # Potential Adopters never reaches 1000
    assert _judge(clean, entry, curves, rows={"baseline": {"Market Size": 200}}).passed


def test_greater_and_less_than(clean):
    curves = {"Adopters": lambda t: 40 * t, "Potential Adopters": lambda t: 1000 - 40 * t}
    base = {"variable": "Adopters", "time": 20}
    assert _judge(clean, {**base, "kind": "greater_than", "than": "Potential Adopters"},
                  curves).passed
    assert not _judge(clean, {**base, "kind": "less_than", "than": "Potential Adopters"},
                      curves).passed
    assert _judge(clean, {**base, "kind": "less_than", "value": 900}, curves).passed
    assert not _judge(clean, {**base, "kind": "greater_than", "value": 900}, curves).passed
    assert _judge(clean, {**base, "kind": "less_than", "than": "Market Size"}, curves).passed


def test_dominance_order_from_the_loop_analysis():
    sir = sdrev.load(Path(__file__).resolve().parent / "fixtures" / "sir.mdl")
    first, wrong = parse_references(sir, [
        {"id": "a", "kind": "dominance_order", "loops": ["R1", "B2"], "source": "test"},
        {"id": "b", "kind": "dominance_order", "loops": ["B1", "R1"], "source": "test"}])
    session = Session(sir)
    assert evaluate_dominance(first, session).passed       # contagion leads, then depletion
    assert not evaluate_dominance(wrong, session).passed
    # knocking out contagion (gain 0) breaks the order
    assert not evaluate_dominance(first, session, {"Contagion Loop Gain": 0}).passed


@pytest.mark.parametrize("entry, error, words", [
    ({"kind": "sigmoid", "variable": "Adopters"}, InvalidValueError, "valid kinds: s_shape"),
    ({"kind": "s_shape", "variable": "Adopters", "windows": [1, 2]}, InvalidValueError,
     "did you mean 'window'"),
    ({"kind": "s_shape", "variable": "Market Size"}, InvalidValueError, "is a constant"),
    ({"kind": "s_shape", "variable": "Adoptors"}, UnknownNameError, "Adopters"),
    ({"kind": "less_than", "variable": "Adopters", "value": 0, "time": 5}, None, None),
    ({"kind": "greater_than", "variable": "Adopters", "value": -1}, InvalidValueError,
     "restates its documented range"),
    ({"kind": "s_shape", "variable": "Adopters", "scenario": "slow"}, UnknownNameError,
     "scenarios: baseline"),
    ({"kind": "dominance_order", "loops": ["R1", "R9"]}, UnknownNameError, "documented: R1"),
    ({"kind": "peak_time", "variable": "Adoption", "window": [5, 50]}, InvalidValueError,
     "outside the run"),
    ({"kind": "scenario_order", "variable": "Adopters", "scenarios": ["baseline"]},
     InvalidValueError, "two or more"),
])
def test_bad_references_are_named(clean, entry, error, words):
    if error is None:  # valid
        parse_references(clean, [{"source": "s", **entry}])
        return
    with pytest.raises(error, match=words):
        parse_references(clean, [{"source": "s", **entry}])


def test_a_reference_needs_a_source(clean):
    with pytest.raises(InvalidValueError, match="'source' is required"):
        parse_references(clean, [{"kind": "s_shape", "variable": "Adopters"}])


# -- observations -------------------------------------------------------------

def _obs(kind, value, time=10.0, sd=None):
    return Observation("", "Adopters", "adopters", time, kind, value, sd, row=2)


T = np.linspace(0, 30, 61)
Y = 10 * T  # 100 at t=10


@pytest.mark.parametrize("obs, passes", [
    (_obs("value", 105, sd=2.5), True),       # 5 off, 2 sd = 5
    (_obs("value", 106, sd=2.5), False),
    (_obs("value", 109), True),               # no sd: within 10%
    (_obs("value", 115), False),
    (_obs("upper_bound", 100), True),
    (_obs("upper_bound", 99), False),
    (_obs("lower_bound", 101), False),
    (_obs("lower_bound", 50), True),
    (_obs("first_crossing", 150, time=16, sd=0.5), True),   # reached at 15
    (_obs("first_crossing", 150, time=17, sd=0.5), False),
    (_obs("first_crossing", 500, time=29), False),          # never reached
])
def test_observation_kinds(obs, passes):
    assert evaluate_observation(obs, T, Y).passed is passes


# -- the API and the CLI -------------------------------------------------------

def test_only_is_validated_with_the_valid_choices():
    assert check.parse_only("reference,units") == ("units", "reference")
    with pytest.raises(InvalidValueError, match="valid checks: units, extremes, dt, "
                                                "mechanisms, reference"):
        check.parse_only("units,speed")


def test_report_is_frozen_and_json_round_trips(clean):
    report = check.run(clean, only=["units", "dt"])
    with pytest.raises(AttributeError):
        report.model = "other"
    data = json.loads(report.to_json())
    assert [c["name"] for c in data["checks"]] == ["units", "dt"]
    assert data["passed"] == 2


def test_cli_exit_codes_and_json(capsys, tmp_path):
    assert main(["check", str(FIXTURES / "clean.mdl"), "--only", "units,reference",
                 "--data", str(FIXTURES / "clean.csv")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("PASS units:")
    assert out.strip().endswith("2 passed, 0 failed")

    assert main(["check", str(FIXTURES / "unit_error.mdl"), "--only", "units", "--json",
                 "--out", str(tmp_path / "run")]) == 1
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["failed"] == 1 and data["checks"][0]["status"] == "fail"
    assert "0 passed, 1 failed" in captured.err
    assert json.loads((tmp_path / "run" / "check.json").read_text())["failed"] == 1
    assert (tmp_path / "run" / "manifest.json").is_file()


@pytest.mark.parametrize("argv, words", [
    (["check", "crrc_standards", "--only", "units,speed"],
     "unknown check 'speed'; valid checks: units, extremes, dt, mechanisms, reference"),
    (["check", "no_such_model"], "unknown model 'no_such_model'"),
    (["check", str(CLEAN), "--data", "missing.csv"], "data file 'missing.csv' does not exist"),
])
def test_cli_bad_input_is_one_line_and_exit_2(capsys, argv, words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err


# -- the library --------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", [entry.name for entry in list_models()])
def test_library_model_battery(name):
    """Every library model runs the whole battery (its [[reference]] tables and
    observation table read and judged), no check is skipped, and units, extreme
    conditions and the time step pass. (mechanisms and reference are reported,
    not asserted here, until every model passes them.)"""
    report = check.run(name)
    got = statuses(report)
    assert "skip" not in got.values(), report.text()
    assert {k: got[k] for k in ("units", "extremes", "dt")} == dict.fromkeys(
        ("units", "extremes", "dt"), "pass"), report.text()


def test_a_reference_on_an_input_only_variable_is_rejected(tmp_path):
    path = _variant(tmp_path, "exogenous", [("Market Size=\n", (
        "Campaign Reach=\n\tInnovation Rate * Market Size * (1 + Time / 10)\n\t~\tperson/Year"
        "\n\t~\tDriven by constants and time only.\n\t|\n\nMarket Size=\n"))])
    model = sdrev.load(path)
    with pytest.raises(InvalidValueError, match="depends on no stock"):
        parse_references(model, [{"kind": "s_shape", "variable": "Campaign Reach",
                                  "source": "s"}])
    # a variable downstream of a stock is fine
    parse_references(model, [{"kind": "s_shape", "variable": "Adoption Fraction",
                              "source": "s"}])


def test_cli_bad_reference_table_fails_before_any_run(tmp_path, capsys):
    path = tmp_path / "m.mdl"
    path.write_text(CLEAN.read_text())
    path.with_suffix(".toml").write_text(
        CLEAN.with_suffix(".toml").read_text().replace('kind = "s_shape"', 'kind = "sshape"'))
    assert main(["check", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing ran
    assert len(captured.err.strip().splitlines()) == 1
    assert "reference 'adoption_s_shape': unknown kind 'sshape'; valid kinds: s_shape" in \
        captured.err


@pytest.mark.parametrize("kwargs, words", [
    ({"seed": -1}, "seed must be an integer from 0"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"samples": -3}, "samples must be a non-negative integer"),
    ({"only": []}, "no check named; valid checks"),
])
def test_api_options_are_validated(clean, kwargs, words):
    with pytest.raises(InvalidValueError, match=words):
        check.run(clean, **kwargs)
