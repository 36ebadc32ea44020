"""Feedback-loop analysis (sdrev.loops): discovery, Loops that Matter scores,
dominance, naming, metrics, and agreement with pysimlin (test-only oracle)."""

from __future__ import annotations

import warnings

import json
from pathlib import Path

import numpy as np
import pytest

import sdrev
import sdrev.loops as loops
from sdrev.ensemble.compile import UnsupportedConstructError, compile_model
from sdrev.loops import graph, scores
from sdrev.loops.naming import name_loops

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = Path(__file__).parent.parent / "models"


@pytest.fixture(scope="module")
def sir_model():
    return sdrev.load(FIXTURES / "sir.mdl")


@pytest.fixture(scope="module")
def sir(sir_model):
    return loops.analyze(sir_model, scenario="baseline")


def _row(analysis, loop_id):
    return analysis.loops.set_index("id").loc[loop_id]


# ------------------------------------------------------------------ discovery

def test_sir_loops_polarities_and_documented_names(sir):
    table = sir.loops.set_index("id")
    assert len(table) == 6
    assert table.loc["R1", "name"] == "contagion"
    assert set(table.loc["R1", "variables"]) == {"Infection", "Infectious"}
    assert table.loc["B1", "name"] == "recovery"
    assert table.loc["B2", "name"] == "depletion"
    assert set(table.loc["B2", "variables"]) == {"Infection", "Susceptible"}
    polarity = dict(zip(table.index, table["polarity"]))
    assert polarity == {"R1": "reinforcing", "R2": "reinforcing", "B1": "balancing",
                        "B2": "balancing", "B3": "balancing", "B4": "balancing"}
    # the undocumented loops all run through Total Population
    for loop_id in ("R2", "B3", "B4"):
        assert "Total Population" in table.loc[loop_id, "variables"]
        assert not table.loc[loop_id, "documented"]


def test_initial_is_not_a_feedback_link():
    cg = graph.causal_graph(compile_model(FIXTURES / "initial_reference.mdl"))
    assert not cg.graph.has_edge("backlog", "reference_backlog")
    found, complete = graph.enumerate_loops(cg)
    assert complete and found == [("backlog", "completions")]


def test_loop_cap_falls_back_to_strongest_paths(sir_model):
    capped = loops.analyze(sir_model, max_loops=2)
    assert capped.method == "strongest path"
    full = loops.analyze(sir_model)
    assert full.method == "exhaustive"
    found = {frozenset(v) for v in capped.loops["variables"]}
    # every loop found is a real loop, and the two loops that dominate are found
    assert found <= {frozenset(v) for v in full.loops["variables"]}
    assert {frozenset({"Infection", "Infectious"}),
            frozenset({"Infectious", "Recovery"})} <= found


def _random_graph(seed: int):
    """A causal graph of 24 nodes (a fifth of them stocks) with random edges,
    self-links among them, and link scores drawn from few values: ties,
    zeros and signs for the search's order and pruning to decide."""
    import networkx as nx

    rng = np.random.default_rng(seed)
    g = nx.DiGraph()
    g.add_nodes_from(f"n{i:02d}" for i in rng.permutation(24))
    nodes = list(g)
    for a in nodes:
        for b in rng.choice(nodes, size=rng.integers(1, 5), replace=False):
            g.add_edge(a, b)
    scores = {e: rng.choice([-2.0, -0.5, 0.0, 0.25, 0.5, 1.0, 3.0], size=40)
              for e in g.edges if rng.random() < 0.9}  # some links never scored
    stocks = {n: () for n in nodes[::5]}
    return graph.CausalGraph(graph=g, stocks=stocks, equations={}, refs={},
                             labels={}), scores


