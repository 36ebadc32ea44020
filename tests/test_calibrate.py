"""sdrev calibrate: recovery of known parameters from simulated data, the
likelihood of every kind of observation, joint cases, and bad specs.

The fixture (tests/fixtures/calibration/growth.mdl) is logistic diffusion,
Adopters' = r A (1 - A / K), plus a stock no observation touches. Data are
simulated from known values with seeded noise, so the truth is known.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sdrev
import sdrev.calibrate as cal
from sdrev.calibrate.likelihood import Problem
from sdrev.cli import main
from sdrev.ensemble import Batch

FIXTURE = Path(__file__).parent / "fixtures" / "calibration" / "growth.mdl"
TRUTH = {"Adoption Rate": 0.6, "Market Size": 120.0}
SD = 2.0


@pytest.fixture(scope="module")
def model():
    return sdrev.load(FIXTURE)


def truth_run(model, *, rate=TRUTH["Adoption Rate"], size=TRUTH["Market Size"], initial=1.0):
    batch = Batch(model, parameters=["Adoption Rate", "Market Size", "Initial Adopters"],
                  outputs=["Adopters"])
    return batch.times, batch(np.array([[rate, size, initial]]))[0, 0]


def write_series(folder: Path, model, *, seed=1, every=4, noise="normal", initial=1.0,
                 rate=TRUTH["Adoption Rate"], name="obs.csv") -> Path:
    times, y = truth_run(model, rate=rate, initial=initial)
    rng = np.random.default_rng(seed)
    t, v = times[::every], y[::every]
    if noise == "normal":
        v = v + rng.normal(0, SD, len(v))
    else:
        v = v * np.exp(rng.normal(0, 0.05, len(v)))
    path = folder / name
    pd.DataFrame({"time": t, "Adopters": v}).to_csv(path, index=False)
    return path


def write_spec(folder: Path, body: str, name="spec.toml") -> Path:
    path = folder / name
    path.write_text(body, encoding="utf-8")
    return path


TWO_FACTORS = """
[[factor]]
name = "Adoption Rate"
range = [0.1, 1.5]

[[factor]]
name = "Market Size"
range = [50, 200]
"""
FACTORS = TWO_FACTORS + """
[[factor]]
name = "Side Rate"
range = [0, 5]
"""


@pytest.fixture(scope="module")
def recovery(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("recovery")
    write_series(folder, model)
    spec = write_spec(folder, "[calibration]\nseed = 3\n" + FACTORS + """
