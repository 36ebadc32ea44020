"""Conformance with Vensim's canonical output (SDXorg test-models).

Skipped when ``../shared/test-models/tests`` is absent (a user's machine).
A fixed set of test models covering the builtins the engine vectorises must
run natively (no PySD fallback) and match Vensim's canonical output to a
relative 1e-3. The whole suite must pass at least as many models as PySD
alone at a relative 0.05 (about 50 s; ``SDREV_CONFORMANCE_FULL=0`` skips it).
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


@pytest.mark.skipif(os.environ.get("SDREV_CONFORMANCE_FULL") == "0",
                    reason="full suite skipped (SDREV_CONFORMANCE_FULL=0)")
def test_full_suite_passes_at_least_as_many_as_pysd():
    ours = conformance.check_folder(SUITE, rtol=0.05, engine="auto")
    pysd = conformance.check_folder(SUITE, rtol=0.05, engine="pysd")
    assert sum(r.passed for r in ours) >= sum(r.passed for r in pysd)


def test_cli_json_is_parseable_and_the_summary_ends_the_output(tmp_path, capsys):
    import json
    import shutil

    from sdrev.cli import main

    for name in ("abs", "builtin_max"):
        shutil.copytree(SUITE / name, tmp_path / name)
    assert main(["conformance", str(tmp_path), "--json", "--quiet"]) == 0
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert sorted(r["model"] for r in rows) == ["abs/test_abs.mdl",
                                                "builtin_max/builtin_max.mdl"]
    assert all(r["passed"] and r["engine"] == "sdrev" for r in rows)
    assert err.strip().splitlines()[-1] == "2 passed, 0 failed"
    assert main(["conformance", str(tmp_path), "--quiet"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "2 passed, 0 failed"
