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


def test_world_share_plausible_in_2016_2017(baseline):
    # TrendForce data in the paper: Huawei 11.3% (2016) and 11.4% (2017) of
    # world smartphone shipments; a stylised model should be of that order.
    share = baseline["non_core_shipment_share"]
    for year in (2016, 2017):
        assert 0.06 < share.loc[year] < 0.2


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
