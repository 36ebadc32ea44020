"""Reference behaviour of ``machine_tool_io`` (He & Wang, n.d.).

China's machine-tool industry upgrades under one of two industrial-organisation
regimes, large integrated enterprises (LIE, ``IO Regime`` 0) or an innovation
network of SMEs (``IO Regime`` 1), depending on transaction conditions (IP
protection, inter-firm trust, technological complementarity, public S&T
resources). The paper's claims: under weak conditions the LIE regime upgrades
faster; with strong institutions, or in the long run, the network regime ends
with more capability and more technological diversity; which regime is better
switches with the conditions ("historically efficient" regimes). Under the
``china_2000s`` scenario the domestic share rises from under 40% (2000) to about
56% (2007) while demand grows about 22% a year (2001-2008).
"""

import numpy as np
import pytest

import sdrev

LIE, NETWORK = 0.0, 1.0
CAPABILITY = "technological_capability"
DIVERSITY = "technological_diversity"
ATTAINMENT = "threshold_attainment"  # capability / Upgrading Capability Threshold


@pytest.fixture(scope="module")
def model():
    return sdrev.load("machine_tool_io")


@pytest.fixture(scope="module")
def runs(model):
    """Both regimes under the baseline (China), weak and strong institutions."""
    out = {}
    for scenario in ("baseline", "weak_institutions", "strong_institutions"):
        for regime in (LIE, NETWORK):
            out[scenario, regime] = model.simulate(scenario=scenario, params={"IO Regime": regime})
    return out


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


@pytest.mark.parametrize("scenario", ["baseline", "weak_institutions"])
def test_lie_upgrades_faster_under_weak_transaction_conditions(runs, scenario):
    t_lie = time_to_threshold(runs[scenario, LIE])
    t_network = time_to_threshold(runs[scenario, NETWORK])
    assert np.isfinite(t_lie) and t_lie < 2025
    # the network reaches the benchmark clearly later (or not within the horizon)
    assert t_network > t_lie + 3


def test_with_strong_institutions_the_network_upgrades_faster_and_ends_higher(runs):
    lie, network = runs["strong_institutions", LIE], runs["strong_institutions", NETWORK]
    assert time_to_threshold(network) < time_to_threshold(lie)
    assert network[CAPABILITY].iloc[-1] > 1.2 * lie[CAPABILITY].iloc[-1]
    assert network[DIVERSITY].iloc[-1] > 2 * lie[DIVERSITY].iloc[-1]


def test_in_the_long_run_the_network_overtakes_the_lie(runs):
    """Under China's baseline conditions the LIE leads for years, then the network
    overtakes it: the LIE regime is only 'historically efficient'."""
    lie, network = runs["baseline", LIE], runs["baseline", NETWORK]
    gap = (network[CAPABILITY] - lie[CAPABILITY]).to_numpy(dtype=float)
    times = network.index.to_numpy(dtype=float)
    assert gap[times == 2010.0][0] < -0.1  # the LIE leads clearly early on
    assert gap[-1] > 0.02  # the network ends higher
    crossing = times[np.nonzero(gap > 0)[0][0]]
    assert 2020 < crossing < 2040
    assert (gap[times >= crossing] > 0).all()  # and stays ahead
    assert network[DIVERSITY].iloc[-1] > 2 * lie[DIVERSITY].iloc[-1]


def test_lie_diversity_stays_low_while_network_diversity_grows(runs):
    lie, network = runs["baseline", LIE], runs["baseline", NETWORK]
    assert lie[DIVERSITY].max() < 1.5 * lie[DIVERSITY].iloc[0]
    assert network[DIVERSITY].iloc[-1] > 3 * network[DIVERSITY].iloc[0]


