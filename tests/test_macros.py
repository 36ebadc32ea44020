"""Vensim macros whose bodies hold stateful functions run natively.

Each call of a macro gets its own copy of the macro's elements and state
(SMOOTH, SMOOTHI, SMOOTH N, TREND, FORECAST, INTEG, INITIAL, SAMPLE IF
TRUE, DELAY1, DELAY3I, DELAY N, DELAY FIXED), the macro's arguments are
used in its body (an argument named like a model variable included),
macros call macros, and a call in a subscripted equation gets a copy
subscripted as the equation. Results equal PySD's to 1e-9; where PySD cannot run
the macro (its macros lack TIME STEP, which its delays read; calls in
single-element equations), they equal the same model with the macros
written out by hand. A macro the engine cannot compile falls back to PySD
with one note.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import sdrev.ensemble as ens
from sdrev.ensemble import UnsupportedConstructError

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SDREV_CACHE_DIR", str(tmp_path / "cache"))


def _both(model, outputs, reference=None):
    ours = ens.run(model, outputs=outputs, progress=False, workers=1,
                   engine="sdrev", jit=False)
    theirs = ens.run(reference or model, outputs=outputs, progress=False,
                     workers=1, engine="pysd")
    return ours, theirs


def test_stateful_macros_equal_pysd():
    outputs = ["Adapted", "Adapted Twice", "Remembered", "Nested", "Stock"]
    ours, theirs = _both(FIXTURES / "macro_stateful.mdl", outputs)
    assert ours.attrs["engine"] == "sdrev"
    for name in ours.data_vars:
        np.testing.assert_allclose(ours[name].values, theirs[name].values,
                                   rtol=1e-9, atol=1e-12, err_msg=name)
    # the two calls in one equation keep their own state: a shared state
    # would make this differ from the sum of two separate smoothings
    assert np.ptp(ours["adapted_twice"].values) > 1


def test_delays_inside_macros_equal_the_macros_written_out():
    outputs = ["Lagged", "Lagged Again"]
    ours, theirs = _both(FIXTURES / "macro_delays.mdl", outputs,
                         reference=FIXTURES / "macro_delays_inline.mdl")
    assert ours.attrs["engine"] == "sdrev"
    for name in ours.data_vars:
        np.testing.assert_allclose(ours[name].values, theirs[name].values,
                                   rtol=1e-9, atol=1e-12, err_msg=name)


def test_macro_in_a_subscripted_equation_equals_pysd():
    ours, theirs = _both(FIXTURES / "macro_subscripted.mdl", ["Perceived Demand"])
    assert ours.attrs["engine"] == "sdrev"
    np.testing.assert_allclose(ours["perceived_demand"].values,
                               theirs["perceived_demand"].values,
                               rtol=1e-9, atol=1e-12)
    # one state per element: north smooths a rise, south a fall
    north, south = ours["perceived_demand"].values[0, -1]
    assert 10 < north < 15 and 16 < south < 20


def test_macro_in_element_equations_equals_the_macro_written_out():
    """One call per element equation (PySD runs neither form)."""
    outputs = ["Perceived Demand", "Supply"]
    ours = ens.run(FIXTURES / "macro_elements.mdl", outputs=outputs,
                   progress=False, workers=1, engine="sdrev")
    inline = ens.run(FIXTURES / "macro_elements_inline.mdl", outputs=outputs,
                     progress=False, workers=1, engine="sdrev")
    for name in outputs:
        key = name.lower().replace(" ", "_")
        np.testing.assert_array_equal(ours[key].values, inline[key].values)
    assert np.ptp(ours["supply"].values[0, :, 0]) > 1


NESTED = """{UTF-8}
Demand = 10 + STEP(5, 2) ~ ~|
Perceived = SMOOTH(SMOOTH(Demand, 2), 3) + SMOOTH(Demand, 2) ~ ~|
INITIAL TIME = 0 ~ ~|
FINAL TIME = 10 ~ ~|
TIME STEP = 0.25 ~ ~|
SAVEPER = TIME STEP ~ ~|
"""


def test_nested_smooth_equals_pysd(tmp_path):
    model = tmp_path / "nested.mdl"
    model.write_text(NESTED)
    ours, theirs = _both(model, ["Perceived"])
    np.testing.assert_allclose(ours["perceived"].values,
                               theirs["perceived"].values, rtol=1e-9)


def test_macro_the_engine_cannot_compile_falls_back_with_one_note(caplog):
    model = FIXTURES / "macro_unsupported.mdl"
    with pytest.raises(UnsupportedConstructError, match="GET_TIME_VALUE"):
        ens.run(model, outputs=["Clocked"], progress=False, workers=1,
                engine="sdrev")
    with caplog.at_level(logging.WARNING, logger="sdrev.ensemble"):
        data = ens.run(model, outputs=["Clocked"], progress=False, workers=1)
    assert data.attrs["engine"] == "pysd-fallback"
    notes = [r for r in caplog.records if "falling back to PySD" in r.getMessage()]
    assert len(notes) == 1 and "\n" not in notes[0].getMessage()
    # the input smoothed towards 15 over 2 months, plus the time (10)
    assert 24 < data["clocked"].values[0, -1] < 25
