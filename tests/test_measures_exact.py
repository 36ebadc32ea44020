"""Trajectory measures: the same numbers, bit for bit, as the plain formulas."""

from __future__ import annotations

import numpy as np
import pytest

from sdrev import measures


def _plain_values_at(times, Y, at):
    k = np.clip(np.searchsorted(times, at, side="right") - 1, 0, len(times) - 2)
    w = np.clip((at - times[k]) / (times[k + 1] - times[k]), 0.0, 1.0)
    return Y[:, k] * (1 - w) + Y[:, k + 1] * w


def _bits(a):
    return np.ascontiguousarray(a).view(np.int64)


@pytest.fixture
def trajectories():
    times = np.linspace(2000.0, 2040.0, 81)
    Y = np.random.default_rng(5).standard_normal((500, 81))
    Y[3, 10] = -0.0  # signed zeros keep their sign
    return times, Y, np.asfortranarray(Y)


@pytest.mark.parametrize("at", [[2001.3, 2040.0, 1990.0, 2050.0], [2000.0], [2012.25, 2012.5]])
def test_values_at_is_the_linear_interpolation(trajectories, at):
    times, Y, YF = trajectories
    at = np.asarray(at)
    for y in (Y, YF):
        assert np.array_equal(_bits(measures.values_at(times, y, at)),
                              _bits(_plain_values_at(times, y, at)))


@pytest.mark.parametrize("start,end", [(2000.0, 2040.0), (2001.3, 2033.7), (1990.0, 2050.0)])
def test_time_average_is_the_trapezoidal_rule(trajectories, start, end):
    times, Y, YF = trajectories
    for y in (Y, YF):
        inside = times[(times > start) & (times < end)]
        grid = np.concatenate(([start], inside, [end]))
        values = _plain_values_at(times, y, grid)
        plain = ((values[:, 1:] + values[:, :-1]) / 2 * np.diff(grid)).sum(axis=1) / (end - start)
        assert np.array_equal(_bits(measures.time_average(times, y, start, end)), _bits(plain))
    # and what it means: the mean of a straight line is its middle value
    line = np.vstack([times * 2.0, -times])
    assert measures.time_average(times, line, 2000.0, 2040.0) == pytest.approx([4040.0, -2020.0])
