"""Vensim's RANDOM functions run natively in the ensemble engine.

One stream per run, keyed by the ensemble's seed and the run's index (a
run replayed alone draws the same numbers; chunking changes nothing); a
new draw each time step, the same value wherever a variable is read in
that step; distributions checked statistically against PySD (for the
functions PySD translates) and against scipy's exact distributions (for
the rest of Vensim's family), with the truncation at the minimum and
maximum, stretch and shift of Vensim's reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sdrev.ensemble as ens
from sdrev.errors import InvalidValueError

FIXTURES = Path(__file__).parent / "fixtures"
DRAWS = FIXTURES / "noise_draws.mdl"  # PySD translates these: FINAL TIME 2000
FAMILY = FIXTURES / "noise_family.mdl"  # the rest of the family: FINAL TIME 400
GROWTH = FIXTURES / "noisy_growth.mdl"

#: KS and chi-square tests reject at this p-value (one false alarm in 10^5)
ALPHA = 1e-5


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SDREV_CACHE_DIR", str(tmp_path / "cache"))


def _run(model, runs, outputs, **options):
    return ens.run(model, pd.DataFrame(index=range(runs)), outputs=outputs,
                   progress=False, workers=1, engine="sdrev", **options)


def _truncated(dist, lo, hi):
    """CDF of a scipy distribution truncated to [lo, hi]."""
    f_lo, f_hi = dist.cdf(lo), dist.cdf(hi)
    return lambda v: (dist.cdf(np.clip(v, lo, hi)) - f_lo) / (f_hi - f_lo)


@pytest.fixture(scope="module")
def draws():
    return ens.run(DRAWS, pd.DataFrame(index=range(10)),
                   outputs=["Uniform Draw", "Normal Draw", "Exponential Draw",
                            "Unit Draw"], progress=False, workers=1,
                   engine="sdrev", seed=11)


@pytest.fixture(scope="module")
def family():
    return ens.run(FAMILY, pd.DataFrame(index=range(50)),
                   outputs=["Triangular Draw", "Poisson Draw", "Gamma Draw",
                            "Weibull Draw", "Beta Draw", "Binomial Draw",
                            "Negative Binomial Draw", "Seeded Draw",
                            "Same Stream Draw", "Regional Draw", "Lookup Draw"],
                   progress=False, workers=1, engine="sdrev", seed=5)


# ------------------------------------------------------------ distributions

CONTINUOUS = {  # Vensim's arguments in the fixtures -> the exact CDF
    "uniform_draw": stats.uniform(2, 3).cdf,
    "normal_draw": _truncated(stats.norm(0.5, 1.5), -1, 3),
    # exponential with mean 1, stretched by 2, shifted by 0.5, in [1, 8]
    "exponential_draw": _truncated(stats.expon(0.5, 2), 1, 8),
    "unit_draw": stats.uniform(0, 1).cdf,
}


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_pysd_family_has_the_exact_distribution(draws, name):
    values = draws[name].values.ravel()  # 10 runs x 2001 steps
    assert stats.kstest(values, CONTINUOUS[name]).pvalue > ALPHA


def test_pysd_family_matches_pysd_in_distribution(draws):
    reference = ens.run(DRAWS, outputs=list(CONTINUOUS), progress=False,
                        workers=1, engine="pysd")
    for name in CONTINUOUS:
        ours = draws[name].values.ravel()
        theirs = reference[name].values.ravel()  # one PySD run: 2001 draws
        assert stats.ks_2samp(ours, theirs).pvalue > ALPHA, name
        assert ours.min() >= theirs.min() - 0.1 and ours.max() <= theirs.max() + 0.1


def _gamma_cdf():
    # order 2, stretched by 1.5, shifted by 0.5, truncated to [0, 6]
    return _truncated(stats.gamma(2, loc=0.5, scale=1.5), 0, 6)


@pytest.mark.parametrize("name, cdf", [
    ("triangular_draw", _truncated(stats.triang(1 / 6, loc=0, scale=6), 0.5, 5)),
    ("gamma_draw", _gamma_cdf()),
    ("beta_draw", _truncated(stats.beta(2, 5, loc=1, scale=4), 0, 10)),
    # the lookup's triangle on [0, 3] peaking at 1, stretched by 2, shifted by 1
    ("lookup_draw", _truncated(stats.triang(1 / 3, loc=1, scale=6), 1.5, 5)),
])
def test_vensim_continuous_family(family, name, cdf):
    values = family[name].values.ravel()  # 50 runs x 401 steps
    assert stats.kstest(values, cdf).pvalue > ALPHA


def test_weibull_has_mean_one_before_the_stretch(family):
    from math import gamma

    dist = stats.weibull_min(2, scale=3 / gamma(1.5))
    values = family["weibull_draw"].values.ravel()
    assert stats.kstest(values, _truncated(dist, 0, 10)).pvalue > ALPHA
    assert abs(values.mean() - 3.0) < 0.05


@pytest.mark.parametrize("name, pmf, support", [
    ("poisson_draw", stats.poisson(3).pmf, np.arange(1, 10)),
    ("binomial_draw", stats.binom(12, 0.3).pmf, np.arange(0, 13)),
    # trials until 3 successes: scipy counts the failures
    ("negative_binomial_draw", lambda k: stats.nbinom(3, 0.4).pmf(k - 3),
     np.arange(3, 61)),
])
def test_vensim_discrete_family(family, name, pmf, support):
    values = family[name].values.ravel()
    assert np.all(np.isin(values, support))
    expected = pmf(support) / pmf(support).sum() * len(values)
    keep = expected >= 5  # chi-square needs expected counts of 5 or more
    observed = np.array([(values == k).sum() for k in support])
    obs, exp = observed[keep], expected[keep]
    if not keep.all():  # the rare values pooled into one class
        obs = np.append(obs, observed[~keep].sum())
        exp = np.append(exp, expected[~keep].sum())
    assert stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue > ALPHA


def test_subscripted_draws_are_one_per_element(family):
    values = family["regional_draw"].values  # (run, time, Region)
    for k, mean in enumerate([0, 2, 4]):
        cdf = _truncated(stats.norm(mean, 1), -10, 10)
        assert stats.kstest(values[..., k].ravel(), cdf).pvalue > ALPHA
    # independent elements: the standardised draws are uncorrelated
    z = values - np.array([0, 2, 4])
    r = np.corrcoef(z[..., 0].ravel(), z[..., 1].ravel())[0, 1]
    assert abs(r) < 5 / np.sqrt(z[..., 0].size)


def test_stream_id_gives_its_own_draws(family, tmp_path):
    seeded = family["seeded_draw"].values
    assert stats.kstest(seeded.ravel(), "uniform").pvalue > ALPHA
    # the same model with another stream ID on that call draws otherwise
    other = tmp_path / "other_stream.mdl"
    other.write_text(FAMILY.read_text().replace("RANDOM UNIFORM(0, 1, 7)",
                                                "RANDOM UNIFORM(0, 1, 8)"))
    redrawn = ens.run(other, pd.DataFrame(index=range(50)),
                      outputs=["Seeded Draw", "Same Stream Draw"],
                      progress=False, workers=1, engine="sdrev", seed=5)
    assert not np.any(redrawn["seeded_draw"].values == seeded)
    np.testing.assert_array_equal(redrawn["same_stream_draw"].values,
                                  family["same_stream_draw"].values)


# ---------------------------------------------------------------- streams

def test_draws_are_independent_over_time_and_runs(draws):
    u = draws["unit_draw"].values  # (10, 2001)
    bound = 5 / np.sqrt(u[:, 1:].size)
    assert abs(np.corrcoef(u[:, :-1].ravel(), u[:, 1:].ravel())[0, 1]) < bound
    assert abs(np.corrcoef(u[:-1].ravel(), u[1:].ravel())[0, 1]) < bound


def test_a_run_replayed_alone_draws_the_same_numbers():
    outputs = ["Population", "Birth Noise"]
    whole = _run(GROWTH, 8, outputs, seed=4)
    alone = ens.run(GROWTH, pd.DataFrame(index=range(8)).iloc[[6]],
                    outputs=outputs, progress=False, workers=1, engine="sdrev",
                    seed=4)
    np.testing.assert_array_equal(alone["population"].values[0],
                                  whole["population"].values[6])
    chunked = _run(GROWTH, 8, outputs, seed=4, chunk_size=3)
    np.testing.assert_array_equal(chunked["population"].values,
                                  whole["population"].values)
    again = _run(GROWTH, 8, outputs, seed=4)
    np.testing.assert_array_equal(again["birth_noise"].values,
                                  whole["birth_noise"].values)


def test_runs_and_seeds_draw_differently():
    a = _run(GROWTH, 4, ["Birth Noise"], seed=1)["birth_noise"].values
    b = _run(GROWTH, 4, ["Birth Noise"], seed=2)["birth_noise"].values
    assert not np.any(a[0] == a[1])
    assert not np.any(a == b)


def test_one_value_per_time_step():
    """The stock starts at the draw of the initial time (Vensim computes
    each variable once per step: the initial value and the first saved
    value are the same draw)."""
    data = _run(GROWTH, 3, ["Draw Sum", "Uniform Draw"], seed=9)
    np.testing.assert_array_equal(data["draw_sum"].values[:, 0],
                                  data["uniform_draw"].values[:, 0])
    # Euler: Draw Sum(t + 1) = Draw Sum(t) + Uniform Draw(t)
    np.testing.assert_allclose(np.diff(data["draw_sum"].values, axis=1),
                               data["uniform_draw"].values[:, :-1], rtol=1e-12)


def test_noise_parameters_are_varied_per_run():
    samples = pd.DataFrame({"Noise SD": [0.0, 0.3]})
    data = ens.run(GROWTH, samples, outputs=["Birth Noise"], progress=False,
                   workers=1, engine="sdrev")
    noise = data["birth_noise"].values
    np.testing.assert_array_equal(noise[0], 1.0)
    assert noise[1].std() > 0.2


@pytest.mark.parametrize("seed", [-1, 1.5, "1", True, 2**53])
def test_bad_seed_is_refused(seed):
    with pytest.raises(InvalidValueError, match="seed"):
        _run(GROWTH, 1, ["Population"], seed=seed)


@pytest.mark.slow
def test_compiled_kernel_draws_as_the_numpy_engine():
    outputs = ["Uniform Draw", "Normal Draw", "Exponential Draw", "Unit Draw"]
    kernel = _run(DRAWS, 4, outputs, seed=3, jit=True)
    numpy = _run(DRAWS, 4, outputs, seed=3, jit=False)
    assert kernel.attrs["kernel"] == 1 and numpy.attrs["kernel"] == 0
    for name in numpy.data_vars:
        np.testing.assert_allclose(kernel[name].values, numpy[name].values,
                                   rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ loops

def test_loop_analysis_scores_the_run_it_simulates():
    import sdrev
    from sdrev.loops import analyze
    from sdrev.simulate import simulate

    analysis = analyze(str(GROWTH))
    assert set(analysis.loops["polarity"]) == {"reinforcing", "balancing"}
    # the analysed run is the engine's run 0 with seed 0, as `simulate`
    frame = simulate(sdrev.load(str(GROWTH)))
    run0 = _run(GROWTH, 1, ["Population"], seed=0)["population"].values[0]
    np.testing.assert_allclose(frame["population"].to_numpy(), run0, rtol=1e-12)
    # the noise moves the scores: births' loop share changes with the draws
    share = analysis.relative_scores.abs().max(axis=1)
    assert share.std() > 0
    assert analyze(str(GROWTH)).relative_scores.equals(analysis.relative_scores)


# -------------------------------------------------------------------- CLI

@pytest.mark.parametrize("fmt", ["netcdf", "zarr"])
def test_cli_seed_keys_the_noise(tmp_path, fmt):
    import xarray as xr

    from sdrev.cli import main

    samples = tmp_path / "samples.csv"
    pd.DataFrame({"Lifetime": [30.0, 50.0, 70.0]}).to_csv(samples, index=False)

    def noise(seed, name):
        out = tmp_path / name
        assert main(["ensemble", str(GROWTH), "--samples", str(samples),
                     "--outputs", "Birth Noise", "--seed", str(seed),
                     "--format", fmt, "--quiet", "--out", str(out)]) == 0
        if fmt == "zarr":
            return xr.open_zarr(out / "ensemble.zarr", consolidated=False)["birth_noise"].values
        with xr.open_dataset(out / "ensemble.nc") as data:
            return data["birth_noise"].values

    first, again, other = noise(3, "a"), noise(3, "b"), noise(4, "c")
    np.testing.assert_array_equal(first, again)
    assert not np.any(first == other)
    # the same draws as the API's runs with that seed
    api = _run(GROWTH, 3, ["Birth Noise"], seed=3)["birth_noise"].values
    np.testing.assert_array_equal(first, api)


def test_pysd_fallback_draws_reproducibly_per_run():
    def fallback(frame, seed):
        return ens.run(DRAWS, frame, outputs=["Normal Draw"], progress=False,
                       workers=1, engine="pysd", seed=seed)["normal_draw"].values

    whole = fallback(pd.DataFrame(index=range(3)), 1)
    alone = fallback(pd.DataFrame(index=range(3)).iloc[[2]], 1)
    np.testing.assert_array_equal(alone[0], whole[2])
    assert not np.any(whole[0] == whole[1])
    assert not np.any(fallback(pd.DataFrame(index=range(1)), 2)[0] == whole[0])