[[data]]
file = "obs.csv"
variable = "Adopters"
sd = 2.0
""")
    return folder, cal.load_spec(model, spec)


def test_mcmc_recovers_known_parameters_and_flags_the_unidentified_one(model, recovery):
    _, spec = recovery
    result = cal.run(model, spec, method="mcmc", steps=600, seed=3, progress=False)
    s = result.summary.set_index("parameter")
    for name, value in TRUTH.items():
        assert s.loc[name, "lower"] <= value <= s.loc[name, "upper"], s
        assert s.loc[name, "identified"]
    # Side Rate touches nothing observed: its posterior is its prior
    assert not s.loc["Side Rate", "identified"]
    assert s.loc["Side Rate", "upper"] - s.loc["Side Rate", "lower"] > 0.8 * 4.75
    d = result.diagnostics
    assert set(d["rhat"]) == set(spec.labels) and d["engine"] == "kernel"
    assert max(d["rhat"].values()) < 1.1


def test_mle_lands_near_the_truth_with_profile_intervals(model, recovery):
    _, spec = recovery
    result = cal.run(model, spec, method="mle", seed=3, progress=False)
    s = result.summary.set_index("parameter")
    # 16 points with sd 2 on a curve rising to 120 pin the rate to about 1%
    # and the market size to about 1.5% (one standard error); 5% is over 3 se
    for name, value in TRUTH.items():
        assert abs(s.loc[name, "estimate"] - value) < 0.05 * value
        assert s.loc[name, "lower"] <= value <= s.loc[name, "upper"]
    assert s.loc["Side Rate", "lower"] == 0 and s.loc["Side Rate", "upper"] == 5
    assert not s.loc["Side Rate", "identified"]
    values, profile = result.profiles["Adoption Rate"]
    assert values[np.argmax(profile)] == pytest.approx(0.6, abs=0.07)


def test_normal_likelihood_equals_scipy(model, recovery):
    _, spec = recovery
    problem = Problem(model, spec)
    theta = np.array([[0.5, 100.0, 1.0], [0.7, 150.0, 2.0]])
    times, _ = truth_run(model)
    expected = []
    for rate, size, _ in theta:
        _, y = truth_run(model, rate=rate, size=size)
        mu = np.interp([o.time for o in spec.observations], times, y)
        obs = np.array([o.value for o in spec.observations])
        expected.append(stats.norm(mu, SD).logpdf(obs).sum())
    assert np.allclose(problem.log_likelihood(theta), expected)
    # the prior: three uniforms
    assert np.allclose(problem.log_prior(theta), -np.log(1.4 * 150 * 5))
    assert problem.log_posterior(np.array([[2.0, 100.0, 1.0]]))[0] == -np.inf


def test_an_interrupted_chain_is_summarised_not_lost(model, recovery):
    import os
    import signal

    from sdrev.calibrate import mcmc

    _, spec = recovery
    problem = Problem(model, spec)
    calls = {"n": 0}
    posterior = problem.log_posterior

    def ctrl_c_later(theta):  # Ctrl-C in the 60th step: two calls to start, two a step
        calls["n"] += 1
        if calls["n"] == 121:
            os.kill(os.getpid(), signal.SIGINT)
        return posterior(theta)

    problem.log_posterior = ctrl_c_later
    fit = mcmc.fit(problem, walkers=16, steps=1000, seed=1, progress=False)
    assert fit.chain.shape[:2] == (60, 16)
    assert fit.warnings[0] == "interrupted after 60 of 1000 steps" and not fit.converged
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_pysd_fallback_gives_the_same_likelihood(model, recovery):
    _, spec = recovery
    theta = np.array([[0.5, 100.0, 1.0], [0.7, 150.0, 2.0]])
    engine = Problem(model, spec)
    reference = Problem(model, spec, engine="pysd")
    assert engine.batch.engine == "kernel" and reference.batch.engine == "pysd-fallback"
    np.testing.assert_allclose(reference.log_likelihood(theta), engine.log_likelihood(theta),
                               rtol=1e-9)


def test_lognormal_errors_use_the_lognormal_density_and_recover_the_rate(model, tmp_path):
    write_series(tmp_path, model, noise="lognormal", seed=5)
    spec = cal.load_spec(model, write_spec(tmp_path, """
[[factor]]
name = "Adoption Rate"
range = [0.1, 1.5]

[[data]]
file = "obs.csv"
variable = "Adopters"
error = "lognormal"
sd = 0.05
"""))
    problem = Problem(model, spec)
    _, y = truth_run(model, rate=0.4, size=100.0)
    times, _ = truth_run(model)
    obs = np.array([o.value for o in spec.observations])
    mu = np.interp([o.time for o in spec.observations], times, y)
    expected = stats.lognorm(s=0.05, scale=mu).logpdf(obs).sum()
    assert problem.log_likelihood(np.array([[0.4]]))[0] == pytest.approx(expected)
    # with Market Size at its default 100 (the data came from 120), the fit
    # still pins the early growth rate
    result = cal.run(model, spec, method="mle", seed=1, progress=False)
    assert 0.5 < result.summary["estimate"][0] < 0.7


def test_event_time_likelihood(model, tmp_path):
    times, y = truth_run(model, size=100.0)
    t_half = round(float(np.interp(50.0, y, times)), 4)
    (tmp_path / "events.csv").write_text(
        "case,variable,time,kind,value,sd,unit,source\n"
        f",Adopters,{t_half:.4f},first_crossing,50,0.25,Year,simulated\n")
    spec = cal.load_spec(model, write_spec(tmp_path, """
[[factor]]
name = "Adoption Rate"
range = [0.1, 1.5]

