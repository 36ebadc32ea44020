"""Sensitivity analysis end to end through Vensim test models.

The Ishigami and Sobol G-function fixtures have analytic Sobol' indices;
they are analysed through the real pipeline (spec -> SALib sample -> ensemble
engine -> metrics -> SALib analysis).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sdrev
from sdrev.errors import InvalidValueError, SdrevError, UnknownNameError
from sdrev.sensitivity import load_spec, parse_spec, run, summary_text, write
from sdrev.sensitivity import metrics

FIXTURES = Path(__file__).parent / "fixtures"

ISHIGAMI_S1 = {"X1": 0.314, "X2": 0.442, "X3": 0.0}
ISHIGAMI_ST = {"X1": 0.558, "X2": 0.442, "X3": 0.244}
G_IMPORTANCE = {"G1": 0.0, "G2": 1.0, "G3": 4.5, "G4": 9.0}
TOLERANCE = 0.03


def g_function_indices(a: dict[str, float]) -> tuple[dict, dict]:
    """Analytic S1 and ST of Sobol's G-function (Saltelli et al. 2010)."""
    v = {k: 1 / (3 * (1 + ak) ** 2) for k, ak in a.items()}
    total = math.prod(1 + vi for vi in v.values()) - 1
    s1 = {k: vi / total for k, vi in v.items()}
    st = {k: vi * math.prod(1 + vj for j, vj in v.items() if j != k) / total
          for k, vi in v.items()}
    return s1, st


@pytest.fixture(scope="module")
def ishigami():
    return sdrev.load(FIXTURES / "ishigami.mdl")


@pytest.fixture(scope="module")
def gfunction():
    return sdrev.load(FIXTURES / "gfunction.mdl")


@pytest.fixture(scope="module")
def ishigami_spec(ishigami):
    return load_spec(ishigami, FIXTURES / "ishigami_sensitivity.toml")


@pytest.fixture(scope="module")
def gfunction_spec(gfunction):
    return load_spec(gfunction, FIXTURES / "gfunction_sensitivity.toml")


@pytest.fixture(scope="module")
def ishigami_sobol(ishigami, ishigami_spec):
    return run(ishigami, ishigami_spec, method="sobol", n=4096, seed=7, progress=False)


def _pivot(result, output, metric, group="parameters"):
    idx = result.indices
    part = idx[(idx.group == group) & (idx.output == output) & (idx.metric == metric)]
    return part.pivot_table(index="factor", columns="index", values="value")


# -- correctness against analytic indices ------------------------------------

def test_ishigami_sobol_matches_analytic(ishigami_sobol):
    table = _pivot(ishigami_sobol, "Ishigami Output", "value_at_2")
    for factor in ISHIGAMI_S1:
        assert table.at[factor, "S1"] == pytest.approx(ISHIGAMI_S1[factor], abs=TOLERANCE)
        assert table.at[factor, "ST"] == pytest.approx(ISHIGAMI_ST[factor], abs=TOLERANCE)
    assert ishigami_sobol.engine == "sdrev"
    assert ishigami_sobol.runs == 4096 * (3 + 2)


def test_ishigami_confidence_intervals_cover_analytic(ishigami_sobol):
    idx = ishigami_sobol.indices
    part = idx[(idx.output == "Ishigami Output") & idx["index"].isin(["S1", "ST"])]
    assert (part["conf"] > 0).all() and (part["conf"] < 0.1).all()
    assert np.allclose(part["ci_high"] - part["ci_low"], 2 * part["conf"])


def test_ishigami_time_resolved_indices(ishigami_sobol):
    """Accumulated Output = Ishigami output x elapsed time: same indices at every t > 0."""
    tr = ishigami_sobol.time_resolved
    tr = tr[tr.output == "Accumulated Output"]
    assert sorted(tr["time"].unique()) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert tr[tr.time == 0.0]["value"].isna().all()  # no variance at the start
    later = tr[tr.time > 0]
    for row in later.itertuples():
        expected = (ISHIGAMI_S1 if row.index == "S1" else ISHIGAMI_ST)[row.factor]
        assert row.value == pytest.approx(expected, abs=TOLERANCE)
    assert any("undefined" in w for w in ishigami_sobol.warnings)


