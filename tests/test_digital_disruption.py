"""Reference behaviour of ``digital_disruption`` (Liu, Liu & Huang, n.d.).

Digital connectivity and collaboration drive a high-end disruptive innovation
through the fuzzy front end, development and commercialisation; the user base
grows in an S shape and takes over the mainstream market.
"""

import numpy as np
import pytest

import sdrev


@pytest.fixture(scope="module")
def model():
    return sdrev.load("digital_disruption")


@pytest.fixture(scope="module")
def baseline(model):
    return model.simulate(scenario="baseline")


@pytest.fixture(scope="module")
def low(model):
    return model.simulate(scenario="low_digital_capability")


def first_time(series, level):
    """First saved time at which a series reaches a level (inf if never)."""
    hits = series.index[series.to_numpy() >= level]
    return float(hits[0]) if len(hits) else np.inf


def inflections(series, rel_tol=1e-3):
    """Sign changes of the discrete second derivative, ignoring tiny values."""
    d2 = np.diff(series.to_numpy(), 2)
    tol = rel_tol * np.abs(d2).max()
    signs = np.sign(d2[np.abs(d2) > tol])
    return int(np.count_nonzero(np.diff(signs)))


def test_user_base_is_s_shaped(baseline):
    users = baseline["user_base"]
    assert np.all(np.diff(users.to_numpy()) > 0)  # grows throughout
    assert inflections(users) == 1
    # the one inflection is interior: accelerating first, decelerating at the end
    growth = np.diff(users.to_numpy())
    peak = int(np.argmax(growth))
    assert 0.2 * len(growth) < peak < 0.9 * len(growth)
    assert growth[-1] < 0.5 * growth[peak]


def test_takes_over_mainstream_market(baseline):
    assert baseline["user_share"].iloc[0] < 0.05  # starts as a niche
    assert baseline["user_share"].iloc[-1] > 0.5


def test_digital_capability_lowers_uncertainty_cost_and_time(baseline, low):
    end = baseline.index[-1]
    # fuzzy front end: more accurate concepts, faster screening
    assert baseline["concept_accuracy"].loc[end] > low["concept_accuracy"].loc[end]
    assert baseline["front_end_time"].loc[end] < low["front_end_time"].loc[end]
    # development: cheaper and less risky projects
    assert baseline["development_cost_per_project"].loc[end] < low["development_cost_per_project"].loc[end]
    assert baseline["development_success_probability"].loc[end] > low["development_success_probability"].loc[end]
    # commercialisation: more iteration, more loyalty
    assert baseline["user_loyalty"].loc[end] > low["user_loyalty"].loc[end]


def test_low_digital_capability_gives_slower_smaller_takeover(baseline, low):
    base_users, low_users = baseline["user_share"], low["user_share"]
    assert low_users.iloc[-1] < base_users.iloc[-1] - 0.2  # smaller
    assert low_users.iloc[-1] < 0.5  # the mainstream is not taken over
    # slower: later to reach a quarter of the market and later to reach half
    # of its own final level
    assert first_time(low_users, 0.25) > first_time(base_users, 0.25) + 2
    assert first_time(low_users, low_users.iloc[-1] / 2) > first_time(base_users, base_users.iloc[-1] / 2)