@pytest.mark.parametrize("seed", range(6))
def test_compiled_strongest_path_search_equals_the_python_search(seed):
    """strongest_paths (numba) finds, for every stock and time, the path the
    depth-first search in Python finds (same order of ties, same pruning)."""
    cg, scores = _random_graph(seed)
    paths = graph.strongest_paths(cg, scores, range(40))
    found = 0
    for k in range(40):
        for stock, path in zip(cg.stocks, paths[k]):
            want = graph.strongest_path_python(cg.graph, stock, scores, k)
            assert path == (want or [])
            found += bool(want)
    assert found > 40  # most searches close a loop
    # a NaN score: that time is searched in Python, the loops are the same
    edge = next(iter(scores))
    scores[edge] = scores[edge].copy()
    scores[edge][[3, 7]] = np.nan
    paths = graph.strongest_paths(cg, scores, range(40))
    assert [k for k in range(40) if paths[k] is None] == [3, 7]
    want = {graph.canonical_cycle(p) for k in range(40) for p in (
        graph.strongest_path_python(cg.graph, s, scores, k) for s in cg.stocks) if p}
    assert set(graph.strongest_path_loops(cg, scores)) == want
    assert len(graph.strongest_path_loops(cg, scores, max_loops=3)) == 3


# ------------------------------------------------------------------- scores

def test_one_stock_loop_scores_match_the_closed_form(widgets_path):
    """Stock A, inflow Rate*(1 - A/Cap), outflow A/Lifetime: every change in A
    splits between the two flows in fixed proportion, so the loop scores are
    constants: -(1/L)/(Rate/Cap + 1/L) and -(Rate/Cap)/(Rate/Cap + 1/L)."""
    a = loops.analyze(widgets_path)
    rate, cap, life = 0.5, 10.0, 8.0
    share_out = (1 / life) / (rate / cap + 1 / life)
    by_vars = {frozenset(v): i for i, v in zip(a.loops["id"], a.loops["variables"])}
    out_id = by_vars[frozenset({"Stock A", "Outflow A"})]
    in_id = by_vars[frozenset({"Stock A", "Inflow A"})]
    raw = a.loop_scores.iloc[1:]
    np.testing.assert_allclose(raw[out_id], -share_out, rtol=1e-9)
    np.testing.assert_allclose(raw[in_id], -(1 - share_out), rtol=1e-9)
    np.testing.assert_allclose(a.relative_scores[out_id].iloc[1:], -share_out, rtol=1e-9)
    assert (a.relative_scores.iloc[0] == 0).all()  # no previous step at the start


def test_link_scores_of_single_input_links():
    program = compile_model(FIXTURES / "sir.mdl")
    cg = graph.causal_graph(program)
    traj = scores.simulate_every_step(program, cg)
    ls = scores.link_scores(program, cg, traj)
    moving = np.diff(traj.values["infectious"]) != 0
    assert moving.sum() > 100
    np.testing.assert_allclose(ls[("infectious", "recovery")][1:][moving], 1.0)
    np.testing.assert_allclose(ls[("recovery", "recovered")][1:][moving], 1.0)
    np.testing.assert_allclose(ls[("infection", "susceptible")][1:][moving], -1.0)
    # additive equation: the inputs' shares of the change sum to one
    total = sum(np.abs(ls[(x, "total_population")]) for x in
                ("susceptible", "infectious", "recovered"))
    dz = np.diff(traj.values["total_population"])
    ok = np.abs(dz) > 1e-9
    np.testing.assert_allclose(total[1:][ok], 1.0, rtol=1e-6)


def test_relative_scores_are_shares(sir):
    rel = sir.relative_scores.to_numpy()
    assert np.all(np.abs(rel) <= 1 + 1e-12)
    sums = np.abs(rel).sum(axis=1)
    np.testing.assert_allclose(sums[1:], 1.0)


def test_params_reach_the_run(sir_model):
    cut = loops.analyze(sir_model, scenario="no_contagion")
    assert np.all(cut.relative_scores["R1"] == 0)
    assert _row(cut, "R1")["polarity"] == "undetermined"
    with pytest.raises(sdrev.SdrevError):
        loops.analyze(sir_model, params={"Not A Parameter": 1})


def test_polarity_classification():
    assert scores.classify_polarity(np.array([0, 0.2, 0.5])) == ("reinforcing", 1.0)
    assert scores.classify_polarity(np.array([0, -0.2]))[0] == "balancing"
    pol, conf = scores.classify_polarity(np.array([-1.0] * 999 + [0.001]))
    assert pol == "mostly balancing" and conf > 0.99
    assert scores.classify_polarity(np.array([0.5, -0.5]))[0] == "undetermined"
    assert scores.classify_polarity(np.zeros(4)) == ("undetermined", 0.0)


