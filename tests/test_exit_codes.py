"""Exit codes, the same for every command: 0 success, 1 findings (a check or
comparison found failures), 2 bad input (one line), 70 internal error (one
line asking for a report), 130/143 interrupted/terminated, and a closed
output pipe ends quietly."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sdrev.cli import main

SDREV = str(Path(sys.executable).parent / "sdrev")
STOCK_MODEL = """{UTF-8}
Stock = INTEG(Inflow, 1)
\t~\tWidget
\t~\tA stock.
\t|
Inflow = 0.1 * Stock
\t~\tWidget/Year
\t~\tA flow.
\t|
INITIAL TIME = 0 ~ Year ~ |
FINAL TIME = 4 ~ Year ~ |
TIME STEP = 1 ~ Year ~ |
SAVEPER = TIME STEP ~ Year ~ |
"""


def test_success_is_0(capsys):
    assert main(["list"]) == 0


def test_bad_input_is_2_with_one_line(capsys):
    assert main(["describe", "no_such_model"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sdrev: error: ") and err.count("\n") == 1


def test_internal_error_is_70_with_one_line_asking_for_a_report(monkeypatch, capsys):
    def crash(args):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr("sdrev.cli.cmd_list", crash)
    monkeypatch.delenv("SDREV_DEBUG", raising=False)
    assert main(["list"]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "internal error: RuntimeError: disk on fire second line" in err
    assert "please report" in err
    monkeypatch.setenv("SDREV_DEBUG", "1")
    with pytest.raises(RuntimeError, match="disk on fire"):
        main(["list"])


def _suite(tmp_path: Path, *, wrong: bool) -> Path:
    folder = tmp_path / "suite" / "growth"
    folder.mkdir(parents=True)
    (folder / "growth.mdl").write_text(STOCK_MODEL, encoding="utf-8")
    stock, rows = 1.0, ["Time,Stock"]
    for t in range(5):
        rows.append(f"{t},{stock * (1.5 if wrong and t > 1 else 1.0)}")
        stock *= 1.1
    (folder / "output.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return tmp_path / "suite"


@pytest.mark.parametrize("json", [False, True])
def test_conformance_exits_1_on_a_failed_model_and_0_when_all_pass(tmp_path, capsys, json):
    flag = ["--json"] if json else []
    assert main(["conformance", str(_suite(tmp_path / "a", wrong=True)),
                 "--quiet", *flag]) == 1
    assert "0 passed, 1 failed" in capsys.readouterr()[1 if json else 0]
    assert main(["conformance", str(_suite(tmp_path / "b", wrong=False)),
                 "--quiet", *flag]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr()[1 if json else 0]


@pytest.mark.parametrize("rtol", ["inf", "-inf", "nan", "-0.1", "abc", "1e400"])
def test_conformance_rejects_non_finite_or_negative_tolerance(tmp_path, capsys, rtol):
    with pytest.raises(SystemExit) as exit_:
        main(["conformance", str(tmp_path), f"--rtol={rtol}"])
    assert exit_.value.code == 2
    assert "invalid tolerance" in capsys.readouterr().err


def test_closed_output_pipe_exits_quietly():
    if shutil.which("bash") is None:
        pytest.skip("needs bash")
    # `true` exits at once, so sdrev writes into a closed pipe
    proc = subprocess.run(["bash", "-c", f"set -o pipefail; '{SDREV}' list | true"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
