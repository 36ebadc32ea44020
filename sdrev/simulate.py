"""Run stage, single runs: one simulation on the compiled engine, PySD the reference.

:func:`simulate` runs a model once and returns a pandas DataFrame;
:func:`trajectories` returns the same numbers as a :class:`Trajectories`
(numpy arrays, written as CSV without pandas), which ``sdrev simulate``
uses. The engine is sdrev's vectorised one (:mod:`sdrev.ensemble`), on its
numpy path for one run: the compiled program and the model's structure are
read from the cache, so a warm run imports neither PySD nor pandas nor
numba. Its numbers equal PySD's (the same Euler loop and saved times;
``tests/test_simulate_engine.py`` compares every library model and the
shared test models). PySD stays the reference (``engine="pysd"``) and is
the fallback when the engine cannot take a model (``engine="auto"``, the
default: one warning names the reason, as ``sdrev ensemble`` does).

Call it as ``sdrev.simulate(model, ...)``: the module is callable (see
:class:`CallableModule`), so that :mod:`sdrev.model` need not import it.
"""

from __future__ import annotations

import logging
import re
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sdrev import budget
from sdrev.errors import InvalidValueError, SdrevError
from sdrev.scenario import RunSettings, run_settings

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from sdrev.model import Model

__all__ = ["ENGINES", "MAX_STEPS", "CallableModule", "Trajectories", "estimate_work",
           "output_variables", "simulate", "simulate_settings", "trajectories"]

#: Most integration steps one run may take without ``force`` (the shared
#: limits and estimator live in :mod:`sdrev.budget`).
MAX_STEPS = budget.MAX_STEPS
#: Most bytes one run's saved values may take without ``force``.
MAX_BYTES = budget.MAX_RUN_BYTES
#: Engines a run may ask for: ``"auto"`` (the compiled engine, PySD where it
#: cannot take the model), ``"sdrev"`` (the compiled engine only) and
#: ``"pysd"`` (the reference).
ENGINES = ("auto", "sdrev", "pysd")

log = logging.getLogger("sdrev.simulate")

_SUBSCRIPT = re.compile(r"^(?P<name>[^\[]+?)\s*(?P<subs>\[.*\])?$")


def output_variables(model: Model):
    """The variables a run returns: stocks, flows and auxiliaries."""
    return tuple(v for v in model.variables if v.kind in ("stock", "flow", "auxiliary"))


@dataclass(frozen=True, eq=False)
class Trajectories:
    """The saved values of one run, as numpy arrays.

    Attributes
    ----------
    times : numpy.ndarray
        Saved times, shape ``(T,)``.
    columns : tuple of str
        One per stock, flow and auxiliary in snake_case (a subscripted
        variable one per element: ``name[a,b]``), in model order.
    values : numpy.ndarray
        Shape ``(T, len(columns))``.
    engine : str
        ``"sdrev"`` (the compiled engine), ``"pysd"`` (asked for) or
        ``"pysd-fallback"`` (the engine could not take the model).
    fallback_reason : str or None
        Why the engine could not, for ``"pysd-fallback"``.
    """

    times: np.ndarray
    columns: tuple[str, ...]
    values: np.ndarray
    engine: str
    fallback_reason: str | None = field(default=None)

    def column(self, name: str) -> np.ndarray:
        """The values of column ``name`` over :attr:`times`.

        Raises
        ------
        UnknownNameError
            If the run has no such column (naming close ones).
        """
        from sdrev.errors import UnknownNameError, suggest

        if name not in self.columns:
            raise UnknownNameError(f"the run has no column {name!r}"
                                   + (suggest(name, self.columns) or ""))
        return self.values[:, self.columns.index(name)]

    def to_frame(self) -> pd.DataFrame:
        """A pandas DataFrame indexed by time (named ``time``)."""
        import pandas as pd

        index = pd.Index(self.times, name="time")
        return pd.DataFrame(self.values, index=index, columns=list(self.columns))

    def write_csv(self, path: str | Path) -> None:
        """Write ``time`` and the columns as CSV, byte for byte as
        ``self.to_frame().to_csv(path)`` writes them (numbers as numpy
        prints them, missing values empty), without pandas."""
        import csv

        import numpy as np

        def text(values: np.ndarray) -> np.ndarray:
            out = values.astype(str)
            out[np.isnan(values)] = ""
            return out

        cells = np.column_stack([text(np.asarray(self.times, dtype=float)),
                                 text(np.asarray(self.values, dtype=float))])
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["time", *self.columns])
            writer.writerows(cells.tolist())

    def non_finite(self) -> dict[str, float]:
        """Columns that hold NaN or infinite values, each with the first time
        at which one appears (overflow, 0/0 in the model)."""
        import numpy as np

        bad = ~np.isfinite(self.values)
        return {column: float(self.times[np.argmax(bad[:, k])])
                for k, column in enumerate(self.columns) if bad[:, k].any()}