# ---------------------------------------------------------------- dominance

def test_sir_dominance_contagion_then_recovery(sir):
    assert sir.dominant_at(5.0) == ("R1",)
    assert sir.dominant_at(50.0) == ("B1",)
    first = sir.dominant_periods.iloc[0]
    assert first["loops"] == ("R1",) and first["polarity"] == "reinforcing"
    assert 15 < first["end"] < 25


def test_metrics(sir):
    shift = loops.dominance_shift_time(sir, "contagion", "recovery")
    assert 15 < shift < 30
    rel = sir.relative_scores
    before = rel.index[rel.index < shift][-1]
    after = rel.index[rel.index > shift][0]
    assert abs(rel.loc[before, "R1"]) > abs(rel.loc[before, "B1"])
    assert abs(rel.loc[after, "R1"]) <= abs(rel.loc[after, "B1"])
    assert np.isnan(loops.dominance_shift_time(sir, "B1", "R1", after=40))
    assert loops.relative_score_at(sir, "R1", 10.0) == pytest.approx(rel.loc[10.0, "R1"])
    mid = loops.relative_score_at(sir, ["Infectious", "Infection"], 10.25)
    assert mid == pytest.approx((rel.loc[10.0, "R1"] + rel.loc[10.5, "R1"]) / 2)
    assert loops.dominance_share(sir, "R1", start=0.5, end=20.0) == 1.0
    assert loops.dominance_share(sir, "R1") < 0.5
    with pytest.raises(sdrev.SdrevError):
        sir.loop_id("no such loop")


def test_naming_by_gain_when_variables_do_not_match():
    doc = sdrev.Loop("R7", "reinvestment", "reinforcing", "Reinvest Gain",
                     ("Capital", "Profit"))  # incomplete list of variables
    found = [("capital", "investment"), ("capital", "profit", "reinvestment")]
    names = name_loops(found, ["balancing", "reinforcing"], documented=[doc],
                       py_of=lambda n: n.lower().replace(" ", "_"),
                       users_of=lambda c: {"reinvestment"} if c == "reinvest_gain" else set())
    assert [(n.id, n.name, n.match) for n in names] == [
        ("B1", "", ""), ("R7", "reinvestment", "gain")]


# ------------------------------------------------------------------- output

def test_json_table_and_figure(sir):
    from matplotlib.figure import Figure

    from sdrev.figures.loop_scores import loop_score_figure
    from sdrev.report import loops_table_text
    data = json.loads(sir.to_json())
    assert [loop["id"] for loop in data["loops"]] == list(sir.loops["id"])
    assert len(data["relative_scores"]["R1"]) == len(data["times"]) == 121
    text = loops_table_text(sir)
    assert "R1    reinforcing" in text and "contagion" in text
    fig = loop_score_figure(sir)
    assert isinstance(fig, Figure) and fig.axes


def test_crrc_standards_dominance_sequence():
    """The strategic guiding loop leads the reinforcing loops first, standard
    innovation and ecology later, and balancing loops dominate at the end."""
    a = loops.analyze(_load(MODELS / "crrc_standards.mdl"), scenario="baseline")
    rel = a.relative_scores
    reinforcing = list(a.loops.loc[a.loops["polarity"] == "reinforcing", "id"])
    early = rel.loc[2000.5:2002.0, reinforcing].abs().mean().idxmax()
    later = rel.loc[2008.0:2016.0, reinforcing].abs().mean().idxmax()
    assert _row(a, early)["name"] == "strategic guiding"
    assert _row(a, later)["name"] in ("standard innovation", "ecology")
    assert a.dominant_periods.iloc[-1]["polarity"] == "balancing"


