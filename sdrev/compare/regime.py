"""Regime maps: which of two regimes leads over a grid of two conditions."""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sdrev.compare.defaults import output_variable, compare_defaults
from sdrev.compare.scenarios import TIE_TOLERANCE
from sdrev.errors import InvalidValueError, NonFiniteError

if TYPE_CHECKING:
    from sdrev.model import Model


@dataclass(frozen=True, eq=False)
class Axis:
    """One condition of a regime map: a constant and its grid values."""

    name: str
    values: tuple[float, ...]
    units: str = ""

    @property
    def lo(self) -> float:
        return self.values[0]

    @property
    def hi(self) -> float:
        return self.values[-1]


@dataclass(frozen=True, eq=False)
class RegimeMap:
    """Which of two regimes reaches the higher output, over a grid of two conditions.

    Attributes
    ----------
    model, model_sha256 : str
    scenario : str or None
        Scenario of the constants neither mapped nor the regime.
    regime_param : str
    regimes : tuple of float
        The two regime values, ``(a, b)``.
    labels : tuple of str
        Their names.
    output, units : str
    year : float
        Year at which the regimes are compared.
    x, y : Axis
    times : numpy.ndarray
        Saved times.
    values : numpy.ndarray
        Output trajectories, shape ``(2, nx, ny, len(times))``.
    base : tuple of float or None
        The scenario's own ``(x, y)`` values, if inside the map.
    engine : str
    seconds : float
    time_units : str
    """

    model: str
    model_sha256: str
    scenario: str | None
    regime_param: str
    regimes: tuple[float, float]
    labels: tuple[str, str]
    output: str
    units: str
    year: float
    x: Axis
    y: Axis
    times: np.ndarray
    values: np.ndarray
    base: tuple[float, float] | None = None
    engine: str = "sdrev"
    seconds: float = 0.0
    time_units: str = ""

    @property
    def runs(self) -> int:
        """Simulations made: grid points x regimes."""
        return int(np.prod(self.values.shape[:3]))

    def at(self, year: float | None = None) -> np.ndarray:
        """Output of both regimes at ``year`` (default :attr:`year`), shape ``(2, nx, ny)``."""
        year = self.year if year is None else float(year)
        t = self.times
        if not t[0] <= year <= t[-1]:
            raise InvalidValueError(f"year {year:g} is outside the simulated horizon "
                                    f"{t[0]:g}-{t[-1]:g}")
        k = int(np.searchsorted(t, year))
        if t[k] == year or k == 0:
            return self.values[..., k]
        w = (year - t[k - 1]) / (t[k] - t[k - 1])
        return (1 - w) * self.values[..., k - 1] + w * self.values[..., k]

    @property
    def difference(self) -> np.ndarray:
        """Second regime minus first at :attr:`year`, shape ``(nx, ny)``."""
        a, b = self.at()
        return b - a

    @property
    def tolerance(self) -> float:
        """Differences smaller than this count as ties."""
        return TIE_TOLERANCE * max(float(np.nanmax(np.abs(self.values))), 1e-300)

    @property
    def winner(self) -> np.ndarray:
        """Per grid point at :attr:`year`: 0 (first regime higher), 1 (second), -1 (tie)."""
        d = self.difference
        out = np.where(d > 0, 1, 0)
        out[np.abs(d) <= self.tolerance] = -1
        return out

    def share_won(self, regime: int) -> float:
        """Share of grid points (0-1) where regime 0 or 1 is ahead at :attr:`year`."""
        return float((self.winner == regime).mean())

    @property
    def crossover(self) -> np.ndarray:
        """Per grid point, the year the leading regime last changes; NaN if it never does.

        Shape ``(nx, ny)``. Before the regimes separate (difference within
        :attr:`tolerance`) no regime leads.
        """
        d = self.values[1] - self.values[0]
        s = np.sign(d) * (np.abs(d) > self.tolerance)
        out = np.full(d.shape[:2], np.nan)
        t = self.times
        for i, j in zip(*np.nonzero((s > 0).any(axis=2) & (s < 0).any(axis=2))):
            row = s[i, j]
            nz = np.flatnonzero(row)
            final = row[nz[-1]]
            before = nz[row[nz] == -final][-1]
            after = nz[nz > before][0]
            d0, d1 = d[i, j, before], d[i, j, after]
            out[i, j] = t[before] + (-d0) / (d1 - d0) * (t[after] - t[before])
        return out

    @property
    def final_leader(self) -> np.ndarray:
        """Per grid point, the regime (0, 1; -1 tie) ahead at the end of the horizon."""
        d = self.values[1, ..., -1] - self.values[0, ..., -1]
        out = np.where(d > 0, 1, 0)
        out[np.abs(d) <= self.tolerance] = -1
        return out

    def boundary(self) -> np.ndarray:
        """Points ``(x, y)`` where the two regimes are equal at :attr:`year`.

        Found by linear interpolation of the difference along every grid
        line whose neighbouring points have different winners; shape
        ``(k, 2)``, empty if one regime wins everywhere.
        """
        d = self.difference
        xs, ys = np.asarray(self.x.values), np.asarray(self.y.values)
        pts = []
        for i in range(d.shape[0] - 1):  # along x
            for j in range(d.shape[1]):
                a, b = d[i, j], d[i + 1, j]
                if a * b < 0:
                    pts.append((xs[i] + a / (a - b) * (xs[i + 1] - xs[i]), ys[j]))
        for i in range(d.shape[0]):  # along y
            for j in range(d.shape[1] - 1):
                a, b = d[i, j], d[i, j + 1]
                if a * b < 0:
                    pts.append((xs[i], ys[j] + a / (a - b) * (ys[j + 1] - ys[j])))
        return np.array(pts, dtype=float).reshape(-1, 2)

    def summary(self) -> dict:
        """Plain numbers about the map (for text and JSON)."""
        cross = self.crossover
        finite = cross[np.isfinite(cross)]
        return {
            "year": self.year,
            "grid": [len(self.x.values), len(self.y.values)],
            "share_first_ahead": self.share_won(0),
            "share_second_ahead": self.share_won(1),
            "share_second_ahead_at_end": float((self.final_leader == 1).mean()),
            "boundary_points": int(len(self.boundary())),
            "crossover_points": int(finite.size),
            "crossover_min": float(finite.min()) if finite.size else None,
            "crossover_median": float(np.median(finite)) if finite.size else None,
            "crossover_max": float(finite.max()) if finite.size else None,
        }


