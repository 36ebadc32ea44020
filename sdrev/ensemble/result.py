"""An ensemble's result as plain arrays, and its NetCDF file written without xarray.

:func:`sdrev.ensemble.run_arrays` returns an :class:`Arrays`: the outputs,
the saved times, the sampled inputs and the attributes, as numpy arrays.
:meth:`Arrays.to_dataset` makes the :class:`xarray.Dataset` that
:func:`sdrev.ensemble.run` returns. The ``sdrev ensemble`` command writes
``ensemble.nc`` straight from the arrays (:func:`write_netcdf`), through
``scipy.io.netcdf_file``, the library that xarray's ``engine="scipy"``
writes with, laid out as xarray lays it out: the same bytes. The command
thus skips importing xarray, and with it dask and distributed, which
xarray's checks for lazy arrays load (about a second of a 4-second
process of 100,000 runs).

Results with subscript dimensions, or whose names xarray would store
differently (a sampled column named like an output or a dimension, a
name with a space), are written through xarray (:meth:`Arrays.plain`
says which).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["Arrays", "non_finite_rows", "write_netcdf"]


@dataclass
class Arrays:
    """An ensemble's result, the pieces of :func:`sdrev.ensemble.run`'s Dataset.

    Attributes
    ----------
    outputs : dict of str to (tuple of str, ndarray)
        Output (Python name) -> its dims (``("run", "time", ...)``) and values.
    times : ndarray
        The saved times.
    runs : int
        Number of runs.
    dim_coords : dict of str to list
        Subscript dimension -> its elements (for subscripted outputs).
    inputs : dict of str to ndarray
        Sampled column (Python name) -> its values, one per run.
    attrs : dict
        The Dataset's attributes (``model``, ``engine``, ``created``, ...).
    """

    outputs: dict[str, tuple[tuple[str, ...], np.ndarray]]
    times: np.ndarray
    runs: int
    dim_coords: dict[str, list] = field(default_factory=dict)
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def sizes(self) -> dict[str, int]:
        """Length of each dimension, as :attr:`xarray.Dataset.sizes`."""
        sizes = {"run": self.runs, "time": len(self.times)}
        sizes.update({dim: len(elements) for dim, elements in self.dim_coords.items()})
        return sizes

    @property
    def data_vars(self) -> list[str]:
        """Names of the outputs, as :attr:`xarray.Dataset.data_vars`."""
        return list(self.outputs)

    def non_finite_runs(self) -> np.ndarray:
        """Indices of the runs whose outputs hold NaN or infinity anywhere."""
        return non_finite_rows(self.runs, (values for _, values in self.outputs.values()))

    def to_dataset(self) -> xr.Dataset:
        """The :class:`xarray.Dataset` of :func:`sdrev.ensemble.run`."""
        import xarray as xr

        data = {name: (dims, values) for name, (dims, values) in self.outputs.items()}
        inputs = {name: ("run", values) for name, values in self.inputs.items()}
        # one constructor call: adding coordinates one by one costs ~2 ms each
        together = {k: v for k, v in inputs.items() if k not in data}
        dataset = xr.Dataset(data, coords={"run": np.arange(self.runs), "time": self.times,
                                           **self.dim_coords, **together},
                             attrs=dict(self.attrs))
        for name, column in inputs.items():
            if name not in together:
                dataset.coords[name] = column
        return dataset

    def plain(self) -> bool:
        """Whether :func:`write_netcdf` writes these arrays without xarray:
        outputs over ``(run, time)`` only, every array of floats, and the
        sampled columns named apart from the outputs and dimensions, without
        spaces (xarray stores such columns as data variables)."""
        names = set(self.outputs) | {"run", "time"}
        return (not self.dim_coords and 0 < self.runs < 2**31
                and all(dims == ("run", "time") and values.dtype == np.float64
                        for dims, values in self.outputs.values())
                and np.asarray(self.times).dtype == np.float64
                and all(name not in names and " " not in name
                        and values.dtype == np.float64
                        for name, values in self.inputs.items()))


def non_finite_rows(runs: int, outputs) -> np.ndarray:
    """Indices of the runs (first axis) in which any of ``outputs`` (arrays
    of ``runs`` rows) holds NaN or infinity."""
    bad = np.zeros(runs, dtype=bool)
    for values in outputs:
        block = np.asarray(values, dtype=float).reshape(runs, -1)
        bad |= ~np.isfinite(block).all(axis=1)
    return np.flatnonzero(bad)


#: NetCDF3 has no 64-bit integers, unsigned integers or booleans: xarray
#: stores them as these types when no value changes.
_NC3_TYPES = {"int64": "int32", "uint64": "int32", "uint32": "int32",
              "uint16": "int16", "uint8": "int8", "bool": "int8"}


def _attribute(value):
    """An attribute value as xarray's NetCDF3 encoding stores it: text as
    UTF-8 bytes, numbers as a 1-d array of a NetCDF3 type."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    array = np.atleast_1d(value)
    if array.ndim > 1:
        raise ValueError(f"a NetCDF attribute must be a number, text or a 1-d array, "
                         f"got an array of shape {array.shape}")
    stored = _NC3_TYPES.get(str(array.dtype))
    if stored is not None:
        cast = array.astype(stored)
        if not (cast == array).all():
            raise ValueError(f"attribute {value!r} does not fit NetCDF3's {stored}")
        array = cast
    return array


def write_netcdf(arrays: Arrays, path: str | Path) -> Path:
    """Write ``arrays`` to a NetCDF3 file, as ``to_dataset().to_netcdf(path,
    engine="scipy")`` writes it.

    Parameters
    ----------
    arrays : Arrays
        A result whose :meth:`~Arrays.plain` is true (other results go
        through xarray).
    path : str or Path
        The file to write.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If ``arrays`` is not plain.
    """
    if not arrays.plain():
        raise ValueError("write_netcdf writes plain results only (outputs over run and "
                         "time, float columns); write arrays.to_dataset() through xarray")
    from scipy.io import netcdf_file

    path = Path(path)
    coordinates = " ".join(sorted(arrays.inputs))
    with netcdf_file(path, mode="w", mmap=False, version=2) as nc:
        for name, value in arrays.attrs.items():
            setattr(nc, name, _attribute(value))
        nc.createDimension("run", arrays.runs)
        nc.createDimension("time", len(arrays.times))
        variables: list[tuple[str, tuple[str, ...], np.ndarray]] = [
            (name, ("run", "time"), values) for name, (_, values) in arrays.outputs.items()]
        # the order xarray writes: outputs, then run, the inputs and time
        variables.append(("run", ("run",), np.arange(arrays.runs, dtype=np.int32)))
        variables += [(name, ("run",), values) for name, values in arrays.inputs.items()]
        variables.append(("time", ("time",), np.asarray(arrays.times)))
        for name, dims, values in variables:
            var = nc.createVariable(name, values.dtype, dims)
            if name in arrays.outputs and coordinates:
                var.coordinates = coordinates.encode("utf-8")
            if values.dtype.kind == "f":
                var._FillValue = np.float64(np.nan)
            var[...] = values
    return path
