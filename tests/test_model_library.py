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


def test_sensitivity_spec_varies_every_documented_range(model):
    """The spec's factors are the model's scalar constants with a documented
    range, over that range, loop gains and 0/1 switches aside (they are the
    loop group and scenario levers): a constant added to the model with a
    range, or a range changed in the model, is not left out of the analysis.
    (Before this test, 9 ranged constants were missing from four specs and
    three of mne_reverse_knowledge's ranges were narrower than documented.)"""
    from sdrev.sensitivity import load_spec

    spec = load_spec(model)
    given = {f.name.lower(): tuple(map(float, f.range)) for f in spec.factors}
    expected = {p.name.lower(): tuple(map(float, p.range)) for p in model.parameters
                if p.range is not None and p.range[0] < p.range[1]
                and not isinstance(p.value, Mapping)
                and not p.name.lower().endswith(("loop gain", "switch"))}
    assert given == expected, (
        f"missing {sorted(set(expected) - set(given))}, "
        f"not documented {sorted(set(given) - set(expected))}, "
        f"other range {sorted(n for n in set(given) & set(expected) if given[n] != expected[n])}")


def test_documented_loops_have_gain_parameters(model):
    polarities = [lp.polarity for lp in model.loops]
    assert polarities.count("reinforcing") >= 2 and polarities.count("balancing") >= 1
    for lp in model.loops:
        gain = model.parameter(lp.gain)
        assert gain.name.endswith("Loop Gain") and gain.value == 1.0


def test_every_scenario_runs_with_non_negative_stocks(model):
    for name in model.scenarios:
        frame = sdrev.simulate(model, scenario=name)
        stocks = frame[_stock_columns(model, frame)]
        assert np.isfinite(stocks.to_numpy()).all(), name
        assert (stocks.to_numpy() >= -1e-9).all(), name


def test_halving_time_step_changes_stocks_by_less_than_one_percent(model):
    coarse = sdrev.simulate(model, scenario="baseline")
    fine = sdrev.simulate(model, scenario="baseline", params={"TIME STEP": model.time.step / 2})
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



#: Joint samples per model in the tests below, and their seeds.
JOINT_SAMPLES, JOINT_SEED = 300, 20240917
CORNER_SAMPLES, CORNER_SEED = 256, 20261123
#: Capability-type stocks must stay below this multiple of their yardstick in
#: every joint run. The shared engine's Leadership Returns stops learning at
#: the Leadership Ceiling (at most 2 x the frontier in the specs); 3 leaves room
#: for one Euler step past it, and catches the runaway that the reinforcing
#: R&D loops produced before the bound (up to hundreds of times the frontier).
CAPABILITY_BOUND = 3.0
#: Capability-type stocks (a name pattern) and the constant that measures them.
CAPABILITY_YARDSTICKS = {"Technology Frontier": re.compile(r"Capability$"),
                         "Value Ceiling": re.compile(r"^Product Value$")}


def _joint_factors(model):
    from sdrev.sensitivity import load_spec

    spec = load_spec(model)
    ranges = {f.name: f.range for f in (*spec.factors, *spec.loop_factors)}
    return spec, ranges


def _capability_stocks(model) -> dict[str, str]:
    """Capability-type stock (Vensim name) -> the constant it is relative to."""
    constants = {p.name for p in model.parameters}
    found = {}
    for yardstick, pattern in CAPABILITY_YARDSTICKS.items():
        if yardstick in constants:
            found |= {s.name: yardstick for s in model.stocks if pattern.search(s.name)}
    return found


