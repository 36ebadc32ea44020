"""Scenario discovery (sdrev.discover, `sdrev discover`).

The fixture tests/fixtures/discover/box5.mdl has five factors A-E uniform on
[0, 1]; its outcome (the policy raises the score, scenarios on and off on the
same parameter sets) holds exactly when 0.3 < A < 0.7 and B > 0.6. C, D and E
are read by the model but cannot change anything.

Tolerance of the recovered limits: 0.05 (in the factors' units, 5% of their
range). PRIM peels peel_alpha = 5% of the box's runs at a time, so its last
peel across an edge can overshoot it by up to one peel: at most 5% of the
runs left along that factor, i.e. at most 0.05 of a range of width 1 (the
box's 0.4-wide sides give 0.02). The sample's own resolution adds the gap
between the edge and the nearest run, about 1 / (2000 runs x 0.3 of them in
the slab) = 0.002. CART's thresholds fall halfway between neighbouring runs,
well inside the same bound.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sdrev
from sdrev import discover
from sdrev.cli import main
from sdrev.errors import InvalidValueError, ModelNotFoundError, UnknownNameError

FIXTURE = Path(__file__).parent / "fixtures" / "discover" / "box5.mdl"
TRUE_BOX = {"A": (0.3, 0.7), "B": (0.6, 1.0)}
TOL = 0.05


@pytest.fixture(scope="module")
def model():
    return sdrev.load(FIXTURE)


@pytest.fixture(scope="module", params=["prim", "cart"])
def result(request, model):
    return discover.run(model, n=2000, seed=7, method=request.param)


def test_recovers_the_known_box(result):
    """Each method finds A and B with their limits, and nothing on C, D, E."""
    (box,) = [b for b in result.boxes_for(True) if b.rank == 1]
    assert set(box.factors) == {"A", "B"}
    limits = box.limits.set_index("factor")
    assert limits.loc["A", "low"] == pytest.approx(0.3, abs=TOL)
    assert limits.loc["A", "high"] == pytest.approx(0.7, abs=TOL)
    assert limits.loc["B", "low"] == pytest.approx(0.6, abs=TOL)
    assert bool(limits.loc["A", "lower_bound"]) and bool(limits.loc["A", "upper_bound"])
    assert bool(limits.loc["B", "lower_bound"]) and not bool(limits.loc["B", "upper_bound"])
    assert (limits["qp"] < 1e-10).all()
    assert box.coverage > 0.95 and box.density > 0.95
    assert box.mass == pytest.approx(0.4 * 0.4, abs=0.03)
    # the irrelevant factors are restricted by no box at all
    assert not {"C", "D", "E"} & {f for b in result.boxes for f in b.factors}


def test_result_is_consistent(result):
    assert result.share == pytest.approx(0.16, abs=0.03)
    assert result.fixed == ("Policy Switch",)  # set by both scenarios: not a dimension
    assert set(result.factors) == {"A", "B", "C", "D", "E"}
    assert result.scenarios == ("on", "off") and result.simulations == 4000
    box = result.boxes_for(True)[0]
    inside = box.contains(result.samples)
    assert box.runs == inside.sum() and box.hits == result.holds[inside].sum()
    # the outcome is the box itself: classify the samples by the true box
    X = result.samples
    truth = (X["A"] > 0.3) & (X["A"] < 0.7) & (X["B"] > 0.6)
    assert (truth.to_numpy() == result.holds).all()
    text = discover.summary_text(result)
    assert "The policy raises the score in" in text and "A" in text


def test_prim_and_cart_agree(model):
    prim = discover.run(model, n=1000, seed=11, method="prim").boxes_for(True)[0]
    cart = discover.run(model, n=1000, seed=11, method="cart").boxes_for(True)[0]
    a = prim.limits.set_index("factor")[["low", "high"]]
    b = cart.limits.set_index("factor")[["low", "high"]].loc[a.index]
    assert np.allclose(a.to_numpy(), b.to_numpy(), atol=2 * TOL)


def test_write_folder(result, tmp_path):
    folder = tmp_path / "run"
    written = discover.write(result, folder, command="test")
    for name in ("boxes.csv", "limits.csv", "trajectory.csv", "runs.csv", "summary.txt",
                 "manifest.json", "figures/trajectory.png", "figures/trajectory.svg",
                 "figures/limits.svg", "figures/scatter_holds_1.png"):
        assert (folder / name).is_file(), name
    assert "figures/scatter_holds_1.svg" in written
    limits = pd.read_csv(folder / "limits.csv")
    assert set(limits.columns) >= {"target", "rank", "factor", "low", "high", "qp"}
    runs = pd.read_csv(folder / "runs.csv")
    assert len(runs) == 2000 and runs["outcome"].mean() == pytest.approx(result.share)
    if result.method == "prim":
        traj = pd.read_csv(folder / "trajectory.csv")
        assert traj["chosen"].sum() == len(result.boxes)


# -- outcome grammar ----------------------------------------------------------

def _values(model, text, trajectories, times=(0, 1, 2, 3, 4)):
    outcome = discover.parse_outcome(text, model)
    data = {v: np.asarray(trajectories[v.name, v.scenario], dtype=float)
            for v in outcome.variables}
    return discover.evaluate(outcome, np.asarray(times, dtype=float), data)


def test_grammar_measures_and_logic(model):
    score = np.array([[0, 1, 2, 3, 4], [0, 0, 0, 0, 0], [0, 2, 2, 2, 2]])
    traj = {("Score", None): score, ("Score", "on"): score, ("Score", "off"): score * 0 + 1,
            ("Inside Box", None): np.array([[1] * 5, [0] * 5, [1, 1, 0, 0, 0]])}
    cases = {
        "Score @ end > 3": [True, False, False],
        "Score @ 2.5 == 2.5": [True, False, False],
        "value_at(Score, start) == 0": [True, True, True],
        "maximum(Score) >= 2 and not Inside Box @ end > 0.5": [False, False, True],
        "time_average(Score, 0, 4) > 1.5 or Inside Box @ 0 < 0.5": [True, True, True],
        "first_crossing(Score, 2) < 1.5": [False, False, True],
        "first_crossing(Score, 2) > 100": [False, True, False],  # never: +infinity
        "Score[on] @ end - Score[off] @ end > 2": [True, False, False],
        "first_crossing(Score[on] - Score[off], 0) <= 1": [True, False, True],
        "(Score @ end + 1) * 2 / 5 >= 2": [True, False, False],
        "-Score @ end < -1": [True, False, True],
        "first_crossing(Inside Box, 0.5, down) == 1.5": [False, False, True],  # interpolated
        "((Score @ 1 > 0))": [True, False, True],
    }
    for text, expected in cases.items():
        holds, decided = _values(model, text, traj)
        assert holds.tolist() == expected, text
        assert decided.all(), text


def test_grammar_non_finite_runs_are_undecided(model):
    traj = {("Score", None): np.array([[0, 1, 2, 3, np.nan], [0, 1, 2, 3, 4]])}
    holds, decided = _values(model, "Score @ end > 3", traj)
    assert decided.tolist() == [False, True] and holds.tolist() == [False, True]


@pytest.mark.parametrize("text, error, words", [
    ("Score > 1", InvalidValueError, "without a measure"),
    ("Score @ 9 > 1", InvalidValueError, "outside the horizon"),
    ("Score @ end >", InvalidValueError, "unexpected end"),
    ("maximum(Score, 2) > 1", InvalidValueError, "maximum takes one variable"),
    ("time_average(Score, 3, 1) > 1", InvalidValueError, "must be before"),
    ("first_crossing(Score, 1, sideways) > 1", InvalidValueError, "up or down"),
    ("Score @ end > 1 and", InvalidValueError, "unexpected end"),
    ("1 > 0", InvalidValueError, "reads no variable"),
    ("", InvalidValueError, "empty"),
    ("__import__('os').system('true') > 1", InvalidValueError, "unexpected character"),
    ("Score.__class__ @ end > 1", UnknownNameError, "unknown variable"),
    ("Scor @ end > 1", UnknownNameError, "did you mean 'Score'"),
    ("Score[onn] @ end > 1", UnknownNameError, "did you mean 'on'"),
    ("Score @ end > 1; import os", InvalidValueError, "unexpected character ';'"),
])
def test_bad_outcomes(model, text, error, words):
    with pytest.raises(error, match=None) as info:
        discover.parse_outcome(text, model)
    assert words in str(info.value)


def test_machine_tool_io_declares_its_outcome():
    mt = sdrev.load("machine_tool_io")
    d = discover.discover_defaults(mt)
    outcome = discover.parse_outcome(d.outcome, mt)
    assert outcome.scenarios == ("network", "lie")
    assert {v.name for v in outcome.variables} == {"Technological Capability"}
    assert d.label and d.label_fails


def test_bad_discover_table(tmp_path):
    mdl = tmp_path / "box5.mdl"
    mdl.write_bytes(FIXTURE.read_bytes())
    toml = FIXTURE.with_suffix(".toml").read_text() + "outcom = 'x'\n"
    mdl.with_suffix(".toml").write_text(toml)
    with pytest.raises(InvalidValueError, match="unknown key 'outcom'"):
        discover.run(sdrev.load(mdl), n=100)


def test_given_samples_and_option_errors(model):
    sets = pd.DataFrame({"a": np.linspace(0, 1, 60), "b": np.linspace(1, 0, 60) ** 2})
    result = discover.run(model, samples=sets, method="cart", source="a grid")
    assert set(result.factors) == {"A", "B"} and "a grid" in discover.summary_text(result)
    for kwargs, words in [({"method": "forest"}, "unknown method 'forest'"),
                          ({"n": 5}, "at least 20"), ({"max_boxes": 0}, "positive integer"),
                          ({"seed": -1}, "seed"), ({"spec": "no_such_spec"}, "does not exist")]:
        with pytest.raises((InvalidValueError, ModelNotFoundError), match=words):
            discover.run(model, **kwargs)


def test_prim_without_its_package_says_how_to_install_it(model, monkeypatch):
    monkeypatch.setitem(sys.modules, "prim", None)  # `import prim` raises ImportError
    with pytest.raises(InvalidValueError, match=r'pip install "sdrev\[prim\]"'):
        discover.run(model, n=200, seed=1, method="prim")
    assert discover.run(model, n=200, seed=1, method="cart").boxes is not None


# -- command line ---------------------------------------------------------------

@pytest.mark.parametrize("argv, words", [
    (["--outcome", "Score @ end >>> 1"], "outcome 'Score @ end >>> 1'"),
    (["--outcome", "Scor @ end > 1"], "unknown variable 'Scor'"),
    (["--outcome", "os.system('x') > 1"], "unexpected character"),
    (["--spec", "SPEC"], "unknown parameter 'Nonexistent'"),
    (["--method", "forest"], "invalid choice"),
    (["-N", "3"], "at least 20"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, words, tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text('[[factor]]\nname = "Nonexistent"\nrange = [0, 1]\n')
    argv = [str(spec) if a == "SPEC" else a for a in argv]
    try:
        code = main(["discover", str(FIXTURE), *argv, "--out", str(tmp_path / "o"),
                     "--quiet"])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert words in err
    if argv[0] != "--method":
        assert err.count("\n") == 1 and err.startswith("sdrev: error: ")
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_cli_writes_a_run_folder(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["discover", str(FIXTURE), "-N", "500", "--seed", "3", "--out", str(out),
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "The policy raises the score in" in text and f"discovery written to {out}" in text
    assert (out / "figures" / "trajectory.svg").is_file()


def test_help_shows_the_grammar():
    out = subprocess.run([sys.executable, "-m", "sdrev.cli", "discover", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "first_crossing(NAME, THRESHOLD" in out and "NAME[SCENARIO]" in out


@pytest.mark.slow
def test_machine_tool_io_default_outcome(tmp_path, capsys):
    """The README's command: the network ahead of the LIEs in 2030, both classes boxed."""
    out = tmp_path / "mt"
    assert main(["discover", "machine_tool_io", "-N", "1000", "--method", "cart",
                 "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "innovation network is ahead of the large integrated enterprises" in text
    boxes = pd.read_csv(out / "boxes.csv")
    assert set(boxes["target"]) == {True, False}


def test_cli_posterior_draws(tmp_path, capsys):
    """--posterior RUN_DIR: the draws of a calibration folder are the parameter sets."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "calibration"
    folder.mkdir()
    pd.DataFrame({"A": rng.uniform(size=300), "B": rng.uniform(size=300),
                  "log_likelihood": rng.normal(size=300)}).to_csv(folder / "posterior.csv",
                                                                  index=False)
    out = tmp_path / "d"
    assert main(["discover", str(FIXTURE), "--posterior", str(folder), "-N", "400",
                 "--method", "cart", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert f"400 posterior draws of {folder}" in text
    assert set(pd.read_csv(out / "runs.csv").columns) == {"set", "A", "B", "outcome"}
    assert main(["discover", str(FIXTURE), "--posterior", str(folder), "--spec", "x.toml",
                 "--out", str(tmp_path / "e")]) == 2
    assert "not both" in capsys.readouterr().err


def test_names_with_keywords_are_quoted():
    mt = sdrev.load("machine_tool_io")
    with pytest.raises(UnknownNameError, match="goes in double quotes"):
        discover.parse_outcome("LIE R and D Spending @ 2020 > 0.1", mt)
    outcome = discover.parse_outcome('"LIE R and D Spending"[lie] @ 2020 > 0.1', mt)
    assert [(v.name, v.scenario) for v in outcome.variables] == [("LIE R and D Spending",
                                                                   "lie")]


@pytest.mark.slow
def test_the_brief_shows_the_boxes_beside_the_regime_map(tmp_path):
    """A model with a regime map and a [discover] outcome: the boxes in the brief."""
    from sdrev.report import brief

    built = brief.build_brief(sdrev.load("machine_tool_io"), sensitivity=False, loops=False,
                              uncertainty=False)
    found = built.discovery
    assert found is not None and found.method == "cart" and found.boxes
    (html,) = [p for p in brief.write_brief(built, tmp_path / "b", pdf=False)
               if p.suffix == ".html"]
    text = html.read_text(encoding="utf-8")
    assert "Every condition at once" in text and "Scenario discovery" in text
    assert discover.box_sentence(found, found.boxes[0]).split(" when ")[0] in text
    without = brief.build_brief(sdrev.load("machine_tool_io"), sensitivity=False,
                                loops=False, uncertainty=False, discover=False)
    assert without.discovery is None
