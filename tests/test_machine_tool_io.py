"""Reference behaviour of ``machine_tool_io`` (He & Wang, n.d.).

China's machine-tool industry upgrades under large integrated enterprises
(LIE, ``IO Regime`` 0), an innovation network of SMEs (``IO Regime`` 1) or a
mix, depending on transaction conditions (IP protection, inter-firm trust,
technological complementarity, public S&T resources). The paper's claims:
under weak conditions the LIE regime upgrades faster; with strong
institutions, or in the long run, the network regime ends with more
capability and more technological diversity ("historically efficient"
regimes); and the two forms are not opposed: from 2009 the LIEs organise a
network around themselves (the CNC alliance), which makes the transaction
conditions matter to them too. The market has a low-end and a medium and
high-end segment, so the domestic share, the foreign share of the medium and
high end (about 85% before 2008) and CNC output are model outputs; the
baseline is calibrated to them (calibration/machine_tool_io.toml).
"""

import numpy as np
import pytest

import sdrev

LIE, NETWORK = 0.0, 1.0
CAPABILITY = "technological_capability"
DIVERSITY = "technological_diversity"
NETWORK_DEV = "network_development"
ATTAINMENT = "threshold_attainment"  # capability / Upgrading Capability Threshold
SCENARIOS = ("baseline", "lie", "network", "mixed", "strong_institutions", "weak_institutions",
             "network_strong_institutions", "network_weak_institutions")


@pytest.fixture(scope="module")
def model():
    return sdrev.load("machine_tool_io")


@pytest.fixture(scope="module")
def runs(model):
    """Every regime scenario of the model's TOML, once."""
    return {scenario: sdrev.simulate(model, scenario=scenario) for scenario in SCENARIOS}


def time_to_threshold(frame):
    """First time the capability reaches the model's Upgrading Capability Threshold
    (linear interpolation between saved points); inf if it never does."""
    attainment = frame[ATTAINMENT].to_numpy(dtype=float)
    times = frame.index.to_numpy(dtype=float)
    above = np.nonzero(attainment >= 1.0)[0]
    if above.size == 0:
        return np.inf
    i = above[0]
    if i == 0:
        return times[0]
    fraction = (1.0 - attainment[i - 1]) / (attainment[i] - attainment[i - 1])
    return times[i - 1] + fraction * (times[i] - times[i - 1])


def end(frame, column=CAPABILITY):
    return float(frame[column].iloc[-1])


@pytest.mark.parametrize(("lie", "network"), [("lie", "network"),
                                              ("weak_institutions", "network_weak_institutions")])
def test_lie_upgrades_faster_under_weak_transaction_conditions(runs, lie, network):
    t_lie = time_to_threshold(runs[lie])
    t_network = time_to_threshold(runs[network])
    assert np.isfinite(t_lie) and t_lie < 2025
    # the network reaches the benchmark clearly later (or not within the horizon)
    assert t_network > t_lie + 3


def test_with_strong_institutions_the_network_upgrades_faster_and_ends_higher(runs):
    lie, network = runs["strong_institutions"], runs["network_strong_institutions"]
    assert time_to_threshold(network) < time_to_threshold(lie)
    assert end(network) > 1.2 * end(lie)
    assert end(network, DIVERSITY) > 2 * end(lie, DIVERSITY)


def test_in_the_long_run_the_network_overtakes_the_lie_alone(runs):
    """Under China's conditions the exclusive LIE leads for years, then the
    network overtakes it: the LIE regime is only 'historically efficient'."""
    lie, network = runs["lie"], runs["network"]
    gap = (network[CAPABILITY] - lie[CAPABILITY]).to_numpy(dtype=float)
    times = network.index.to_numpy(dtype=float)
    assert gap[times == 2010.0][0] < -0.1  # the LIE leads clearly early on
    assert gap[-1] > 0.02  # the network ends higher
    crossing = times[np.nonzero(gap > 0)[0][0]]
    assert 2020 < crossing < 2040
    assert (gap[times >= crossing] > 0).all()  # and stays ahead
    assert end(network, DIVERSITY) > 2 * end(lie, DIVERSITY)


