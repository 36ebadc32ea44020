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



#: Joint samples per model in the test below, and their seed.
JOINT_SAMPLES, JOINT_SEED = 300, 20240917


def test_joint_extremes_of_the_sensitivity_ranges_stay_finite_and_non_negative(model):
    """A Latin hypercube over every factor of the model's sensitivity spec at once.

    Parameters and loop gains vary together over their full spec ranges, as a
    Sobol or LHS analysis samples them, so combinations that no one-at-a-time
    test reaches (several reinforcing loops at gain 2 with the balancing ones
    near 0, every multiplier of one flow near its top) are covered. Every
    saved stock and spec output must be finite and every stock non-negative.
    """
    from sdrev import ensemble
    from sdrev.sensitivity import load_spec

    spec = load_spec(model)
    ranges = {f.name: f.range for f in (*spec.factors, *spec.loop_factors)}
    samples = ensemble.sample_lhs(ranges, JOINT_SAMPLES, seed=JOINT_SEED)
    for name, value in model.scenarios[spec.scenario or "baseline"].params.items():
        if name not in samples.columns:
            samples[name] = value
    stocks = [s.py_name for s in model.stocks]
    outputs = list(dict.fromkeys([*stocks, *(o.py_name for o in spec.outputs)]))
    data = ensemble.run(model, samples, outputs=outputs, progress=False, workers=1)
    # the factors within 5% of a range end, to name the likely culprits
    span = {k: hi - lo for k, (lo, hi) in ranges.items()}
    failures = []
    for name in outputs:
        values = data[name].transpose("run", ...).to_numpy().reshape(len(samples), -1)
        bad = ~np.isfinite(values).all(axis=1)
        if name in stocks:
            bad |= (values < -1e-9).any(axis=1)
        if bad.any():
            run = int(np.argmax(bad))
            ends = [f"{k}={v:g}" for k, v in samples.iloc[run].items() if k in ranges
                    and min(v - ranges[k][0], ranges[k][1] - v) < 0.05 * span[k]]
            failures.append(f"{name} non-finite or negative in {int(bad.sum())} of "
                            f"{len(samples)} runs, e.g. run {run} ({', '.join(ends[:8])})")
    assert not failures, "; ".join(failures)
