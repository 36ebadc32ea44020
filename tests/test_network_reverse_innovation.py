"""Reference behaviour of ``network_reverse_innovation`` (Zhao, Yu & Song, n.d.).

A non-core firm of an industrial innovation network learns from the core
firm's spillovers, enters the low end, climbs to the high end and overtakes
the core firm (Huawei's phones).
"""

import numpy as np
import pytest

import sdrev


@pytest.fixture(scope="module")
def model():
    return sdrev.load("network_reverse_innovation")


@pytest.fixture(scope="module")
def baseline(model):
    return model.simulate(scenario="baseline")


@pytest.fixture(scope="module")
def no_spillovers(model):
    return model.simulate(scenario="no_spillovers")


def first_time(mask):
    """First saved time at which a boolean series is true, or None."""
    hits = mask.index[mask.to_numpy()]
    return float(hits[0]) if len(hits) else None


def test_capability_overtakes_core_firm(baseline):
    lead = baseline["technological_capability"] - baseline["core_firm_capability"]
    assert lead.iloc[0] < -0.3  # starts far behind the core firm
    assert lead.iloc[-1] > 0.05  # ends ahead of it
    crossing = first_time(lead > 0)
    assert crossing is not None
    assert baseline.index[0] + 5 < crossing < baseline.index[-1] - 3
    # once ahead, it stays ahead (a take-over, not a blip)
    assert (lead.loc[crossing:] > 0).all()


def test_market_share_overtakes_core_firm(baseline):
    lead = baseline["non_core_shipment_share"] - baseline["core_shipment_share"]
    assert lead.iloc[0] < -0.2
    assert lead.iloc[-1] > 0.2
    crossing = first_time(lead > 0)
    assert crossing is not None
    assert (lead.loc[crossing:] > 0).all()
    # both segments are taken over, not only the low end
    assert baseline["non_core_high_end_share"].iloc[-1] > baseline["core_high_end_share"].iloc[-1]


@pytest.mark.parametrize("level", [0.1, 0.2, 0.3])
def test_low_end_share_leads_high_end_share(baseline, level):
    t_low = first_time(baseline["non_core_low_end_share"] >= level)
    t_high = first_time(baseline["non_core_high_end_share"] >= level)
    assert t_low is not None and t_high is not None
    assert t_high - t_low >= 2  # the climb to the high end takes years


def test_data_file_loads_and_the_non_core_shares_are_reproduced(model, baseline):
    """data/network_reverse_innovation.csv holds the TrendForce shares of the
    paper's Table 1. The non-core firm's (Huawei's) world share is reproduced
    within two measurement errors in 2016 and 2017. The core firm's (Samsung's)
    is not: the model gives 0.34 against 0.185 and 0.261 (reported, not yet
    fitted), so it is only read here."""
    from sdrev.observations import library_data_path, read_observations

    observations = read_observations(library_data_path(model), model=model)
    assert {o.variable for o in observations} == {"Non core Shipment Share", "Core Shipment Share"}
    huawei = [o for o in observations if o.variable == "Non core Shipment Share"]
    assert [o.time for o in huawei] == [2016, 2017]
    for obs in huawei:
        assert abs(baseline[obs.py_name].loc[obs.time] - obs.value) <= 2 * obs.sd, obs


def test_demand_capture_widens_the_low_end_entry(model, baseline):
    """Design innovation and capture of market demand from the non-core firm's
    low-end users (Zhao, Yu & Song n.d.) raise its low-end share: without the
    demand fit its market experience gives, the low-end share ends more than
    0.1 lower."""
    without = model.simulate(scenario="baseline", params={"Demand Capture Strength": 0})
    assert (without["non_core_low_end_share"].iloc[-1]
            < baseline["non_core_low_end_share"].iloc[-1] - 0.1)
    assert (without["non_core_low_end_share"].loc[2020]
            < baseline["non_core_low_end_share"].loc[2020] - 0.03)


def test_the_incumbent_defends_its_capability_when_it_loses_revenue(model, baseline):
    """Loop B2: the core firm raises its R&D as its revenue falls, which holds
    its capability up (about 0.84 rather than 0.70 at the end) and slows its
    loss of share. Not in the paper: a standard competitive response, recorded
    as invented structure in the model's TOML."""
    passive = model.simulate(scenario="baseline", params={"Incumbent Response Loop Gain": 0})
    assert (baseline["core_firm_r_and_d_spending"].iloc[-1]
            > passive["core_firm_r_and_d_spending"].iloc[-1] + 0.02)
    assert (baseline["core_firm_capability"].iloc[-1]
            > passive["core_firm_capability"].iloc[-1] + 0.08)
    assert baseline["core_shipment_share"].iloc[-1] > passive["core_shipment_share"].iloc[-1] + 0.03


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
