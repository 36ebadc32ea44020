"""Reference behaviour of ``network_reverse_innovation`` (Zhao, Yu & Song, n.d.).

A non-core firm of an industrial innovation network, strong in telecom but new
to handsets, learns from the global core's spillovers, enters the low end,
climbs to the high end and overtakes the core firm (Huawei against Samsung and
Apple). The baseline holds the calibrated values (fitted to the world shares
of late 2016 and early 2017); everything after early 2017 is a forecast.
"""

import numpy as np
import pytest

import sdrev
from sdrev.simulate import simulate

#: Table 1's columns are the fourth quarter of 2016 and the first of 2017.
QUARTERS = (2016.875, 2017.125)


@pytest.fixture(scope="module")
def model():
    return sdrev.load("network_reverse_innovation")


@pytest.fixture(scope="module")
def baseline(model):
    return simulate(model, scenario="baseline")


@pytest.fixture(scope="module")
def no_spillovers(model):
    return simulate(model, scenario="no_spillovers")


def first_time(mask):
    """First saved time at which a boolean series is true, or None."""
    hits = mask.index[mask.to_numpy()]
    return float(hits[0]) if len(hits) else None


def at(frame, column, time):
    """A saved series read at any time (linear between saved times)."""
    return float(np.interp(time, frame.index.to_numpy(float), frame[column].to_numpy(float)))


def test_capability_overtakes_core_firm(baseline):
    lead = baseline["technological_capability"] - baseline["core_firm_capability"]
    assert lead.iloc[0] < -0.3  # starts far behind the core firm
    assert lead.iloc[-1] > 0.05  # ends ahead of it
    crossing = first_time(lead > 0)
    assert crossing is not None
    assert QUARTERS[-1] < crossing < baseline.index[-1] - 3  # a forecast: after the data
    # once ahead, it stays ahead (a take-over, not a blip)
    assert (lead.loc[crossing:] > 0).all()


def test_market_share_overtakes_core_firm(baseline):
    lead = baseline["non_core_shipment_share"] - baseline["core_shipment_share"]
    assert lead.iloc[0] < -0.2
    assert lead.iloc[-1] > 0.2
    crossing = first_time(lead > 0)
    assert crossing is not None and crossing > QUARTERS[-1]
    assert (lead.loc[crossing:] > 0).all()
    # both segments are taken over, not only the low end
    assert baseline["non_core_high_end_share"].iloc[-1] > baseline["core_high_end_share"].iloc[-1]


@pytest.mark.parametrize("level", [0.1, 0.2, 0.3])
def test_low_end_share_leads_high_end_share(baseline, level):
    t_low = first_time(baseline["non_core_low_end_share"] >= level)
    t_high = first_time(baseline["non_core_high_end_share"] >= level)
    assert t_low is not None and t_high is not None
    assert t_high - t_low >= 2  # the climb to the high end takes years


def test_observed_shares_are_reproduced_at_the_quarters_they_report(model, baseline):
    """data/network_reverse_innovation.csv holds Table 1's shares at the
    midpoints of the fourth quarter of 2016 and the first of 2017: Huawei
    (11.3%, 11.4%) and the global core, Samsung plus Apple (38.8%, 43.0%). The
    baseline reproduces all four within two standard deviations."""
    from sdrev.observations import library_data_path, read_observations

    observations = read_observations(library_data_path(model), model=model)
    assert {o.variable for o in observations} == {"Non core Shipment Share", "Core Shipment Share"}
    assert sorted({o.time for o in observations}) == list(QUARTERS)
    for obs in observations:
        assert abs(at(baseline, obs.py_name, obs.time) - obs.value) <= 2 * obs.sd, obs


def test_the_non_core_firm_enters_strong_in_telecom(model, baseline):
    """Huawei entered handsets as a global leader in communications (Zhao, Yu &
    Song n.d.): its R&D stock and parent-funded R&D at entry are what let it
    absorb the core firm's knowledge fast enough to hold 11% of the world
    market by 2016-17. Entering with the R&D base of a small new unit (0.15
    and 0.04) it would hold under 3% and never overtake."""
    weak = simulate(model, scenario="baseline",
                    params={"Initial R and D Stock": 0.15, "Base R and D Spending": 0.04})
    for time in QUARTERS:
        assert at(weak, "non_core_shipment_share", time) < 0.03
        assert at(baseline, "non_core_shipment_share", time) > 0.09
    assert at(weak, "absorptive_capacity", 2008) < at(baseline, "absorptive_capacity", 2008) - 0.1
    assert (weak["non_core_shipment_share"] < weak["core_shipment_share"]).all()


