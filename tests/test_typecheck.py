"""The typed part of the package passes mypy (configured in pyproject.toml: the public
API, the layers below it and the ensemble's code generation)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run_mypy(*args: str) -> subprocess.CompletedProcess:
    # the cache lives outside the work tree, kept between runs on this machine
    cache = Path(tempfile.gettempdir()) / f"sdrev-mypy-cache-{os.getuid()}"
    return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_mypy_finds_nothing():
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (it comes with the test extra)")
    start = time.perf_counter()
    done = _run_mypy()
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout
    assert elapsed < 120, f"mypy took {elapsed:.0f} s"


def test_mypy_reports_a_type_error(tmp_path):
    """The configuration is live: a wrong type in a checked file is found."""
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (it comes with the test extra)")
    bad = tmp_path / "bad.py"
    bad.write_text("from sdrev.naming import parse_number\n\n"
                   "x: str = parse_number('1', 'x')\n", encoding="utf-8")
    done = _run_mypy("--config-file", str(ROOT / "pyproject.toml"), str(bad))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "bad.py:3: error: Incompatible types in assignment" in done.stdout