def test_lie_diversity_stays_low_while_network_diversity_grows(runs):
    lie, network = runs["lie"], runs["network"]
    assert lie[DIVERSITY].max() < 1.5 * lie[DIVERSITY].iloc[0]
    assert end(network, DIVERSITY) > 3 * network[DIVERSITY].iloc[0]


def test_the_better_regime_switches_as_ip_protection_improves(model, runs):
    """Scanning IP protection at China's other conditions: the LIE reaches the
    threshold first at weak protection, the network at strong protection, and the
    network's time to threshold falls smoothly with protection."""
    t_lie = time_to_threshold(runs["lie"])
    ip_levels = np.linspace(0.2, 1.0, 5)
    t_network = np.array([
        time_to_threshold(sdrev.simulate(model, scenario="network", params={"IP Protection": ip}))
        for ip in ip_levels
    ])
    assert t_network[0] > t_lie
    assert t_network[-1] < t_lie
    assert np.isfinite(t_network).all()
    steps = np.diff(t_network)
    assert (steps < 0).all()  # monotone in IP protection
    # smooth: each further improvement gains less time than the previous one, with
    # no abrupt jump (neighbouring gains within a factor of 3.5)
    gains = -steps
    assert (np.diff(gains) < 0).all()
    assert (gains[:-1] / gains[1:] < 3.5).all()


# --- the regime scenarios differ, and the LIE organises a network ---------------

def test_the_regime_scenarios_give_different_trajectories(runs):
    """baseline, lie, mixed, strong_institutions and weak_institutions used to be
    one trajectory (institutions acted only on the network): each pair's
    capability now differs by more than 0.01 somewhere in the run."""
    names = ("baseline", "lie", "mixed", "strong_institutions", "weak_institutions")
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            gap = (runs[a][CAPABILITY] - runs[b][CAPABILITY]).abs().max()
            assert gap > 0.01, (a, b, gap)


def test_the_lies_organise_a_network_from_2009_and_gain_from_it(runs):
    """He & Wang (n.d.), section 4.3: the LIE is the organiser of the network
    (the CNC alliance of 2009). Before 2009 the baseline is the LIE alone; after
    it a network forms around the LIEs and they end higher than alone."""
    baseline, lie = runs["baseline"], runs["lie"]
    before = baseline.index <= 2009.0
    np.testing.assert_allclose(baseline.loc[before, CAPABILITY], lie.loc[before, CAPABILITY],
                               rtol=0, atol=1e-9)
    assert baseline[NETWORK_DEV].loc[2030.0] > 0.2
    assert lie[NETWORK_DEV].loc[2030.0] < 0.02
    assert end(baseline) > end(lie) + 0.04


def test_institutions_act_on_the_lie_through_the_network_it_organises(model, runs):
    """LIEs and networks are not opposed (He & Wang, n.d., sections 1 and 4.3):
    better transaction conditions let the LIEs' network grow and lift the LIEs;
    without the alliance (loop R6 cut) the LIE does not see the conditions."""
    strong, base, weak = (end(runs[s]) for s in ("strong_institutions", "baseline",
                                                 "weak_institutions"))
    assert strong > base + 0.03 and base > weak + 0.01
    cut = [end(sdrev.simulate(model, scenario=s, params={"Alliance Loop Gain": 0}))
           for s in ("strong_institutions", "weak_institutions")]
    assert abs(cut[0] - cut[1]) < 1e-9


def test_the_alliance_rules_let_its_network_form_under_weak_institutions(model, runs):
    """The alliance's own rules (IP principle, shared resources) make up part of
    what weak market institutions lack: without them the LIEs' network hardly
    forms under very weak institutions."""
    with_rules = end(runs["weak_institutions"], NETWORK_DEV)
    without = end(sdrev.simulate(model, scenario="weak_institutions",
                                 params={"Alliance Governance": 0}), NETWORK_DEV)
    assert with_rules > 3 * without


