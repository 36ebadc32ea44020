"""Reference behaviour of ``ets_reverse_innovation`` (Xu & Xu 2015, seed 000).

The Reverse Export event is the first time the cumulative stock
``Overseas Contracts Won`` reaches ``Reverse Export Threshold`` (one
contract); ``Reverse Export Achieved`` flags it. Event times are read from
the saved trajectory, interpolated linearly between saved times.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sdrev

MODEL = "ets_reverse_innovation"
SERVICE_CHAIN_SWITCH = "Service Chain Integration Switch"
CONNECTION_SWITCH = "International Connection Switch"

# Case timings (Xu & Xu 2015, Tables I-III): entry year, stage-2 start year,
# reverse-export year.
CASES = {
    "dalian_east": (2000, 2006, 2008),
    "acre": (2003, 2006, 2007),
    "great_wall_drilling": (1992, 2001, 2007),
}
TOLERANCE = 2.0  # years


@pytest.fixture(scope="module")
def model():
    return sdrev.load(MODEL)


@pytest.fixture(scope="module")
def runs(model):
    """One simulation per scenario the tests need, shared by the module."""
    return {name: model.simulate(scenario=name)
            for name in ("baseline", *CASES, "no_service_chain",
                         "no_international_connection")}


def crossing_time(df, column: str, level: float) -> float:
    """First time ``df[column]`` reaches ``level`` (linear interpolation); inf if never."""
    values = df[column].to_numpy(dtype=float)
    times = df.index.to_numpy(dtype=float)
    hits = np.flatnonzero(values >= level)
    if hits.size == 0:
        return math.inf
    i = hits[0]
    if i == 0:
        return times[0]
    v0, v1 = values[i - 1], values[i]
    return times[i - 1] + (level - v0) / (v1 - v0) * (times[i] - times[i - 1])


def saved_interval(df) -> float:
    return float(df.index[1] - df.index[0])


def reverse_export_time(model, df) -> float:
    threshold = next(p.value for p in model.parameters
                     if p.name == "Reverse Export Threshold")
    return crossing_time(df, "overseas_contracts_won", threshold)


def test_event_flag_matches_contract_stock(model, runs):
    """Reverse Export Achieved switches to 1 at the first saved time the stock reaches the threshold."""
    for name, df in runs.items():
        flag = df["reverse_export_achieved"].to_numpy()
        assert set(np.unique(flag)) <= {0.0, 1.0}
        event = reverse_export_time(model, df)
        if math.isinf(event):
            assert flag.max() == 0, name
            continue
        first_flag = df.index[flag >= 1][0]
        assert first_flag >= event - 1e-9, name
        assert first_flag - event < saved_interval(df) + 1e-9, name
        # once achieved, it stays achieved (cumulative stock)
        assert np.all(np.diff(flag) >= 0), name


@pytest.mark.parametrize("case", sorted(CASES))
def test_preset_reverse_export_timing(model, runs, case):
    entry, _, export_year = CASES[case]
    df = runs[case]
    assert df["calendar_year"].iloc[0] == pytest.approx(entry)
    event = reverse_export_time(model, df)
    assert abs(event - (export_year - entry)) <= TOLERANCE, (case, event)


def test_preset_ordering(model, runs):
    """ACRE exports first, then Dalian East, then Great Wall Drilling."""
    t = {case: reverse_export_time(model, runs[case]) for case in CASES}
    assert t["acre"] < t["dalian_east"] < t["great_wall_drilling"], t


@pytest.mark.parametrize("case", sorted(CASES))
def test_stages_in_order_and_stage_two_timing(model, runs, case):
    """Stage 2 (home-market development) precedes stage 3 (reverse export) and starts near the case's year."""
    entry, stage_two_year, _ = CASES[case]
    df = runs[case]
    stage = df["development_stage"]
    assert stage.iloc[0] == 1
    stage_two = df.index[stage >= 2][0]
    stage_three = df.index[stage >= 3][0]
    assert stage_two < stage_three
    assert abs(stage_two - (stage_two_year - entry)) <= TOLERANCE, (case, stage_two)


@pytest.mark.parametrize("scenario", ["no_service_chain", "no_international_connection"])
def test_switch_off_delays_reverse_export(model, runs, scenario):
    base = reverse_export_time(model, runs["baseline"])
    off = reverse_export_time(model, runs[scenario])
    assert math.isfinite(base)
    # later by more than one saved interval, not numerical noise
    assert off > base + saved_interval(runs[scenario]), (scenario, base, off)


def test_scenarios_are_the_switches(model):
    assert model.scenarios["no_service_chain"].params == {SERVICE_CHAIN_SWITCH: 0}
    assert model.scenarios["no_international_connection"].params == {CONNECTION_SWITCH: 0}


def test_great_wall_drilling_depends_on_service_chain(model, runs):
    """GWDC's bid falls to a quarter to a third of the multinationals' and, without the chain, it exports later."""
    df = runs["great_wall_drilling"]
    final_bid = df["relative_bid_price"].iloc[-1]
    assert 0.25 <= final_bid <= 1 / 3 + 0.02, final_bid
    with_chain = reverse_export_time(model, df)
    without = reverse_export_time(
        model, model.simulate(scenario="great_wall_drilling",
                              params={SERVICE_CHAIN_SWITCH: 0}))
    assert without > with_chain + TOLERANCE, (with_chain, without)
