"""Checks every model of the library must pass: documentation, numerics, bounds.

Parametrised over the ``.mdl`` files in ``models/``, so a new model is
checked as soon as it is added.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import sdrev
from sdrev.library import library_dir

MODEL_NAMES = sorted(p.stem for p in library_dir().glob("*.mdl"))
#: A cited author-year, e.g. "Xu & Xu (2015)", "Cohen & Levinthal 1990" or "Zhou et al. (n.d.)".
CITATION = re.compile(r"[A-Z][\w-]+.{0,40}?(?:\b(?:19|20)\d\d[a-z]?\b|\(n\.d\.\))")


@pytest.fixture(scope="module", params=MODEL_NAMES)
def model(request):
    return sdrev.load(request.param)


def _stock_columns(model, frame):
    names = [s.py_name for s in model.stocks]
    return [c for c in frame.columns if c.split("[")[0] in names]


def test_metadata_is_complete(model):
    assert model.title and model.description and model.question and model.source
    assert model.key_outputs
    assert "baseline" in model.scenarios
    assert all(s.description for s in model.scenarios.values())
    assert model.assumptions and model.omissions


def test_every_variable_has_units_and_documentation(model):
    undocumented = [v.name for v in (*model.variables, *model.parameters)
                    if not v.units or len(v.doc) < 15]
    assert not undocumented, f"missing units or comment: {undocumented}"


def test_every_equation_cites_its_paper(model):
    uncited = [v.name for v in model.variables if not CITATION.search(v.doc)]
    assert not uncited, f"comments citing no paper (author and year): {uncited}"


def test_every_constant_has_a_plausible_range_containing_its_value(model):
    for p in model.parameters:
        assert p.range is not None, f"{p.name} has no [lo, hi] range"
        lo, hi = p.range
        values = p.value.values() if isinstance(p.value, dict) else [p.value]
        assert lo <= hi and all(lo <= v <= hi for v in values), p.name


def test_documented_loops_have_gain_parameters(model):
    polarities = [lp.polarity for lp in model.loops]
    assert polarities.count("reinforcing") >= 2 and polarities.count("balancing") >= 1
    for lp in model.loops:
        gain = model.parameter(lp.gain)
        assert gain.name.endswith("Loop Gain") and gain.value == 1.0


def test_every_scenario_runs_with_non_negative_stocks(model):
    for name in model.scenarios:
        frame = model.simulate(scenario=name)
        stocks = frame[_stock_columns(model, frame)]
        assert np.isfinite(stocks.to_numpy()).all(), name
        assert (stocks.to_numpy() >= -1e-9).all(), name


def test_halving_time_step_changes_stocks_by_less_than_one_percent(model):
    coarse = model.simulate(scenario="baseline")
    fine = model.simulate(scenario="baseline", params={"TIME STEP": model.time.step / 2})
    for column in _stock_columns(model, coarse):
        scale = max(np.abs(fine[column]).max(), 1e-12)
        error = np.abs(coarse[column] - fine[column]).max() / scale
        assert error < 0.01, f"{column}: {error:.2%}"


def test_no_stock_goes_negative_at_range_extremes(model):
    failures = []
    for p in model.parameters:
        for value in p.range:
            frame = model.simulate(scenario="baseline", params={p.name: value})
            stocks = frame[_stock_columns(model, frame)].to_numpy()
            if not np.isfinite(stocks).all() or (stocks < -1e-9).any():
                failures.append(f"{p.name}={value:g}")
    assert not failures, f"negative or non-finite stocks at {failures}"
