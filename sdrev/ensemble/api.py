"""Public API of the ensemble engine: run, sample, write."""

from __future__ import annotations

import json
import logging
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sdrev.errors import (InvalidValueError, ModelNotFoundError, OutputError,
                          UnknownNameError, suggest)
from sdrev.ensemble.compile import compile_model
from sdrev.ensemble.execute import Job, iter_chunks, kernel_ready
from sdrev.ensemble.noise import labels_are_streams
from sdrev.ensemble.program import Program, UnsupportedConstructError, fallback_reason
from sdrev.ensemble.result import Arrays, non_finite_rows, write_netcdf
from sdrev.ensemble.switches import switch_constants, with_switches

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["ENGINES", "check_request", "model_namespace", "model_path", "run", "run_arrays",
           "sample_lhs", "split_column", "timed_columns", "write"]

log = logging.getLogger("sdrev.ensemble")

#: Default largest number of runs per chunk: large enough to amortise numpy
#: call overhead, small enough that a chunk's arrays (32 KB each) stay in
#: the CPU caches; chunks are balanced over the workers.
DEFAULT_CHUNK = 4_000

#: Fewest runs for which ``run`` compiles a kernel by default (below, the
#: one-off compilation costs more than it saves when nothing is cached).
JIT_MIN_RUNS = 1_000

#: Sample tables larger than this start workers from a clean forkserver
#: rather than forking the caller (whose memory they would map).
ISOLATE_BYTES = 64 * 2**20


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


def timed_columns(program: Program | None, names: list[str], namespace: dict
                  ) -> tuple[Program | None, list[str]]:
    """Resolve sample columns, timed settings among them.

    A pair of columns ``NAME@value`` and ``NAME@time`` switches constant
    ``NAME`` in each run to that value at that time (policy timing, see
    :mod:`sdrev.ensemble.switches`); a column ``NAME`` then gives its value
    before the switch.

    Returns
    -------
    program : Program or None
        ``program`` with the switched constants (``None`` stays ``None``:
        the PySD fallback reads the same column names).
    columns : list of str
        Python names of the columns, the switch constants for timed ones.

    Raises
    ------
    InvalidValueError
        For a column ``NAME@...`` other than ``@value`` and ``@time``, or
        one of the pair without the other.
    """
    roles = {"value": 1, "time": 2}  # positions in switch_constants: (before, after, at)
    plain, timed = [], {}
    for name in names:
        base, at, part = name.rpartition("@")
        if not at:
            plain.append(name)
            continue
        if part.strip().lower() not in roles or not base.strip():
            raise InvalidValueError(
                f"sample column {name!r}: a timed setting's columns are NAME@value "
                "(the value from the switch on) and NAME@time (the switch time)")
        timed.setdefault(base.strip(), {})[part.strip().lower()] = name
    role_of: dict[str, tuple[str, int]] = {}
    for base, parts in timed.items():
        missing = sorted(set(roles) - set(parts))
        if missing:
            raise InvalidValueError(
                f"sample column {next(iter(parts.values()))!r} needs its pair "
                f"{base}@{missing[0]}: a timed setting takes the value from the "
                "switch on (NAME@value) and the switch time (NAME@time)")
        py = _resolve_all(program, [base], namespace, "parameter")[0]
        for part, column in parts.items():
            role_of[column] = (py, roles[part])
    switched = {py for py, _ in role_of.values()}
    if program is not None and switched:
        program = with_switches(program, sorted(switched))
    resolved = dict(zip(plain, _resolve_all(program, plain, namespace, "parameter")))
    out = []
    for name in names:
        if name in role_of:
            py, role = role_of[name]
            out.append(switch_constants(py)[role])
        else:  # a switched constant's own column: its value before the switch
            py = resolved[name]
            out.append(switch_constants(py)[0] if py in switched else py)
    return program, out


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


#: Engines of :func:`run` and :class:`~sdrev.ensemble.Batch`.
ENGINES = ("auto", "sdrev", "pysd")


