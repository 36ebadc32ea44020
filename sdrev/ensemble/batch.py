"""Array in, arrays out: one compiled model evaluated on many parameter sets per call.

:func:`sdrev.ensemble.run` is built for large ensembles: it accepts tables,
splits them over workers and returns a labelled xarray Dataset. A sampler or
an optimiser calls the model thousands of times with a few dozen parameter
sets each; there the fixed cost of each call decides. A :class:`Batch`
compiles the model once and keeps the generated simulator, so that a call
is a numpy array of parameter values in and one float array out, with well
under a millisecond of fixed overhead on the compiled kernel.

Models the engine cannot compile fall back to :func:`sdrev.ensemble.run`
with PySD (correct, far slower), and the batch says so in ``engine``.

Examples
--------
>>> import numpy as np, sdrev
>>> from sdrev.ensemble import Batch
>>> batch = Batch(sdrev.load("machine_tool_io"),             # doctest: +SKIP
...               parameters=["IP Protection"], outputs=["Domestic Market Share"])
>>> y = batch(np.array([[0.2], [0.8]]))                      # doctest: +SKIP
>>> y.shape  # (outputs, runs, saved times)                  # doctest: +SKIP
(1, 2, 81)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np

from sdrev.errors import InvalidValueError

__all__ = ["Batch"]

log = logging.getLogger("sdrev.ensemble")

#: Fewest runs per call that are shared between threads (below, starting
#: the threads costs more than they save).
THREADED_MIN_RUNS = 512


class Batch:
    """A model compiled once, evaluated on parameter arrays.

    Parameters
    ----------
    model : Model, str or Path
        A loaded model or a ``.mdl`` path.
    parameters : sequence of str
        The constants each call sets, in the order of the columns of the
        values passed to :meth:`__call__` (Vensim or snake_case names);
        ``NAME@value`` and ``NAME@time`` switch constant ``NAME`` to a value
        at a time per run (see :func:`sdrev.ensemble.api.timed_columns`).
    outputs : sequence of str
        The variables returned.
    constants : mapping of str to float, optional
        Constants held at these values in every run (a scenario's values).
    saveper : float, optional
        Saving interval replacing the model's SAVEPER (e.g. TIME STEP, to
        time events finely).
    threads : int, optional
        Threads sharing large calls (default: all cores).
    engine : {"auto", "sdrev", "pysd"}, optional
        As in :func:`sdrev.ensemble.run`.

    Attributes
    ----------
    times : ndarray
        The saved times (known after the first call; computed at creation).
    outputs : tuple of str
        Python names of the outputs, in the order of the result's first axis.
    engine : str
        ``"kernel"`` (compiled), ``"numpy"`` or ``"pysd-fallback"``.
    """

    def __init__(self, model, *, parameters: Sequence[str], outputs: Sequence[str],
                 constants: Mapping[str, float] | None = None,
                 saveper: float | None = None, threads: int | None = None,
                 engine: str = "auto"):
        from sdrev.ensemble.api import check_request, model_path, timed_columns
        from sdrev.ensemble.compile import UnsupportedConstructError, compile_model

        outputs = check_request(outputs, engine)
        self.path = model_path(model)
        self.saveper = saveper
        self.threads = max(1, threads or os.cpu_count() or 1)
        fixed = dict(constants or {})
        self._names = list(parameters)
        self._fixed_names = [k for k in fixed if k not in set(self._names)]
        self._fixed_values = np.array([float(fixed[k]) for k in self._fixed_names])
        self._program = None
        try:
            if engine == "pysd":
                raise UnsupportedConstructError("PySD engine requested")
            self._program = compile_model(self.path, subscripts=True)
        except UnsupportedConstructError as exc:
            if engine == "sdrev":
                raise
            if engine == "auto":
                log.warning("the engine cannot compile %s (%s): each batch runs through PySD",
                            self.path.name, exc)
        self._outputs_given = list(outputs)
        if self._program is None:
            self.engine = "pysd-fallback"
            probe = self._fallback(np.zeros((0, len(self._names))), probe=True)
            self.outputs = probe
            return
        # timed settings: columns NAME@value and NAME@time switch NAME at a per-run time
        program, columns = timed_columns(self._program, self._names + self._fixed_names,
                                         self._program.names)
        self._program = program
        self._columns = tuple(columns)
        if len(set(self._columns)) != len(self._columns):
            raise InvalidValueError(f"a parameter is named twice in {self._names}")
        self.outputs = tuple(program.resolve(n) for n in outputs)
        from sdrev.ensemble.codegen import build_simulator
        self._sim = build_simulator(program, self.outputs, overrides=self._columns)
        self._dims = [program.dims.get(c, ()) for c in self._columns]
        self._jit = not program.dims and self._kernel_available()
        self.engine = "kernel" if self._jit else "numpy"
        self.times = self._probe_times()

    @staticmethod
    def _kernel_available() -> bool:
        from sdrev.ensemble.kernel import available
        return available()

    def _default(self, column: str) -> float:
        value = self._program.constants.get(column, 0.0)
        return float(np.asarray(value, dtype=float).ravel()[0])

    def _probe_times(self) -> np.ndarray:
        values = np.array([[self._default(c) for c in self._columns[:len(self._names)]]])
        times, _ = self._simulate(values)
        return times

    def __call__(self, values) -> np.ndarray:
        """Run one model per row of ``values``.

        Parameters
        ----------
        values : array_like, shape (runs, len(parameters))

        Returns
        -------
        ndarray, shape (outputs, runs, saved times) (plus subscript axes)
            Float results; a run that fails numerically holds NaN or inf.
        """
        values = self._checked(values)
        if self._program is None:
            return self._fallback(values)
        _, data = self._simulate(values)
        return np.stack([data[o] for o in self.outputs])

    def each(self, values) -> dict[str, np.ndarray]:
        """Run one model per row of ``values``; each output at its own shape.

        One engine call for outputs of different shapes (scalar variables
        beside subscripted ones), where :meth:`__call__` needs outputs of one
        shape to stack them.

        Parameters
        ----------
        values : array_like, shape (runs, len(parameters))

        Returns
        -------
        dict of str to ndarray
            By Python name (:attr:`outputs`), shape (runs, saved times)
            plus the output's subscript axes.
        """
        values = self._checked(values)
        if self._program is None:
            block = self._fallback(values)
            return {o: block[k] for k, o in enumerate(self.outputs)}
        _, data = self._simulate(values)
        return {o: data[o] for o in self.outputs}

    def _checked(self, values) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        if values.ndim != 2 or values.shape[1] != len(self._names):
            raise InvalidValueError(
                f"values must have shape (runs, {len(self._names)}), got {values.shape}")
        return values

    def _simulate(self, values: np.ndarray):
        from sdrev.ensemble.engine import simulate_chunk

        n = len(values)
        constants = dict(self._program.constants)
        for k, name in enumerate(self._columns):
            column = (values[:, k] if k < values.shape[1]
                      else np.full(n, self._fixed_values[k - values.shape[1]]))
            constants[name] = np.ascontiguousarray(column).reshape(
                (n,) + (1,) * len(self._dims[k]))
        threads = self.threads if n >= THREADED_MIN_RUNS else 1
        times, data = simulate_chunk(self._sim, constants, n, saveper=self.saveper,
                                     jit=self._jit, threads=threads)
        return times, data

    def _fallback(self, values: np.ndarray, *, probe: bool = False):
        import pandas as pd

        from sdrev.ensemble.api import run

        rows = values if len(values) else np.array([[np.nan] * len(self._names)])
        frame = pd.DataFrame(rows, columns=self._names)
        frame = frame.loc[:, ~frame.isna().all()] if probe else frame
        for name, value in zip(self._fixed_names, self._fixed_values):
            frame[name] = value
        data = run(self.path, frame, outputs=self._outputs_given, saveper=self.saveper,
                   progress=False, engine="pysd", workers=1 if len(frame) < 8 else None)
        if probe:
            self.times = data["time"].to_numpy()
            return tuple(data.data_vars)
        return np.stack([data[o].to_numpy() for o in self.outputs])
