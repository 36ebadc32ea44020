"""The ``sdrev ensemble`` process loads only what its path needs.

The Latin hypercube and uniform quantiles are drawn without scipy.stats (the
same values as scipy's), and a model whose program is cached is run without
PySD's parser.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import qmc

from sdrev.factors import Factor, latin_hypercube, ppf, prior

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("n,d,seed", [(1, 1, 0), (7, 3, 42), (1000, 6, 2**40 + 3)])
def test_latin_hypercube_is_scipys(n, d, seed):
    expected = qmc.LatinHypercube(d=d, seed=seed).random(n)
    got = latin_hypercube(n, d, seed=seed)
    assert got.shape == (n, d)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("factor", [
    Factor("a", "a", (0.5, 2.0), "uniform", (0.5, 2.0)),
    Factor("b", "b", (-3.0, 1e-9), "uniform", (-3.0, 1e-9)),
    Factor("c", "c", (1.0, 100.0), "loguniform", (1.0, 100.0)),
    Factor("d", "d", (0.0, 4.0), "triangular", (0.0, 4.0, 0.25)),
])
def test_quantiles_are_scipys(factor):
    q = np.concatenate(([0.0, 1.0], latin_hypercube(200, 1, seed=5)[:, 0]))
    assert np.array_equal(ppf(factor, q), prior(factor).ppf(q))


@pytest.mark.slow
def test_a_warm_ensemble_process_loads_neither_pysd_nor_scipy_stats(tmp_path):
    # nor xarray (and dask, which xarray's checks load): ensemble.nc is written
    # from the arrays (sdrev.ensemble.result)
    code = ("import sys\nfrom sdrev.cli import main\nmain(sys.argv[1:])\n"
            "print(sorted(m for m in ('pysd', 'scipy.stats', 'xarray', 'dask', 'distributed')"
            " if m in sys.modules))")
    env = {**os.environ, "SDREV_CACHE_DIR": str(tmp_path / "cache")}
    loaded = []
    for k in range(2):
        out = subprocess.run(
            [sys.executable, "-c", code, "ensemble", str(FIXTURES / "sir.mdl"),
             "--sample", "lhs:50", "--outputs", "Infectious", "--quiet",
             "--out", str(tmp_path / f"run{k}")], capture_output=True, text=True,
            check=True, env=env).stdout.strip().splitlines()[-1]
        loaded.append(out)
    assert "pysd" in loaded[0]  # the first run compiles the model
    assert loaded[1] == "[]", f"a warm sdrev ensemble imported {loaded[1]}"
    assert (tmp_path / "run0" / "samples.csv").read_bytes() == \
        (tmp_path / "run1" / "samples.csv").read_bytes()
    import xarray as xr
    with xr.open_dataset(tmp_path / "run1" / "ensemble.nc") as back:
        assert back["infectious"].shape[0] == 50 and back.attrs["engine"] == "sdrev"