def check_request(outputs, engine: str) -> list:
    """``outputs`` as a list (one name may be given as a string), after checking
    that it names at least one variable and that ``engine`` is one of :data:`ENGINES`."""
    if isinstance(outputs, str):
        outputs = [outputs]
    if not outputs:
        raise InvalidValueError("outputs must name at least one variable")
    if engine not in ENGINES:
        raise InvalidValueError(f"unknown engine {engine!r}; valid: {ENGINES}")
    return list(outputs)


def run(model, samples=None, *, outputs, chunk_size: int = DEFAULT_CHUNK,
        scheduler: str | None = None, workers: int | None = None,
        progress: bool = True, saveper: float | None = None,
        engine: str = "auto", jit: bool | None = None, seed: int = 0) -> xr.Dataset:
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
    jit : bool, optional
        Integrate scalar models with a kernel compiled by numba
        (:mod:`sdrev.ensemble.kernel`; machine code cached under sdrev's
        cache folder), its runs shared by threads of this process.
        ``None`` (the default) does so from ``JIT_MIN_RUNS`` runs on, where
        the one-off compilation pays; ``False`` always runs the numpy
        engine. Results are the same either way. Models the kernel does not
        cover (subscripts, DELAY N, DELAY FIXED) run on the numpy engine.
    seed : int, optional
        Seed of the model's RANDOM functions: each run draws from its own
        stream, keyed by the seed and the run's index, the label of its row
        in ``samples`` when the index holds integers (so
        ``run(model, samples.iloc[[7]], seed=s)`` replays run 7 alone with
        the same draws), else its position.

    Returns
    -------
    xarray.Dataset
        One variable per output (Python names), dims ``(run, time)``, plus
        one dim per subscript range for subscripted outputs (PySD's range
        names, coordinates the elements: ``ds["x"].sel(Region="north")``),
        with either engine; a samples column that names a subscripted
        constant sets every element of it. Attributes ``engine``
        (``"sdrev"`` or ``"pysd-fallback"``), ``kernel`` (1 when the
        compiled kernel integrated the runs, else 0), ``worker_peak_mib``
        and, for the fallback, ``fallback_reason``.

    Raises
    ------
    UnknownNameError
        For an output or sample column the model does not have.
    InvalidValueError
        For a bad chunk size or non-numeric samples.
    UnsupportedConstructError
        When ``engine="sdrev"`` and the model needs the fallback.
    """
    return run_arrays(model, samples, outputs=outputs, chunk_size=chunk_size,
                      scheduler=scheduler, workers=workers, progress=progress,
                      saveper=saveper, engine=engine, jit=jit, seed=seed).to_dataset()


def run_arrays(model, samples=None, *, outputs, chunk_size: int = DEFAULT_CHUNK,
               scheduler: str | None = None, workers: int | None = None,
               progress: bool = True, saveper: float | None = None,
               engine: str = "auto", jit: bool | None = None, seed: int = 0) -> Arrays:
    """:func:`run`'s result as numpy arrays, without xarray.

    Parameters and errors are those of :func:`run`.

    Returns
    -------
    Arrays
        The outputs, times, sampled inputs and attributes;
        :meth:`~sdrev.ensemble.result.Arrays.to_dataset` makes :func:`run`'s
        Dataset, and :func:`write` writes either.
    """
    if engine == "auto":  # any failure of the engine falls back to PySD
        options = {"outputs": outputs, "chunk_size": chunk_size, "scheduler": scheduler,
                   "workers": workers, "progress": progress, "saveper": saveper,
                   "jit": jit, "seed": seed}
        try:
            return run_arrays(model, samples, engine="sdrev", **options)
        except Exception as exc:  # noqa: BLE001 - an engine bug must not end the run
            reason = fallback_reason(exc)
            if reason is None:
                raise
        log.warning("ensemble engine cannot vectorise %s: %s; falling back "
                    "to PySD runs in parallel", model_path(model).name, reason)
        data = run_arrays(model, samples, engine="pysd", **options)
        data.attrs.update(engine="pysd-fallback", fallback_reason=reason)
        return data
    path = model_path(model)
    frame = _frame(samples)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidValueError(
            f"chunk_size must be a positive integer, got {chunk_size!r}")
    outputs = check_request(outputs, engine)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (
            0 <= seed < 2**53):
        raise InvalidValueError(
            f"seed must be an integer from 0 to 2**53 - 1, got {seed!r}")
    try:
        if engine == "pysd":
            raise UnsupportedConstructError("PySD engine requested")
        program = compile_model(path, subscripts=True)
        reason = None
    except UnsupportedConstructError as exc:
        if engine == "sdrev":
            raise
        program, reason = None, str(exc)
        if engine == "auto":
            log.warning("ensemble engine cannot vectorise %s: %s; falling back "
                        "to PySD runs in parallel", path.name, exc)
    namespace = program.names if program else model_namespace(path)
    out_names = _resolve_all(program, outputs, namespace, "output")
    program, columns = timed_columns(program, [str(c) for c in frame.columns], namespace)
    try:
        if all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
               for t in frame.dtypes):
            values = None  # read chunk by chunk: no copy of a large table
        else:
            values = frame.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"samples must be numeric: {exc}") from exc
    n = len(frame)
    if program is None:  # PySD returns Vensim names; chunks stay small
        inverse = {v: k for k, v in namespace.items()}
        job_outputs = tuple(inverse.get(o, o) for o in out_names)
        size = max(1, min(chunk_size, math.ceil(n / max(1, (workers or 2) * 4))))
    else:
        job_outputs = tuple(out_names)
    use_jit = n >= JIT_MIN_RUNS if jit is None else bool(jit)
    fields = dict(path=str(path), outputs=job_outputs, columns=tuple(columns),
                  saveper=saveper, fallback=program is None, program=program,
                  jit=use_jit and program is not None, seed=int(seed))
    if program is not None:  # chunks of equal size
        cores = 1 if scheduler is None and workers == 1 else (
            workers or os.cpu_count() or 1)
        if scheduler is None and kernel_ready(
                Job(start=0, values=np.empty((0, len(columns))), **fields)):
            # the kernel's threads share each chunk: chunks of up to
            # chunk_size runs per thread
            count = math.ceil(n / (chunk_size * min(cores, 8)))
        else:  # at most chunk_size, a multiple per core
            count = cores * math.ceil(n / (cores * chunk_size))
        size = max(1, math.ceil(n / max(1, count)))
    jobs = _Jobs(frame, values, size, fields)
    bar = _bar(n, progress, path.name)
    arrays: dict = {}
    times = None
    worker_peak = 0.0
    compiled = False
    store = _Store(len(job_outputs), n)
    try:
        isolate = frame.memory_usage(deep=False).sum() > ISOLATE_BYTES
        for result in iter_chunks(jobs, scheduler=scheduler, workers=workers,
                                  progress=bar.update if bar else None,
                                  isolate=bool(isolate), sink=store.get):
            if times is None:
                times = result.times
                arrays = store.arrays(result.data, n)
            for name, block in result.data.items():
                target = arrays[name][result.start:result.start + len(block)]
                if not np.shares_memory(target, block):  # else written there
                    target[...] = block
            worker_peak = max(worker_peak, result.peak_mib)
            compiled = compiled or result.kernel
    finally:
        if bar:
            bar.close()
    if program is None:  # PySD's Vensim columns -> Python names and arrays
        arrays, dims, coords = _restack(arrays, namespace, _layout_of(path))
    else:
        dims, coords = program.dims, program.coords
    data = {name: (("run", "time") + tuple(dims.get(name, ())), arrays[name])
            for name in arrays}
    extra = {}
    for name in arrays:
        for dim, elements in zip(dims.get(name, ()), coords.get(name, ())):
            extra[dim] = list(elements)
    attrs = {"model": str(path), "engine": "sdrev" if program else "pysd-fallback",
             "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    attrs["worker_peak_mib"] = round(worker_peak, 1)
    attrs["kernel"] = int(compiled)
    if reason and engine == "auto":
        attrs["fallback_reason"] = reason
    inputs = {}
    for k, name in enumerate(columns):
        inputs[name] = (values[:, k] if values is not None
                        else frame.iloc[:, k].to_numpy(dtype=float))
    return Arrays(outputs=data, times=times, runs=n, dim_coords=extra, inputs=inputs,
                  attrs=attrs)


class _Store:
    """The result arrays of a run: the compiled kernel writes into them
    directly (one ``(outputs, runs, times)`` block); other chunks are
    copied in."""

    def __init__(self, outputs: int, n: int):
        self.outputs, self.n = outputs, n
        self.block = None

    def get(self, times: int) -> np.ndarray:
        """The ``(outputs, runs, times)`` block (made on first use)."""
        if self.block is None:
            self.block = np.empty((self.outputs, self.n, times))
        return self.block

    def arrays(self, data: dict, n: int) -> dict:
        """One ``(runs, times, ...)`` array per output: views of the block
        when the kernel made it, else new arrays shaped like ``data``."""
        if self.block is not None and len(data) == self.outputs:
            return dict(zip(data, self.block))
        return {name: np.empty((n,) + block.shape[1:])
                for name, block in data.items()}


class _Jobs:
    """The chunks of a run, made as they are submitted (so that a large
    samples table is never copied whole)."""

    def __init__(self, frame: pd.DataFrame, values, size: int, fields: dict):
        self.frame, self.values, self.size, self.fields = frame, values, size, fields

    def __len__(self) -> int:
        return math.ceil(len(self.frame) / self.size)

    @property
    def first(self) -> Job | None:
        """The first chunk (``None`` for no runs)."""
        return next(iter(self), None)

    def __iter__(self):
        for start in range(0, len(self.frame), self.size):
            if self.values is not None:
                block = self.values[start:start + self.size]
            else:
                block = self.frame.iloc[start:start + self.size].to_numpy(dtype=float)
            yield Job(start=start, values=block, runs=self.runs(start), **self.fields)

    def runs(self, start: int):
        """Indices of the runs of the chunk at ``start``: the samples' integer
        row labels (non-negative), else ``None`` (their positions)."""
        index = self.frame.index
        if not labels_are_streams(index):
            return None
        return index[start:start + self.size].to_numpy(dtype=np.int64)


def _layout_of(path: Path) -> dict:
    """``{python name: (dims, coords)}`` of the subscripted elements, as PySD
    merges them (also for models the engine cannot compile)."""
    import warnings

    from sdrev.translate import abstract_model, python_names, subscript_manager

    section = abstract_model(path).sections[0]
    if not section.subscripts:
        return {}
    namespace = python_names(section)[0]
    try:
        sm = subscript_manager(section, path.parent)
    except Exception:  # noqa: BLE001 - ranges from files etc.: no layout
        return {}
    out = {}
    for element in section.elements:
        subs = [c.subscripts[0] for c in element.components]
        if not any(subs):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dims = sm.make_merge_list(subs, element.name)
            coords = tuple(tuple(sm.subscripts[d]) for d in dims)
        except Exception:  # noqa: BLE001 - leave such columns flat
            continue
        out[namespace[element.name]] = (tuple(dims), coords)
    return out


def split_column(column: str) -> tuple[str, tuple[str, ...]]:
    """``"Var[a, b]"`` -> ``("Var", ("a", "b"))``."""
    name, bracket, rest = str(column).partition("[")
    if not bracket:
        return name.strip(), ()
    return name.strip(), tuple(e.strip() for e in rest.rstrip("]").split(","))


def _restack(arrays: dict, namespace: dict, layout: dict):
    """PySD's flat columns (``Var[a,b]``) -> one array per variable with
    the subscript axes after (run, time)."""
    out: dict = {}
    dims: dict = {}
    coords: dict = {}
    lowered = {" ".join(k.split()).lower(): v for k, v in namespace.items()}
    for column, block in arrays.items():
        base, elements = split_column(column)
        py = namespace.get(base) or lowered.get(" ".join(base.split()).lower())
        if py is None or not elements or py not in layout:
            out[namespace.get(column, column)] = block
            continue
        dim, coord = layout[py]
        try:
            index = tuple(c.index(e) for c, e in zip(coord, elements))
        except ValueError:
            out[column] = block
            continue
        if py not in out:
            out[py] = np.full(block.shape + tuple(len(c) for c in coord), np.nan)
            dims[py], coords[py] = dim, coord
        out[py][(slice(None), slice(None)) + index] = block
    return out, dims, coords


_NAMESPACES: dict = {}


def model_namespace(path: Path) -> dict:
    """Model name -> Python name of every element of the model at ``path``.

    Read once per file contents in a process (parsing a model takes PySD
    0.1-0.3 s, and a run, its fallback and its callers ask for the names of
    the same file several times); a changed file is read again.
    """
    from sdrev.translate import abstract_model, file_hash, python_names

    path = Path(path)
    try:
        key = (str(path.resolve()), file_hash(path))
    except OSError:  # no such file: abstract_model says so
        return python_names(abstract_model(path).sections[0])[0]
    if key not in _NAMESPACES:
        if len(_NAMESPACES) >= 64:
            _NAMESPACES.clear()
        _NAMESPACES[key] = python_names(abstract_model(path).sections[0])[0]
    return dict(_NAMESPACES[key])


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


def non_finite_runs(dataset: xr.Dataset | Arrays) -> np.ndarray:
    """Indices of the runs whose outputs hold NaN or infinity anywhere (a
    division by zero, an overflow): they completed, but their numbers mean
    nothing, and a caller should say so. ``dataset`` is :func:`run`'s or
    :func:`run_arrays`'s result."""
    if isinstance(dataset, Arrays):
        return dataset.non_finite_runs()
    return non_finite_rows(dataset.sizes["run"],
                           (dataset[name].values for name in dataset.data_vars))


