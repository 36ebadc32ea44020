"""``ensemble.nc`` written from plain arrays, without xarray, is the file
xarray writes (:mod:`sdrev.ensemble.result`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sdrev.ensemble import run_arrays, write
from sdrev.ensemble.api import non_finite_runs
from sdrev.ensemble.result import Arrays, write_netcdf

SIR = Path(__file__).parent / "fixtures" / "sir.mdl"
#: A model with a subscript range (outputs with a Region dimension).
REGIONS = Path(__file__).parent / "fixtures" / "regions.mdl"


def _samples(n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"Infectivity": rng.uniform(0.1, 0.5, n),
                         "Duration of Illness": rng.uniform(2, 10, n)})


def _xarray_file(arrays: Arrays, path):
    arrays.to_dataset().to_netcdf(path, engine="scipy")
    return path


def test_the_lean_file_is_xarrays_byte_for_byte(tmp_path):
    arrays = run_arrays(SIR, _samples(), outputs=["Infectious", "Recovered"],
                        progress=False, workers=1)
    assert arrays.plain()
    lean = write_netcdf(arrays, tmp_path / "lean.nc")
    old = _xarray_file(arrays, tmp_path / "old.nc")
    assert lean.read_bytes() == old.read_bytes()
    with xr.open_dataset(lean) as a, xr.open_dataset(old) as b:
        assert a.identical(b)  # values, coordinates and attributes
        assert list(a.data_vars) == ["infectious", "recovered"]
        assert set(a.coords) == {"run", "time", "infectivity", "duration_of_illness"}
        assert a.attrs["engine"] == "sdrev" and a.attrs["kernel"] == 0
        for name in ("infectious", "recovered"):
            assert a[name].attrs == b[name].attrs
            assert math.isnan(a[name].encoding["_FillValue"])


def test_write_takes_the_arrays_or_the_dataset_alike(tmp_path):
    arrays = run_arrays(SIR, _samples(5), outputs=["Infectious"], progress=False, workers=1)
    # attributes of every kind xarray stores in NetCDF3 (numbers coerced to its types)
    arrays.attrs.update(fallback_reason="text, non-ASCII: é", worker_peak_mib=12.5,
                        flag=True, count=np.uint16(7), big=2**31 - 1, levels=[1.5, 2.5])
    write(arrays, tmp_path / "lean")
    write(arrays.to_dataset(), tmp_path / "old")
    assert (tmp_path / "lean" / "ensemble.nc").read_bytes() == \
        (tmp_path / "old" / "ensemble.nc").read_bytes()
    lean = json.loads((tmp_path / "lean" / "manifest.json").read_text())
    old = json.loads((tmp_path / "old" / "manifest.json").read_text())
    assert lean == old and lean["ensemble"]["runs"] == 5
    arrays.attrs["big"] = 2**31  # over int32: refused, as xarray refuses it
    with pytest.raises(ValueError, match="int32"):
        write_netcdf(arrays, tmp_path / "big.nc")


def test_results_xarray_would_store_otherwise_go_through_xarray(tmp_path):
    arrays = run_arrays(REGIONS, pd.DataFrame({"Rate": [0.1, 0.2]}),
                        outputs=["Level"], progress=False, workers=1)
    assert not arrays.plain()  # a Region dimension: string coordinates
    with pytest.raises(ValueError, match="plain results only"):
        write_netcdf(arrays, tmp_path / "x.nc")
    write(arrays, tmp_path / "run")
    with xr.open_dataset(tmp_path / "run" / "ensemble.nc") as back:
        assert back.identical(arrays.to_dataset())
    # a sampled column named like an output becomes a data variable in xarray
    clash = Arrays(outputs={"a": (("run", "time"), np.zeros((2, 3)))},
                   times=np.arange(3.0), runs=2, inputs={"a": np.ones(2)})
    assert not clash.plain()
    spaced = Arrays(outputs={"a": (("run", "time"), np.zeros((2, 3)))},
                    times=np.arange(3.0), runs=2, inputs={"b c": np.ones(2)})
    assert not spaced.plain()


def test_non_finite_runs_of_arrays_match_the_datasets():
    values = np.ones((4, 3))
    values[1, 2] = np.nan
    values[3, 0] = np.inf
    arrays = Arrays(outputs={"a": (("run", "time"), values),
                             "b": (("run", "time"), np.ones((4, 3)))},
                    times=np.arange(3.0), runs=4)
    assert list(non_finite_runs(arrays)) == [1, 3]
    assert list(non_finite_runs(arrays.to_dataset())) == [1, 3]