def simulate(model: Model, *, scenario: str | None = None,
             params: Mapping[str, object] | None = None,
             engine: str = "auto") -> pd.DataFrame:
    """Run ``model`` once.

    Parameters
    ----------
    model : Model
    scenario : str, optional
        A scenario of the model; ``None`` runs the model's own constants.
    params : mapping, optional
        Constants to set on top of the scenario (Vensim or snake_case
        names; ``"TIME STEP"``, ``"FINAL TIME"`` and ``"SAVEPER"`` too). A
        value may be timed: :class:`sdrev.scenario.Switch` ``(value,
        at=time)`` or the text ``"VALUE@TIME"`` keeps the constant's
        scenario value before ``time`` and sets ``value`` from then on
        (Vensim's ``STEP`` timing).
    engine : {"auto", "sdrev", "pysd"}, optional
        See :data:`ENGINES`; the numbers are the same.

    Returns
    -------
    pandas.DataFrame
        Indexed by time (named ``time``), one column per stock, flow and
        auxiliary, named in snake_case.

    Raises
    ------
    UnknownNameError, InvalidValueError
        For an unknown scenario or constant, a bad value or engine.

    Examples
    --------
    >>> import sdrev
    >>> model = sdrev.load("crrc_standards")                  # doctest: +SKIP
    >>> frame = sdrev.simulate(model, scenario="baseline")    # doctest: +SKIP
    >>> from sdrev.scenario import Switch
    >>> later = sdrev.simulate(model, params={"Policy Switch": Switch(1, at=2012)})  # doctest: +SKIP
    """
    return simulate_settings(model, run_settings(model, scenario=scenario, params=params,
                                                 timed=True), engine=engine)


def estimate_work(model: Model, settings: RunSettings) -> tuple[int, int]:
    """Integration steps and bytes of saved values of one run with ``settings``."""
    t = model.time
    steps, saved = budget.time_points(t.initial, settings.time.get("final_time", t.final),
                                      settings.time.get("time_step", t.step),
                                      settings.time.get("saveper", t.saveper))
    return steps, saved * len(output_variables(model)) * budget.FLOAT


def simulate_settings(model: Model, settings: RunSettings, *, force: bool = False,
                      engine: str = "auto") -> pd.DataFrame:
    """:func:`trajectories` as a pandas DataFrame indexed by time (named
    ``time``), columns in snake_case."""
    return trajectories(model, settings, force=force, engine=engine).to_frame()


