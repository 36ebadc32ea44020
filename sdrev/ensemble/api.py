"""Public API of the ensemble engine: run, sample, write."""

from __future__ import annotations

import json
import logging
import math
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sdrev.errors import (InvalidValueError, ModelNotFoundError, OutputError,
                          UnknownNameError, suggest)
from sdrev.ensemble.compile import (Program, UnsupportedConstructError,
                                    compile_model)
from sdrev.ensemble.execute import Job, iter_chunks

__all__ = ["model_path", "run", "sample_lhs", "write"]

log = logging.getLogger("sdrev.ensemble")

#: Default number of runs per chunk: large enough to amortise numpy call
#: overhead, small enough that a chunk's state stays in cache-friendly sizes.
DEFAULT_CHUNK = 20_000


def model_path(model) -> Path:
    """Path of a model given as a path or an object with ``.path``.

    Raises
    ------
    ModelNotFoundError
        If the file does not exist.
    """
    path = Path(getattr(model, "path", model))
    if not path.is_file():
        raise ModelNotFoundError(f"model file {str(path)!r} does not exist")
    return path.resolve()


def _frame(samples) -> pd.DataFrame:
    if samples is None:
        return pd.DataFrame(index=range(1))
    if isinstance(samples, pd.DataFrame):
        return samples
    if isinstance(samples, dict):
        return pd.DataFrame(samples)
    raise InvalidValueError(
        f"samples must be a pandas DataFrame (one row per run), a dict of "
        f"columns or None, got {type(samples).__name__}")


def _resolve_all(program: Program | None, names, namespace: dict, what: str):
    out = []
    for name in names:
        if program is not None:
            out.append(program.resolve(name))
            continue
        lowered = {k.lower(): v for k, v in namespace.items()}
        key = " ".join(str(name).replace("_", " ").split()).lower()
        if name in namespace.values() or "[" in str(name):
            out.append(name)
        elif name in namespace:
            out.append(namespace[name])
        elif key in lowered:
            out.append(lowered[key])
        else:
            raise UnknownNameError(f"unknown {what} {name!r}"
                                   + suggest(name, namespace))
    return out


