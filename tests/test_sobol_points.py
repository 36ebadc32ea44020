"""Scrambled Sobol' points without scipy.stats: scipy's values, bit for bit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from sdrev.sensitivity.methods.sobol_points import direction_numbers, sobol_points


@pytest.mark.parametrize("n,d,seed", [(1024, 106, 123), (1, 3, 1), (2, 1, 7), (256, 16, 99),
                                      (4096, 5, 2**40), (1000, 20, 5), (0, 4, 3)])
def test_the_points_are_scipys(n, d, seed):
    import warnings

    from scipy.stats import qmc

    with warnings.catch_warnings():  # scipy's caution for n not a power of 2
        warnings.simplefilter("ignore", UserWarning)
        expected = (qmc.Sobol(d=d, scramble=True, seed=seed).random(n) if n
                    else np.empty((0, d)))
    got = sobol_points(n, d, seed=seed)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_the_direction_numbers_are_scipys():
    from scipy.stats._sobol import _initialize_v

    for d in (1, 2, 40, 300):
        expected = np.zeros((d, 30), dtype=np.uint32)
        _initialize_v(expected, dim=d, bits=30)
        assert np.array_equal(direction_numbers(d), expected)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="n must be an integer"):
        sobol_points(-1, 2, seed=1)
    with pytest.raises(ValueError, match="at most 21201 dimensions"):
        direction_numbers(21202)


def test_a_sobol_analysis_does_not_import_scipy_stats():
    code = ("import sys, numpy as np\n"
            "from sdrev.sensitivity.methods import sobol\n"
            "problem = {'num_vars': 3, 'names': list('abc'), 'bounds': [[0, 1]] * 3}\n"
            "X = sobol.sample(problem, 64, seed=2)\n"
            "Y = X[:, 0] + 2 * X[:, 1] ** 2\n"
            "table = sobol.analyze(problem, X, Y, seed=3)\n"
            "print(len(X), len(table), 'scipy.stats' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["320", "6", "False"]
