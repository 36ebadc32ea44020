"""Loop analysis of a model with RANDOM functions scores each run along its
own noise realisation: the stream ``sdrev ensemble`` draws for that run
(same seed, same run index), in the per-run analysis, the loop ensemble and
the sensitivity analysis's loop metrics alike.

The fixture (``noisy_loops.mdl``) is one stock with a noisy birth flow and a
death flow: Loops that Matter gives the birth loop the relative score
``b n / (b n + 1 / L)`` at time ``t``, with ``n`` the birth noise drawn at
``t - 1`` (birth rate ``b``, lifetime ``L``), so the scores can be checked
against the ensemble's draws.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sdrev.ensemble as ens
import sdrev.loops as loops
from sdrev.errors import InvalidValueError

FIXTURES = Path(__file__).parent / "fixtures"
NOISY = FIXTURES / "noisy_loops.mdl"
BIRTH_RATE = 0.04
SEED = 3


@pytest.fixture(autouse=True, scope="module")
def _private_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SDREV_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def lifetimes():
    return pd.DataFrame({"Lifetime": [30.0, 50.0, 70.0, 40.0]})


def _expected_births_share(noise, lifetime):
    """Relative score of the birth loop from the birth noise of each step."""
    strength = BIRTH_RATE * noise[:, :-1]
    return strength / (strength + 1 / np.asarray(lifetime)[:, None])


@pytest.mark.slow
def test_each_sampled_run_scores_along_its_own_noise(lifetimes):
    result = loops.analyze_ensemble(NOISY, lifetimes, seed=SEED, workers=1)
    noise = ens.run(NOISY, lifetimes, outputs=["Birth Noise"], seed=SEED, progress=False,
                    workers=1)["birth_noise"].values
    births = list(result.documented).index("R1")
    np.testing.assert_allclose(result.relative[:, births, 1:],
                               _expected_births_share(noise, lifetimes["Lifetime"]),
                               rtol=1e-9)
    # run i of the loop ensemble is the per-run analysis of run i's noise
    for i, lifetime in enumerate(lifetimes["Lifetime"]):
        alone = loops.analyze(NOISY, params={"Lifetime": lifetime}, seed=SEED, run=i)
        np.testing.assert_array_equal(
            alone.relative_scores[list(result.documented)].to_numpy().T, result.relative[i])
    # runs with the same constants still differ: their noise differs
    same = loops.analyze_ensemble(NOISY, pd.DataFrame({"Lifetime": [40.0, 40.0]}),
                                  seed=SEED, workers=1)
    assert not np.allclose(same.relative[0], same.relative[1])


def test_integer_row_labels_key_the_streams(lifetimes):
    """A sample's integer row labels are its runs' indices, as for the
    ensemble: a row analysed alone scores as in the whole sample."""
    whole = loops.analyze_ensemble(NOISY, lifetimes, seed=SEED, workers=1)
    alone = loops.analyze_ensemble(NOISY, lifetimes.iloc[[2]], seed=SEED, workers=1)
    np.testing.assert_array_equal(alone.relative[0], whole.relative[2])
    other = loops.analyze_ensemble(NOISY, lifetimes, seed=SEED + 1, workers=1)
    assert not np.allclose(other.relative[:, :, 1:], whole.relative[:, :, 1:])


def test_worker_slices_keep_each_runs_stream(lifetimes, monkeypatch):
    """Runs shared between worker processes draw the streams of their
    places in the whole sample, not of their places in a slice."""
    from sdrev.loops import ensemble as loop_ensemble

    inline = loops.analyze_ensemble(NOISY, lifetimes, seed=SEED, workers=1)
    monkeypatch.setattr(loop_ensemble, "PARALLEL_RUNS", 2)
    parallel = loops.analyze_ensemble(NOISY, lifetimes, seed=SEED, workers=2)
    np.testing.assert_array_equal(parallel.relative, inline.relative)


def test_per_run_analysis_follows_the_run_it_names():
    first = loops.analyze(NOISY, seed=SEED, run=0).relative_scores
    second = loops.analyze(NOISY, seed=SEED, run=1).relative_scores
    assert not np.allclose(first.to_numpy()[1:], second.to_numpy()[1:])
    noise = ens.run(NOISY, pd.DataFrame(index=range(2)), outputs=["Birth Noise"],
                    seed=SEED, progress=False, workers=1)["birth_noise"].values
    np.testing.assert_allclose(second["R1"].to_numpy()[1:],
                               _expected_births_share(noise, [40.0, 40.0])[1], rtol=1e-9)


@pytest.mark.parametrize("key,value", [("seed", -1), ("run", 1.5), ("run", True)])
def test_bad_stream_is_refused(key, value):
    with pytest.raises(InvalidValueError, match=key):
        loops.analyze(NOISY, **{key: value})


@pytest.mark.slow
def test_cli_loops_sample_scores_each_run_with_its_noise(tmp_path):
    from sdrev.cli import main

    samples = tmp_path / "samples.csv"
    pd.DataFrame({"Lifetime": [30.0, 60.0, 45.0]}).to_csv(samples, index=False)
    out = tmp_path / "loops"
    assert main(["loops", str(NOISY), "--samples", str(samples), "--seed", str(SEED),
                 "--quiet", "--out", str(out)]) == 0
    table = pd.read_parquet(out / "relative_scores.parquet")
    births = table[(table["loop"] == "R1") & (table["time"] > 0)]
    scores = births.pivot(index="run", columns="time", values="relative_score").to_numpy()
    noise = ens.run(NOISY, pd.read_csv(samples), outputs=["Birth Noise"], seed=SEED,
                    progress=False, workers=1)["birth_noise"].values
    np.testing.assert_allclose(scores, _expected_births_share(noise, [30.0, 60.0, 45.0]),
                               rtol=1e-9)
