"""`sdrev conformance` on a folder made here (no shared suite needed): the
closing line counts passes and failures, and any failure exits 1."""

from __future__ import annotations

import shutil
from pathlib import Path

import sdrev
from sdrev.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "calibration" / "growth.mdl"


def _case(folder: Path, *, shift: float = 0.0) -> None:
    folder.mkdir()
    shutil.copy(FIXTURE, folder / "growth.mdl")
    frame = sdrev.simulate(sdrev.load(folder / "growth.mdl"))
    canonical = frame[["adopters"]].rename(columns={"adopters": "Adopters"})
    canonical["Adopters"] += shift  # a wrong "Vensim output" when shifted
    canonical.index.name = "Time"
    canonical.to_csv(folder / "output.csv")


def test_summary_line_counts_and_a_failure_exits_1(tmp_path, capsys):
    _case(tmp_path / "right")
    _case(tmp_path / "wrong", shift=5.0)
    assert main(["conformance", str(tmp_path), "--quiet"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "1 passed, 1 failed"
    assert any(line.startswith("FAILED wrong/growth.mdl") for line in lines)
    shutil.rmtree(tmp_path / "wrong")
    assert main(["conformance", str(tmp_path), "--quiet"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "1 passed, 0 failed"
