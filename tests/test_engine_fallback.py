"""Any failure of the vectorised engine, at compile or at run time, falls
back to PySD with a one-line note, never a crash; bad input still fails."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdrev.errors import UnknownNameError

FIXTURES = Path(__file__).parent / "fixtures"
MODEL = FIXTURES / "sir_weeks.mdl"
SAMPLES = pd.DataFrame({"Infectivity": [0.2, 0.3]})


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SDREV_CACHE_DIR", str(tmp_path / "cache"))


def _reference():
    import sdrev.ensemble as ens

    return ens.run(MODEL, SAMPLES, outputs=["Infectious"], progress=False, workers=1)


def test_compile_failure_falls_back_with_one_note(monkeypatch, caplog):
    import sdrev.ensemble as ens
    from sdrev.ensemble import api

    expected = _reference()
    assert expected.attrs["engine"] == "sdrev"

    def broken(*args, **kwargs):
        raise NameError("name 's3' is not defined")

    monkeypatch.setattr(api, "compile_model", broken)
    with caplog.at_level(logging.WARNING, logger="sdrev.ensemble"):
        data = ens.run(MODEL, SAMPLES, outputs=["Infectious"], progress=False, workers=1)
    assert data.attrs["engine"] == "pysd-fallback"
    assert "NameError: name 's3' is not defined" in data.attrs["fallback_reason"]
    notes = [r for r in caplog.records if "falling back to PySD" in r.getMessage()]
    assert len(notes) == 1 and "\n" not in notes[0].getMessage()
    np.testing.assert_allclose(data["infectious"].values, expected["infectious"].values,
                               rtol=1e-9)
    with pytest.raises(NameError):  # the engine alone still says what broke
        ens.run(MODEL, SAMPLES, outputs=["Infectious"], progress=False, workers=1,
                engine="sdrev")


def test_runtime_failure_falls_back(monkeypatch):
    import sdrev.ensemble as ens
    from sdrev.ensemble import execute

    expected = _reference()

    def broken(*args, **kwargs):
        raise FloatingPointError("overflow in the generated step")

    monkeypatch.setattr(execute, "build_simulator", broken)
    monkeypatch.setattr(execute, "_SIMULATORS", {})
    data = ens.run(MODEL, SAMPLES, outputs=["Infectious"], progress=False, workers=1,
                   jit=False)
    assert data.attrs["engine"] == "pysd-fallback"
    assert "FloatingPointError" in data.attrs["fallback_reason"]
    np.testing.assert_allclose(data["infectious"].values, expected["infectious"].values,
                               rtol=1e-9)


def test_bad_input_is_not_hidden_by_the_fallback():
    import sdrev.ensemble as ens

    with pytest.raises(UnknownNameError, match="Nosuch"):
        ens.run(MODEL, SAMPLES, outputs=["Nosuch"], progress=False, workers=1)


DATA_MODEL = """{UTF-8}
Level = INTEG(Gain * Input, 0)
\t~\tunit\t~\t|
Gain = 1
\t~\tDmnl [0.5,2]\t~\t|
Input:INTERPOLATE:
\t~\tunit/Month\t~\tdata filled from a run's data file\t|
FINAL TIME = 4
\t~\tMonth\t~\t|
INITIAL TIME = 0
\t~\tMonth\t~\t|
SAVEPER = 1
\t~\tMonth\t~\t|
TIME STEP = 1
\t~\tMonth\t~\t|
"""


@pytest.mark.parametrize("command", ["simulate", "ensemble"])
def test_data_variable_without_equation_is_one_line_not_a_fallback(tmp_path, command):
    """Neither engine can run a Vensim data variable whose values come from a
    data file named at run time: one line naming the variable and what to
    do, exit 2, instead of the engine's fallback note and PySD's message about
    interpolating data before loading it."""
    import subprocess
    import sys

    path = tmp_path / "datamodel.mdl"
    path.write_text(DATA_MODEL)
    args = [sys.executable, "-m", "sdrev", command, str(path), "--out", str(tmp_path / "out")]
    if command == "ensemble":
        args += ["--samples", str(tmp_path / "s.csv"), "--outputs", "Level"]
        (tmp_path / "s.csv").write_text("Gain\n1\n2\n")
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'Input'" in lines[0] and "without an equation" in lines[0], \
        done.stderr
    assert "Traceback" not in done.stderr and "running it with PySD" not in done.stderr