def test_the_mixed_regime_leads_the_network_early_and_the_lie_alone_late(runs):
    mixed = runs["mixed"]
    assert mixed[CAPABILITY].loc[2010.0] > runs["network"][CAPABILITY].loc[2010.0] + 0.05
    assert end(mixed) > end(runs["lie"]) + 0.04


# --- segments, foreign share and CNC output --------------------------------------

def test_domestic_firms_win_the_low_end_while_foreign_tools_keep_the_high_end(runs):
    """He & Wang (n.d.), section 3: cost advantage wins domestic firms the low
    end; foreign tools hold about 85% of the medium and high end before 2008."""
    y2007 = runs["baseline"].loc[2007.0]
    assert y2007["low_end_domestic_share"] > 0.8
    assert 0.8 < y2007["foreign_high_end_share"] < 0.9
    # the foreign share of the high end is an output: it falls with capability
    strong, weak = runs["network_strong_institutions"], runs["network_weak_institutions"]
    assert strong["foreign_high_end_share"].loc[2015.0] < weak["foreign_high_end_share"].loc[2015.0] - 0.2


def test_cnc_output_grows_faster_than_demand_and_counts_units_not_value(model, runs):
    """CNC output grows with demand (exogenous, about 5-fold 2000-2008) and with
    the domestic share (the model's); medium and high-end tools are a tenth of
    domestic sales by value but about 1% of the units the model counts (15.5
    times the unit value, SMTCL's 2008 mix)."""
    frame = runs["baseline"]
    demand_growth = frame["machine_tool_demand"].loc[2008.0] / frame["machine_tool_demand"].loc[2000.0]
    cnc_growth = (frame["cnc_metal_cutting_output"].loc[2008.0]
                  / frame["cnc_metal_cutting_output"].loc[2000.0])
    assert cnc_growth > 1.25 * demand_growth
    y2007 = frame.loc[2007.0]
    value_share = y2007["domestic_high_end_sales"] / y2007["domestic_machine_tool_sales"]
    assert value_share > 0.08
    per_unit = model.parameter("Domestic Sales Per CNC Unit").value  # thousand USD
    low_units = y2007["domestic_low_end_sales"] * 1e6 / per_unit
    high_units = y2007["cnc_metal_cutting_output"] - low_units
    assert 0 < high_units / y2007["cnc_metal_cutting_output"] < 0.02


def test_the_calibrated_baseline_reproduces_the_papers_numbers(model):
    """data/machine_tool_io.csv holds He & Wang's numbers. The model outputs
    (domestic share, foreign share of the medium and high end, CNC output) are
    reproduced under the baseline within two measurement errors or on the
    reported side of a bound, including CNC output in 2008, which the
    calibration held out. Demand is an exogenous input: its rows are read but
    the calibration leaves them out and they are not evidence."""
    from sdrev.calibrate import load_spec
    from sdrev.observations import library_data_path, read_observations

    observations = read_observations(library_data_path(model), model=model)
    outputs = {"Domestic Market Share", "Foreign High End Share", "CNC Metal Cutting Output"}
    assert {o.variable for o in observations} == outputs | {"Machine Tool Demand"}
    spec = load_spec(model)
    assert {o.variable for o in spec.observations} == outputs
    frame = sdrev.simulate(model, scenario="baseline")
    checked = [o for o in observations if o.variable in outputs]
    assert len(checked) == 5
    for obs in checked:
        x = frame[obs.py_name].loc[obs.time]
        if obs.kind == "upper_bound":
            assert x <= obs.value, obs
        else:
            assert abs(x - obs.value) <= 2 * obs.sd, (obs, x)


def test_the_calibrated_scenario_is_the_baseline_and_illustrative_keeps_the_hand_values(model):
    calibrated = model.scenarios["calibrated"].params
    defaults = {p.name: p.value for p in model.parameters}
    assert len(calibrated) == 5
    for name, value in calibrated.items():
        assert defaults[name] == pytest.approx(value, rel=1e-12), name
    illustrative = model.scenarios["illustrative"].params
    assert set(calibrated) == set(illustrative)
    assert any(illustrative[name] != pytest.approx(calibrated[name], rel=0.05)
               for name in calibrated)


