"""Concise displays of the API's main objects: a few lines in a terminal, a
small HTML table in a notebook; never every documentation string."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SDREV_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def sir():
    import sdrev

    return sdrev.load(FIXTURES / "sir_weeks.mdl")


def _concise(text: str, kind: str, *, lines: int = 10):
    assert text.startswith(f"<{kind} ")
    assert len(text.splitlines()) <= lines
    assert all(len(line) <= 130 for line in text.splitlines())


def test_model(sir):
    text = repr(sir)
    _concise(text, "Model")
    assert "0 to 60 Week" in text and "3: Infectious, Recovered, Susceptible" in text
    assert "People who have the disease" not in text  # no documentation dump
    html = sir._repr_html_()
    assert "<table" in html and "Duration of Illness" in html and "[2, 10]" in html


def test_model_html_escapes_model_text(tmp_path):
    import sdrev

    path = tmp_path / "m.mdl"
    path.write_text((FIXTURES / "sir_weeks.mdl").read_text().replace(
        "Week [2,10]", "<script>x</script> [2,10]"))
    html = sdrev.load(path)._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_loop_analysis_and_comparison(sir):
    from sdrev import compare, loops

    analysis = loops.analyze(sir)
    _concise(repr(analysis), "LoopAnalysis")
    assert "2 reinforcing" in repr(analysis) and "Week" in repr(analysis)
    assert "<table" in analysis._repr_html_()
    comp = compare.compare_scenarios(sir, vary={"Infectivity": [0.2, 0.3]},
                                     outputs=["Infectious"])
    _concise(repr(comp), "Comparison")
    assert "Infectivity=0.3" in repr(comp)
    assert "Outcomes" in comp._repr_html_()


def test_sensitivity_result():
    import sdrev
    import sdrev.sensitivity as sa

    model = sdrev.load(FIXTURES / "ishigami.mdl")
    spec = sa.load_spec(model, FIXTURES / "ishigami_sensitivity.toml")
    result = sa.run(model, spec, method="morris", n=8, seed=1)
    text = repr(result)
    _concise(text, "SensitivityResult")
    assert "morris, N = 8" in text and "largest index" in text
    assert "Largest mu_star indices" in result._repr_html_()