def trajectories(model: Model, settings: RunSettings, *, force: bool = False,
                 engine: str = "auto") -> Trajectories:
    """Run ``model`` once with resolved :class:`~sdrev.scenario.RunSettings`.

    Parameters
    ----------
    model : Model
    settings : RunSettings
    force : bool, optional
        Run even when :func:`estimate_work` is over :data:`MAX_STEPS` steps
        or ``MAX_BYTES`` of saved values (a TIME STEP or FINAL TIME typed
        wrong by orders of magnitude): without it such a run is refused
        with the estimate.
    engine : {"auto", "sdrev", "pysd"}, optional
        ``"auto"`` runs the compiled engine and falls back to PySD, with a
        warning on the ``sdrev.simulate`` logger naming the reason, when
        the engine cannot compile the model, fails on it, would read a
        FINAL TIME, TIME STEP or SAVEPER that is not constant once only, or
        gives a column that is NaN at every time (PySD may leave such cells
        out of its table); ``"sdrev"`` runs the engine whatever it gives
        and raises where it cannot; ``"pysd"`` runs the reference engine.

    Returns
    -------
    Trajectories

    Raises
    ------
    InvalidValueError
        For an unknown engine, or a run over the limits without ``force``.
    UnsupportedConstructError
        With ``engine="sdrev"``, when the engine cannot take the model.
    """
    if engine not in ENGINES:
        raise InvalidValueError(f"unknown engine {engine!r}; valid engines: "
                                + ", ".join(ENGINES))
    steps, size = estimate_work(model, settings)
    budget.check(budget.Estimate("this run", 1, steps, size), force=force, max_work=MAX_STEPS,
                 max_memory=min(MAX_BYTES, budget.memory_limit()),
                 hint="check TIME STEP, FINAL TIME and SAVEPER")
    if engine == "pysd":
        return _pysd_run(model, settings, engine="pysd")
    if engine == "sdrev":
        return _engine_run(model, settings)
    from sdrev.ensemble.program import fallback_reason

    try:
        run = _engine_run(model, settings)
        if (empty := _never_defined(run)) is None:
            return run
        reason = (f"{empty} is NaN at every time (a cell no equation defines? PySD "
                  "leaves those out of its table)")
    except Exception as exc:  # noqa: BLE001 - an engine bug must not end the run
        why = fallback_reason(exc)
        if why is None:
            raise
        reason = why
    log.warning("the engine cannot run %s (%s); running it with PySD", model.path.name,
                " ".join(reason.split()))
    return _pysd_run(model, settings, engine="pysd-fallback", reason=reason)


def _pysd_run(model: Model, settings: RunSettings, *, engine: str,
              reason: str | None = None) -> Trajectories:
    from sdrev import translate

    variables = output_variables(model)
    switches = {name: (settings.before(model, name), switch.value, switch.at)
                for name, switch in settings.switches.items()}
    frame = translate.run_pysd(model.translation, params=dict(settings.params),
                               time=dict(settings.time),
                               return_columns=[v.name for v in variables],
                               switches=switches)
    py_names = {v.name: v.py_name for v in variables}
    columns = tuple(_snake(str(col), py_names) for col in frame.columns)
    return Trajectories(times=frame.index.to_numpy(dtype=float), columns=columns,
                        values=frame.to_numpy(dtype=float), engine=engine,
                        fallback_reason=reason)


