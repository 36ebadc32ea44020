"""Conformance with Vensim's canonical output (SDXorg test-models).

Skipped when ``../shared/test-models/tests`` is absent (a user's machine).
CI checks a fixed set of scalar test models covering the builtins the
engine vectorises: each must run natively (no PySD fallback) and match
Vensim's canonical output to a relative 1e-3. The full suite, compared with
PySD's own count at 0.05 and 1e-3, is slow (every model is parsed by PySD)
and runs with ``SDREV_CONFORMANCE_FULL=1``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sdrev.ensemble import conformance

SUITE = Path(__file__).resolve().parents[2] / "shared" / "test-models" / "tests"
if not SUITE.is_dir():
    SUITE = Path("/work/shared/test-models/tests")

pytestmark = pytest.mark.skipif(not SUITE.is_dir(),
                                reason="conformance suite (../shared) absent")

# test_exp is left out: at t=50 Vensim writes -3e-6 where the exact value is 0.
NATIVE = ["abs", "builtin_max", "builtin_min", "if_stmt",
          "initial_function", "ln", "logicals", "lookups", "smooth_and_stock",
          "trend", "delay_parentheses",
          # subscripts: ranges, subranges, mapping, SUM/PROD/VMIN/VMAX, :EXCEPT:,
          # subscripts as numbers, subscripted stocks and delays
          "subscript_aggregation", "subscript_mapping_vensim", "except",
          "subscript_logicals", "subscripted_delays", "subrange_merge",
          "subscript_individually_defined_stocks"]


@pytest.mark.parametrize("name", NATIVE)
def test_native_engine_matches_vensim(name):
    folder = SUITE / name
    if not folder.is_dir():
        pytest.skip(f"{name} not in this copy of the suite")
    (mdl,) = sorted(folder.glob("*.mdl"))
    result = conformance.check_model(mdl, rtol=1e-3, engine="sdrev")
    assert result.engine == "sdrev", result.reason
    assert result.passed, result


def test_summary_line():
    results = [conformance.ModelResult("a", True, "sdrev", 0.0, "", ""),
               conformance.ModelResult("b", False, "error", float("inf"), "", "x")]
    assert conformance.summary(results) == "1 passed, 1 failed"
    assert results[1].as_dict()["worst_rel_error"] is None


@pytest.mark.skipif(os.environ.get("SDREV_CONFORMANCE_FULL") != "1",
                    reason="full suite: set SDREV_CONFORMANCE_FULL=1")
def test_full_suite_passes_at_least_as_many_as_pysd():
    ours = conformance.check_folder(SUITE, rtol=0.05, engine="auto")
    pysd = conformance.check_folder(SUITE, rtol=0.05, engine="pysd")
    assert sum(r.passed for r in ours) >= sum(r.passed for r in pysd)