# --- the LIE's own mechanisms ---------------------------------------------------

def test_internal_experimental_users_speed_up_the_lie(model, runs):
    """The LIEs' internal divisions are their experimental users (He & Wang,
    n.d., section 4.2: Feiyang CNC run on production lines): without their
    trial projects the LIE upgrades much more slowly and loses domestic share."""
    lie = runs["lie"]
    without = sdrev.simulate(model, scenario="lie", params={"Internal Division Trial Capacity": 0})
    assert time_to_threshold(without) > time_to_threshold(lie) + 5
    assert without["domestic_market_share"].loc[2007.0] < lie["domestic_market_share"].loc[2007.0] - 0.01
    assert end(without) < end(lie) - 0.05


def test_the_network_long_run_lead_rests_on_manager_turnover(model, runs):
    """He & Wang (n.d., section 4.5) give administrative turnover of SOE
    managers as one boundary of the LIE ('innovation is discontinuous'). Without
    it the LIE alone stays ahead at the end of the run: the long-run ranking of
    the exclusive regimes depends on this boundary, not on the network alone."""
    lie, network = runs["lie"], runs["network"]
    assert end(network) > end(lie) + 0.02
    steady = sdrev.simulate(model, scenario="lie", params={"Turnover Innovation Disruption": 0})
    assert end(steady) > end(network) + 0.05


def test_loop_gains_act_in_the_documented_direction(model, runs):
    lie = runs["lie"]
    no_policy = sdrev.simulate(model, scenario="lie", params={"Selective Policy Loop Gain": 0})
    no_monopoly = sdrev.simulate(model, scenario="lie", params={"Monopoly Loop Gain": 0})
    # R1 selective policy speeds up the LIE
    assert time_to_threshold(no_policy) > time_to_threshold(lie) + 1
    # B2 monopoly holds down the LIE's diversity and, through it, its capability
    assert end(no_monopoly, DIVERSITY) > 1.5 * end(lie, DIVERSITY)
    assert end(no_monopoly) > end(lie)


#: Every multiplier of LIE R&D at the top of its range: the corner where the
#: selective-policy loop R1 used to run away (capability -> policy resources ->
#: effort -> indigenous innovation, which grows with the square of effort).
RUNAWAY_CORNER = {"IO Regime": LIE, "Selective Policy Loop Gain": 2, "Selective Policy Strength": 2,
                  "Market Reinvestment Loop Gain": 2, "Market Incentive Strength": 1.5,
                  "Diversity Loop Gain": 2, "Radical Innovation Effect": 2,
                  "LIE Resource Concentration": 2, "Indigenous Innovation Rate": 0.02,
                  "Turnover Innovation Disruption": 0, "Political Project Share": 0,
                  "Alliance Loop Gain": 2, "LIE Alliance Organisation": 1,
                  "Alliance Resource Sharing": 1}
#: Stocks that are shares or indices in [0, 1] by definition.
UNIT_STOCKS = ["technological_diversity", "network_development", "low_end_domestic_share",
               "high_end_domestic_share", "absorptive_capacity", "entrepreneurial_commitment"]


def test_selective_policy_saturates_at_the_frontier_so_the_lie_cannot_run_away(model):
    frame = sdrev.simulate(model, scenario="baseline", params=RUNAWAY_CORNER)
    assert np.isfinite(frame.to_numpy(dtype=float)).all()
    for stock in UNIT_STOCKS:
        assert frame[stock].between(0, 1).all(), stock


def test_shares_stay_in_the_unit_interval_over_joint_samples_of_the_spec(model):
    """LHS over every sensitivity factor and loop gain at once (ensemble engine)."""
    from sdrev import ensemble
    from sdrev.sensitivity import load_spec

    spec = load_spec(model)
    ranges = {f.name: f.range for f in (*spec.factors, *spec.loop_factors)}
    samples = ensemble.sample_lhs(ranges, 300, seed=5)
    data = ensemble.run(model, samples, outputs=UNIT_STOCKS, progress=False, workers=1)
    for stock in UNIT_STOCKS:
        values = data[stock].to_numpy()
        assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all(), stock
