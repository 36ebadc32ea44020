"""The model's own time unit everywhere a time axis or a span of time is
labelled (a fixture model in weeks), and missing units shown as missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import sdrev
from sdrev.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
WEEKS = FIXTURES / "sir_weeks.mdl"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SDREV_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def weeks():
    import sdrev

    return sdrev.load(WEEKS)


def test_time_settings_carry_the_models_time_unit(weeks):
    import sdrev

    assert weeks.time.units == "Week"
    assert sdrev.load(FIXTURES / "sir_weeks.xmile").time.units == "Weeks"
    assert sdrev.load("crrc_standards").time.units == "Year"


def test_labels():
    from sdrev.units import duration_label, time_label, units_label

    assert time_label("Week") == "Time (Week)"
    assert time_label("") == "Time (units missing)"
    assert units_label("  ") == "units missing" and units_label("Dmnl") == "Dmnl"
    assert duration_label("Week") == "weeks" == duration_label("Weeks")
    assert duration_label("Month", plural=False) == "month"
    assert duration_label("") == "time units"


def test_simulate_labels_weeks_in_table_figures_and_manifest(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["simulate", str(WEEKS), "--out", str(out), "--plot"]) == 0
    text = capsys.readouterr().out
    assert "Time (Week)" in text and "Year" not in text
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["time"]["units"] == "Week"
    assert (out / "figures" / "infectious.png").is_file()


def test_figure_axes(weeks):
    from sdrev.figures.loop_scores import loop_score_figure
    from sdrev.figures.trajectories import trajectory_figure
    from sdrev.loops import analyze

    frame = sdrev.simulate(weeks)
    fig = trajectory_figure({"base": frame["infectious"]}, title="Infectious",
                            units="", time_units=weeks.time.units)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Time (Week)"
    assert ax.get_ylabel() == "Infectious (units missing)"  # not "Dmnl"
    analysis = analyze(weeks)
    assert analysis.time_units == "Week"
    assert loop_score_figure(analysis).axes[-1].get_xlabel() == "Time (Week)"


def test_loops_text_gives_periods_in_weeks(capsys):
    assert main(["loops", str(WEEKS)]) == 0
    out = capsys.readouterr().out
    assert "times in weeks" in out and "year" not in out.lower()


def test_compare_tables_and_figures_in_weeks(weeks, tmp_path):
    from sdrev import compare
    from sdrev.compare.folders import summary_text
    from sdrev.figures.compare import comparison_figure

    comp = compare.compare_scenarios(weeks, vary={"Infectivity": [0.2, 0.3]},
                                     outputs=["Infectious"])
    assert comp.time_units == "Week"
    text = summary_text(comp)
    assert "output units x weeks" in text and "Year" not in text
    fig = comparison_figure(comp)
    assert fig.axes[0].get_xlabel() == "Time (Week)"


@pytest.mark.slow
def test_brief_in_weeks(weeks):
    from sdrev.report import brief

    b = brief.build_brief(weeks, sensitivity=False, regime_map=False,
                          scenarios=["baseline"])
    ctx = brief.brief_context(b)
    assert (ctx["time_word"], ctx["time_plural"]) == ("Week", "weeks")
    html = brief.render_html(b, context=ctx)
    assert "Week reached" in html and "units × weeks" in html
    assert "Year" not in html and "(years)" not in html