def test_ishigami_convergence_reported(ishigami_sobol):
    conv = ishigami_sobol.convergence
    assert set(conv["n_quarter"]) == {1024} and set(conv["n_half"]) == {2048}
    assert conv["settled"].all()
    assert not any("not settled" in w for w in ishigami_sobol.warnings)


def test_gfunction_sobol_matches_analytic(gfunction, gfunction_spec):
    result = run(gfunction, gfunction_spec, method="sobol", n=4096, seed=3, progress=False,
                 time_resolved=False, convergence=False)
    s1, st = g_function_indices(G_IMPORTANCE)
    table = _pivot(result, "G Output", "value_at_1")
    for factor in G_IMPORTANCE:
        assert table.at[factor, "S1"] == pytest.approx(s1[factor], abs=TOLERANCE)
        assert table.at[factor, "ST"] == pytest.approx(st[factor], abs=TOLERANCE)


def test_morris_ranks_gfunction_as_analytic(gfunction, gfunction_spec):
    result = run(gfunction, gfunction_spec, method="morris", n=256, seed=11, progress=False,
                 time_resolved=False)
    expected = g_function_indices(G_IMPORTANCE)[1]
    mu_star = _pivot(result, "G Output", "value_at_1")["mu_star"]
    assert list(mu_star.sort_values(ascending=False).index) == \
        sorted(expected, key=expected.get, reverse=True)


def test_morris_on_ishigami(ishigami, ishigami_spec):
    """Morris puts X3 (ST 0.244) last and X1, X2 (ST 0.558, 0.442) close together.

    With SALib's 4-level grid the X2 term sin(X2)^2 is sampled at its peak
    0.75 on every step, so mu* of X2 comes out a little above X1's: screening
    separates the two leading factors from X3, not X1 from X2.
    """
    result = run(ishigami, ishigami_spec, method="morris", n=256, seed=11, progress=False,
                 time_resolved=False)
    table = _pivot(result, "Ishigami Output", "value_at_2")
    mu_star = table["mu_star"]
    assert mu_star.idxmin() == "X3"
    assert set(mu_star.nlargest(2).index) == {"X1", "X2"}
    assert mu_star["X3"] > 0.5 * mu_star["X1"]  # influential through its interaction
    assert table.at["X3", "sigma"] > table.at["X3", "mu_star"]  # ... which sigma reveals


@pytest.mark.parametrize("method, n, index", [("fast", 256, "S1"), ("rbd_fast", 2048, "S1"),
                                              ("pawn", 1024, "median")])
def test_other_methods_find_the_unimportant_factor(method, n, index, gfunction,
                                                   gfunction_spec):
    result = run(gfunction, gfunction_spec, method=method, n=n, seed=5, progress=False,
                 time_resolved=False, convergence=False)
    values = _pivot(result, "G Output", "value_at_1")[index]
    assert values.idxmax() == "G1" and values.idxmin() == "G4"
    if index == "S1":
        s1 = g_function_indices(G_IMPORTANCE)[0]
        assert values["G1"] == pytest.approx(s1["G1"], abs=0.06)


def test_delta_separates_important_from_unimportant(gfunction):
    # SALib's delta is slow (kernel densities per bootstrap resample): two factors, few runs
    spec = parse_spec(gfunction, {"factor": [{"name": "G1"}, {"name": "G4"}],
                                  "output": [{"variable": "G Output"}]})
    result = run(gfunction, spec, method="delta", n=128, seed=5, progress=False,
                 time_resolved=False, convergence=False)
    values = _pivot(result, "G Output", "value_at_1")["delta"]
    assert values["G1"] > 2 * values["G4"]


