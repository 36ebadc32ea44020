"""Ensembles of any size: results written to Zarr block by block as they run.

:func:`sdrev.ensemble.run` returns the whole result in memory, and NetCDF3
(scipy's writer) cannot hold a variable over 2 GiB. :func:`run_to_zarr`
runs the samples in blocks (each one :func:`~sdrev.ensemble.run` call, on
the compiled engine or its PySD fallback) and appends each block's result
to a Zarr store along ``run`` as soon as it is computed, so memory is
bounded by the block size, not by the number of runs, and the store is as
large as the disk allows. Samples may themselves come in blocks (an
iterable of tables), so that ten million parameter sets never sit in memory
at once.

The store reads back with ``xarray.open_zarr(path)`` (lazily, chunk by
chunk; Dask clusters read Zarr directly). Every output carries CF-style
attributes: ``long_name`` (the Vensim name), ``units`` (the model's units,
absent when the model gives none) and ``description`` (its documentation);
``time`` carries the model's time unit.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sdrev.errors import InvalidValueError, OutputError

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

__all__ = ["BLOCK_BYTES", "BLOCK_RUNS", "CHUNK_BYTES", "TWO_GIB", "estimate_bytes", "manifest_entry",
           "run_to_zarr"]

#: Largest block of runs handed to the engine (and appended at once).
BLOCK_RUNS = 200_000
#: Target size of one block's results in memory (bytes): blocks hold fewer
#: runs when each run saves many values.
BLOCK_BYTES = 256 * 2**20
#: Target size of one Zarr chunk (bytes, uncompressed).
CHUNK_BYTES = 32 * 2**20
#: Largest variable scipy's NetCDF3 writer can hold.
TWO_GIB = 2**31


def estimate_bytes(model, *, runs: int, outputs: int, saveper: float | None = None,
                   time_step: float | None = None, final_time: float | None = None) -> int:
    """Bytes of an ensemble result held as float64 (scalar outputs).

    Parameters
    ----------
    model : sdrev.model.Model
    runs, outputs : int
    saveper, time_step, final_time : float, optional
        Overrides of the model's time settings.
    """
    t = model.time
    step = saveper or (t.saveper if time_step is None else max(time_step, t.saveper))
    final = t.final if final_time is None else final_time
    times = math.floor((final - t.initial) / step + 1e-9) + 1
    return int(runs) * times * int(outputs) * 8


def _blocks(samples, block_runs: int) -> Iterable[pd.DataFrame]:
    import pandas as pd

    if samples is None:
        yield None
        return
    if isinstance(samples, pd.DataFrame):
        for start in range(0, max(len(samples), 1), block_runs):
            yield samples.iloc[start:start + block_runs]
        return
    for block in samples:  # an iterable of tables: split what is too large
        if not isinstance(block, pd.DataFrame):
            raise InvalidValueError(
                f"samples blocks must be pandas DataFrames, got {type(block).__name__}")
        for start in range(0, len(block), block_runs):
            yield block.iloc[start:start + block_runs]


def _attributes(model, dataset: xr.Dataset) -> None:
    """CF-style ``units``/``long_name``/``description`` on every variable."""
    by_py = {}
    for v in getattr(model, "variables", ()):
        by_py[v.py_name] = (v.name, v.units, v.doc)
    for p in getattr(model, "parameters", ()):
        by_py[p.py_name] = (p.name, p.units, p.doc)
    for name in list(dataset.data_vars) + [c for c in dataset.coords if c in by_py]:
        long_name, units, doc = by_py.get(name, (name, "", ""))
        attrs = {"long_name": long_name}
        if units:
            attrs["units"] = units
        if doc:
            attrs["description"] = doc
        dataset[name].attrs.update(attrs)
    time_attrs = {"long_name": "Time", "axis": "T"}
    unit = getattr(getattr(model, "time", None), "units", "")
    if unit:
        time_attrs["units"] = unit
    dataset["time"].attrs.update(time_attrs)


def run_to_zarr(model, samples, path: str | Path, *, outputs,
                block_runs: int | None = None, saveper: float | None = None,
                scheduler: str | None = None, workers: int | None = None,
                engine: str = "auto", progress: bool = True,
                attrs: Mapping[str, object] | None = None, seed: int = 0) -> Path:
    """Run an ensemble block by block, appending each block to a Zarr store.

    Parameters
    ----------
    model : sdrev.model.Model or str or Path
        As in :func:`sdrev.ensemble.run` (a loaded model gives the outputs
        their units and documentation as attributes).
    samples : pandas.DataFrame, iterable of DataFrame or None
        One row per run (as in :func:`~sdrev.ensemble.run`), or the rows in
        blocks: an iterator of tables is consumed block by block. ``None``
        runs the model once.
    path : str or Path
        The store to create (a folder, conventionally ``*.zarr``); it must
        not exist.
    outputs : sequence of str
        Variables to save.
    block_runs : int, optional
        Runs per engine call and append: peak memory is about
        ``block_runs x saved times x outputs x 8`` bytes (twice that while a
        block is written). Default: as many runs as fit in
        :data:`BLOCK_BYTES` (at most :data:`BLOCK_RUNS`) for a loaded model
        (scalar outputs), else :data:`BLOCK_RUNS`.
    saveper, scheduler, workers, engine, progress
        As in :func:`~sdrev.ensemble.run`.
    attrs : mapping, optional
        Extra global attributes of the store.
    seed : int, optional
        Seed of the model's RANDOM functions (as in :func:`~sdrev.ensemble.run`;
        blocks keep the samples' row labels, so each run draws as in one pass).

    Returns
    -------
    Path
        The store. Its attributes say ``engine``, ``runs`` and the seconds
        spent.

    Raises
    ------
    InvalidValueError
        For a bad ``block_runs`` or samples.
    OutputError
        If the store exists or cannot be written.
    """
    import pandas as pd

    from sdrev.ensemble.api import run

    outputs = [outputs] if isinstance(outputs, str) else list(outputs)
    if block_runs is None:
        block_runs = BLOCK_RUNS
        if hasattr(model, "time"):
            per_run = estimate_bytes(model, runs=1, outputs=len(outputs),
                                     saveper=saveper)
            block_runs = max(1, min(BLOCK_RUNS, BLOCK_BYTES // max(per_run, 1)))
            chunk = max(1, min(block_runs, CHUNK_BYTES // max(per_run, 1)))
            block_runs -= block_runs % chunk  # a whole number of chunks
    if not isinstance(block_runs, int) or isinstance(block_runs, bool) or block_runs < 1:
        raise InvalidValueError(f"block_runs must be a positive integer, got {block_runs!r}")
    path = Path(path)
    if path.exists():
        raise OutputError(f"the store {str(path)!r} exists; sdrev never overwrites one")
    start_clock = _time.perf_counter()
    offset, chunk_runs, engines = 0, None, set()
    bar = None
    for block in _blocks(samples, block_runs):
        data = run(model, block, outputs=outputs, saveper=saveper, scheduler=scheduler,
                   workers=workers, engine=engine, progress=False, seed=seed)
        engines.add(str(data.attrs.get("engine", "")))
        n = data.sizes["run"]
        data = data.assign_coords(run=np.arange(offset, offset + n))
        if chunk_runs is None:  # first block: layout of the store
            per_run = sum(int(np.prod(v.shape[1:])) for v in data.data_vars.values()) * 8
            chunk_runs = max(1, min(block_runs, CHUNK_BYTES // max(per_run, 1)))
            while block_runs % chunk_runs:  # blocks end on chunk boundaries
                chunk_runs -= 1
            _attributes(model, data)
            data.attrs.update({k: str(v) for k, v in (attrs or {}).items()})
            encoding = {name: {"chunks": (chunk_runs,) + tuple(data[name].shape[1:])}
                        for name in data.data_vars}
            if progress:
                from tqdm.auto import tqdm

                total = len(samples) if isinstance(samples, pd.DataFrame) else None
                bar = tqdm(total=total, desc=path.name, unit="run")
            _write(data, path, mode="w-", encoding=encoding)
        else:
            data = data.drop_vars([c for c in data.coords if "run" not in data[c].dims])
            _write(data, path, append_dim="run")
        offset += n
        if bar is not None:
            bar.update(n)
    if bar is not None:
        bar.close()
    if offset == 0:
        raise InvalidValueError("samples hold no run")
    _finish(path, runs=offset, engine=",".join(sorted(engines)),
            seconds=_time.perf_counter() - start_clock)
    return path


def _write(data, path: Path, **kwargs) -> None:
    try:
        data.to_zarr(path, consolidated=False, **kwargs)
    except OSError as exc:
        raise OutputError(f"cannot write the ensemble to {str(path)!r}: {exc}") from exc


def _finish(path: Path, *, runs: int, engine: str, seconds: float) -> None:
    import zarr

    group = zarr.open_group(str(path), mode="r+")
    group.attrs.update({"runs": runs, "engine": engine,
                        "elapsed_seconds": round(seconds, 3)})


def manifest_entry(path: str | Path) -> dict:
    """The ``ensemble`` entry of a run folder's manifest for a Zarr store:
    file, format, runs, saved times, outputs and the store's attributes."""
    import xarray as xr

    path = Path(path)
    with xr.open_zarr(path, consolidated=False) as data:
        return {**{k: str(v) for k, v in data.attrs.items()},
                "file": path.name, "format": "zarr", "runs": int(data.sizes["run"]),
                "times": int(data.sizes["time"]), "outputs": list(data.data_vars)}