def test_the_incumbent_response_keeps_the_core_at_its_reported_share(model, baseline):
    """Loop B2 (invented structure, Cooper & Schendel 1976): the core firm
    raises its R&D as it loses revenue, which keeps it at the frontier and its
    world share within the reported 0.39-0.43 in 2016-17. Without it the
    core's capability slips to about 0.91 and its share in early 2017 to about
    0.35, below both quarters' figures."""
    passive = simulate(model, scenario="baseline", params={"Incumbent Response Loop Gain": 0})
    assert at(baseline, "core_firm_r_and_d_spending", 2017) > at(
        passive, "core_firm_r_and_d_spending", 2017) + 0.05
    assert at(baseline, "core_firm_capability", 2017) > 0.98
    assert at(passive, "core_firm_capability", 2017) < 0.93
    for time in QUARTERS:
        assert 0.388 <= at(baseline, "core_shipment_share", time) <= 0.430
        assert at(passive, "core_shipment_share", time) < 0.388 - 0.02


def test_demand_capture_widens_the_low_end_entry(model, baseline):
    """Design innovation and capture of market demand from the non-core firm's
    low-end users (Zhao, Yu & Song n.d.) raise its low-end share: without the
    demand fit its market experience gives, the low-end share ends more than
    0.1 lower."""
    without = simulate(model, scenario="baseline", params={"Demand Capture Strength": 0})
    assert (without["non_core_low_end_share"].iloc[-1]
            < baseline["non_core_low_end_share"].iloc[-1] - 0.1)
    assert (without["non_core_low_end_share"].loc[2020]
            < baseline["non_core_low_end_share"].loc[2020] - 0.03)


def test_no_overtaking_without_spillovers(baseline, no_spillovers):
    cap_lead = no_spillovers["technological_capability"] - no_spillovers["core_firm_capability"]
    share_lead = no_spillovers["non_core_shipment_share"] - no_spillovers["core_shipment_share"]
    assert (cap_lead < 0).all()
    assert (share_lead < 0).all()
    # spillovers are what lifts the non-core firm's capability early on
    assert np.all(
        no_spillovers["technological_capability"].iloc[1:].to_numpy()
        < baseline["technological_capability"].iloc[1:].to_numpy()
    )


def test_the_headline_needs_the_engine_and_the_market_mechanisms(model):
    """The knockout figures the model's TOML reports: with the shared
    engine's learning channels cut the non-core firm ends with no share; with
    its own market mechanisms cut (price advantage, brand, demand capture) the
    engine still lifts its capability near the frontier but not its share."""
    no_engine = simulate(model, scenario="baseline", params={
        "Imitation Learning Rate": 0, "Indigenous Innovation Rate": 0,
        "Experience Learning Rate": 0})
    no_market = simulate(model, scenario="baseline", params={
        "Non core Relative Price": 1, "Brand Building Loop Gain": 0,
        "Demand Capture Strength": 0})
    assert no_engine["non_core_shipment_share"].iloc[-1] < 0.01
    assert no_market["technological_capability"].iloc[-1] > 0.75
    assert no_market["non_core_shipment_share"].iloc[-1] < 0.1
    assert (no_market["non_core_shipment_share"].iloc[-1]
            < no_market["core_shipment_share"].iloc[-1] - 0.2)


def test_the_fit_is_closer_to_the_data_than_the_hand_set_values(model, baseline):
    """The calibrated baseline fits the four reported shares at least as well
    as the hand-set (illustrative) values it replaced (sum of squared
    standardised errors)."""
    from sdrev.observations import library_data_path, read_observations

    observations = read_observations(library_data_path(model), model=model)
    hand = simulate(model, scenario="illustrative")

    def misfit(frame):
        return sum(((at(frame, o.py_name, o.time) - o.value) / o.sd) ** 2 for o in observations)

    assert misfit(baseline) < misfit(hand)