def test_the_better_regime_switches_as_ip_protection_improves(model):
    """Scanning IP protection at China's other conditions: the LIE reaches the
    threshold first at weak protection, the network at strong protection, and the
    network's time to threshold falls smoothly with protection."""
    t_lie = time_to_threshold(model.simulate(scenario="baseline", params={"IO Regime": LIE}))
    ip_levels = np.linspace(0.2, 1.0, 5)
    t_network = np.array([
        time_to_threshold(model.simulate(scenario="baseline",
                                         params={"IO Regime": NETWORK, "IP Protection": ip}))
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


def test_data_file_loads_against_the_model_and_its_shares_are_reproduced(model):
    """data/machine_tool_io.csv holds He & Wang's numbers; the domestic share (a
    model output) is reproduced within two measurement errors or on the
    reported side of the bound. Demand is exogenous (an input), so its rows are
    read but not counted as evidence."""
    from sdrev.observations import library_data_path, read_observations

    observations = read_observations(library_data_path(model), model=model)
    assert {o.variable for o in observations} == {"Machine Tool Demand", "Domestic Market Share"}
    frame = model.simulate(scenario="china_2000s")
    shares = [o for o in observations if o.variable == "Domestic Market Share"]
    assert len(shares) == 2
    for obs in shares:
        x = frame[obs.py_name].loc[obs.time]
        if obs.kind == "upper_bound":
            assert x <= obs.value, obs
        else:
            assert abs(x - obs.value) <= 2 * obs.sd, (obs, x)


def test_internal_experimental_users_speed_up_the_lie(model, runs):
    """The LIEs' internal divisions are their experimental users (He & Wang,
    n.d.: Feiyang CNC run on production lines): without their trial projects
    the LIE upgrades much more slowly and loses domestic share."""
    lie = runs["baseline", LIE]
    without = model.simulate(scenario="baseline",
                             params={"IO Regime": LIE, "Internal Division Trial Capacity": 0})
    assert time_to_threshold(without) > time_to_threshold(lie) + 5
    assert without["domestic_market_share"].loc[2007.0] < lie["domestic_market_share"].loc[2007.0] - 0.02
    assert without[CAPABILITY].iloc[-1] < lie[CAPABILITY].iloc[-1] - 0.05


def test_the_network_long_run_lead_rests_on_manager_turnover(model, runs):
    """He & Wang (n.d.) give administrative turnover of SOE managers as one
    boundary of the LIE ('innovation is discontinuous'). Without it the LIE
    stays ahead at the end of the run: the long-run ranking depends on this
    boundary, not on the network alone."""
    lie, network = runs["baseline", LIE], runs["baseline", NETWORK]
    assert network[CAPABILITY].iloc[-1] > lie[CAPABILITY].iloc[-1] + 0.02
    steady = model.simulate(scenario="baseline",
                            params={"IO Regime": LIE, "Turnover Innovation Disruption": 0})
    assert steady[CAPABILITY].iloc[-1] > network[CAPABILITY].iloc[-1] + 0.05


def test_loop_gains_act_in_the_documented_direction(model, runs):
    lie = runs["baseline", LIE]
    no_policy = model.simulate(scenario="baseline",
                               params={"IO Regime": LIE, "Selective Policy Loop Gain": 0})
    no_monopoly = model.simulate(scenario="baseline",
                                 params={"IO Regime": LIE, "Monopoly Loop Gain": 0})
    # R1 selective policy speeds up the LIE
    assert time_to_threshold(no_policy) > time_to_threshold(lie) + 1
    # B2 monopoly holds down the LIE's diversity and, through it, its capability
    assert no_monopoly[DIVERSITY].iloc[-1] > 1.5 * lie[DIVERSITY].iloc[-1]
    assert no_monopoly[CAPABILITY].iloc[-1] > lie[CAPABILITY].iloc[-1]


#: Every multiplier of LIE R&D at the top of its range: the corner where the
#: selective-policy loop R1 used to run away (capability -> policy resources ->
#: effort -> indigenous innovation, which grows with the square of effort).
RUNAWAY_CORNER = {"IO Regime": LIE, "Selective Policy Loop Gain": 2, "Selective Policy Strength": 2,
                  "Market Reinvestment Loop Gain": 2, "Market Incentive Strength": 1.5,
                  "Diversity Loop Gain": 2, "Radical Innovation Effect": 2,
                  "LIE Resource Concentration": 2, "Indigenous Innovation Rate": 0.02,
                  "Turnover Innovation Disruption": 0, "Political Project Share": 0}
#: Stocks that are shares or indices in [0, 1] by definition.
UNIT_STOCKS = ["technological_diversity", "network_development", "domestic_market_share",
               "absorptive_capacity", "entrepreneurial_commitment"]


def test_selective_policy_saturates_at_the_frontier_so_the_lie_cannot_run_away(model):
    frame = model.simulate(scenario="baseline", params=RUNAWAY_CORNER)
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
