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
    return sdrev.simulate(model, scenario="baseline")


@pytest.fixture(scope="module")
def low(model):
    return sdrev.simulate(model, scenario="low_digital_capability")


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


def test_user_data_sharpen_concepts_and_multiply_launches(model, baseline):
    """Loop R1: the user base feeds digital eco-embeddedness, which raises the
    accuracy and number of concepts in the fuzzy front end (Liu, Liu & Huang
    n.d.). Without it concept accuracy ends a third lower and launches 40%
    fewer. The take-over itself hardly depends on it (user share 0.941 vs
    0.943 in 2031): product appeal is already near saturation."""
    without = sdrev.simulate(model, scenario="no_user_data")
    assert without["concept_accuracy"].iloc[-1] < baseline["concept_accuracy"].iloc[-1] - 0.2
    assert without["launches"].iloc[-1] < 0.7 * baseline["launches"].iloc[-1]
    assert without["product_value"].iloc[-1] < baseline["product_value"].iloc[-1] - 0.1


def test_market_saturation_gain_acts_in_the_documented_direction(model, baseline):
    finals = [sdrev.simulate(model, scenario="baseline",
                             params={"Market Saturation Loop Gain": g})["user_share"].iloc[-1]
              for g in (0.0, 2.0)]
    # the high end fills faster with a stronger gain, so the take-over is smaller
    assert finals[0] > baseline["user_share"].iloc[-1] > finals[1]


def test_filling_the_high_end_holds_back_a_weakly_digital_line(model, low):
    """Loop B1 (market saturation): the line's first users are the high-end
    households; once they are users (2026 with a quarter of the digital
    capability) the buyers left judge value for money, which a weakly digital
    line raises slowly (parity with the mainstream only in 2026.5). So it
    holds 0.444 of the market in 2031, short of the mainstream take-over.
    With B1 cut a fifth of the buyers left keep judging performance and the
    line passes half the market in 2030 (0.572 in 2031)."""
    unsaturated = sdrev.simulate(model, scenario="low_digital_capability",
                                 params={"Market Saturation Loop Gain": 0})
    assert low["user_share"].iloc[-1] < 0.47
    assert unsaturated["user_share"].iloc[-1] > 0.55
    assert first_time(unsaturated["user_share"], 0.25) < first_time(low["user_share"], 0.25) - 1


def test_the_high_end_is_where_the_line_enters(model, baseline, low):
    """High end (Liu, Liu & Huang n.d., title): the line sells at three times
    the mainstream price, and the fifth of households who buy on performance
    are its first market (appeal 0.24 at the start against 0.11 among
    mainstream buyers alone). Without high-end buyers the line reaches a tenth
    of the market a year later (2020 against 2019), and with a quarter of the
    digital capability three years later (2026 against 2023), ending at 0.287
    of the market instead of 0.444."""
    no_high_end = {"High End Segment Share": 0}
    flat = sdrev.simulate(model, scenario="baseline", params=no_high_end)
    flat_low = sdrev.simulate(model, scenario="low_digital_capability", params=no_high_end)
    assert baseline["product_appeal"].iloc[0] > 2 * flat["product_appeal"].iloc[0]
    assert first_time(flat["user_share"], 0.1) > first_time(baseline["user_share"], 0.1) + 0.5
    assert first_time(flat_low["user_share"], 0.1) > first_time(low["user_share"], 0.1) + 2
    assert flat_low["user_share"].iloc[-1] < low["user_share"].iloc[-1] - 0.1


def test_bounded_quantities_stay_bounded_over_joint_samples_of_the_spec(model):
    """LHS over every sensitivity factor and loop gain at once (ensemble engine):
    shares stay in [0, 1] and product value below its ceiling."""
    from sdrev import ensemble
    from sdrev.sensitivity import load_spec

    spec = load_spec(model)
    ranges = {f.name: f.range for f in (*spec.factors, *spec.loop_factors)}
    samples = ensemble.sample_lhs(ranges, 300, seed=5)
    unit = ["user_share", "user_loyalty", "digital_connectivity", "digital_collaboration"]
    data = ensemble.run(model, samples, outputs=[*unit, "product_value"], progress=False,
                        workers=1)
    for name in unit:
        values = data[name].to_numpy()
        assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all(), name
    ceiling = samples["Value Ceiling"].to_numpy()[:, None]
    assert (data["product_value"].to_numpy() <= ceiling).all()
