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
    return {name: sdrev.simulate(model, scenario=name)
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


@pytest.mark.parametrize("case", sorted(CASES))
def test_preset_reverse_export_timing(model, runs, case):
    entry, _, export_year = CASES[case]
    df = runs[case]
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


def test_great_wall_drilling_depends_on_service_chain(model, runs):
    """GWDC's bid falls to a quarter to a third of the multinationals' and, without the chain, it exports later."""
    df = runs["great_wall_drilling"]
    final_bid = df["relative_bid_price"].iloc[-1]
    assert 0.25 <= final_bid <= 1 / 3 + 0.02, final_bid
    with_chain = reverse_export_time(model, df)
    without = reverse_export_time(
        model, sdrev.simulate(model, scenario="great_wall_drilling",
                              params={SERVICE_CHAIN_SWITCH: 0}))
    assert without > with_chain + TOLERANCE, (with_chain, without)


def test_data_file_loads_and_the_reverse_export_years_are_reproduced(model):
    """data/ets_reverse_innovation.csv holds the three cases' entry, stage-2 and
    first-contract years (Xu & Xu 2015, Tables I-III) in years since entry; the
    first overseas contract of every case falls within two measurement errors
    (2 x 0.5 yr) of the reported year."""
    from sdrev.observations import library_data_path, read_observations

    observations = read_observations(library_data_path(model), model=model)
    assert {o.case for o in observations} == set(CASES)
    exports = [o for o in observations if o.variable == "Overseas Contracts Won"]
    assert len(exports) == 3
    for obs in exports:
        assert obs.kind == "first_crossing"
        frame = sdrev.simulate(model, scenario=obs.case)
        event = crossing_time(frame, obs.py_name, obs.value)
        assert abs(event - obs.time) <= 2 * obs.sd, (obs.case, event, obs.time)


@pytest.mark.parametrize("case", sorted(CASES))
def test_fit_to_local_conditions_brings_reverse_export_forward(model, runs, case):
    """Home-market trial and error on diverse conditions (uneven coal, varied
    reservoirs) makes the latecomer's technology fit overseas conditions the
    multinationals' does not (Xu & Xu 2015): without that fit every case
    exports at least half a year later."""
    without = sdrev.simulate(model, scenario=case, params={"Condition Fit Weight": 0})
    assert reverse_export_time(model, without) > reverse_export_time(model, runs[case]) + 0.5


def test_without_policy_support_the_technology_blockade_curtails_imports(model):
    """Multinationals restrict technology to a latecomer that takes their home
    business; government support counters it (Xu & Xu 2015, technology
    localization). Without policy support the blockade cuts import access by
    more than a tenth by the time of reverse export and delays it. The delay is small (under half a year in every case): the
    blockade bites only once the firm has domestic share, when imitation
    returns are already low."""
    bare = sdrev.simulate(model, scenario="dalian_east", params={"Policy Support": 0})
    unblocked = sdrev.simulate(model, scenario="dalian_east",
                               params={"Policy Support": 0, "Technology Blockade Loop Gain": 0})
    dalian_intensity = model.scenarios["dalian_east"].params["Technology Import Intensity"]
    export = reverse_export_time(model, bare)
    access = float(np.interp(export, bare.index.to_numpy(dtype=float),
                             bare["technology_import_access"].to_numpy(dtype=float)))
    assert access < 0.9 * dalian_intensity
    assert export > reverse_export_time(model, unblocked) + 0.03


def test_crowding_out_removes_multinationals_as_a_knowledge_source(model):
    """As the latecomer takes the home market, multinationals present in it are
    crowded out (Dalian East: KHI and Holtz, Xu & Xu 2015, Table I), and with
    them a source of external knowledge: their presence halves by the time of
    reverse export, and without crowding out the firm exports earlier."""
    frame = sdrev.simulate(model, scenario="dalian_east")
    presence = frame["multinational_home_presence"]
    assert presence.loc[8.0] < 0.6 * presence.iloc[0]
    kept = sdrev.simulate(model, scenario="dalian_east", params={"Crowding Out Loop Gain": 0})
    assert reverse_export_time(model, kept) < reverse_export_time(model, frame) - 0.05


def test_recognition_abroad_builds_international_links(model, runs):
    """Loop R3: contracts won abroad build a reputation that strengthens the
    firm's international connections (Xu & Xu 2015, Table I: technology
    recognised abroad with the first export). Dalian East's links reach 0.4
    only after its first contract, and without the reference effect they stay
    near 0.3 to the end of the run."""
    frame = runs["dalian_east"]
    first_contract = reverse_export_time(model, frame)
    strong_links = crossing_time(frame, "international_connection_strength", 0.4)
    assert first_contract < strong_links < first_contract + 5
    flat = sdrev.simulate(model, scenario="dalian_east", params={"Overseas Reference Loop Gain": 0})
    assert flat["international_connection_strength"].max() < 0.35


@pytest.mark.parametrize("gain", ["Domestic Trial Loop Gain", "R and D Reinvestment Loop Gain"])
def test_home_market_loops_bring_the_slow_case_forward(model, runs, gain):
    """Loops R1 (domestic trial and error) and R4 (R&D reinvested from domestic
    share): the home market's trial projects and revenue grow with the firm's
    domestic share (Xu & Xu 2015, technology localization). They matter most
    for the firm with the longest home-market stage: without either, Great Wall
    Drilling exports more than half a year later (about 0.9 yr); the
    faster cases move by 0.1-0.3 yr, under the data's 1-yr tolerance."""
    without = sdrev.simulate(model, scenario="great_wall_drilling", params={gain: 0})
    assert (reverse_export_time(model, without)
            > reverse_export_time(model, runs["great_wall_drilling"]) + 0.5)