def parse_range(text: str, model: Model | None = None) -> tuple[str, float, float]:
    """``"NAME=lo:hi"`` (the CLI's ``--regime-map`` items) to ``(NAME, lo, hi)``.

    ``"NAME"`` alone takes the parameter's documented range (needs ``model``).

    Raises
    ------
    InvalidValueError
    """
    name, sep, rng = str(text).partition("=")
    name = name.strip()
    if not name:
        raise InvalidValueError(f"{text!r}: expected NAME=lo:hi")
    if not sep:
        param = model.parameter(name) if model is not None else None
        if param is None or param.range is None:
            raise InvalidValueError(f"{text!r}: expected NAME=lo:hi (the parameter "
                                    "documents no range)")
        lo, hi = param.range
        return (param.name, float(lo), float(hi))
    lo_s, colon, hi_s = rng.partition(":")
    try:
        lo, hi = float(lo_s), float(hi_s)
    except ValueError:
        lo = hi = math.nan
    if not colon or not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise InvalidValueError(f"{text!r}: expected NAME=lo:hi with numbers lo < hi")
    return (name, lo, hi)


def parse_grid(text: str) -> tuple[int, int]:
    """``"50x50"`` to ``(50, 50)``.

    Raises
    ------
    InvalidValueError
    """
    a, sep, b = str(text).lower().partition("x")
    if not sep or not a.strip().isdigit() or not b.strip().isdigit():
        raise InvalidValueError(f"--grid {text!r}: expected NXxNY, e.g. 50x50")
    return _grid((int(a), int(b)))


def _grid(grid) -> tuple[int, int]:
    nx, ny = (int(g) for g in grid)
    if nx < 2 or ny < 2 or nx * ny > 250_000:
        raise InvalidValueError(f"grid {nx}x{ny}: each side needs at least 2 points and "
                                "the grid at most 250,000")
    return nx, ny