[[data]]
file = "events.csv"
"""))
    problem = Problem(model, spec)
    ll = problem.log_likelihood(np.array([[0.6], [0.5], [0.12]]))
    assert ll[0] == pytest.approx(stats.norm(t_half, 0.25).logpdf(t_half), abs=0.05)
    assert ll[1] < ll[0]
    # at 0.12 the market never reaches 50 within 20 years: the survival
    # probability beyond the horizon, finite and far below the others
    assert np.isfinite(ll[2]) and ll[2] == pytest.approx(stats.norm.logcdf((t_half - 20) / 0.25))
    result = cal.run(model, spec, method="mcmc", steps=300, seed=2, progress=False)
    s = result.summary.iloc[0]
    assert s["lower"] <= 0.6 <= s["upper"] and s["identified"]


def test_a_reported_bound_moves_the_posterior_to_its_side(model, tmp_path):
    (tmp_path / "bound.csv").write_text(
        "case,variable,time,kind,value,sd,unit,source\n"
        ",Adopters,8,upper_bound,20,1,firm,simulated\n")
    body = """
[[factor]]
name = "Adoption Rate"
range = [0.1, 1.5]

[[data]]
file = "bound.csv"
"""
    below = cal.run(model, cal.load_spec(model, write_spec(tmp_path, body)), steps=300,
                    seed=4, progress=False).posterior["Adoption Rate"]
    (tmp_path / "bound.csv").write_text(
        "case,variable,time,kind,value,sd,unit,source\n"
        ",Adopters,8,lower_bound,20,1,firm,simulated\n")
    above = cal.run(model, cal.load_spec(model, write_spec(tmp_path, body)), steps=300,
                    seed=4, progress=False).posterior["Adoption Rate"]
    _, y = truth_run(model, size=100.0)
    rates = np.linspace(0.1, 1.5, 141)
    at8 = np.array([truth_run(model, rate=r, size=100.0)[1][16] for r in rates])
    edge = rates[np.argmax(at8 >= 20)]          # where Adopters(8) reaches 20
    assert below.quantile(0.95) < edge + 0.05 < above.quantile(0.05) + 0.1
    assert below.median() < edge < above.median()


def test_joint_cases_recover_a_shared_and_a_per_case_factor(model, tmp_path):
    write_series(tmp_path, model, rate=0.5, initial=1.0, seed=7, name="north.csv")
    write_series(tmp_path, model, rate=0.8, initial=3.0, seed=8, name="south.csv")
    spec = cal.load_spec(model, write_spec(tmp_path, """
[calibration]
seed = 5

[[factor]]
name = "Adoption Rate"
range = [0.1, 1.5]
per_case = true

[[factor]]
name = "Market Size"
range = [50, 200]

[[data]]
file = "north.csv"
variable = "Adopters"
sd = 2.0
case = "north"

[[data]]
file = "south.csv"
variable = "Adopters"
sd = 2.0
case = "south"
"""))
    assert spec.labels == ("Adoption Rate[north]", "Adoption Rate[south]", "Market Size")
    result = cal.run(model, spec, method="mcmc", steps=500, progress=False)
    s = result.summary.set_index("parameter")
    # three 95% intervals all cover the truth only 86% of the time; the 99%
    # intervals, all three 97%: the seeds are fixed, the bar is not tuned to them
    for name, value in {"Adoption Rate[north]": 0.5, "Adoption Rate[south]": 0.8,
                        "Market Size": 120.0}.items():
        lo, hi = result.posterior[name].quantile([0.005, 0.995])
        assert lo <= value <= hi, s
    assert s.loc["Adoption Rate[north]", "upper"] < s.loc["Adoption Rate[south]", "lower"]
    assert set(result.bands["case"]) == {"north", "south"}
    # the estimates as scenarios for the model's TOML: one per case, each with
    # its case's own values (south starts from 3 adopters) and the shared size
    import tomllib
    tables = tomllib.loads(cal.scenario_toml(result))["scenarios"]
    south = tables["calibrated_south"]["params"]
    assert south["Initial Adopters"] == 3
    assert south["Adoption Rate"] == pytest.approx(s.loc["Adoption Rate[south]", "estimate"],
                                                   rel=1e-5)
    assert tables["calibrated_north"]["params"]["Market Size"] == south["Market Size"]


def test_unknown_noise_is_estimated(model, tmp_path):
    write_series(tmp_path, model, seed=11, every=2)
    spec = cal.load_spec(model, write_spec(tmp_path, TWO_FACTORS + """
