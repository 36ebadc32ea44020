"""The explorer's engine: controls, fast runs, outcomes (no web framework here).

An :class:`Explorer` is built once per served model and shared by every
browser session: it compiles the model for the ensemble engine
(:class:`sdrev.ensemble.Batch`, well under a millisecond of overhead per
call), knows which constants get a slider, checks values against their
documented ranges, runs the current settings and the baseline, draws the
uncertainty band from a few thousand runs and computes the outcome table.
Each session keeps its own settings (a plain dict); nothing here holds
per-session state.
"""

from __future__ import annotations

import io
import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from sdrev.errors import InvalidValueError, SdrevError, UnknownNameError, suggest
from sdrev.explore.controls import Control, Outcome, RunFailedError, Series, Trajectories
from sdrev.explore.groups import mdl_groups

__all__ = ["BAND_QUANTILES", "TIME_SUFFIX", "Control", "Explorer", "Outcome", "RunFailedError",
           "Series", "Trajectories", "is_time_key", "time_key"]

#: Quantiles of the uncertainty band (lower edge, median, upper edge).
BAND_QUANTILES = (0.05, 0.5, 0.95)
#: Memory kept for slider tracks (every position of a slider run at once, see
#: :meth:`Explorer.run`), over all sessions; the oldest track goes first.
TRACK_BYTES = 64 * 2**20
#: A switch's "on from" time is kept in the settings as ``NAME@time``.
TIME_SUFFIX = "@time"


def time_key(name: str) -> str:
    """The settings key of the "on from" time of switch ``name``."""
    return f"{name}{TIME_SUFFIX}"


def is_time_key(name: str) -> bool:
    """Whether ``name`` is a switch's "on from" time (``NAME@time``)."""
    return str(name).rstrip().lower().endswith(TIME_SUFFIX)


def _is_switch(param) -> bool:
    return (param.name.lower().endswith("switch") and param.range == (0.0, 1.0)
            and param.value in (0.0, 1.0))