def regime_map(model: Model | str, *, x: tuple[str, float, float] | None = None,
               y: tuple[str, float, float] | None = None,
               grid: tuple[int, int] | None = None, regime_param: str | None = None,
               regimes: tuple[float, float] | None = None,
               labels: tuple[str, str] | None = None, output: str | None = None,
               year: float | None = None, scenario: str | None = None,
               progress: bool = True, workers: int | None = None) -> RegimeMap:
    """Map which of two regimes reaches the higher output over two conditions.

    Runs the model once per grid point and regime in one call of the
    ensemble engine (:func:`sdrev.ensemble.run`).

    Parameters
    ----------
    model : Model or str
    x, y : (name, lo, hi), optional
        The two conditions and their ranges. Default: the ``[compare]``
        table's ``x`` and ``y``.
    grid : (nx, ny), optional
        Grid points per condition (default the table's, else 50 x 50).
    regime_param : str, optional
        The constant that selects the regime (default the table's, else
        ``"IO Regime"``).
    regimes : (a, b), optional
        Its two values (default the table's, else ``(0, 1)``).
    labels : (str, str), optional
        Names of the regimes (default the table's, else ``"NAME=a"``).
    output : str, optional
        The outcome compared (default the table's, else the first key output).
    year : float, optional
        When the regimes are compared (default the table's, else FINAL TIME).
    scenario : str, optional
        Scenario of the other constants (default the table's, else
        ``baseline`` if the model has one).
    progress : bool
        Show the ensemble engine's progress bar.
    workers : int, optional
        Worker processes of the ensemble engine.

    Returns
    -------
    RegimeMap

    Raises
    ------
    UnknownNameError, InvalidValueError
    """
    from sdrev import ensemble
    from sdrev.model import Model, load
    from sdrev.scenario import run_settings

    if not isinstance(model, Model):
        model = load(model)
    d = compare_defaults(model)
    x = x or d.x
    y = y or d.y
    if x is None or y is None:
        raise InvalidValueError(
            f"model {model.name} documents no regime-map conditions ([compare] x and y); "
            "give both, e.g. --regime-map 'IP Protection=0:1' 'Inter Firm Trust=0:1'")
    regime = model.parameter(regime_param or d.regime_parameter or "IO Regime")
    given = tuple(float(r) for r in (regimes or d.regimes or (0.0, 1.0)))
    if len(given) != 2 or given[0] == given[1]:
        raise InvalidValueError(f"regimes must be two different values, got {given}")
    levels = (given[0], given[1])
    if labels is None:
        labels = d.regime_labels if d.regime_labels and levels == tuple(d.regimes or ()) \
            else (f"{regime.name}={levels[0]:g}", f"{regime.name}={levels[1]:g}")
    if len(labels) != 2:
        raise InvalidValueError(f"labels must be two names, one per regime, got {labels!r}")
    var = output_variable(model, output or d.output or model.key_outputs[0])
    nx, ny = _grid(grid or d.grid or (50, 50))
    if scenario is None:
        scenario = d.scenario or ("baseline" if "baseline" in model.scenarios else None)
    settings = run_settings(model, scenario=scenario)
    t0, t1 = model.time.initial, model.time.final
    year = float(year if year is not None else (d.year if d.year is not None else t1))
    if not t0 < year <= t1:
        raise InvalidValueError(f"year {year:g} must be within the horizon {t0:g}-{t1:g}")
    axes: list[Axis] = []
    for name, lo, hi in (x, y):
        param = model.parameter(name)
        if param.name == regime.name:
            raise InvalidValueError(f"{param.name} is the regime parameter; map two other "
                                    "conditions")
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise InvalidValueError(f"range of {param.name} must be lo < hi, got {lo}:{hi}")
        axes.append(Axis(param.name, tuple(np.linspace(float(lo), float(hi),
                                                       nx if not axes else ny).tolist()),
                         param.units))
    ax_x, ax_y = axes
    if ax_x.name == ax_y.name:
        raise InvalidValueError("x and y must be two different conditions")
    gx, gy = np.meshgrid(np.asarray(ax_x.values), np.asarray(ax_y.values), indexing="ij")
    frames = []
    for r in levels:
        frame = pd.DataFrame({ax_x.name: gx.ravel(), ax_y.name: gy.ravel(), regime.name: r})
        for name, value in settings.params.items():
            if name not in frame:
                frame[name] = value
        frames.append(frame)
    samples = pd.concat(frames, ignore_index=True)
    start = _time.perf_counter()
    data = ensemble.run(model, samples, outputs=[var.name], progress=progress,
                        workers=workers)
    seconds = _time.perf_counter() - start
    values = np.asarray(data[var.py_name].values, dtype=float)
    if not np.isfinite(values).all():
        raise NonFiniteError(f"{var.name} is not finite in some runs of the map; "
                                "narrow the ranges")
    values = values.reshape(2, nx, ny, -1)
    bx = settings.params.get(ax_x.name, model.parameter(ax_x.name).value)
    by = settings.params.get(ax_y.name, model.parameter(ax_y.name).value)
    base = None
    if isinstance(bx, float) and isinstance(by, float) and ax_x.lo <= bx <= ax_x.hi \
            and ax_y.lo <= by <= ax_y.hi:
        base = (bx, by)
    return RegimeMap(model=model.name, model_sha256=model.sha256, scenario=scenario,
                     regime_param=regime.name, regimes=levels, labels=(labels[0], labels[1]),
                     output=var.name, units=var.units, year=year, x=ax_x, y=ax_y,
                     times=np.asarray(data["time"].values, dtype=float), values=values,
                     base=base, engine=str(data.attrs.get("engine", "sdrev")),
                     seconds=round(seconds, 3), time_units=model.time.units)