def _joint_failures(model, spec, ranges, samples) -> list[str]:
    """Runs ``samples`` on the ensemble engine; one line per violated property.

    Every saved stock and spec output must be finite, every stock
    non-negative, and every capability-type stock below ``CAPABILITY_BOUND``
    times its yardstick (the frontier as sampled, or its model value).
    """
    from sdrev import ensemble

    samples = samples.copy()
    for name, value in model.scenarios[spec.scenario or "baseline"].params.items():
        if name not in samples.columns:
            samples[name] = value
    stocks = [s.py_name for s in model.stocks]
    outputs = list(dict.fromkeys([*stocks, *(o.py_name for o in spec.outputs)]))
    data = ensemble.run(model, samples, outputs=outputs, progress=False, workers=1)
    values = {name: data[name].transpose("run", ...).to_numpy().reshape(len(samples), -1)
              for name in outputs}
    # the factors within 5% of a range end, to name the likely culprits
    span = {k: hi - lo for k, (lo, hi) in ranges.items()}

    def ends(run: int) -> str:
        row = samples.iloc[run]
        return ", ".join([f"{k}={v:g}" for k, v in row.items() if k in ranges
                          and min(v - ranges[k][0], ranges[k][1] - v) <= 0.05 * span[k]][:8])

    failures = []
    for name in outputs:
        bad = ~np.isfinite(values[name]).all(axis=1)
        if name in stocks:
            bad |= (values[name] < -1e-9).any(axis=1)
        if bad.any():
            run = int(np.argmax(bad))
            failures.append(f"{name} non-finite or negative in {int(bad.sum())} of "
                            f"{len(samples)} runs, e.g. run {run} ({ends(run)})")
    params = {p.name: p.value for p in model.parameters}
    py = {s.name: s.py_name for s in model.stocks}
    for stock, yardstick in _capability_stocks(model).items():
        scale = (samples[yardstick].to_numpy(dtype=float) if yardstick in samples.columns
                 else np.full(len(samples), float(params[yardstick])))
        with np.errstate(invalid="ignore"):
            peak = np.nanmax(np.where(np.isfinite(values[py[stock]]), values[py[stock]], np.inf),
                             axis=1) / scale
        bad = ~(peak < CAPABILITY_BOUND)
        if bad.any():
            run = int(np.argmax(np.where(bad, peak, -np.inf)))
            failures.append(f"{stock} above {CAPABILITY_BOUND:g} x {yardstick} in "
                            f"{int(bad.sum())} of {len(samples)} runs, up to {peak[run]:.3g} "
                            f"in run {run} ({ends(run)})")
    return failures


def test_every_model_has_a_capability_type_stock_with_its_yardstick(model):
    """So the bound checked below is never checked on nothing."""
    assert _capability_stocks(model), model.name


def test_joint_extremes_of_the_sensitivity_ranges_stay_finite_and_non_negative(model):
    """A Latin hypercube over every factor of the model's sensitivity spec at once.

    Parameters and loop gains vary together over their full spec ranges, as a
    Sobol or LHS analysis samples them, so combinations that no one-at-a-time
    test reaches (several reinforcing loops at gain 2 with the balancing ones
    near 0, every multiplier of one flow near its top) are covered. Every
    saved stock and spec output must be finite, every stock non-negative and
    every capability-type stock below ``CAPABILITY_BOUND`` times the frontier.
    """
    from sdrev import ensemble

    spec, ranges = _joint_factors(model)
    samples = ensemble.sample_lhs(ranges, JOINT_SAMPLES, seed=JOINT_SEED)
    failures = _joint_failures(model, spec, ranges, samples)
    assert not failures, "; ".join(failures)


def test_corners_of_the_sensitivity_ranges_stay_finite_non_negative_and_bounded(model):
    """Random corners of the spec's hypercube: every factor at one end of its range.

    A Latin hypercube rarely puts many factors at their ends at once; the
    corners are where stiff flows overshoot in one time step and reinforcing
    loops run away (before the leadership bound and the fixes of issue 5, 2
    of these 256 corners overflowed in crrc_standards, 4 in
    ets_reverse_innovation and 15 in mne_reverse_knowledge, and capability
    reached 2,280 times the frontier in machine_tool_io). The all-low and
    all-high corners are always included; the others are drawn with a fixed
    seed.
    """
    spec, ranges = _joint_factors(model)
    rng = np.random.default_rng(CORNER_SEED)
    bits = rng.integers(0, 2, size=(CORNER_SAMPLES, len(ranges)))
    bits[0], bits[1] = 0, 1
    lo = np.array([r[0] for r in ranges.values()], dtype=float)
    hi = np.array([r[1] for r in ranges.values()], dtype=float)
    samples = pd.DataFrame(np.where(bits == 1, hi, lo), columns=list(ranges))
    failures = _joint_failures(model, spec, ranges, samples)
    assert not failures, "; ".join(failures)