def _engine_run(model: Model, settings: RunSettings) -> Trajectories:
    """One run on the compiled engine's numpy path (one run does not pay
    for starting numba), from the cached program when there is one."""
    import itertools

    import numpy as np

    from sdrev.ensemble.codegen import build_simulator
    from sdrev.ensemble.engine import simulate_chunk
    from sdrev.ensemble.program import CONTROL, UnsupportedConstructError
    from sdrev.ensemble.switches import switch_constants, with_switches
    from sdrev.errors import UnknownNameError

    program = _program(Path(model.path))
    variables = output_variables(model)
    try:
        outputs = [program.resolve(v.name) for v in variables]
        overrides = {program.resolve(name): value for name, value in settings.params.items()}
        switched = {program.resolve(name): switch for name, switch in settings.switches.items()}
    except UnknownNameError as exc:  # the model reads it, the engine's program lacks it
        raise UnsupportedConstructError(f"the compiled program lacks a variable: {exc}") from None
    if switched:  # timed settings: x@before (its value so far), x@after, x@at per run
        program = with_switches(program, switched)
        for name, switch in switched.items():
            before, after, at = switch_constants(name)
            overrides[before] = overrides.pop(name, program.constants[before])
            overrides[after], overrides[at] = switch.value, switch.at
    overrides.update(settings.time)  # final_time, time_step, saveper: the program's names
    for control in ("final_time", "time_step", "saveper"):
        # PySD reads these at every step; the engine once, at the start
        if control not in overrides and control not in program.constants and \
                program.step[control].refs - set(program.constants) - set(CONTROL):
            raise UnsupportedConstructError(
                f"{control.upper().replace('_', ' ')} is not a constant: it may change "
                "during the run")
    simulator = build_simulator(program, outputs, overrides=tuple(overrides))
    constants = dict(program.constants)
    for name, value in overrides.items():
        dims = program.dims.get(name, ())
        constants[name] = np.full((1,) + (1,) * len(dims), float(value))
    try:
        times, data = simulate_chunk(simulator, constants, 1, scalar=True)
    except (SdrevError, KeyboardInterrupt, MemoryError):
        raise
    except Exception:  # noqa: BLE001 - a builtin that needs the run axis: the array loop
        times, data = simulate_chunk(simulator, constants, 1)
    columns, blocks = [], [np.empty((len(times), 0))]
    for variable, name in zip(variables, outputs):
        block = data[name][0]  # (times, *element axes)
        coords = program.coords.get(name, ())
        if block.size == len(times):  # PySD gives a single element a plain column
            columns.append(variable.py_name)
            blocks.append(block.reshape(len(times), 1))
            continue
        # PySD's flat columns: name[a,b], the last range varying fastest
        for elements in itertools.product(*coords):
            columns.append(f"{variable.py_name}[{','.join(elements).replace(' ', '')}]")
        blocks.append(block.reshape(len(times), -1))
    return Trajectories(times=np.asarray(times, dtype=float), columns=tuple(columns),
                        values=np.concatenate(blocks, axis=1), engine="sdrev")


def _never_defined(run: Trajectories) -> str | None:
    """The first column of an engine run that is NaN at every saved time, if
    any: a cell no equation defines, which PySD leaves out of its table."""
    import numpy as np

    empty = (np.flatnonzero(np.isnan(run.values).all(axis=0)) if len(run.times)
             else np.empty(0, dtype=int))
    return run.columns[empty[0]] if len(empty) else None


def _program(path: Path):
    """The model's compiled program: from the cache (pickle and numpy only,
    no PySD), else compiled (and cached) by :mod:`sdrev.ensemble.compile`."""
    from sdrev.ensemble.programcache import cache_entry, load_program

    path = path.resolve()
    target = cache_entry(path, True)
    if target is not None and (program := load_program(target)) is not None:
        return program
    from sdrev.ensemble.compile import compile_model

    return compile_model(path, subscripts=True)


def _snake(column: str, py_names: Mapping[str, str]) -> str:
    match = _SUBSCRIPT.match(column)
    if not match:
        return column
    base = py_names.get(match["name"], match["name"])
    subs = match["subs"] or ""
    return base + subs.replace(" ", "")


class CallableModule(types.ModuleType):
    """This module's type: ``sdrev.simulate(model, ...)`` calls :func:`simulate`.

    ``sdrev.simulate`` is both this module and the way to run a model once;
    making the module callable keeps the two one name without an import of
    the run stage by :mod:`sdrev.model`.
    """

    def __call__(self, model: Model, *, scenario: str | None = None,
                 params: Mapping[str, object] | None = None,
                 engine: str = "auto") -> pd.DataFrame:
        return simulate(model, scenario=scenario, params=params, engine=engine)


sys.modules[__name__].__class__ = CallableModule