def test_crrc_standards_documented_dominance_follows_the_paper():
    """Among the documented loops (the full analysis is dominated by the
    first-order adjustment loops every smooth stock has; see
    sdrev.loops.dominance.documented_periods), Zhou et al.'s sequence shows:
    strategic guiding alone first, then standard innovation alone, then
    ecology alone, and the balancing loops gain share towards the end, when
    the full analysis is balancing-dominated."""
    a = loops.analyze(_load(MODELS / "crrc_standards.mdl"), scenario="baseline")
    periods = a.documented_periods
    names = dict(zip(a.loops["id"], a.loops["name"]))
    assert len(periods) and set(periods["loops"].explode()) <= {
        i for i, d in zip(a.loops["id"], a.loops["documented"]) if d}
    solo = [names[p.loops[0]] for p in periods.itertuples() if len(p.loops) == 1]
    assert solo == ["strategic guiding", "standard innovation", "ecology"]
    first = periods.iloc[0]
    assert first["loops"] == (a.loop_id("strategic guiding"),) and first["start"] <= 2001
    starts = {names[p.loops[0]]: p.start for p in periods.itertuples() if len(p.loops) == 1}
    assert starts["strategic guiding"] < 2003 < starts["standard innovation"] < 2010 \
        < starts["ecology"] < 2013
    raw = a.loop_scores[[i for i, d in zip(a.loops["id"], a.loops["documented"]) if d]]
    share = raw.abs().div(raw.abs().sum(axis=1), axis=0)
    balancing = [c for c in raw if c.startswith("B")]
    late, mid = share.loc[2040.0, balancing].sum(), share.loc[2016.0, balancing].sum()
    assert late > mid and late > 0.3
    assert a.dominant_periods.iloc[-1]["polarity"] == "balancing"
    assert a.dominant_periods.iloc[-1]["end"] == 2040.0


def test_subscripted_model_loops_over_elements():
    """mne_reverse_knowledge: one node per element, loops named by group."""
    a = loops.analyze(_load(MODELS / "mne_reverse_knowledge.mdl"))
    assert a.method == "strongest path"  # 20,799 element loops > MAX_LOOPS
    table = a.loops.set_index("id")
    by_vars = {tuple(v): i for i, v in zip(a.loops["id"], a.loops["variables"])}
    eu = by_vars[("Hub Screening[europe]", "Regional Hub Knowledge[europe]")]
    am = by_vars[("Hub Screening[americas]", "Regional Hub Knowledge[americas]")]
    # the same loop in two regions: one group id, the element appended
    assert eu.split("[")[0] == am.split("[")[0] and eu.startswith("B")
    assert eu.endswith("[europe]") and am.endswith("[americas]")
    assert table.loc[eu, "polarity"] == table.loc[am, "polarity"] == "balancing"
    assert table.loc["R2", "name"] == "integration capability"
    assert not any("[" in v for v in table.loc["R2", "variables"])  # all scalar
    # a documented loop through subscripted variables is named on its element loops
    circulation = a.loops[a.loops["name"].eq("knowledge circulation")]
    assert len(circulation) >= 1
    assert all(any("[sub" in v for v in vs) for vs in circulation["variables"])
    rel = a.relative_scores.to_numpy()
    parts = a.loops["partition"].to_numpy()
    for p in set(parts):
        sums = np.abs(rel[:, parts == p]).sum(axis=1)
        np.testing.assert_allclose(sums[1:][sums[1:] > 0], 1.0)
    capped = loops.analyze(_load(MODELS / "mne_reverse_knowledge.mdl"), max_loops=50)
    assert capped.method == "strongest path"


def test_element_dependencies_follow_subscript_alignment():
    program, _ = loops.causal_structure(MODELS / "mne_reverse_knowledge.mdl")
    from sdrev.loops.elements import dependencies
    shapes = {n: tuple(len(c) for c in program.coords[n]) if program.dims.get(n) else ()
              for n in program.step}
    peer = dependencies(program, program.step["peer_learning"].expr,
                        "local_reverse_learning", shapes)
    assert peer == {i: frozenset(range(4)) for i in range(4)}
    total = dependencies(program, program.step["subsidiary_learning_potential"].expr,
                         "source_learning_potential", shapes)
    assert total == {i: frozenset(range(3 * i, 3 * i + 3)) for i in range(4)}
    mean = dependencies(program, program.step["mean_subsidiary_capability"].expr,
                        "subsidiary_capability", shapes)
    assert mean == {0: frozenset(range(4))}


# ------------------------------------------------- agreement with pysimlin

def _key(names):
    return frozenset(str(n).lower().replace(" ", "_") for n in names)


_LOADED: dict = {}


