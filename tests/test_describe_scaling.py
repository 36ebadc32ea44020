"""``sdrev describe`` is linear in the model's size (issue 13: a 20,000-constant
model took minutes). The two steps of PySD's that grew faster than the model
(Black formatting the generated module, ``Macro._count_calls`` scanning every
dependency for each element) are replaced by :mod:`sdrev.pysdlinear`; these
tests time describe on generated models of growing size and check that the
replacement counts what PySD counts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sdrev.cli import main


def generated_model(constants: int) -> str:
    """A valid Vensim model with ``constants`` documented constants, summed
    in groups of 100 into the growth rate of one stock."""
    parts = ["{UTF-8}\n"]
    for i in range(constants):
        parts.append(f"Constant {i} = {0.001 * (i % 7 + 1):g}\n\t~\t1/Year [0,1]\n"
                     f"\t~\tGenerated constant number {i}.\n\t|\n")
    groups = range(0, constants, 100)
    for k in groups:
        names = " + ".join(f"Constant {i}" for i in range(k, min(constants, k + 100)))
        parts.append(f"Sum {k // 100} = {names}\n\t~\t1/Year\n\t~\tPartial sum.\n\t|\n")
    total = " + ".join(f"Sum {k // 100}" for k in groups)
    parts.append(f"Growth = ({total}) * Stock\n\t~\tWidget/Year\n\t~\tGrowth.\n\t|\n"
                 "Stock = INTEG(Growth, 1)\n\t~\tWidget\n\t~\tA stock.\n\t|\n"
                 "INITIAL TIME = 0 ~ Year ~ |\nFINAL TIME = 4 ~ Year ~ |\n"
                 "TIME STEP = 1 ~ Year ~ |\nSAVEPER = TIME STEP ~ Year ~ |\n")
    return "".join(parts)


def _describe_seconds(tmp_path: Path, constants: int, capsys) -> float:
    model = tmp_path / f"gen{constants}.mdl"
    model.write_text(generated_model(constants), encoding="utf-8")
    start = time.perf_counter()
    assert main(["describe", str(model)]) == 0
    seconds = time.perf_counter() - start
    out = capsys.readouterr().out
    assert f"Constant {constants - 1}" in out
    return seconds


@pytest.mark.slow
def test_describe_is_linear_in_model_size(tmp_path, monkeypatch, capsys):
    """Ten times the constants take at most about ten times as long (beyond
    the fixed cost of a 20-constant model), from an empty cache: parse,
    build, load, describe. PySD's Black formatting and call counting made
    the 5,000-constant model take over 30 times as long as the 500 one."""
    monkeypatch.setenv("SDREV_CACHE_DIR", str(tmp_path / "cache"))
    _describe_seconds(tmp_path, 21, capsys)  # PySD imported, caches laid out
    fixed = _describe_seconds(tmp_path, 20, capsys)
    small = _describe_seconds(tmp_path, 500, capsys) - fixed
    large = _describe_seconds(tmp_path, 5000, capsys) - fixed
    print(f"describe: fixed {fixed:.2f} s, 500 constants +{small:.2f} s, "
          f"5000 constants +{large:.2f} s")
    assert large / max(small, 0.1) < 20, (
        f"beyond {fixed:.1f} s fixed: 500 constants {small:.1f} s, 5000 constants {large:.1f} s")


BOTH_PHASES = """{UTF-8}
Stock = INTEG(Rate * 2, Rate * 10)
\t~\tWidget
\t~\tA stock whose rate and initial value both call Rate.
\t|
Rate = 0.5
\t~\tWidget/Year
\t~\tA constant.
\t|
Other = SMOOTH(Rate, 2)
\t~\tWidget/Year
\t~\tA smoothed copy.
\t|
INITIAL TIME = 0 ~ Year ~ |
FINAL TIME = 4 ~ Year ~ |
TIME STEP = 1 ~ Year ~ |
SAVEPER = TIME STEP ~ Year ~ |
"""


def test_the_call_index_counts_what_pysd_counts(tmp_path):
    from sdrev import pysdlinear, translate

    both = tmp_path / "both.mdl"  # an element called in a stock's step and its initial value
    both.write_text(BOTH_PHASES, encoding="utf-8")
    external = tmp_path / "external.mdl"  # PySD marks external data in its dependencies
    (tmp_path / "rate.csv").write_text("rate,0.25\n", encoding="utf-8")
    external.write_text(BOTH_PHASES.replace(
        "Rate = 0.5", "Rate = GET DIRECT CONSTANTS('rate.csv', ',', 'B1')"), encoding="utf-8")
    for path in (both, external, Path(__file__).parent / "fixtures" / "sir.mdl",
                 Path(__file__).parent / "fixtures" / "sir_weeks.mdl",
                 Path(__file__).parents[1] / "models" / "crrc_standards.mdl"):
        model = translate.load_pysd(translate.translate(path))
        counts = pysdlinear.call_counts(model._dependencies)
        assert getattr(model, "sdrev_call_counts", None) is None  # PySD's own count below
        names = set(model._dependencies) | set(counts)
        assert any((counts.get(n) or 0) > 1 for n in names)
        for name in names:
            if counts.get(name, 0) is not None:  # None: left to PySD's own count
                assert counts.get(name, 0) == model._count_calls(name), name


def test_generated_module_is_not_formatted_with_black(tmp_path, monkeypatch):
    """Black's formatting grows faster than the module; it is never called."""
    import black

    def refuse(*args, **kwargs):
        raise AssertionError("black.format_file_contents called")

    monkeypatch.setattr(black, "format_file_contents", refuse)
    monkeypatch.setenv("SDREV_CACHE_DIR", str(tmp_path / "cache"))
    model = tmp_path / "gen.mdl"
    model.write_text(generated_model(5), encoding="utf-8")
    assert main(["describe", str(model)]) == 0


def test_loading_a_model_counts_calls_from_the_index_and_pauses_the_collector(
        tmp_path, monkeypatch):
    """PySD's scanning count is not called while the cache types are assigned
    (the index answers), and the collector is off while PySD builds and loads."""
    import gc

    from pysd.builders.python.python_model_builder import ModelBuilder
    from pysd.py_backend.model import Macro

    from sdrev import translate

    # PySD loaded through sdrev, with sdrev's changes
    translate.load_pysd(translate.translate(Path(__file__).parent / "fixtures" / "sir.mdl"))
    scans, collector = [], []
    monkeypatch.setattr(Macro, "sdrev_scanning_count",
                        lambda self, element: scans.append(element) or 0)
    build = ModelBuilder.build_model

    def spy(self, *args, **kwargs):
        collector.append(gc.isenabled())
        return build(self, *args, **kwargs)

    monkeypatch.setattr(ModelBuilder, "build_model", spy)
    monkeypatch.setenv("SDREV_CACHE_DIR", str(tmp_path / "cache"))
    model = tmp_path / "gen.mdl"
    model.write_text(generated_model(30), encoding="utf-8")
    assert main(["describe", str(model)]) == 0
    assert scans == [] and collector == [False]
    assert gc.isenabled()
