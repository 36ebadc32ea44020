"""What the explorer shows: controls and their slider positions, plotted series, runs,
outcome rows (plain values, no engine and no web framework here)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sdrev.errors import SdrevError

__all__ = ["SLIDER_STEPS", "SNAP", "Control", "Outcome", "RunFailedError", "Series",
           "Trajectories"]

#: Slider positions between a range's ends.
SLIDER_STEPS = 200
#: A slider's value this close to one of its positions (in steps) is that position:
#: the browser's arithmetic may leave the last bit off.
SNAP = 1e-9


class RunFailedError(SdrevError, RuntimeError):
    """A run that gave no usable numbers (NaN, inf, or an engine error)."""


@dataclass(frozen=True)
class Control:
    """A constant the explorer offers as a slider (or a toggle).

    Attributes
    ----------
    name, py_name : str
        Vensim and snake_case names.
    group : str
        The model's ``.Group`` section it is defined in.
    units : str
    low, high : float
        Its documented range: values outside are refused.
    default : float
        The model's own value.
    switch : bool
        A 0/1 switch (named ``... Switch``, range [0, 1]): shown as a toggle.
    doc : str
    """

    name: str
    py_name: str
    group: str
    units: str
    low: float
    high: float
    default: float
    switch: bool
    doc: str

    @property
    def step(self) -> float:
        """The slider's step: 1 for a switch, else 1/200 of the range."""
        return 1.0 if self.switch else (self.high - self.low) / SLIDER_STEPS

    @property
    def positions(self) -> np.ndarray:
        """The slider's positions: ``low + k * step`` for k = 0 .. 200 (the last at ``high``)."""
        if self.switch:
            return np.array([0.0, 1.0])
        positions = self.low + self.step * np.arange(SLIDER_STEPS + 1)
        positions[-1] = self.high
        return positions

    def snap(self, value: float) -> float:
        """``value`` as the slider position it stands for: the position within
        :data:`SNAP` steps of it, else ``value`` itself (a value typed or linked)."""
        if (self.switch or isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value)):
            return value
        k = round((value - self.low) / self.step)
        if 0 <= k <= SLIDER_STEPS:
            position = float(self.positions[k])
            if abs(position - value) <= SNAP * self.step:
                return position
        return value


@dataclass(frozen=True)
class Series:
    """One plotted line: a key output, or one element of a subscripted one."""

    label: str
    output: str
    key: str
    units: str


@dataclass(frozen=True)
class Trajectories:
    """Saved times and one row of values per series."""

    times: np.ndarray
    values: np.ndarray  # (series, times)


@dataclass(frozen=True)
class Outcome:
    """One row of the outcome table."""

    series: Series
    final: float
    final_baseline: float
    threshold: float
    reached: float
    reached_baseline: float

    @property
    def final_difference(self) -> float:
        return self.final - self.final_baseline

    @property
    def reached_difference(self) -> float:
        return self.reached - self.reached_baseline