def _load(path) -> sdrev.Model:
    """Each model loaded once per test module (PySD translation is slow)."""
    if path not in _LOADED:
        _LOADED[path] = sdrev.load(path)
    return _LOADED[path]


def _agreement(path: Path):
    simlin = pytest.importorskip("simlin")
    try:
        loops.causal_structure(path)
    except UnsupportedConstructError as exc:
        pytest.skip(f"not supported by the ensemble engine yet: {exc}")
    ours = loops.analyze(_load(path))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "this model is too large for exhaustive",
                                RuntimeWarning)
        run = simlin.load(str(path)).run(analyze_loops=True)
    if not run.loops and getattr(run, "ltm_mode", "") == "discovery":
        pytest.skip(f"pysimlin declines exhaustive loop enumeration on {path.name} "
                    f"({len(ours.loops)} loops): no reference to compare with")
    return ours, run


def _initial_elements(path: Path) -> set[str]:
    program, _ = loops.causal_structure(path)
    return {s.element for s in program.slots if s.kind == "initial"}


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.mdl"))
                         + [FIXTURES / "sir.mdl", FIXTURES / "widgets.mdl"],
                         ids=lambda p: p.stem)
def test_agrees_with_pysimlin(path):
    simlin = pytest.importorskip("simlin")
    if loops.causal_structure(path)[0].dims:
        _agrees_subscripted(path, simlin)
        return
    ours, run = _agreement(path)
    initial = _initial_elements(path)
    ids = {_key(v): i for i, v in zip(ours.loops["id"], ours.loops["variables"])}
    polarity = dict(zip(ours.loops["id"], ours.loops["polarity"]))
    words = {"R": "reinforcing", "B": "balancing", "U": "undetermined",
             "Rux": "mostly reinforcing", "Bux": "mostly balancing"}
    mapping = {}
    for loop in run.loops:
        key = _key(loop.variables)
        if key & initial:  # pysimlin's INITIAL "loops": see the test below
            assert np.all(loop.behavior_time_series == 0)
            continue
        assert key in ids, f"sdrev misses pysimlin's loop {loop.variables}"
        mapping[loop.id] = ids[key]
        ours_rel = ours.relative_scores[ids[key]].to_numpy()
        assert np.max(np.abs(ours_rel - loop.behavior_time_series)) < 0.02
        assert polarity[ids[key]] == words[str(loop.polarity)]
    assert set(mapping.values()) == set(ours.loops["id"]), "sdrev finds extra loops"
    # the same dominant loops at every saved time, boundaries within two steps
    times = ours.relative_scores.index.to_numpy()

    def by_time(periods):
        out = {}
        for start, end, members in periods:
            for k, t in enumerate(times):
                if start - 1e-9 <= t <= end + 1e-9:
                    out.setdefault(k, set()).update(members)
        return [frozenset(out.get(k, ())) for k in range(len(times))]

    theirs = by_time((p.start_time, p.end_time, [mapping.get(x, x) for x in p.dominant_loops])
                     for p in run.dominant_periods)
    mine = by_time((r.start, r.end, r.loops) for r in ours.dominant_periods.itertuples())
    boundaries = {k for seq in (theirs, mine) for k in range(1, len(seq))
                  if seq[k] != seq[k - 1]}
    for k, (a, b) in enumerate(zip(mine, theirs)):
        if a != b:
            assert any(abs(k - j) <= 2 for j in boundaries), (times[k], a, b)


def test_pysimlin_reports_loops_through_initial_that_cannot_act():
    """pysimlin 0.8.5 keeps the link Backlog -> INITIAL(Backlog): it reports a
    loop through Reference Backlog whose score is zero at every time, because
    INITIAL reads its input only once. sdrev leaves that link out."""
    path = FIXTURES / "initial_reference.mdl"
    ours, run = _agreement(path)
    through = [lp for lp in run.loops if "reference_backlog" in lp.variables]
    assert len(through) == 1
    assert np.all(through[0].behavior_time_series == 0)
    frame = sdrev.simulate(_load(path))
    assert frame["reference_backlog"].nunique() == 1  # it never changes
    assert frame["backlog"].nunique() > 10             # although Backlog does
    assert list(ours.loops["variables"]) == [("Backlog", "Completions")]


