"""sdrev ensemble's options do what they say, from the command line: spec
distributions honoured, --set (SAVEPER and TIME STEP too), the varied
parameters printed and recorded, short time constants warned about, and a
message naming --ranges/--samples when nothing can be varied."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdrev.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SDREV_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture()
def sir(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(FIXTURES / "sir_weeks.mdl", folder / "sir_weeks.mdl")
    return folder / "sir_weeks.mdl"


def _ensemble(model, tmp_path, *extra, out="ens"):
    return main(["ensemble", str(model), "--outputs", "Infectious", "--quiet",
                 "--out", str(tmp_path / out), *extra])


def test_spec_distributions_are_honoured(sir, tmp_path, capsys):
    from scipy import stats

    spec = tmp_path / "spec.toml"
    spec.write_text('[[factor]]\nname = "Infectivity"\nrange = [0.1, 0.5]\n'
                    'distribution = "triangular"\nmode = 0.1\n\n'
                    '[[factor]]\nname = "Duration of Illness"\nrange = [2, 10]\n'
                    'distribution = "truncnormal"\nmean = 4\nsd = 1\n\n'
                    '[[output]]\nvariable = "Infectious"\n')
    assert _ensemble(sir, tmp_path, "--sample", "lhs:2000", "--ranges", str(spec),
                     "--seed", "3") == 0
    out = capsys.readouterr().out
    assert "triangular" in out and "truncnormal" in out and "spec spec" in out
    samples = pd.read_csv(tmp_path / "ens" / "samples.csv", index_col="run")
    infectivity = samples["Infectivity"]
    # triangular with its mode at the lower end: mean (0.1 + 0.1 + 0.5) / 3,
    # most draws low (uniform would give a mean of 0.3, half below 0.3)
    assert infectivity.between(0.1, 0.5).all()
    assert infectivity.mean() == pytest.approx(0.7 / 3, abs=0.005)
    assert stats.kstest(infectivity, stats.triang(0, loc=0.1, scale=0.4).cdf).pvalue > 0.01
    duration = samples["Duration of Illness"]
    assert duration.between(2, 10).all() and duration.median() == pytest.approx(4.03, abs=0.1)
    manifest = json.loads((tmp_path / "ens" / "manifest.json").read_text())
    assert {v["name"]: v["distribution"] for v in manifest["varied"]} == {
        "Infectivity": "triangular", "Duration of Illness": "truncnormal"}
    assert manifest["varied"][0]["range"] == [0.1, 0.5]


def test_set_and_saveper_apply_to_every_run(sir, tmp_path):
    import xarray as xr

    samples = tmp_path / "samples.csv"
    samples.write_text("Infectivity\n0.2\n0.3\n")
    assert _ensemble(sir, tmp_path, "--samples", str(samples), "--set", "SAVEPER=5",
                     "--set", "Initial Infectious=5", out="a") == 0
    data = xr.load_dataset(tmp_path / "a" / "ensemble.nc")
    assert data["time"].values.tolist() == list(np.arange(0, 61, 5.0))
    assert data["infectious"].values[:, 0].tolist() == [5, 5]
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["overrides"] == {"Initial Infectious": 5.0}
    assert manifest["time"]["saveper"] == 5
    # TIME STEP reaches the integration: a coarser step gives other numbers
    assert _ensemble(sir, tmp_path, "--samples", str(samples), "--set", "SAVEPER=5",
                     "--set", "TIME STEP=1", "--set", "Initial Infectious=5", out="b") == 0
    coarse = xr.load_dataset(tmp_path / "b" / "ensemble.nc")["infectious"].values
    assert not np.allclose(coarse, data["infectious"].values, rtol=1e-3)


def test_set_of_a_sampled_parameter_is_refused(sir, tmp_path, capsys):
    assert _ensemble(sir, tmp_path, "--sample", "lhs:4", "--set", "Infectivity=0.2") == 2
    err = capsys.readouterr().err
    assert err.startswith("sdrev: error:") and "Infectivity" in err and err.count("\n") == 1


def test_documented_ranges_are_printed_and_short_time_constants_warned(sir, tmp_path, capsys):
    text = sir.read_text().replace("Week [2,10]", "Week [0.01,10]")
    sir.write_text(text)
    assert _ensemble(sir, tmp_path, "--sample", "lhs:200", "--seed", "1") == 0
    captured = capsys.readouterr()
    assert "200 runs varying 6 parameter(s)" in captured.out
    assert "Duration of Illness" in captured.out and "documented range" in captured.out
    assert "time constant 'Duration of Illness'" in captured.err
    assert "below TIME STEP 0.0625" in captured.err and "--ranges" in captured.err
    manifest = json.loads((tmp_path / "ens" / "manifest.json").read_text())
    assert len(manifest["varied"]) == 6


def test_no_warning_when_time_constants_stay_above_the_step(sir, tmp_path, capsys):
    assert _ensemble(sir, tmp_path, "--sample", "lhs:50") == 0
    assert "time constant" not in capsys.readouterr().err


def test_nothing_to_vary_names_ranges_and_samples(tmp_path, capsys):
    model = tmp_path / "plain.mdl"
    model.write_text((FIXTURES / "sir_weeks.mdl").read_text().replace(" [0.1,0.5]", "")
                     .replace(" [1,5]", "").replace(" [2,10]", "").replace(" [0,2]", "")
                     .replace(" [500,2000]", "").replace(" [1,10]", ""))
    assert main(["ensemble", str(model), "--sample", "lhs:10", "--outputs", "Infectious",
                 "--out", str(tmp_path / "e"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--ranges" in err and "--samples" in err
    assert not (tmp_path / "e").exists()


def test_sample_factors_maps_uniforms_through_each_prior():
    from sdrev.ensemble.plan import sample_factors
    from sdrev.factors import Factor

    factors = [Factor("a", "a", (0.0, 1.0), "uniform", (0.0, 1.0)),
               Factor("b", "b", (1.0, 100.0), "loguniform", (1.0, 100.0))]
    frame = sample_factors(factors, 1000, seed=5)
    # Latin hypercube: exactly one draw per stratum of each factor
    assert np.bincount((frame["a"] * 10).astype(int), minlength=10).tolist() == [100] * 10
    logs = np.log10(frame["b"])
    assert np.bincount((logs * 5).astype(int), minlength=10).tolist() == [100] * 10
    assert sample_factors(factors, 10, seed=5).equals(sample_factors(factors, 10, seed=5))
