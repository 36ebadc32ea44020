"""Vensim macros whose bodies hold stateful functions run natively.

Each call of a macro gets its own copy of the macro's elements and state
(SMOOTH, SMOOTHI, SMOOTH N, TREND, FORECAST, INTEG, INITIAL, SAMPLE IF
TRUE, DELAY1, DELAY3I, DELAY N, DELAY FIXED), the macro's arguments are
used in its body (an argument named like a model variable included), and
macros call macros. Results equal PySD's to 1e-9; where PySD cannot run
the macro (its macros lack TIME STEP, which its delays read), they equal
PySD's run of the same model with the macros written out by hand. A macro
the engine does not expand falls back to PySD with one note.
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


def test_macro_in_a_subscripted_equation_falls_back_with_one_note(caplog):
    model = FIXTURES / "macro_subscripted.mdl"
    with pytest.raises(UnsupportedConstructError, match="double_smooth"):
        ens.run(model, outputs=["Perceived Demand"], progress=False, workers=1,
                engine="sdrev")
    with caplog.at_level(logging.WARNING, logger="sdrev.ensemble"):
        data = ens.run(model, outputs=["Perceived Demand"], progress=False,
                       workers=1)
    assert data.attrs["engine"] == "pysd-fallback"
    notes = [r for r in caplog.records if "falling back to PySD" in r.getMessage()]
    assert len(notes) == 1 and "\n" not in notes[0].getMessage()
    # second-order smoothing of a step of 5 at time 2 towards 15 (north)
    north, south = data["perceived_demand"].values[0, -1]
    assert 10 < north < 15 and south == pytest.approx(20)