[[data]]
file = "obs.csv"
variable = "Adopters"
"""))
    assert spec.labels[-1] == "sd[Adopters]"
    s = cal.run(model, spec, steps=500, seed=1, progress=False).summary.set_index("parameter")
    assert s.loc["sd[Adopters]", "lower"] <= SD <= s.loc["sd[Adopters]", "upper"]


def test_cli_writes_a_run_folder_scores_the_holdout_and_feeds_ensemble(model, recovery,
                                                                        tmp_path, capsys):
    folder, _ = recovery
    out = tmp_path / "cal"
    code = main(["calibrate", str(FIXTURE), "--spec", str(folder / "spec.toml"), "-N", "200",
                 "--holdout", "15:20", "--out", str(out), "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "Adoption Rate" in text and "held-out observations" in text
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns[:6]) == ["parameter", "estimate", "lower", "upper", "sd",
                                         "prior_lower"]
    assert "identified" in summary.columns
    obs = pd.read_csv(out / "observations.csv")
    assert (~obs["fitted"]).sum() == (obs["time"] >= 15).sum() > 0
    assert obs.loc[~obs["fitted"], "covered"].mean() >= 0.8
    assert {"fit.png", "posterior.png", "trace.png"} <= {p.name for p in
                                                         (out / "figures").iterdir()}
    assert json.loads((out / "manifest.json").read_text())["calibration"]["method"] == "mcmc"
    draws = cal.read_posterior(out, model=model)
    assert list(draws.columns) == ["Adoption Rate", "Market Size", "Side Rate"]
    ens_out = tmp_path / "ens"
    assert main(["ensemble", str(FIXTURE), "--posterior", str(out), "--outputs", "Adopters",
                 "--out", str(ens_out), "--quiet"]) == 0
    samples = pd.read_csv(ens_out / "samples.csv", index_col="run")
    assert np.allclose(samples[draws.columns].to_numpy(), draws.to_numpy())


def test_posterior_draws_feed_loops_and_given_data_sensitivity(model, recovery, tmp_path,
                                                               capsys):
    folder, spec = recovery
    out = tmp_path / "cal"
    assert main(["calibrate", str(FIXTURE), "--spec", str(folder / "spec.toml"), "-N", "300",
                 "--out", str(out), "--quiet", "--no-figures"]) == 0
    capsys.readouterr()
    assert main(["loops", str(FIXTURE), "--posterior", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    median = cal.read_posterior(out).median()
    assert f"Adoption Rate = {median['Adoption Rate']:.4g}" in captured.err
    assert json.loads(captured.out)["loops"]
    sens = tmp_path / "sens.toml"
    sens.write_text('[[factor]]\nname = "Side Rate"\n[[output]]\nvariable = "Adopters"\n'
                    'metrics = [{ kind = "value_at", time = 6 }]\n')
    assert main(["sensitivity", str(FIXTURE), "--spec", str(sens), "--method", "delta",
                 "--posterior", str(out), "--out", str(tmp_path / "sa"), "--quiet"]) == 0
    indices = pd.read_csv(tmp_path / "sa" / "indices.csv")
    delta = indices[indices["index"] == "delta"].set_index("factor")["value"]
    # the factors are the posterior's columns; Side Rate, which the data did
    # not constrain, moves nothing in Adopters
    assert set(delta.index) == {"Adoption Rate", "Market Size", "Side Rate"}
    assert delta["Side Rate"] < delta["Adoption Rate"]
    capsys.readouterr()
    assert main(["sensitivity", str(FIXTURE), "--spec", str(sens), "--method", "sobol",
                 "--posterior", str(out), "--quiet"]) == 2
    assert "delta and pawn" in capsys.readouterr().err


def test_scenarios_over_posterior_draws_give_ranges_and_win_probabilities(model, recovery,
                                                                          tmp_path, capsys):
    from sdrev import compare

    folder, _ = recovery
    out = tmp_path / "cal"
    assert main(["calibrate", str(FIXTURE), "--spec", str(folder / "spec.toml"), "-N", "300",
                 "--out", str(out), "--quiet", "--no-figures"]) == 0
    draws = cal.read_posterior(out, model=model)
    # a set that names the scenario's lever (Initial Adopters) is overridden by it
    draws["Initial Adopters"] = 1.0
    unc = compare.scenario_uncertainty(model, draws, time=5.0)
    outcomes = unc.outcomes.set_index("scenario")
    assert outcomes.loc["south", "median"] > 2 * outcomes.loc["north", "median"]
    assert outcomes.loc["north", "lower"] < outcomes.loc["north", "median"] < \
        outcomes.loc["north", "upper"]
    p = unc.pairwise.set_index(["scenario", "other"])["probability"]
    assert p["south", "north"] == 1.0 and p["north", "south"] == 0.0
    assert set(unc.bands["scenario"]) == {"north", "south"}
    capsys.readouterr()
    assert main(["compare", str(FIXTURE), "--posterior", str(out), "--out",
                 str(tmp_path / "cmp"), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "90% range" in text and "of the sets" in text
    assert (tmp_path / "cmp" / "uncertainty_outcomes.csv").is_file()
    assert (tmp_path / "cmp" / "figures" / "uncertainty.png").is_file()


LIBRARY_SPECS = sorted(p.stem for p in (Path(__file__).parents[1] / "calibration").glob("*.toml"))


@pytest.mark.parametrize("name", LIBRARY_SPECS)
def test_every_library_spec_reads_its_data_and_scores_the_prior_median(name):
    model = sdrev.load(name)
    spec = cal.load_spec(model)
    assert spec.observations and all(o.source for o in spec.observations)
    problem = Problem(model, spec)
    median = np.array([[d.median() for d in problem.priors]])
    assert np.isfinite(problem.log_posterior(median)).all()


BAD = [
    ('[[factor]]\nname = "Adoption Rat"\n', "unknown parameter 'Adoption Rat'"),
    ('[[factor]]\nname = "Adoption Rate"\nrange = [1.0, 0.5]\n', "inverted"),
    ('[[factor]]\nname = "Adoption Rate"\n[[data]]\nfile = "missing.csv"\nvariable = "Adopters"\n',
     "does not exist"),
    ('[[factor]]\nname = "Adoption Rate"\n[[data]]\nfile = "obs.csv"\nvariable = "Adopter"\n',
     "no column 'Adopter'"),
    ('[[factor]]\nname = "Adoption Rate"\n[[data]]\nfile = "text.csv"\nvariable = "Adopters"\n',
     "'many' is not a number"),
    ('[[factor]]\nname = "Adoption Rate"\n[[data]]\nfile = "late.csv"\nvariable = "Adopters"\n',
     "outside the run"),
    ('[[factor]]\nname = "Adoption Rate"\n[[data]]\nfile = "obs.csv"\nvariable = "Adopters"\n'
     'sd = 0\n', "sd must be positive"),
    ('[[factor]]\nname = "Adoption Rate"\n[[data]]\nfile = "long.csv"\n', "sd must be positive"),
    ('[calibration]\nmethod = "nuts"\n[[factor]]\nname = "Adoption Rate"\n', "valid methods"),
    ('[[factor]]\nname = "Adoption Rate"\n', "no observations"),
    ("this is not toml", "cannot read calibration spec"),
]


@pytest.mark.parametrize(("body", "words"), BAD)
def test_bad_specs_fail_with_one_line_and_exit_2(model, tmp_path, capsys, body, words):
    write_series(tmp_path, model)
    (tmp_path / "text.csv").write_text("time,Adopters\n0,1\n5,many\n")
    (tmp_path / "late.csv").write_text("time,Adopters\n0,1\n25,100\n")
    (tmp_path / "long.csv").write_text("case,variable,time,kind,value,sd,unit,source\n"
                                       ",Adopters,5,value,10,0,firm,x\n")
    spec = write_spec(tmp_path, body)
    assert main(["calibrate", str(FIXTURE), "--spec", str(spec), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err


def test_bad_options_exit_2(model, recovery, capsys):
    folder, _ = recovery
    spec = str(folder / "spec.toml")
    for extra, words in ((["--holdout", "30:40"], "leaves out no observation"),
                         (["--holdout", "15-20"], "expected T0:T1"),
                         (["--walkers", "3"], "walkers must be an even integer"),
                         (["--seed", "-1"], "invalid seed '-1'")):
        try:
            code = main(["calibrate", str(FIXTURE), "--spec", spec, "--quiet", *extra])
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code
        assert code == 2
        err = capsys.readouterr().err.strip()
        assert words in err.splitlines()[-1], err
    assert main(["calibrate", str(FIXTURE), "--quiet"]) == 2
    assert "no library calibration spec" in capsys.readouterr().err
