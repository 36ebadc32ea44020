"""The noise of a model with RANDOM functions as an uncertainty source in
sensitivity analysis: a noise-seed factor (the default), one realisation
for all runs, or each run its own.

``noisy_share.mdl``: ``Output = Signal + Noise`` with ``Noise`` a standard
normal draw; with ``Signal`` uniform on ``[0, w]`` the noise explains the
share ``1 / (1 + w^2 / 12)`` of the output's variance, the signal the rest
(no interaction), so the Sobol' indices are known exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import sdrev
import sdrev.sensitivity as sa
from sdrev.errors import InvalidValueError
from sdrev.sensitivity.spec import NOISE_FACTOR

FIXTURES = Path(__file__).parent / "fixtures"
SHARE = FIXTURES / "noisy_share.mdl"
LOOPS = FIXTURES / "noisy_loops.mdl"


@pytest.fixture(autouse=True, scope="module")
def _private_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SDREV_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def share_model():
    return sdrev.load(str(SHARE))


def _spec(model, width, **settings):
    return sa.parse_spec(model, {
        "sensitivity": {"n": 128, "seed": 1, **settings},
        "factor": [{"name": "Signal", "range": [0.0, width]}],
        "output": [{"variable": "Output"}]})


def _total(result):
    rows = result.indices[result.indices["index"] == "ST"]
    return dict(zip(rows["factor"], rows["value"]))


def _analyse(model, spec):
    return sa.run(model, spec, method="sobol", progress=False, convergence=False,
                  time_resolved=False, knockout=False, workers=1)


@pytest.mark.parametrize("width", [0.1, 20.0])
def test_noise_seed_index_is_the_noise_share(share_model, width):
    """Large where the noise dominates, small where the parameter does; the
    parameter's index is its own share, not inflated by the noise."""
    spec = _spec(share_model, width)
    assert spec.noise == "factor"
    result = _analyse(share_model, spec)
    noise_share = 1 / (1 + width ** 2 / 12)
    total = _total(result)
    assert total[NOISE_FACTOR] == pytest.approx(noise_share, abs=0.05)
    assert total["Signal"] == pytest.approx(1 - noise_share, abs=0.05)
    assert result.problems["parameters"]["names"] == ["Signal", NOISE_FACTOR]
    sample = result.metric_values["parameters"]
    # rows with one noise seed draw one realisation: Output - Signal is the noise
    noise = (sample["Output: value_at_1"] - sample["Signal"]).to_numpy()
    seeds = np.floor(sample[NOISE_FACTOR].to_numpy())
    for k in np.unique(seeds)[:20]:
        assert np.ptp(noise[seeds == k]) < 1e-12
    assert len(np.unique(seeds)) > 100


def test_independent_noise_is_counted_in_every_factor(share_model):
    """Each run its own realisation: the noise has no factor, and Sobol's
    total index of the parameter takes it in (the behaviour the seed factor
    replaces)."""
    result = _analyse(share_model, _spec(share_model, 0.1, noise="independent"))
    assert result.problems["parameters"]["names"] == ["Signal"]
    assert _total(result)["Signal"] > 0.5  # its own share is 0.0008


def test_fixed_noise_leaves_the_parameter_alone(share_model):
    result = _analyse(share_model, _spec(share_model, 0.1, noise="fixed"))
    sample = result.metric_values["parameters"]
    noise = (sample["Output: value_at_1"] - sample["Signal"]).to_numpy()
    assert np.ptp(noise) < 1e-12  # one realisation
    assert _total(result)["Signal"] == pytest.approx(1.0, abs=0.05)


def test_noise_treatment_is_checked(share_model):
    with pytest.raises(InvalidValueError, match="valid: factor, fixed, independent"):
        _spec(share_model, 1.0, noise="seed")
    with pytest.raises(InvalidValueError, match="noise_realisations"):
        _spec(share_model, 1.0, noise_realisations=1)
    deterministic = sdrev.load(str(FIXTURES / "ishigami.mdl"))
    spec = sa.load_spec(deterministic, FIXTURES / "ishigami_sensitivity.toml")
    assert spec.noise is None and spec.noise_factor is None
    with pytest.raises(InvalidValueError, match="no RANDOM functions"):
        spec.with_noise("factor")


