"""Checks every model of the library must pass: documentation, numerics, bounds.

Parametrised over the ``.mdl`` files in ``models/``, so a new model is
checked as soon as it is added.
"""

from __future__ import annotations

import re

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

import sdrev
from sdrev.library import library_dir

MODEL_NAMES = sorted(p.stem for p in library_dir().glob("*.mdl"))
#: A cited author-year, e.g. "Xu & Xu (2015)", "Cohen & Levinthal 1990" or "Zhou et al. (n.d.)".
CITATION = re.compile(r"[A-Z][\w-]+.{0,40}?(?:\b(?:19|20)\d\d[a-z]?\b|\(n\.d\.\))")


@pytest.fixture(scope="module", params=MODEL_NAMES)
def model(request):
    return sdrev.load(request.param)


def _flat(value):
    if isinstance(value, Mapping):
        for inner in value.values():
            yield from _flat(inner)
    else:
        yield value


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
        values = list(_flat(p.value))
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
    """Each constant at each end of its range, one at a time, on the ensemble engine.

    The engine equals PySD to 1e-9 (tests/test_ensemble.py), and runs all
    the extremes in one vectorised pass.
    """
    from sdrev import ensemble

    base = {p.name: p.value for p in model.parameters if not isinstance(p.value, Mapping)}
    base.update(model.scenarios["baseline"].params)
    # Scalar constants vary together in one pass; a subscripted constant
    # (all its elements set to an extreme) gets a pass of its own.
    batches: dict[str, list] = {}
    for p in model.parameters:
        key = p.name if isinstance(p.value, Mapping) else ""
        batches.setdefault(key, []).extend(
            (f"{p.name}={v:g}", {**base, p.name: v}) for v in p.range)
    failures = []
    for batch in batches.values():
        labels = [label for label, _ in batch]
        data = ensemble.run(model, pd.DataFrame([row for _, row in batch]),
                            outputs=[s.name for s in model.stocks], progress=False)
        for name in data.data_vars:
            values = data[name].transpose("run", ...).to_numpy().reshape(len(batch), -1)
            bad = ~np.isfinite(values).all(axis=1) | (values < -1e-9).any(axis=1)
            failures += [f"{name} at {label}" for label, b in zip(labels, bad) if b]
    assert not failures, f"negative or non-finite stocks: {failures}"
