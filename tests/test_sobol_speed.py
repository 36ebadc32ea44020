"""Sobol' sampling and first/total-order estimation without SALib's loops.

:func:`sdrev.sensitivity.methods.sobol.saltelli_sample` and
:func:`~sdrev.sensitivity.methods.sobol.first_and_total` replace SALib's
value-by-value sample loop and its per-factor recomputation of the
bootstrap's base statistics. They must give SALib's numbers bit for bit,
and a whole sensitivity run must give the same tables as SALib's own
functions for the same seed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from SALib.analyze import sobol as salib_analyze
from SALib.sample import sobol as salib_sample

import sdrev
from sdrev.sensitivity import load_spec, run
from sdrev.sensitivity.methods import sobol

FIXTURES = Path(__file__).parent / "fixtures"


def _problem(d: int) -> dict:
    return {"num_vars": d, "names": [f"x{i}" for i in range(d)],
            "bounds": [[-i - 1.0, 2.0 * i + 1.5] for i in range(d)],
            "dists": ["unif"] * d}


def _outputs(d: int, n: int, seed: int) -> np.ndarray:
    """Skewed outputs with a shared part per base point, as a model gives."""
    rng = np.random.default_rng(seed)
    return rng.lognormal(size=n * (d + 2)) + np.repeat(rng.normal(size=n), d + 2)


@pytest.mark.parametrize("d,n,seed", [(1, 16, 3), (5, 64, 11), (23, 256, 2024)])
def test_saltelli_sample_is_salibs(d, n, seed):
    problem = _problem(d)
    expected = salib_sample.sample(problem, n, calc_second_order=False, scramble=True,
                                   seed=seed)
    got = sobol.saltelli_sample(problem, n, seed=seed)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("d,n,resamples,seed", [(1, 32, 100, 5), (6, 128, 30, 77),
                                                (40, 512, 100, 123456789)])
def test_first_and_total_are_salibs_bit_for_bit(d, n, resamples, seed, monkeypatch):
    # blocks of a few factors: the blocked gathering must not change a value
    monkeypatch.setattr(sobol, "_BLOCK_VALUES", 3 * n * resamples)
    Y = _outputs(d, n, seed)
    expected = salib_analyze.analyze(_problem(d), Y, calc_second_order=False, seed=seed,
                                     num_resamples=resamples)
    got = sobol.first_and_total(Y, d, seed=seed, resamples=resamples)
    for key in ("S1", "S1_conf", "ST", "ST_conf"):
        assert np.array_equal(got[key], np.asarray(expected[key])), key


def test_equal_base_outputs_give_salibs_zeros_and_warning():
    # one base point whose A and B runs agree: SALib's estimators see a
    # constant base sample, warn, and give zeros
    d = 2
    Y = np.array([1.0, 5.0, 7.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = salib_analyze.analyze(_problem(d), Y, calc_second_order=False, seed=4)
    with pytest.warns(UserWarning, match="Constant values"):
        got = sobol.first_and_total(Y, d, seed=4)
    for key in ("S1", "S1_conf", "ST", "ST_conf"):
        assert np.array_equal(got[key], np.asarray(expected[key])), key
        assert not got[key].any(), key


def test_first_and_total_refuses_a_wrong_size_or_seed():
    with pytest.raises(ValueError, match="not N"):
        sobol.first_and_total(np.ones(11), 3, seed=1)
    with pytest.raises(ValueError, match="seed"):
        sobol.first_and_total(np.ones(10), 3, seed=0)


def test_a_sensitivity_run_equals_salibs_own_functions(monkeypatch):
    """Indices, convergence and time-resolved tables of a Sobol' run are
    those SALib's sample and analyze give for the same seed."""
    model = sdrev.load(FIXTURES / "ishigami.mdl")
    spec = load_spec(model, FIXTURES / "ishigami_sensitivity.toml")
    kwargs = dict(method="sobol", n=64, seed=9, progress=False, knockout=False)
    fast = run(model, spec, **kwargs)

    def salib_first_and_total(Y, d, *, seed, resamples=100):
        problem = {"num_vars": d, "names": [str(i) for i in range(d)]}
        return salib_analyze.analyze(problem, Y, calc_second_order=False, seed=seed,
                                     num_resamples=resamples)

    def salib_saltelli(problem, n, *, seed):
        return salib_sample.sample(problem, n, calc_second_order=False, scramble=True,
                                   seed=seed)

    monkeypatch.setattr(sobol, "first_and_total", salib_first_and_total)
    monkeypatch.setattr(sobol, "saltelli_sample", salib_saltelli)
    reference = run(model, spec, **kwargs)
    for table in ("indices", "convergence", "time_resolved"):
        pd.testing.assert_frame_equal(getattr(fast, table), getattr(reference, table),
                                      check_exact=True)
    for group, frame in fast.metric_values.items():
        pd.testing.assert_frame_equal(frame, reference.metric_values[group], check_exact=True)