@pytest.mark.slow
def test_loop_metrics_follow_each_rows_noise():
    """A loop metric of a sampled row is the loop analysis of that row's
    noise realisation: the stream its noise seed names."""
    from sdrev.loops import analyze

    model = sdrev.load(str(LOOPS))
    spec = sa.parse_spec(model, {
        "sensitivity": {"n": 8, "seed": 2},
        "factor": [{"name": "Lifetime"}],
        "loop_metric": [{"kind": "relative_score", "loop": "births", "time": 10}]})
    result = sa.run(model, spec, method="sobol", progress=False, convergence=False,
                    time_resolved=False, knockout=False, workers=1)
    sample = result.metric_values["parameters"]
    column = "loop dominance: relative_score_births_at_10"
    for _, row in sample.iloc[:6].iterrows():
        alone = analyze(model, params={"Lifetime": row["Lifetime"]}, seed=2,
                        run=int(np.floor(row[NOISE_FACTOR])))
        assert row[column] == pytest.approx(alone.relative_scores.loc[10.0, "R1"], abs=1e-12)
    assert sample[column].nunique() > 4


@pytest.mark.slow
def test_cli_noise_option_and_record(tmp_path):
    from sdrev.cli import main

    spec = tmp_path / "spec.toml"
    spec.write_text('[sensitivity]\nn = 64\n[[factor]]\nname = "Signal"\nrange = [0, 1]\n'
                    '[[output]]\nvariable = "Output"\n', encoding="utf-8")
    out = tmp_path / "run"
    assert main(["sensitivity", str(SHARE), "--spec", str(spec), "--method", "sobol",
                 "--seed", "5", "--quiet", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["noise"] == {"treatment": "factor", "seed": 5, "realisations": 100000}
    assert manifest["problems"]["parameters"]["names"] == ["Signal", NOISE_FACTOR]
    assert "noise realisation is the factor 'noise seed'" in (out / "summary.txt").read_text()
    out = tmp_path / "fixed"
    assert main(["sensitivity", str(SHARE), "--spec", str(spec), "--method", "sobol",
                 "--noise", "fixed", "--quiet", "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["noise"]["treatment"] == "fixed"


def test_cli_noise_option_on_a_model_without_noise(tmp_path, capsys):
    from sdrev.cli import main

    code = main(["sensitivity", str(FIXTURES / "ishigami.mdl"), "--spec",
                 str(FIXTURES / "ishigami_sensitivity.toml"), "--noise", "factor",
                 "--quiet", "--out", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no RANDOM functions" in err[0]


def test_noise_is_found_in_the_text_of_a_model_that_runs_on_pysd(monkeypatch):
    """A model the engine cannot compile (it falls back to PySD) is read for
    Vensim's RANDOM calls instead."""
    from sdrev.ensemble import stochastic
    from sdrev.ensemble.program import UnsupportedConstructError

    def refuse(path, **options):
        raise UnsupportedConstructError("not compiled in this test")

    monkeypatch.setattr(stochastic, "compile_model", refuse)
    assert stochastic.model_has_noise(SHARE)
    assert stochastic.model_has_noise(LOOPS)
    assert not stochastic.model_has_noise(FIXTURES / "sir.mdl")
    assert stochastic.RANDOM_CALL.search("x = RANDOM 0 1() ~")
    assert not stochastic.RANDOM_CALL.search("Random Walk Length = 3 ~ the random part")


def test_methods_without_a_shared_design_keep_the_noise_independent(share_model):
    """delta estimates each index from one factor's values: stream numbers
    would get an index of about 0 whatever the noise; the noise stays
    independent there and the warnings say so."""
    result = sa.run(share_model, _spec(share_model, 0.1), method="delta", n=128,
                    progress=False, convergence=False, time_resolved=False,
                    knockout=False, workers=1)
    assert result.spec.noise == "independent"
    assert result.problems["parameters"]["names"] == ["Signal"]
    assert any("not a factor with delta" in w for w in result.warnings)


def test_morris_steps_keep_the_noise_out_of_the_parameters_effects(share_model):
    """A Morris step in Signal keeps the row's noise seed: its elementary
    effect is the slope times the range, whatever the noise; the noise seed's
    steps carry the noise."""
    spec = sa.parse_spec(share_model, {
        "sensitivity": {"n": 64, "seed": 1},
        "factor": [{"name": "Signal", "range": [0.0, 20.0]}],
        "output": [{"variable": "Output"}]})
    result = sa.run(share_model, spec, method="morris", progress=False, convergence=False,
                    time_resolved=False, knockout=False, workers=1)
    rows = result.indices[result.indices["index"].isin(["mu_star", "sigma"])]
    value = {(r.factor, r.index): r.value for r in rows.itertuples()}
    assert value["Signal", "mu_star"] == pytest.approx(20.0, rel=1e-9)
    assert value["Signal", "sigma"] == pytest.approx(0.0, abs=1e-9)
    assert value[NOISE_FACTOR, "mu_star"] > 0.5  # |difference of two N(0, 1) draws|