# -- reproducibility -----------------------------------------------------------

def test_same_seed_same_indices(gfunction, gfunction_spec):
    kw = {"method": "sobol", "n": 256, "progress": False, "time_resolved": False,
          "convergence": False}
    a = run(gfunction, gfunction_spec, seed=42, **kw).indices
    b = run(gfunction, gfunction_spec, seed=42, **kw).indices
    c = run(gfunction, gfunction_spec, seed=43, **kw).indices
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["value"], c["value"])


# -- output metrics ------------------------------------------------------------

def test_metric_functions():
    times = np.array([0.0, 1.0, 2.0, 3.0])
    Y = np.array([[0.0, 1.0, 2.0, 3.0], [5.0, 4.0, 3.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    assert np.allclose(metrics.value_at(times, Y, 1.5), [1.5, 3.5, 0.0])
    assert np.allclose(metrics.time_average(times, Y, 0.0, 3.0), [1.5, 3.5, 0.0])
    assert np.allclose(metrics.time_average(times, Y, 0.5, 1.5), [1.0, 4.0, 0.0])
    assert np.allclose(metrics.maximum(times, Y), [3.0, 5.0, 0.0])
    up = metrics.first_crossing(times, Y, 2.5)
    assert up[0] == pytest.approx(2.5) and up[1] == 0.0 and np.isnan(up[2])
    down = metrics.first_crossing(times, Y, 2.5, direction="down", never=-1.0)
    assert down[0] == 0.0 and down[1] == pytest.approx(2.5) and down[2] == 0.0


def test_first_crossing_metric_through_pipeline(ishigami, ishigami_spec):
    data = {"factor": [{"name": "X1"}, {"name": "X2"}],
            "output": [{"variable": "Accumulated Output",
                        "metrics": [{"kind": "first_crossing", "threshold": 5.0},
                                    {"kind": "time_average"}, {"kind": "maximum"}]}]}
    spec = parse_spec(ishigami, data)
    result = run(ishigami, spec, method="sobol", n=64, seed=1, progress=False,
                 convergence=False)
    values = result.metric_values["parameters"]
    crossing = values["Accumulated Output: first_crossing_5"]
    assert crossing.between(0.0, 2.0).all() and (crossing < 2.0).any()
    assert any("never crosses 5" in w for w in result.warnings)


# -- spec validation -------------------------------------------------------------

def _spec(**overrides):
    data = {"sensitivity": {"method": "sobol"},
            "factor": [{"name": "X1"}, {"name": "X2", "range": [-1.0, 1.0]}],
            "output": [{"variable": "Ishigami Output", "metrics": [{"kind": "maximum"}]}]}
    data.update(overrides)
    return data


@pytest.mark.parametrize("data, error, words", [
    (_spec(factor=[{"name": "X9"}]), UnknownNameError, ["X9"]),
    (_spec(factor=[{"name": "X1", "range": [1.0, 1.0]}]), InvalidValueError,
     ["X1", "empty"]),
    (_spec(factor=[{"name": "X1", "range": [2.0, -2.0]}]), InvalidValueError,
     ["X1", "inverted", "[2, -2]"]),
    (_spec(sensitivity={"method": "sobolev"}), InvalidValueError,
     ["sobolev", "sobol, morris, fast, rbd_fast, pawn, delta"]),
    (_spec(output=[{"variable": "Ishigami Output", "metrics": [{"kind": "median"}]}]),
     InvalidValueError, ["median", "value_at, time_average, maximum, first_crossing"]),
    (_spec(output=[{"variable": "Ishigami Outptu"}]), UnknownNameError,
     ["Ishigami Outptu", "Ishigami Output"]),
    (_spec(factor=[{"name": "X1", "distribution": "gamma"}]), InvalidValueError,
     ["gamma", "uniform", "triangular"]),
    (_spec(factor=[{"name": "X1", "distribution": "triangular"}]), InvalidValueError,
     ["mode"]),
    (_spec(factor=[{"name": "X1", "rnage": [0, 1]}]), InvalidValueError,
     ["rnage", "range"]),
    (_spec(output=[{"variable": "Ishigami Output",
                    "metrics": [{"kind": "value_at", "time": 99}]}]),
     InvalidValueError, ["99", "[0, 2]"]),
    (_spec(loop=[{"id": "R7"}]), UnknownNameError, ["R7"]),
    (_spec(output=[]), InvalidValueError, ["output"]),
])
def test_spec_errors_name_the_bad_value(ishigami, data, error, words):
    with pytest.raises(error) as info:
        parse_spec(ishigami, data)
    assert isinstance(info.value, SdrevError)
    for word in words:
        assert word in str(info.value)


def test_spec_defaults_and_distributions(ishigami):
    spec = parse_spec(ishigami, _spec(factor=[
        {"name": "x1"},
        {"name": "X2", "range": [-3.0, 3.0], "distribution": "triangular", "mode": 0.0},
        {"name": "X3", "range": [-3.0, 3.0], "distribution": "truncnormal", "mean": 0.0,
         "sd": 1.0}]))
    problem = spec.problem()
    assert problem["names"] == ["X1", "X2", "X3"]
    assert problem["bounds"][0] == pytest.approx([-math.pi, math.pi])
    assert problem["bounds"][1] == [-3.0, 3.0, 0.5]
    assert problem["dists"] == ["unif", "triang", "truncnorm"]


def test_unknown_method_and_bad_n_at_run(ishigami, ishigami_spec):
    with pytest.raises(InvalidValueError, match="'sobel'.*sobol, morris"):
        run(ishigami, ishigami_spec, method="sobel", n=64, seed=1, progress=False)
    with pytest.raises(InvalidValueError, match="power of 2.*512"):
        run(ishigami, ishigami_spec, method="sobol", n=1000, seed=1, progress=False)


def test_missing_library_spec_is_a_clear_error(ishigami):
    with pytest.raises(SdrevError, match="--spec"):
        load_spec(ishigami)


# -- loop gains and knockout ------------------------------------------------------

def test_loop_group_and_knockout(ishigami):
    """Loop-gain factors form their own group; knocking out a gain sets it to 0.

    The coefficients A and B stand in for loop gains: at X1 = X2 = X3 = 1 the
    output is sin 1 + A sin^2 1 + B sin 1, so A decides it and setting A to 0
    removes 7 sin^2 1.
    """
    data = {"factor": [{"name": "X1"}],
            "loop": [{"id": "T1", "gain": "A Coefficient"},
                     {"id": "T2", "gain": "B Coefficient", "range": [0.0, 0.2]}],
            "output": [{"variable": "Ishigami Output"}]}
    spec = parse_spec(ishigami, data)
    result = run(ishigami, spec, method="sobol", n=256, seed=2, progress=False,
                 convergence=False)
    assert set(result.indices["group"]) == {"parameters", "loops"}
    loops = _pivot(result, "Ishigami Output", "value_at_2", group="loops")
    assert loops.at["A Coefficient", "ST"] > 0.95
    assert loops.at["B Coefficient", "ST"] < 0.05  # analytic 1.4e-4
    ko = result.knockout.set_index("loop")
    assert list(ko.index) == ["T1", "T2"]
    s1 = math.sin(1.0)
    assert ko.at["T1", "baseline"] == pytest.approx(s1 + 7 * s1 ** 2 + 0.1 * s1)
    assert ko.at["T1", "change"] == pytest.approx(-7 * s1 ** 2)
    assert ko.at["T2", "change"] == pytest.approx(-0.1 * s1)
    assert "decided by T1" in summary_text(result)


# -- writing ------------------------------------------------------------------------

def test_write_run_folder(ishigami_sobol, tmp_path):
    folder = tmp_path / "sens"
    paths = write(ishigami_sobol, folder, command="sdrev sensitivity ishigami.mdl",
                  formats=("png",))
    names = {p.relative_to(folder).as_posix() for p in paths}
    assert {"indices.csv", "convergence.csv", "time_resolved.csv", "knockout.csv",
            "manifest.json", "summary.txt"} <= names
    assert "figures/sobol_parameters_ishigami_output.png" in names
    assert any(n.startswith("figures/time_resolved_") for n in names)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["method"] == "sobol"
    assert manifest["seeds"]["sample_parameters"] == ishigami_sobol.seeds["sample_parameters"]
    table = pd.read_csv(folder / "indices.csv")
    assert list(table.columns) == ["group", "output", "metric", "factor", "index", "value",
                                   "conf", "ci_low", "ci_high"]
    assert len(table) == 2 * 3 * 2  # outputs x factors x (S1, ST)
    text = summary_text(ishigami_sobol)
    assert "X1 (ST 0.56)" in text and "X3" in text


# -- the command line -----------------------------------------------------------------

def _cli_indices(folder: Path, output: str, metric: str) -> pd.DataFrame:
    table = pd.read_csv(folder / "indices.csv")
    part = table[(table.group == "parameters") & (table.output == output)
                 & (table.metric == metric)]
    return part.pivot_table(index="factor", columns="index", values="value")


def test_cli_sobol_on_ishigami_gives_the_analytic_indices(tmp_path, capsys):
    from sdrev.cli import main

    out = tmp_path / "sens"
    code = main(["sensitivity", str(FIXTURES / "ishigami.mdl"), "--spec",
                 str(FIXTURES / "ishigami_sensitivity.toml"), "--method", "sobol",
                 "-N", "4096", "--seed", "11", "--out", str(out), "--quiet"])
    assert code == 0
    wide = _cli_indices(out, "Ishigami Output", "value_at_2")
    for factor in ISHIGAMI_S1:
        assert wide.at[factor, "S1"] == pytest.approx(ISHIGAMI_S1[factor], abs=TOLERANCE)
        assert wide.at[factor, "ST"] == pytest.approx(ISHIGAMI_ST[factor], abs=TOLERANCE)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 11 and manifest["n"] == 4096
    assert manifest["command"].startswith("sdrev sensitivity")
    assert (out / "figures" / "sobol_parameters_ishigami_output.svg").exists()
    printed = capsys.readouterr().out
    assert "X2" in printed and "ST" in printed


def test_cli_morris_on_gfunction_ranks_as_analytic(tmp_path):
    from sdrev.cli import main

    out = tmp_path / "morris"
    assert main(["sensitivity", str(FIXTURES / "gfunction.mdl"), "--spec",
                 str(FIXTURES / "gfunction_sensitivity.toml"), "--method", "morris",
                 "-N", "64", "--seed", "5", "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out / "indices.csv")
    mu = table[(table["index"] == "mu_star") & (table.group == "parameters")]
    mu = mu.groupby("factor")["value"].mean().sort_values(ascending=False)
    s1, _ = g_function_indices(G_IMPORTANCE)
    assert list(mu.index) == sorted(s1, key=s1.get, reverse=True)


@pytest.mark.parametrize(("extra", "message"), [
    (["--method", "sobol", "-N", "1000"], "power of 2"),
    (["--spec", "{missing}"], "does not exist"),
    (["--spec", "{inverted}"], "inverted"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, extra, message):
    from sdrev.cli import main

    inverted = tmp_path / "inverted.toml"
    inverted.write_text((FIXTURES / "ishigami_sensitivity.toml").read_text().replace(
        'name = "X1"', 'name = "X1"\nrange = [2, -2]'))
    extra = [e.format(missing=tmp_path / "nope.toml", inverted=inverted) for e in extra]
    args = ["sensitivity", str(FIXTURES / "ishigami.mdl"), "--out", str(tmp_path / "o"),
            "--quiet"]
    if "--spec" not in extra:
        args += ["--spec", str(FIXTURES / "ishigami_sensitivity.toml")]
    assert main(args + extra) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sdrev: error: ") and message in err
    assert not (tmp_path / "o").exists()


# -- every library model with every method -----------------------------------------

LIBRARY = sorted(p.stem for p in (FIXTURES.parent.parent / "models").glob("*.mdl"))
SMALLEST_N = {"sobol": 8, "morris": 4, "fast": 65, "rbd_fast": 160, "pawn": 80, "delta": 200}


@pytest.fixture(scope="module")
def library_models():
    return {}


@pytest.mark.slow
@pytest.mark.parametrize("method", list(SMALLEST_N))
@pytest.mark.parametrize("name", LIBRARY)
def test_every_library_model_runs_with_every_method(name, method, library_models):
    """The model's own spec (its main output), the method's smallest N: finite
    indices for every factor, the loop-gain group analysed too. (The delta and
    RBD-FAST estimators bootstrap densities and spectra per factor and metric,
    about a second per metric and factor here, so the other outputs and
    metrics and all but the spec's first 12 parameters are left out.)"""
    import dataclasses

    model = library_models.setdefault(name, sdrev.load(name))
    full = load_spec(model)
    first = full.outputs[0]
    spec = dataclasses.replace(full, factors=full.factors[:12], outputs=(
        dataclasses.replace(first, metrics=first.metrics[:1]),))
    groups = ("parameters", "loops")
    result = run(model, spec, method=method, n=SMALLEST_N[method], seed=3, progress=False,
                 groups=groups, convergence=False, time_resolved=False, knockout=False)
    idx = result.indices
    main = idx[(idx["index"] == result.main_index) & (idx["output"] == spec.outputs[0].variable)]
    assert set(main["group"]) == set(groups)
    expected = {f.name for g in groups for f in spec.group(g)}
    assert set(main["factor"]) == expected
    assert np.isfinite(main["value"]).mean() > 0.5


# -- loop-dominance metrics (sdrev.loops) as outputs ------------------------------------

def _sir_loop_spec(**overrides):
    data = {"sensitivity": {"scenario": "baseline"},
            "factor": [{"name": "Infectivity", "range": [0.3, 0.5]}],
            "loop_metric": [{"kind": "dominance_shift", "from": "contagion",
                             "to": "recovery"}]}
    data.update(overrides)
    return data


@pytest.fixture(scope="module")
def sir():
    return sdrev.load(FIXTURES / "sir.mdl")


@pytest.mark.parametrize("entry, error, words", [
    ({"kind": "dominance_shfit", "from": "contagion", "to": "recovery"}, InvalidValueError,
     ["dominance_shfit", "dominance_shift, relative_score, dominance_share"]),
    ({"kind": "dominance_shift", "from": "contagion"}, InvalidValueError,
     ["dominance_shift needs to"]),
    ({"kind": "dominance_shift", "form": "contagion", "to": "recovery"}, InvalidValueError,
     ["'form'", "from"]),
    ({"kind": "dominance_shift", "from": "contagoin", "to": "recovery"}, UnknownNameError,
     ["'contagoin'", "contagion, recovery, depletion"]),
    ({"kind": "dominance_shift", "from": "B4", "to": "recovery"}, UnknownNameError,
     ["'B4'", "not documented", "variables"]),
    ({"kind": "dominance_shift", "from": "R1", "to": "contagion"}, InvalidValueError,
     ["same loop"]),
    ({"kind": "dominance_shift", "from": "R1", "to": "B1", "after": 75}, InvalidValueError,
     ["after = 75", "[0, 60]"]),
    ({"kind": "relative_score", "loop": "recovery", "time": 99}, InvalidValueError,
     ["time = 99", "[0, 60]"]),
    ({"kind": "relative_score", "loop": ["Infectious", "Infektion"]}, UnknownNameError,
     ["'Infektion'", "Infection"]),
    ({"kind": "relative_score", "loop": 3}, InvalidValueError, ["list of variable names"]),
    ({"kind": "dominance_share", "loop": "recovery", "start": 40, "end": 20},
     InvalidValueError, ["start 40", "end 20"]),
])
def test_loop_metric_spec_errors_name_the_bad_value(sir, entry, error, words):
    with pytest.raises(error) as info:
        parse_spec(sir, _sir_loop_spec(loop_metric=[entry]))
    message = str(info.value)
    assert isinstance(info.value, SdrevError) and "\n" not in message
    assert "[[loop_metric]] #1" in message
    for word in words:
        assert word in message


def test_loop_metric_spec_names_and_loops(sir):
    spec = parse_spec(sir, _sir_loop_spec(output=[], loop_metric=[
        {"kind": "dominance_shift", "from": "R1", "to": "Recovery", "after": 5},
        {"kind": "relative_score", "loop": ["infectious", "Infection"], "time": 10},
        {"kind": "dominance_share", "loop": "recovery", "start": 10},
        {"kind": "dominance_share", "loop": "B1", "name": "recovery share"}]))
    shift, score, share, named = spec.loop_metrics
    assert (shift.name, shift.loop, shift.to_loop) == (
        "shift_contagion_to_recovery_after_5", "contagion", "recovery")
    assert score.name == "relative_score_infectious_infection_at_10"
    assert score.loop == ("Infectious", "Infection")
    assert (share.name, share.start, share.end) == ("dominance_share_recovery_10_60", 10, 60)
    assert named.name == "recovery share" and spec.outputs == ()
    with pytest.raises(InvalidValueError, match="listed twice"):
        parse_spec(sir, _sir_loop_spec(loop_metric=[{"kind": "relative_score", "loop": "B1"},
                                                    {"kind": "relative_score",
                                                     "loop": "recovery"}]))


def test_loop_metric_that_is_no_loop_fails_before_sampling(sir):
    spec = parse_spec(sir, _sir_loop_spec(loop_metric=[
        {"kind": "relative_score", "loop": ["Susceptible", "Recovered"]}]))
    with pytest.raises(UnknownNameError, match="relative_score_susceptible_recovered.*"
                                               "no loop through exactly"):
        run(sir, spec, method="sobol", n=8, seed=1, progress=False)


@pytest.fixture(scope="module")
def sir_with_dummy(tmp_path_factory):
    """The SIR fixture plus a constant nothing depends on (and its metadata)."""
    folder = tmp_path_factory.mktemp("sir_dummy")
    text = (FIXTURES / "sir.mdl").read_text(encoding="utf-8")
    control = text.index("*****")
    dummy = ("Unused Constant=\n\t1\n\t~\tDmnl [0,1]\n\t~\tA constant no equation uses: "
             "every sensitivity index of it must be 0.\n\t|\n\n")
    (folder / "sir_dummy.mdl").write_text(text[:control] + dummy + text[control:],
                                          encoding="utf-8")
    (folder / "sir_dummy.toml").write_text(
        (FIXTURES / "sir.toml").read_text(encoding="utf-8"), encoding="utf-8")
    return sdrev.load(folder / "sir_dummy.mdl")


def test_dominance_shift_responds_to_infectivity_not_to_a_dummy(sir_with_dummy, tmp_path):
    """SIR: contagion (R1) dominates while infections grow; recovery (B1) takes
    over as the susceptible pool is depleted, sooner the higher the
    infectivity (the epidemic's growth rate is contact rate x infectivity -
    1 / duration). Infectivity must carry the variance of the shift time, an
    unused constant none of it, and each sampled value must be the loop
    analysis of that run."""
    import sdrev.loops

    model = sir_with_dummy
    spec = parse_spec(model, _sir_loop_spec(
        factor=[{"name": "Infectivity", "range": [0.3, 0.5]},
                {"name": "Unused Constant", "range": [0.0, 1.0]}],
        output=[{"variable": "Infectious", "metrics": [{"kind": "maximum"}]}],
        loop_metric=[{"kind": "dominance_shift", "from": "contagion", "to": "recovery"},
                     {"kind": "relative_score", "loop": ["Infection", "Infectious"],
                      "time": 10}]))
    result = run(model, spec, method="sobol", n=32, seed=4, progress=False,
                 time_resolved=False, knockout=False, workers=2)
    shift = _pivot(result, "loop dominance", "shift_contagion_to_recovery")
    assert shift.at["Infectivity", "ST"] > 0.9 and shift.at["Infectivity", "S1"] > 0.8
    assert shift.at["Unused Constant", "ST"] == pytest.approx(0.0, abs=1e-9)
    score = _pivot(result, "loop dominance", "relative_score_infection_infectious_at_10")
    assert score.at["Unused Constant", "ST"] == pytest.approx(0.0, abs=1e-9)
    values = result.metric_values["parameters"]
    times = values["loop dominance: shift_contagion_to_recovery"]
    assert len(values) == 32 * 4 and times.between(5.0, 40.0).all()
    # sooner with higher infectivity: rank correlation close to -1
    assert values["Infectivity"].corr(times, method="spearman") < -0.99
    for k in (0, 77):
        row = values.iloc[k]
        analysis = sdrev.loops.analyze(model, scenario="baseline", params={
            "Infectivity": row["Infectivity"], "Unused Constant": row["Unused Constant"]})
        assert times.iloc[k] == pytest.approx(
            sdrev.loops.dominance_shift_time(analysis, "contagion", "recovery"), abs=1e-12)
    assert result.timings["loop_metrics"] > 0
    assert result.runs == 32 * 4
    text = summary_text(result)
    assert ("loop dominance, time dominance shifts from contagion to recovery: "
            "Infectivity (ST 1.00)") in text
    folder = tmp_path / "sens"
    write(result, folder, figures=False)
    samples = pd.read_csv(folder / "samples_parameters.csv")
    assert "loop dominance: shift_contagion_to_recovery" in samples.columns
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["loop_metrics"]["shift_contagion_to_recovery"]["to_loop"] == "recovery"
    assert "loop_metrics" in manifest["timings_seconds"]


@pytest.mark.slow
def test_cli_crrc_dominance_spec(tmp_path, capsys):
    """The library's loop-dominance spec, by bare name, at a tiny N: every loop
    metric analysed for both factor groups, and knocking out the strategic
    guiding loop removes its hand-over of dominance (to FINAL TIME)."""
    from sdrev.cli import main

    out = tmp_path / "dominance"
    assert main(["sensitivity", "crrc_standards", "--spec", "crrc_standards_dominance",
                 "-N", "4", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out / "indices.csv")
    loops = table[table.output == "loop dominance"]
    expected = {"shift_strategic_guiding_to_standard_innovation",
                "shift_strategic_guiding_to_ecology", "relative_score_ecology_at_2015",
                "dominance_share_ecology"}
    assert set(loops.metric) == expected
    assert set(loops.group) == {"parameters", "loops"}
    assert np.isfinite(loops[loops["index"] == "ST"]["value"]).all()
    samples = pd.read_csv(out / "samples_loops.csv")
    shift = samples["loop dominance: shift_strategic_guiding_to_ecology"]
    assert shift.between(2000, 2040).all() and shift.nunique() > 1
    ko = pd.read_csv(out / "knockout.csv")
    r1 = ko[(ko.metric == "shift_strategic_guiding_to_ecology")
            & ko.loop.str.startswith("R1")].iloc[0]
    assert 2005 < r1.baseline < 2015 and r1.knockout == 2040
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["spec_file"].endswith("crrc_standards_dominance.toml")
    assert manifest["timings_seconds"]["loop_metrics"] > 0
    assert "time dominance shifts from strategic guiding to ecology" in capsys.readouterr().out