def run(model, samples=None, *, outputs, chunk_size: int = DEFAULT_CHUNK,
        scheduler: str | None = None, workers: int | None = None,
        progress: bool = True, saveper: float | None = None,
        engine: str = "auto") -> xr.Dataset:
    """Run a model once per row of ``samples``, vectorised.

    Parameters
    ----------
    model : str, Path or Model
        A ``.mdl`` path or any object with a ``.path`` attribute (such as
        ``sdrev.load(name)``).
    samples : pandas.DataFrame, optional
        One row per run, one column per varied constant (Vensim name or
        snake_case). ``None`` runs the model once with its own constants.
    outputs : sequence of str
        Variables to save (Vensim names or snake_case).
    chunk_size : int, optional
        Runs integrated together in one array pass.
    scheduler : str, optional
        ``None``: local worker processes over all cores; ``"local"``: a
        local Dask cluster; otherwise a Dask scheduler address.
    workers : int, optional
        Local worker processes (default all cores; ``1`` runs inline).
    progress : bool, optional
        Show a tqdm progress bar.
    saveper : float, optional
        Saving interval replacing the model's SAVEPER.
    engine : {"auto", "sdrev", "pysd"}, optional
        ``"auto"`` uses the vectorised engine and falls back to PySD (one
        run at a time, in parallel workers) when the model uses a construct
        the engine does not support, logging the reason; ``"sdrev"``
        raises :class:`UnsupportedConstructError` instead; ``"pysd"``
        always runs PySD (the reference).

    Returns
    -------
    xarray.Dataset
        One variable per output (Python names), dims ``(run, time)``;
        attributes ``engine`` (``"sdrev"`` or ``"pysd-fallback"``) and,
        for the fallback, ``fallback_reason``.

    Raises
    ------
    UnknownNameError
        For an output or sample column the model does not have.
    InvalidValueError
        For a bad chunk size or non-numeric samples.
    UnsupportedConstructError
        When ``engine="sdrev"`` and the model needs the fallback.
    """
    path = model_path(model)
    frame = _frame(samples)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidValueError(
            f"chunk_size must be a positive integer, got {chunk_size!r}")
    if isinstance(outputs, str):
        outputs = [outputs]
    if not outputs:
        raise InvalidValueError("outputs must name at least one variable")
    engines = ("auto", "sdrev", "pysd")
    if engine not in engines:
        raise InvalidValueError(f"unknown engine {engine!r}; valid: {engines}")
    try:
        if engine == "pysd":
            raise UnsupportedConstructError("PySD engine requested")
        program = compile_model(path)
        reason = None
    except UnsupportedConstructError as exc:
        if engine == "sdrev":
            raise
        program, reason = None, str(exc)
        if engine == "auto":
            log.warning("ensemble engine cannot vectorise %s: %s; falling back "
                        "to PySD runs in parallel", path.name, exc)
    namespace = program.names if program else _namespace(path)
    out_names = _resolve_all(program, outputs, namespace, "output")
    columns = _resolve_all(program, [str(c) for c in frame.columns],
                           namespace, "parameter")
    try:
        values = frame.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"samples must be numeric: {exc}") from exc
    n = len(frame)
    if program is None:  # PySD returns Vensim names; chunks stay small
        inverse = {v: k for k, v in namespace.items()}
        job_outputs = tuple(inverse.get(o, o) for o in out_names)
        size = max(1, min(chunk_size, math.ceil(n / max(1, (workers or 2) * 4))))
    else:  # at least one chunk per core
        job_outputs = tuple(out_names)
        cores = workers or os.cpu_count() or 1
        size = max(1, min(chunk_size, math.ceil(n / cores)))
    jobs = [Job(path=str(path), outputs=job_outputs, columns=tuple(columns),
                start=s, values=values[s:s + size], saveper=saveper,
                fallback=program is None, program=program)
            for s in range(0, n, size)]
    bar = _bar(n, progress, path.name)
    arrays: dict = {}
    times = None
    try:
        for result in iter_chunks(jobs, scheduler=scheduler, workers=workers,
                                  progress=bar.update if bar else None):
            if times is None:
                times = result.times
                arrays = {name: np.empty((n, len(times)))
                          for name in result.data}
            for name, block in result.data.items():
                arrays[name][result.start:result.start + len(block)] = block
    finally:
        if bar:
            bar.close()
    if program is None:  # rename PySD's Vensim columns to Python names
        arrays = {namespace.get(k, k): v for k, v in arrays.items()}
    data = {name: (("run", "time"), arrays[name]) for name in arrays}
    attrs = {"model": str(path), "engine": "sdrev" if program else "pysd-fallback",
             "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if reason and engine == "auto":
        attrs["fallback_reason"] = reason
    dataset = xr.Dataset(data, coords={"run": np.arange(n), "time": times},
                         attrs=attrs)
    for k, name in enumerate(columns):
        dataset.coords[name] = ("run", values[:, k])
    return dataset


def _namespace(path: Path) -> dict:
    from sdrev.translate import abstract_model, python_names

    return python_names(abstract_model(path).sections[0])[0]


def _bar(total: int, enabled: bool, label: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"ensemble {label}", unit="run")


def sample_lhs(ranges: dict, n: int, *, seed: int) -> pd.DataFrame:
    """Latin hypercube sample of parameters, uniform within ranges.

    Parameters
    ----------
    ranges : dict of str to (float, float)
        Parameter name -> ``(lo, hi)``.
    n : int
        Number of runs.
    seed : int
        Random seed (required, so that samples are reproducible).

    Returns
    -------
    pandas.DataFrame
        ``n`` rows, one column per parameter.
    """
    from scipy.stats import qmc

    if not isinstance(n, int) or n < 1:
        raise InvalidValueError(f"n must be a positive integer, got {n!r}")
    if not ranges:
        raise InvalidValueError("ranges must name at least one parameter")
    for name, (lo, hi) in ranges.items():
        if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
            raise InvalidValueError(
                f"range of {name!r} must be finite with lo <= hi, got "
                f"[{lo}, {hi}]")
    unit = qmc.LatinHypercube(d=len(ranges), seed=seed).random(n)
    lo = np.array([r[0] for r in ranges.values()], dtype=float)
    hi = np.array([r[1] for r in ranges.values()], dtype=float)
    return pd.DataFrame(lo + unit * (hi - lo), columns=list(ranges))


def write(dataset: xr.Dataset, folder, *, format: str = "netcdf",
          manifest: dict | None = None) -> Path:
    """Write an ensemble result into a run folder.

    Parameters
    ----------
    dataset : xarray.Dataset
        The result of :func:`run`.
    folder : str or Path
        Run folder (created if missing).
    format : {"netcdf", "parquet"}
        ``ensemble.nc`` (scipy backend, no extra dependency) or
        ``ensemble.parquet`` (long table: run, time, outputs; needs pyarrow).
    manifest : dict, optional
        Extra entries for ``manifest.json`` (merged with the existing one).

    Returns
    -------
    Path
        The data file written.
    """
    formats = ("netcdf", "parquet")
    if format not in formats:
        raise InvalidValueError(f"unknown format {format!r}; valid: {formats}")
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if format == "netcdf":
            target = folder / "ensemble.nc"
            dataset.to_netcdf(target, engine="scipy")
        else:
            target = folder / "ensemble.parquet"
            dataset.to_dataframe().reset_index().to_parquet(target)
        entry = {"ensemble": {"file": target.name, "format": format,
                              "runs": int(dataset.sizes["run"]),
                              "times": int(dataset.sizes["time"]),
                              "outputs": list(dataset.data_vars),
                              **{k: str(v) for k, v in dataset.attrs.items()}}}
        man = folder / "manifest.json"
        current = json.loads(man.read_text()) if man.exists() else {}
        current.update(manifest or {})
        current.update(entry)
        man.write_text(json.dumps(current, indent=2) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write the ensemble to {str(folder)!r}: "
                          f"{exc}") from exc
    except ImportError as exc:
        raise OutputError(f"cannot write {format}: {exc}") from exc
    return target
