"""Engine stage: Euler integration of one chunk of runs, as PySD does it.

The time loop follows ``pysd.py_backend.model.Model._integrate``: at each
time the saved outputs are taken before the state is advanced by one Euler
step, time advances by repeated addition of TIME STEP (so the float times
equal PySD's), a time is saved when its distance from INITIAL TIME is a
multiple of SAVEPER within PySD's relative precision, and the final time is
saved after the loop. With ``jit=True`` the same loop runs compiled
(:mod:`sdrev.ensemble.kernel`) for the models the kernel covers; the
initial state and the values constant in time still come from the numpy
code, so both paths start from the same numbers.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np

from sdrev.errors import InvalidValueError
from sdrev.ensemble.program import CONTROL, Simulator

__all__ = ["TimeGrid", "simulate_chunk", "time_grid"]

log = logging.getLogger("sdrev.ensemble")

#: PySD's relative precision for the final and saving times.
_RPREC = 1e-5


@dataclass(frozen=True)
class TimeGrid:
    """Integration and saving times.

    Attributes
    ----------
    times : ndarray
        Every integration time, ``INITIAL TIME`` to ``FINAL TIME``.
    saved : ndarray of bool
        Which of ``times`` are saved.
    labels : ndarray
        Saved times rounded as PySD rounds its output index.
    """

    times: np.ndarray
    saved: np.ndarray
    labels: np.ndarray


def _scalar(name: str, value) -> float:
    if isinstance(value, float) or np.ndim(value) == 0:
        return float(value)
    values = np.unique(np.asarray(value, dtype=float))
    if len(values) != 1:
        raise InvalidValueError(
            f"{name.upper()} must be the same in every run of an ensemble; "
            f"got {len(values)} different values ({values[:3].tolist()} ...)")
    return float(values[0])


@functools.lru_cache(maxsize=64)
def time_grid(initial: float, final: float, dt: float, saveper: float) -> TimeGrid:
    """Times of PySD's Euler loop and which of them it saves.

    Cached: a calibration asks for the same grid thousands of times (the
    arrays are shared, never written).

    Parameters
    ----------
    initial, final, dt, saveper : float
        INITIAL TIME, FINAL TIME, TIME STEP, SAVEPER.
    """
    if not dt > 0:
        raise InvalidValueError(f"TIME STEP must be positive, got {dt}")
    if not saveper > 0:
        raise InvalidValueError(f"SAVEPER must be positive, got {saveper}")
    prec = dt * _RPREC
    times = [initial]
    time = initial
    while time + prec < final:
        time = time + dt
        times.append(time)
    times_arr = np.array(times)
    delay = times_arr - initial
    saved = (np.mod(delay, saveper) < prec) | (np.mod(-delay, saveper) < prec)
    labels = np.round(times_arr[saved], -int(np.log10(prec)))
    for array in (times_arr, saved, labels):
        array.flags.writeable = False
    return TimeGrid(times=times_arr, saved=saved, labels=labels)


def simulate_chunk(sim: Simulator, constants: dict, n: int, *,
                   saveper: float | None = None, jit: bool = False,
                   threads: int = 1, report: dict | None = None,
                   sink=None, shift: int = 0, steps=None,
                   scalar: bool = False) -> tuple[np.ndarray, dict]:
    """Integrate ``n`` runs at once.

    Parameters
    ----------
    sim : Simulator
        Generated code (see :func:`sdrev.ensemble.compile.build_simulator`).
    constants : dict of str to float or ndarray
        Value of every constant or overridden element, by Python name;
        arrays have shape ``(n,)``.
    n : int
        Number of runs.
    saveper : float, optional
        Saving interval replacing the model's SAVEPER.
    jit : bool, optional
        Run the time loop as a compiled kernel
        (:mod:`sdrev.ensemble.kernel`) when numba is installed and the
        kernel covers the model; ``False`` (the default) runs the numpy
        loop, the reference. Both give the same results.
    threads : int, optional
        Threads sharing the runs in the compiled kernel.
    report : dict, optional
        Receives ``"kernel"``: whether the compiled kernel ran.
    sink : callable, optional
        ``sink(saved_times)`` returns an array of shape ``(outputs, runs,
        saved_times)`` the compiled kernel writes into directly, at rows
        ``shift:shift + n`` (saves a copy of the outputs).
    shift : int, optional
        First row of these runs in the sink's array.
    steps : array_like of int, optional
        Indices of the integration times to save, in increasing order,
        instead of the SAVEPER grid (the loop analysis needs each saved
        time and the step before it).
    scalar : bool, optional
        For one run (``n == 1``) of a model without subscripts on the numpy
        loop: values of shape ``(1,)`` become numpy scalars, which numpy
        evaluates about twice as fast per step (``sdrev simulate``); the
        arithmetic, and so every number, is the same.

    Returns
    -------
    times : ndarray
        Saved times (with ``steps``: those integration times, unrounded).
    outputs : dict of str to ndarray
        Each output as an array of shape ``(n, len(times))``.
    """
    with np.errstate(all="ignore"):
        state, control, orders, hoisted = sim.init(constants, n)
        constants = {**constants, **hoisted}
        if sim.prepare is not None:
            constants.update(sim.prepare(constants))
        t0, tf, dt, sp = (_scalar(c, v) for c, v in zip(CONTROL, control))
        grid = time_grid(t0, tf, dt, sp if saveper is None else saveper)
        if steps is not None:
            keep = np.zeros(len(grid.times), dtype=bool)
            keep[np.asarray(steps, dtype=int)] = True
            grid = TimeGrid(times=grid.times, saved=keep, labels=grid.times[keep])
        out = {name: np.empty((n, int(grid.saved.sum()))
                              + sim.shapes.get(name, ()))
               for name in sim.outputs}
        kernel = _kernel(sim, orders) if jit else None
        if kernel is not None:
            from sdrev.ensemble.kernel import KernelFailed, run_kernel

            target = sink(int(grid.saved.sum())) if sink is not None else None
            try:
                block = run_kernel(kernel, state, constants, n, grid.times,
                                   grid.saved, sim.lookups, threads=threads,
                                   out=target, shift=shift)
            except KernelFailed as exc:
                log.warning("the compiled kernel failed (%s); the numpy "
                            "engine runs instead", exc)
                kernel = None
            else:
                if report is not None:
                    report["kernel"] = True
                return grid.labels.copy(), dict(zip(sim.outputs, block))
        if report is not None:
            report["kernel"] = False
        if scalar and n == 1 and not sim.subscripted:
            state = tuple(_one(value) for value in state)
            constants = {name: _one(value) for name, value in constants.items()}
        column = 0
        last = len(grid.times) - 1
        for k, time in enumerate(grid.times):
            if k < last:
                new_state, values = sim.step(state, constants, time, orders)
            else:
                _, values = sim.step(state, constants, time, orders)
                new_state = state
            if grid.saved[k]:
                for name, value in zip(sim.outputs, values):
                    out[name][:, column] = value
                column += 1
            state = new_state
    return grid.labels.copy(), out


def _one(value):
    """A length-1 array as a numpy scalar of the same type; else ``value``."""
    if isinstance(value, np.ndarray) and value.shape == (1,):
        return value[0]
    return value


def _kernel(sim: Simulator, orders: dict):
    """The compiled kernel of ``sim`` for these delay orders, or ``None``."""
    from sdrev.ensemble.kernel import get_kernel

    kinds = {i: table[2] for i, table in enumerate(sim.lookups)}
    return get_kernel(sim, dict(orders), kinds)