class Explorer:
    """A model prepared for interactive exploration.

    Parameters
    ----------
    model : Model, str or Path
        A loaded model, a library name or a model file.
    posterior : str or Path, optional
        A ``sdrev calibrate`` run folder: the uncertainty band is drawn over
        its posterior draws instead of the documented ranges.
    band_runs : int
        Runs behind the uncertainty band (default 2000).
    seed : int
        Seed of the band's Latin hypercube (or of the draws' resampling).

    Attributes
    ----------
    model : Model
    controls : tuple of Control
        Every scalar constant with a documented range, in model order.
    held : tuple of str
        Constants without a slider (no documented range, or subscripted:
        held at the model's or the scenario's values).
    series : tuple of Series
        The key outputs (elements of subscripted ones separately).
    scenarios : tuple of str
        The model's scenarios that set only scalar constants (a run sets each
        constant to one number).
    baseline_scenario : str or None
        ``"baseline"`` where the model has that scenario, else ``None``
        (the model's own constants).

    Notes
    -----
    Policy timing: settings may hold a switch's "on from" time as
    ``NAME@time`` (:func:`time_key`; default INITIAL TIME, on from the
    start). Each run gives the switch its scenario value before that time and
    its setting from then on, as ``sdrev simulate --set NAME=VALUE@TIME``
    does (:meth:`timed_settings` writes the settings that way).
    """

    def __init__(self, model, *, posterior: str | Path | None = None, band_runs: int = 2000,
                 seed: int = 0):
        from sdrev.model import Model, load

        if not isinstance(model, Model):
            model = load(model)
        if not isinstance(band_runs, int) or isinstance(band_runs, bool) or band_runs < 2:
            raise InvalidValueError(f"band_runs must be an integer of at least 2, got "
                                    f"{band_runs!r}")
        self.model = model
        self.band_runs = band_runs
        self.seed = seed
        groups = mdl_groups(model.path, [p.name for p in model.parameters])
        controls, held = [], []
        for p in model.parameters:
            scalar = not isinstance(p.value, Mapping)
            if scalar and p.range is not None and p.range[0] < p.range[1]:
                lo, hi = p.range
                controls.append(Control(p.name, p.py_name, groups[p.name], p.units,
                                        float(lo), float(hi), float(p.value),
                                        _is_switch(p), p.doc))
            else:
                held.append(p.name)
        if not controls:
            raise InvalidValueError(
                f"model {model.name} documents no range for any scalar constant, so there "
                "is nothing to explore; give ranges in the units field, e.g. ~ Dmnl [0,1]")
        self.controls = tuple(controls)
        self.held = tuple(held)
        self._by_key = {}
        for c in self.controls:
            self._by_key[_key(c.name)] = c
            self._by_key[_key(c.py_name)] = c
        # a run sets each constant to one number (one column of the engine's batch):
        # a scenario that sets a subscripted constant cannot be explored faithfully
        subscripted = {p.name for p in model.parameters if isinstance(p.value, Mapping)}
        self.scenarios = tuple(name for name, s in model.scenarios.items()
                               if not subscripted & set(s.params))
        self.baseline_scenario = "baseline" if "baseline" in self.scenarios else None
        self.posterior = None
        self.posterior_folder = Path(posterior) if posterior is not None else None
        if posterior is not None:
            from sdrev.calibrate import read_posterior
            draws = read_posterior(posterior, model=model, n=band_runs, seed=seed)
            self.posterior = draws[[c for c in draws.columns if c not in subscripted]]
            if self.posterior.shape[1] == 0:
                raise InvalidValueError(f"the posterior in {str(posterior)!r} holds no scalar "
                                        f"constant of {model.name} to draw the band over")
        extra = [n for name in self.scenarios for n in model.scenarios[name].params
                 if _key(n) not in self._by_key]
        if self.posterior is not None:
            extra += [n for n in self.posterior.columns if _key(n) not in self._by_key]
        self._columns = [c.name for c in self.controls] + list(dict.fromkeys(extra))
        # policy timing: each switch is on from a time per run (INITIAL TIME: from the start)
        self._columns += [f"{c.name}{part}" for c in self.controls if c.switch
                          for part in ("@value", TIME_SUFFIX)]
        self._batch, self._layout, self.series = self._compile()
        self.times = np.asarray(self._batch.times, dtype=float)
        self._lock = threading.Lock()
        self._baseline = None
        self._band_sample = None
        self._declared = None
        # the numpy engine (subscripted models) costs its time loop, about the same for
        # one run or a slider's 201: there a moved slider's track is run at once
        self.tracks = self._batch.engine == "numpy"
        self._tracks: OrderedDict = OrderedDict()

    # -- settings ----------------------------------------------------------------------

    def control(self, name: str) -> Control:
        """The control called ``name`` (Vensim or snake_case name).

        Raises
        ------
        UnknownNameError
        """
        found = self._by_key.get(_key(name))
        if found is None:
            raise UnknownNameError(
                f"{name!r} is not an explorable constant of {self.model.name}"
                + (suggest(str(name), [c.name for c in self.controls]) or ""))
        return found

    def scenario_values(self, scenario: str | None) -> dict[str, float]:
        """Every control's value under ``scenario`` (``None``: the model's own).

        Raises
        ------
        UnknownNameError
        """
        values = {c.name: c.default for c in self.controls}
        values.update({time_key(c.name): self.model.time.initial
                       for c in self.controls if c.switch})
        if scenario is not None:
            if scenario not in self.scenarios:
                raise UnknownNameError(
                    f"unknown scenario {scenario!r} for model {self.model.name} (or one that "
                    "sets a subscripted constant); known scenarios: "
                    f"{', '.join(self.scenarios) or 'none'}")
            for name, value in self.model.scenarios[scenario].params.items():
                if _key(name) in self._by_key:
                    values[self._by_key[_key(name)].name] = float(value)
        return values

    def check(self, name: str, value: object) -> tuple[Control, float]:
        """Check one value against its control's documented range.

        Returns
        -------
        (Control, float)

        Raises
        ------
        UnknownNameError
            For a name that is not a control.
        InvalidValueError
            For a value that is not a finite number, lies outside the range
            (naming both), or is not 0 or 1 for a switch.
        """
        control = self.control(name)
        try:
            number = float(value) if not isinstance(value, bool) else float("nan")
        except (TypeError, ValueError):
            number = float("nan")
        if not math.isfinite(number):
            raise InvalidValueError(f"{control.name} must be a finite number, got {value!r}")
        if control.switch and number not in (0.0, 1.0):
            raise InvalidValueError(f"{control.name} is a switch: 0 or 1, got {value!r}")
        if not control.low <= number <= control.high:
            raise InvalidValueError(
                f"{control.name} = {number:g} is outside its documented range "
                f"[{control.low:g}, {control.high:g}]")
        return control, number

    def check_time(self, name: str, value: object) -> tuple[Control, float]:
        """Check a switch's "on from" time (``name`` is ``SWITCH@time``).

        Returns
        -------
        (Control, float)
            The switch and the time.

        Raises
        ------
        UnknownNameError
            For a name that is not a switch's time.
        InvalidValueError
            For a time that is not a number within [INITIAL TIME, FINAL TIME].
        """
        control = self.control(str(name).rstrip()[:-len(TIME_SUFFIX)])
        if not control.switch:
            raise UnknownNameError(f"{control.name} is not a switch: only switches (0/1) "
                                   "take an 'on from' time")
        t = self.model.time
        try:
            number = float(value) if not isinstance(value, bool) else float("nan")
        except (TypeError, ValueError):
            number = float("nan")
        if not t.initial <= number <= t.final:  # NaN fails too
            raise InvalidValueError(
                f"{control.name} on from {value!r} is not a time within [INITIAL TIME, "
                f"FINAL TIME] = [{t.initial:g}, {t.final:g}] ({t.units or 'model time'})")
        return control, number

    def check_all(self, values: Mapping[str, object]) -> dict[str, float]:
        """Check every value (see :meth:`check` and :meth:`check_time`); keyed by
        Vensim name (``NAME@time`` for a switch's time)."""
        checked = {}
        for name, value in values.items():
            if is_time_key(name):
                control, number = self.check_time(name, value)
                checked[time_key(control.name)] = number
                continue
            control, number = self.check(name, value)
            checked[control.name] = number
        return checked

    def timed_settings(self, values: Mapping[str, float],
                       scenario: str | None = None) -> dict[str, object]:
        """The settings of ``values`` as ``sdrev simulate --set`` takes them.

        Constants moved away from ``scenario``'s values as numbers; a switch
        moved and on from a time after INITIAL TIME as the text
        ``"VALUE@TIME"`` (a timed setting: the scenario's value before).
        """
        full = self.scenario_values(scenario)
        full.update(self.check_all(values))
        out: dict[str, object] = {}
        for name, value in self.changed(full, scenario).items():
            if is_time_key(name):
                continue
            at = full.get(time_key(name), self.model.time.initial)
            out[name] = f"{value!r}@{at!r}" if at > self.model.time.initial else value
        return out

    def changed(self, values: Mapping[str, float], scenario: str | None) -> dict[str, float]:
        """The controls whose value differs from ``scenario``'s."""
        base = self.scenario_values(scenario)
        return {n: float(v) for n, v in values.items() if base.get(n) != float(v)}

    # -- runs --------------------------------------------------------------------------

    def run(self, values: Mapping[str, object], scenario: str | None = None, *,
            along: str | None = None) -> Trajectories:
        """One run with ``values`` on top of ``scenario``.

        Parameters
        ----------
        values : mapping of str to float
        scenario : str, optional
        along : str, optional
            The control being moved: its value is looked up in the slider's
            track where :meth:`prepare_track` has run it with these other
            settings (each run of a track equals the run alone).

        Raises
        ------
        InvalidValueError
            For a value outside its range (nothing is run).
        RunFailedError
            For a run that gives NaN or inf, or fails in the engine.
        """
        full = self.scenario_values(scenario)
        full.update(self.check_all(values))
        block = None
        if along is not None and self.tracks:
            block = self._on_track(self.control(along), full, scenario, compute=False)
        if block is None:
            block = self._evaluate(self._row(full, scenario)[None, :])[:, 0, :]
        bad = ~np.isfinite(block)
        if bad.any():
            s, t = np.argwhere(bad)[0]
            raise RunFailedError(
                f"the run gave a non-finite value of {self.series[s].label} at "
                f"{self.model.time.units or 'time'} {self.times[t]:g}; try other settings")
        return Trajectories(self.times, block)

    def prepare_track(self, values: Mapping[str, object], scenario: str | None = None, *,
                      along: str) -> bool:
        """Run every position of ``along``'s slider, the other settings held, in one
        engine call, and keep them: the next release along the slider is looked up.

        Only where :attr:`tracks` holds: the numpy engine (subscripted models),
        whose cost is its time loop, about the same for one run or a slider's
        201; the compiled kernel's single run takes a millisecond. Tracks are
        kept up to :data:`TRACK_BYTES` in all, the least recently used dropped.

        Returns
        -------
        bool
            Whether the track of these settings is kept (``False``: no tracks
            on this engine, a value off the slider's positions, or a track over
            :data:`TRACK_BYTES`).
        """
        if not self.tracks:
            return False
        full = self.scenario_values(scenario)
        full.update(self.check_all(values))
        return self._on_track(self.control(along), full, scenario, compute=True) is not None

    def _on_track(self, control: Control, full: dict, scenario: str | None, *,
                  compute: bool):
        positions = control.positions
        at = np.flatnonzero(positions == full[control.name])
        if len(at) == 0:  # off the slider's positions (typed, linked): one run
            return None
        key = (scenario, control.name,
               tuple(sorted((n, v) for n, v in full.items() if n != control.name)))
        track = self._tracks.get(key)
        if track is None and not compute:
            return None
        if track is None:
            size = len(self.series) * len(positions) * len(self.times) * 8
            if size > TRACK_BYTES:
                return None
            rows = np.tile(self._row(full, scenario), (len(positions), 1))
            rows[:, self._columns.index(control.name)] = positions
            track = self._evaluate(rows)  # (series, positions, times)
            self._tracks[key] = track
            while sum(t.nbytes for t in self._tracks.values()) > TRACK_BYTES:
                self._tracks.popitem(last=False)
        else:
            self._tracks.move_to_end(key)
        return track[:, at[0], :].copy()  # the kept track is never handed out

    def baseline(self) -> Trajectories:
        """The baseline run (the ``baseline`` scenario, or the model's own constants)."""
        if self._baseline is None:
            scenario = self.baseline_scenario
            self._baseline = self.run(self.scenario_values(scenario), scenario)
        return self._baseline

    def band(self, values: Mapping[str, float], scenario: str | None = None) -> np.ndarray:
        """Quantiles (:data:`BAND_QUANTILES`) of the outputs over uncertain settings.

        Without a posterior, every control the user has not moved from
        ``scenario``'s value (switches excepted) is drawn from its
        documented range by a Latin hypercube of ``band_runs`` runs; with a
        posterior, the runs are its draws. The controls the user moved keep
        their values in every run.

        Returns
        -------
        ndarray, shape (3, series, times)
        """
        full = self.scenario_values(scenario)
        full.update(self.check_all(values))
        moved = set(self.changed(full, scenario))
        n = self.band_runs
        rows = np.tile(self._row(full, scenario), (n, 1))
        index = {name: k for k, name in enumerate(self._columns)}
        if self.posterior is not None:
            for column in self.posterior.columns:
                name = self.control(column).name if _key(column) in self._by_key else column
                if name not in moved:
                    rows[:, index[name]] = self.posterior[column].to_numpy(dtype=float)
        else:
            unit = self._unit_sample()
            for k, c in enumerate(self.controls):
                if not c.switch and c.name not in moved:
                    rows[:, index[c.name]] = c.low + (c.high - c.low) * unit[:, k]
        block = self._evaluate(rows)
        with np.errstate(invalid="ignore"):
            return np.nanquantile(np.where(np.isfinite(block), block, np.nan),
                                  BAND_QUANTILES, axis=1)

    def _unit_sample(self) -> np.ndarray:
        if self._band_sample is None:
            from scipy.stats import qmc
            sampler = qmc.LatinHypercube(d=len(self.controls), seed=self.seed)
            self._band_sample = sampler.random(self.band_runs)
        return self._band_sample

    def _row(self, full: Mapping[str, float], scenario: str | None) -> np.ndarray:
        params = dict(self.model.scenarios[scenario].params) if scenario else {}
        before = self.scenario_values(scenario)  # a switch's value before its time
        row = []
        for name in self._columns:
            base, at, part = name.rpartition("@")
            if at and part == "value":  # the switch's setting, from its time on
                row.append(full[base])
            elif at and part == TIME_SUFFIX[1:]:
                row.append(full.get(name, self.model.time.initial))
            elif name in before and self.control(name).switch:
                row.append(before[name])
            elif name in full:
                row.append(full[name])
            elif name in params:
                row.append(float(params[name]))
            else:  # a scalar constant another scenario or the posterior sets
                row.append(float(self.model.parameter(name).value))
        return np.array(row, dtype=float)

    def _evaluate(self, rows: np.ndarray) -> np.ndarray:
        with self._lock:  # one engine call at a time: the machine's cores go to it
            try:  # every key output in one call, whatever its shape
                data = self._batch.each(rows)
            except SdrevError:
                raise
            except Exception as exc:  # the engine's own failure: the app goes on serving
                raise RunFailedError(f"the run failed: {type(exc).__name__}: "
                                     f"{' '.join(str(exc).split())[:300]}") from exc
        out = []
        for output, flat in self._layout:
            block = data[output]
            out.append(block.reshape(block.shape[0], block.shape[1], -1)[:, :, flat])
        return np.stack(out)  # (series, runs, times)

    def _compile(self):
        from sdrev.ensemble import Batch
        from sdrev.ensemble.compile import UnsupportedConstructError, compile_model

        model = self.model
        try:
            program = compile_model(model.path, subscripts=True)
        except UnsupportedConstructError:
            program = None
        by_dims: dict[tuple, list] = {}
        for name in model.key_outputs:
            var = next(v for v in model.variables if v.name == name)
            dims = ()
            if program is not None:
                py = program.resolve(name)
                dims = tuple(program.coords.get(py, ())) if program.dims.get(py) else ()
            by_dims.setdefault(dims, []).append(var)
        # one batch for all outputs: a subscripted model runs on the numpy engine, whose
        # cost is the time loop's, not the number of outputs (one call, not one per shape)
        variables = [v for group in by_dims.values() for v in group]
        batch = Batch(model, parameters=self._columns, outputs=[v.name for v in variables])
        names = dict(zip((v.name for v in variables), batch.outputs))
        layout, series = [], []
        for dims, group in by_dims.items():
            for var in group:
                if not dims:
                    series.append(Series(var.name, var.name, var.py_name, var.units))
                    layout.append((names[var.name], 0))
                    continue
                for flat, element in enumerate(itertools.product(*dims)):
                    label = f"{var.name}[{','.join(element)}]"
                    series.append(Series(label, var.name,
                                         f"{var.py_name}[{','.join(element)}]", var.units))
                    layout.append((names[var.name], flat))
        return batch, tuple(layout), tuple(series)

    # -- outcomes ----------------------------------------------------------------------

    def outcomes(self, current: Trajectories, values: Mapping[str, float],
                 scenario: str | None = None) -> list[Outcome]:
        """Value at the horizon and year each threshold is reached, against baseline.

        A series' threshold is the one the model's ``[compare] thresholds``
        names (a number, or a constant taken at the run's setting), else
        halfway from the baseline's first to its last value.
        """
        from sdrev.compare import compare_defaults
        from sdrev.measures import first_crossing

        base = self.baseline()
        if self._declared is None:
            self._declared = dict(compare_defaults(self.model).thresholds)
        declared = self._declared
        base_values = self.scenario_values(self.baseline_scenario)
        full = self.scenario_values(scenario)
        full.update(values)
        rows = []
        for s, series in enumerate(self.series):
            b = base.values[s]
            up = b[-1] >= b[0]
            limit = declared.get(series.output)
            if limit is None:
                t_cur = t_base = float(b[0] + 0.5 * (b[-1] - b[0]))
            elif isinstance(limit, str):
                name = self.model.parameter(limit).name
                fixed = float(self.model.parameter(limit).value)
                t_cur = float(full.get(name, fixed))
                t_base = float(base_values.get(name, fixed))
            else:
                t_cur = t_base = float(limit)
            direction = "up" if up else "down"
            flat = b[0] == b[-1]
            reached = (math.nan if flat else float(first_crossing(
                self.times, current.values[s][None, :], t_cur, direction=direction)[0]))
            reached_base = (math.nan if flat else float(first_crossing(
                self.times, b[None, :], t_base, direction=direction)[0]))
            rows.append(Outcome(series, float(current.values[s][-1]), float(b[-1]), t_cur,
                                reached, reached_base))
        return rows

    def csv(self, current: Trajectories, band: np.ndarray | None = None) -> str:
        """The current runs as CSV: one row per run and time, one column per series.

        ``run`` is ``current``, ``baseline`` and, with a band, ``band_p5``,
        ``band_p50`` and ``band_p95``.
        """
        import pandas as pd

        runs = [("current", current.values), ("baseline", self.baseline().values)]
        if band is not None:
            runs += [(f"band_p{round(q * 100)}", band[i]) for i, q in enumerate(BAND_QUANTILES)]
        frames = []
        for label, values in runs:
            frame = pd.DataFrame(values.T, columns=[s.key for s in self.series])
            frame.insert(0, "time", self.times)
            frame.insert(0, "run", label)
            frames.append(frame)
        out = io.StringIO()
        pd.concat(frames, ignore_index=True).to_csv(out, index=False, float_format="%.10g")
        return out.getvalue()

    def report_args(self, values: Mapping[str, object], scenario: str | None = None, *,
                    out: str | Path) -> list[str]:
        """The ``sdrev report`` arguments of a brief for these settings.

        The constants moved away from ``scenario`` are set on top of every
        compared scenario (``--set``); ``scenario``, when given, is the
        brief's reference run, before the model's other compared scenarios; a
        posterior the explorer draws its band from is the brief's too.

        Parameters
        ----------
        values : mapping
            Control values (checked against their ranges).
        scenario : str, optional
        out : str or Path
            The brief's run folder.

        Returns
        -------
        list of str
            Arguments after ``sdrev`` (no shell quoting needed: pass as a list).
        """
        from sdrev.library import library_dir

        full = self.scenario_values(scenario)
        full.update(self.check_all(values))
        model = self.model
        in_library = model.path.resolve().parent == library_dir().resolve()
        args = ["report", model.name if in_library else str(model.path)]
        if scenario is not None:
            from sdrev.compare import compare_defaults
            others = [s for s in (compare_defaults(model).scenarios or tuple(model.scenarios))
                      if s != scenario]
            args += ["--scenarios", ",".join([scenario, *others])]
        for name, value in self.timed_settings(full, scenario).items():
            # a switch on from a later time: "VALUE@TIME", as `sdrev report --set` takes it
            args += ["--set", f"{name}={value if isinstance(value, str) else repr(value)}"]
        if self.posterior_folder is not None:
            args += ["--posterior", str(self.posterior_folder)]
        return [*args, "--out", str(out)]

    def loop_periods(self, values: Mapping[str, float], scenario: str | None = None):
        """Dominance of the model's documented loops in the run with these settings.

        Returns
        -------
        list of (partition, start, end, ids, label)
            One entry per dominant period (``label`` names the loops as in
            the model's metadata). Empty for a model without documented loops.
        """
        import sdrev.loops as loops

        if not self.model.loops:
            return []
        # a switch on from a later time ("VALUE@TIME"): the loops of the run with the step
        analysis = loops.analyze(self.model, scenario=scenario,
                                 params=self.timed_settings(values, scenario))
        names = {loop.id: loop.name for loop in self.model.loops}
        periods = []
        for row in analysis.documented_periods.itertuples(index=False):
            ids = tuple(row.loops)
            label = " + ".join(f"{i} {names.get(i.split('[')[0], '')}".strip() for i in ids)
            periods.append((int(row.partition), float(row.start), float(row.end), ids, label))
        return periods


def _key(name: str) -> str:
    return " ".join(str(name).replace("_", " ").split()).lower()