def _agrees_subscripted(path: Path, simlin) -> None:
    """Subscripted models: pysimlin 0.8.5 finds no loops with
    ``run(analyze_loops=True)`` ("too large for exhaustive enumeration") and
    analyses them in discovery mode (``Model.analyze``) over a loop
    *universe* of its own: loops active at the same time, duplicates merged
    and loops through aggregates (SUM) stitched from pieces (138 loops for
    mne_reverse_knowledge). sdrev's universe is every elementary cycle of the
    element graph (20,799 for mne, 6,242 of which ever score), so relative
    scores, normalised by the sum over the universe, differ by a factor per
    time, and so do dominant sets. What must agree, and does: every loop
    pysimlin reports is a loop of sdrev, through the same elements in the
    same order, with the same polarity, and its loop score (the product of
    element link scores) equals sdrev's up to pysimlin's normaliser: the
    ratio of pysimlin's score to sdrev's raw loop score is one number per
    time for all loops of a partition."""
    analysis = simlin.load(str(path)).analyze(timeout=120)
    assert analysis.analysis_error is None and analysis.enumeration_complete
    ours = loops.analyze(_load(path), max_loops=100_000)
    assert ours.method == "exhaustive"
    def name(v):
        return str(v).lower().replace(" ", "_")

    keys = {graph.canonical_cycle(tuple(name(v) for v in vs)): i
            for i, vs in zip(ours.loops["id"], ours.loops["variables"])}
    polarity = dict(zip(ours.loops["id"], ours.loops["polarity"]))
    words = {"R": "reinforcing", "B": "balancing", "U": "undetermined",
             "Rux": "mostly reinforcing", "Bux": "mostly balancing"}
    by_partition: dict = {}
    cancelled = 0
    for loop in analysis.loops:
        key = graph.canonical_cycle(tuple(loop.variables))
        assert key in keys, f"sdrev misses pysimlin's loop {loop.variables}"
        loop_id = keys[key]
        raw = ours.loop_scores[loop_id].to_numpy()
        theirs = np.asarray(loop.behavior_time_series)
        if _through_cancelled_link(key):
            # Peer Learning[s] = SUM(Local Reverse Learning[Subsidiary!])
            # - Local Reverse Learning[s] does not depend on Local Reverse
            # Learning[s]: the loop cannot act, sdrev scores it 0 at every
            # time, pysimlin scores the link through the SUM alone
            assert np.all(raw == 0) and np.any(theirs != 0), loop.id
            cancelled += 1
            continue
        assert polarity[loop_id] == words[str(loop.polarity)], loop.id
        assert np.all((raw == 0) <= (np.abs(theirs) < 1e-12)), loop.id
        by_partition.setdefault(loop.partition, []).append((raw, theirs))
    assert sum(len(v) for v in by_partition.values()) > 50 and cancelled < 30
    for members in by_partition.values():
        raw = np.array([r for r, _ in members])
        theirs = np.array([t for _, t in members])
        with np.errstate(all="ignore"):
            ratio = np.where(np.abs(raw) > 1e-9, theirs / raw, np.nan)
        for k in range(ratio.shape[1]):
            col = ratio[:, k][np.isfinite(ratio[:, k])]
            if len(col) > 1:
                np.testing.assert_allclose(col, np.median(col), rtol=1e-6)
                assert np.median(col) > 0


def _through_cancelled_link(cycle) -> bool:
    """Whether a loop of mne_reverse_knowledge's element graph runs
    Local Reverse Learning[s] -> Peer Learning[s] (the same element)."""
    for a, b in zip(cycle, cycle[1:] + cycle[:1]):
        if a.startswith("local_reverse_learning[") and b.startswith("peer_learning["):
            if a.split("[")[1] == b.split("[")[1]:
                return True
    return False


def test_a_run_without_finite_values_is_refused_not_scored(capsys):
    """Loop scores of NaN would all read "undetermined": one line, exit 2."""
    from sdrev.cli import main

    model = Path(__file__).parent / "fixtures" / "check" / "zero_division.mdl"
    assert main(["loops", str(model), "--set", "Innovation Time=0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "loop scores need finite values" in err
    assert main(["loops", str(model), "--set", "Innovation Time=2"]) == 0