def write(dataset: xr.Dataset | Arrays, folder, *, format: str = "netcdf",
          manifest: dict | None = None) -> Path:
    """Write an ensemble result into a run folder.

    Parameters
    ----------
    dataset : xarray.Dataset or Arrays
        The result of :func:`run` or :func:`run_arrays` (whose plain results
        go to NetCDF without xarray: :mod:`sdrev.ensemble.result`).
    folder : str or Path
        Run folder (created if missing).
    format : {"netcdf", "parquet", "zarr"}
        ``ensemble.nc`` (scipy backend, no extra dependency; NetCDF3 holds
        no variable over 2 GiB), ``ensemble.parquet`` (long table: run,
        time, outputs; written by pyarrow) or ``ensemble.zarr`` (chunked,
        any size; :func:`sdrev.ensemble.store.run_to_zarr` writes results
        larger than memory block by block).
    manifest : dict, optional
        Extra entries for ``manifest.json`` (merged with the existing one).

    Returns
    -------
    Path
        The data file written.
    """
    formats = ("netcdf", "parquet", "zarr")
    if format not in formats:
        raise InvalidValueError(f"unknown format {format!r}; valid: {formats}")
    lean = isinstance(dataset, Arrays) and format == "netcdf" and dataset.plain()
    if isinstance(dataset, Arrays) and not lean:
        dataset = dataset.to_dataset()
    sizes = ({name: values.nbytes for name, (_, values) in dataset.outputs.items()}
             if isinstance(dataset, Arrays)
             else {n: v.nbytes for n, v in dataset.variables.items()})
    too_large = [n for n, size in sizes.items() if size >= 2**31]
    if format == "netcdf" and too_large:
        raise OutputError(
            f"{too_large[0]!r} holds {sizes[too_large[0]] / 2**30:.1f} GiB, "
            "over NetCDF3's 2 GiB per variable; write format='zarr' (or run "
            "sdrev.ensemble.store.run_to_zarr, which writes as the runs complete)")
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if format == "netcdf":
            target = folder / "ensemble.nc"
            if isinstance(dataset, Arrays):
                write_netcdf(dataset, target)
            else:
                dataset.to_netcdf(target, engine="scipy")
        elif format == "zarr":
            target = folder / "ensemble.zarr"
            dataset.to_zarr(target, mode="w-", consolidated=False)
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
