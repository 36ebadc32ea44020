"""Ensembles of any size: results appended to Zarr block by block, readable
with xarray, with CF-style attributes; the CLI switches to Zarr for results
too large for NetCDF3 in memory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

xr = pytest.importorskip("xarray")
pytest.importorskip("zarr")

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SDREV_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def weeks():
    import sdrev

    return sdrev.load(FIXTURES / "sir_weeks.mdl")


def test_blocks_appended_equal_one_run_in_memory(weeks, tmp_path):
    import sdrev.ensemble as ens
    from sdrev.ensemble.store import run_to_zarr

    samples = pd.DataFrame({"Infectivity": np.linspace(0.1, 0.5, 250),
                            "Duration of Illness": np.linspace(2, 10, 250)})
    path = run_to_zarr(weeks, samples, tmp_path / "e.zarr", block_runs=60,
                       outputs=["Infectious", "Recovered"], progress=False)
    whole = ens.run(weeks, samples, outputs=["Infectious", "Recovered"], progress=False,
                    workers=1)
    with xr.open_zarr(path, consolidated=False) as data:
        assert data.sizes == {"run": 250, "time": 121}
        assert data["run"].values.tolist() == list(range(250))
        assert data["infectious"].encoding["chunks"][0] <= 60
        np.testing.assert_array_equal(data["infectious"].values, whole["infectious"].values)
        np.testing.assert_array_equal(data["infectivity"].values, samples["Infectivity"])
        assert data["infectious"].attrs == {
            "long_name": "Infectious", "units": "person",
            "description": "People who have the disease and spread it."}
        assert data["time"].attrs["units"] == "Week"
        assert data.attrs["runs"] == 250 and data.attrs["engine"] == "sdrev"


def test_samples_may_come_in_blocks(weeks, tmp_path):
    from sdrev.ensemble.store import run_to_zarr

    def blocks():
        for k in range(3):
            yield pd.DataFrame({"Infectivity": [0.2 + 0.1 * k] * 7})

    path = run_to_zarr(weeks, blocks(), tmp_path / "b.zarr", outputs="Infectious",
                       progress=False)
    with xr.open_zarr(path, consolidated=False) as data:
        assert data.sizes["run"] == 21
        finals = data["infectious"].values[:, -1]
        assert np.allclose(finals[:7], finals[0]) and not np.isclose(finals[0], finals[-1])


def test_store_is_never_overwritten(weeks, tmp_path):
    from sdrev.ensemble.store import run_to_zarr
    from sdrev.errors import OutputError

    (tmp_path / "x.zarr").mkdir()
    with pytest.raises(OutputError, match="exists"):
        run_to_zarr(weeks, None, tmp_path / "x.zarr", outputs=["Infectious"], progress=False)


def test_block_size_follows_the_bytes_per_run(weeks):
    from sdrev.ensemble import store

    per_run = store.estimate_bytes(weeks, runs=1, outputs=2)
    assert per_run == 121 * 2 * 8
    assert store.estimate_bytes(weeks, runs=10, outputs=1, saveper=0.0625) == 961 * 10 * 8


def test_cli_writes_zarr_when_the_result_is_too_large(tmp_path, capsys, monkeypatch):
    from sdrev.cli import main
    from sdrev.ensemble import store

    monkeypatch.setattr(store, "TWO_GIB", 100_000)  # a result over "2 GiB"
    out = tmp_path / "ens"
    assert main(["ensemble", str(FIXTURES / "sir_weeks.mdl"), "--sample", "lhs:120",
                 "--outputs", "Infectious,Recovered", "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "ensemble.zarr" in captured.err and "120 runs x 121 saved times" in captured.out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ensemble"]["format"] == "zarr" and manifest["ensemble"]["runs"] == 120
    assert len(manifest["varied"]) == 6
    with xr.open_zarr(out / "ensemble.zarr", consolidated=False) as data:
        assert data["recovered"].shape == (120, 121)
        samples = pd.read_csv(out / "samples.csv", index_col="run")
        np.testing.assert_allclose(data["infectivity"].values, samples["Infectivity"])


def test_cli_zarr_on_request(tmp_path, capsys):
    from sdrev.cli import main

    out = tmp_path / "ens"
    assert main(["ensemble", str(FIXTURES / "sir_weeks.mdl"), "--sample", "lhs:8",
                 "--outputs", "Infectious", "--format", "zarr", "--out", str(out),
                 "--quiet"]) == 0
    assert "note" not in capsys.readouterr().err
    assert xr.open_zarr(out / "ensemble.zarr", consolidated=False).sizes["run"] == 8


def test_write_refuses_netcdf3_over_2_gib_and_writes_zarr(tmp_path):
    import sdrev.ensemble as ens
    from sdrev.errors import OutputError

    big = xr.Dataset({"x": (("run", "time"), np.broadcast_to(np.float64(1.0), (2**15, 2**13)))},
                     coords={"run": np.arange(2**15), "time": np.arange(2**13.0)})
    with pytest.raises(OutputError, match="2 GiB.*zarr"):
        ens.write(big, tmp_path / "a", format="netcdf")
    small = big.isel(run=slice(0, 3))
    target = ens.write(small, tmp_path / "b", format="zarr")
    assert target.name == "ensemble.zarr"
    assert xr.open_zarr(target, consolidated=False)["x"].shape == (3, 2**13)
