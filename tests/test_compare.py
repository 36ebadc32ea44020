"""Scenario comparison and regime maps (sdrev.compare, sdrev.figures.compare).

The regime map of ``machine_tool_io`` must show He & Wang's (n.d.) claim on its
default ranges: large integrated enterprises (IO Regime 0) reach higher
capability under weak transaction conditions, the innovation network (IO Regime
1) under strong ones, and the network gains ground in the long run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sdrev
from sdrev import compare
from sdrev.errors import InvalidValueError, OutputError, UnknownNameError

CAPABILITY = "Technological Capability"


@pytest.fixture(scope="module")
def mtio():
    return sdrev.load("machine_tool_io")


@pytest.fixture(scope="module")
def rmap(mtio):
    """The default regime map of machine_tool_io (its [compare] table)."""
    return compare.regime_map(mtio, progress=False)


@pytest.fixture(scope="module")
def comparison(mtio):
    return compare.compare_scenarios(mtio, ["lie", "network"],
                                     outputs=[CAPABILITY, "Technological Diversity"])


# -- regime map ---------------------------------------------------------------------

def test_defaults_come_from_the_compare_table(mtio, rmap):
    d = compare.compare_defaults(mtio)
    assert d.has_regime_map
    assert rmap.regime_param == "IO Regime" and rmap.regimes == (0.0, 1.0)
    assert (rmap.x.name, rmap.x.lo, rmap.x.hi) == d.x
    assert (rmap.y.name, rmap.y.lo, rmap.y.hi) == d.y
    assert rmap.values.shape[:3] == (2, *d.grid)
    assert rmap.output == CAPABILITY and rmap.year == d.year
    assert rmap.engine == "sdrev"


def test_the_regime_boundary_lies_inside_the_default_ranges(rmap):
    # both regimes win somewhere on the default map
    assert 0.02 < rmap.share_won(0) < 0.98
    assert 0.02 < rmap.share_won(1) < 0.98
    points = rmap.boundary()
    assert len(points) >= min(len(rmap.x.values), len(rmap.y.values)) // 2
    inside_x = (points[:, 0] > rmap.x.lo) & (points[:, 0] < rmap.x.hi)
    inside_y = (points[:, 1] > rmap.y.lo) & (points[:, 1] < rmap.y.hi)
    assert (inside_x | inside_y).all()
    assert (inside_x & inside_y).any()


def test_lie_wins_under_weak_conditions_and_the_network_under_strong_ones(rmap, mtio):
    win = rmap.winner
    assert win[0, 0] == 0      # no IP protection, no trust: LIE ahead
    assert win[-1, -1] == 1    # full IP protection and trust: network ahead
    # at the China calibration (the baseline scenario's own conditions) the LIE leads
    ix = int(np.argmin(np.abs(np.asarray(rmap.x.values) - rmap.base[0])))
    iy = int(np.argmin(np.abs(np.asarray(rmap.y.values) - rmap.base[1])))
    assert win[ix, iy] == 0
    # stronger conditions never turn a network lead into a LIE lead (monotone map)
    assert (np.diff(rmap.difference, axis=0) > -1e-9).all()
    assert (np.diff(rmap.difference, axis=1) > -1e-9).all()


def test_in_the_long_run_the_network_wins_more_of_the_map(rmap):
    assert (rmap.final_leader == 1).mean() > rmap.share_won(1)


def test_crossover_years_are_inside_the_horizon_and_earlier_with_stronger_conditions(rmap):
    cross = rmap.crossover
    finite = np.isfinite(cross)
    assert finite.any() and (~finite).any()
    assert (cross[finite] > rmap.times[0]).all() and (cross[finite] <= rmap.times[-1]).all()
    # where the network leads at the map's year, it overtook before that year
    ahead = (rmap.winner == 1) & finite
    assert (cross[ahead] <= rmap.year + 1e-9).all()
    # along the diagonal, stronger conditions bring the crossover earlier
    diag = np.array([cross[i, i] for i in range(min(cross.shape))])
    diag = diag[np.isfinite(diag)]
    assert len(diag) > 5 and (np.diff(diag) <= 1e-9).all()


def test_a_regime_map_point_matches_pysd(mtio, rmap):
    i, j = 10, 5
    x, y = rmap.x.values[i], rmap.y.values[j]
    for k, regime in enumerate(rmap.regimes):
        frame = sdrev.simulate(mtio, scenario="baseline", params={
            rmap.x.name: x, rmap.y.name: y, "IO Regime": regime})
        expected = frame["technological_capability"]
        got = rmap.values[k, i, j]
        assert np.allclose(got, expected.to_numpy(), rtol=1e-6, atol=1e-9)
    value = np.interp(rmap.year, rmap.times, rmap.values[1, i, j]) - \
        np.interp(rmap.year, rmap.times, rmap.values[0, i, j])
    assert rmap.difference[i, j] == pytest.approx(value)


def test_regime_map_works_for_another_model_and_regime_parameter():
    model = sdrev.load("crrc_standards")
    m = compare.regime_map(model, x=("R and D Spending", 0.02, 0.2),
                           y=("Home Market Size", 0.2, 1.5), grid=(4, 3),
                           regime_param="Strategic Guiding Switch", regimes=(0, 1),
                           output="Standards Influence", progress=False)
    assert m.values.shape[:3] == (2, 4, 3)
    assert m.labels == ("Strategic Guiding Switch=0", "Strategic Guiding Switch=1")
    assert m.year == model.time.final
    # strategic guiding raises standards influence everywhere on this map
    assert (m.winner == 1).all() and len(m.boundary()) == 0


def test_regime_map_needs_conditions_when_the_model_has_no_table():
    model = sdrev.load("crrc_standards")
    with pytest.raises(InvalidValueError, match="regime-map conditions"):
        compare.regime_map(model, progress=False)
    with pytest.raises(UnknownNameError):
        compare.regime_map(model, x=("No Such Thing", 0, 1), y=("Home Market Size", 0.2, 1),
                           regime_param="Strategic Guiding Switch", progress=False)


# -- scenario comparison --------------------------------------------------------------

def test_comparison_metrics_match_the_runs(mtio, comparison):
    threshold = mtio.parameter("Upgrading Capability Threshold").value
    runs = {s: sdrev.simulate(mtio, scenario=s) for s in ("lie", "network")}
    m = comparison.metrics.set_index(["output", "label"])
    times = runs["lie"].index.to_numpy(dtype=float)
    ref = runs["lie"]["technological_capability"].to_numpy()
    for label, frame in runs.items():
        y = frame["technological_capability"].to_numpy()
        row = m.loc[(CAPABILITY, label)]
        assert row["final_value"] == pytest.approx(y[-1])
        assert row["threshold"] == pytest.approx(threshold)
        # the model's own attainment variable crosses 1 at the time to threshold
        att = frame["threshold_attainment"].to_numpy()
        k = int(np.argmax(att >= 1.0))
        assert times[k - 1] <= row["time_to_threshold"] <= times[k]
        assert row["net_area"] == pytest.approx(np.trapezoid(y - ref, times))
        assert row["area_between"] == pytest.approx(np.trapezoid(np.abs(y - ref), times))
    assert m.loc[(CAPABILITY, "lie"), "area_between"] == 0
    # He & Wang: the LIE reaches the benchmark first, the network ends higher
    assert m.loc[(CAPABILITY, "lie"), "time_to_threshold"] < \
        m.loc[(CAPABILITY, "network"), "time_to_threshold"]
    assert m.loc[(CAPABILITY, "network"), "rank_final"] == 1
    assert comparison.leader_at_end(CAPABILITY) == "network"


def test_the_year_the_leader_changes_is_where_the_curves_cross(comparison):
    changes = comparison.leader_changes
    row = changes[changes["output"] == CAPABILITY]
    assert len(row) == 1
    row = row.iloc[0]
    assert (row["before"], row["after"]) == ("lie", "network")
    traj = comparison.trajectory(CAPABILITY)
    gap = (traj["network"] - traj["lie"]).to_numpy()
    t = traj.index.to_numpy(dtype=float)
    late = t > t[0] + 1  # both start equal
    first_ahead = t[late][np.argmax(gap[late] > 0)]
    assert first_ahead - 0.5 <= row["year"] <= first_ahead


def test_vary_gives_the_same_runs_as_the_scenarios(mtio, comparison):
    # the lie scenario is the LIE alone: the baseline's LIEs organise a network
    # from 2009 unless LIE Alliance Organisation is 0
    varied = compare.compare_scenarios(mtio, vary={"IO Regime": [0, 1]}, outputs=[CAPABILITY],
                                       params={"LIE Alliance Organisation": 0})
    assert varied.labels == ("IO Regime=0", "IO Regime=1")
    assert all(r.scenario == "baseline" for r in varied.runs)
    a = varied.trajectory(CAPABILITY).to_numpy()
    b = comparison.trajectory(CAPABILITY).to_numpy()
    assert np.allclose(a, b)


def test_without_options_every_scenario_is_compared():
    model = sdrev.load("crrc_standards")
    comp = compare.compare_scenarios(model, outputs=["Standards Influence"])
    assert comp.labels == tuple(model.scenarios)
    assert len(comp.metrics) == len(model.scenarios)
    assert comp.thresholds["Standards Influence"] > 0


def test_time_to_threshold_and_leader_changes_on_known_curves():
    t = np.arange(0.0, 11.0)
    assert compare.time_to_threshold(t, t * 2, 5.0) == pytest.approx(2.5)
    assert np.isnan(compare.time_to_threshold(t, t, 50.0))
    assert compare.time_to_threshold(t, 10 - t, 2.5, "down") == pytest.approx(7.5)
    table = pd.DataFrame({"a": 1 + 0.5 * t, "b": 1 + 0.1 * t ** 2, "c": 1 + 0.5 * t},
                         index=t)
    # a and c are equal and lead together; b overtakes them where 0.5 t = 0.1 t^2, t = 5
    changes = compare.leader_changes(table)
    assert len(changes) == 1
    year, before, after = changes[0]
    assert (before, after) == ("a = c", "b")
    assert 5.0 <= year <= 6.0
    assert compare.leader_changes(table[["a", "c"]]) == []


def test_bad_input_is_named():
    model = sdrev.load("crrc_standards")
    with pytest.raises(UnknownNameError, match="no_such"):
        compare.compare_scenarios(model, ["no_such"])
    with pytest.raises(InvalidValueError):
        compare.parse_range("IP Protection=1:0")
    with pytest.raises(InvalidValueError):
        compare.parse_grid("50by50")
    with pytest.raises(InvalidValueError):
        compare.parse_vary(["IO Regime="])
    assert compare.parse_range("IP Protection=0:0.5") == ("IP Protection", 0.0, 0.5)
    assert compare.parse_grid("30x20") == (30, 20)
    assert compare.parse_vary(["IO Regime=0,1"]) == {"IO Regime": [0.0, 1.0]}


def test_write_and_read_a_compare_run_folder(tmp_path, mtio, comparison, rmap):
    folder = tmp_path / "cmp"
    paths = compare.write(folder, mtio, comparison=comparison, regime_map=rmap,
                          command="sdrev compare machine_tool_io")
    assert all(p.is_file() for p in paths)
    assert (folder / "figures" / "regime_map.png").stat().st_size > 10_000
    comp2, map2 = compare.read(folder)
    assert comp2.labels == comparison.labels
    assert np.allclose(comp2.trajectories.to_numpy(), comparison.trajectories.to_numpy())
    pd.testing.assert_frame_equal(comp2.metrics.drop(columns="scenario"),
                                  comparison.metrics.drop(columns="scenario"),
                                  check_dtype=False)
    assert np.array_equal(map2.winner, rmap.winner)
    assert np.allclose(map2.crossover, rmap.crossover, equal_nan=True)
    with pytest.raises(OutputError):
        compare.write(folder, mtio, comparison=comparison)
