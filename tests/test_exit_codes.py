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
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


# -- bad input that used to end as an internal error or as wrong numbers -----

SAMPLES = {
    "header_only": "Rate\n",
    "nan": "Rate\nnan\n0.5\n",
    "empty_cell": "Rate,Cap\n,10\n0.5,10\n",
    "inf": "Rate\ninf\n0.5\n",
    "minus_inf": "Rate\n0.5\n-inf\n",
    "overflowing": "Rate\n1e400\n0.5\n",
    "final_before_initial": "FINAL TIME\n-5\n",
    "final_at_initial": "FINAL TIME\n0\n",
    "zero_time_step": "TIME STEP\n0\n",
    "negative_saveper": "SAVEPER\n-1\n",
    "time_step_beyond_horizon": "TIME STEP,FINAL TIME\n8,4\n",
    "time_step_not_a_number": "TIME STEP\nabc\n0.5\n",
    "final_time_overflowing": "FINAL TIME,Rate\n1e400,0.3\n",
}


@pytest.mark.parametrize("case", list(SAMPLES))
def test_ensemble_refuses_samples_without_meaningful_runs(tmp_path, capsys, widgets_path, case):
    samples = tmp_path / "samples.csv"
    samples.write_text(SAMPLES[case], encoding="utf-8")
    out = tmp_path / "out"
    assert main(["ensemble", str(widgets_path), "--samples", str(samples),
                 "--outputs", "Stock A", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sdrev: error: ") and err.count("\n") == 1, err
    assert not out.exists()


@pytest.mark.parametrize("args", [["--seed", "-1"], ["--seed", "4294967296"],
                                  ["--seed", "x"]])
def test_bad_seed_is_refused(widgets_path, capsys, args):
    with pytest.raises(SystemExit) as exit_:
        main(["ensemble", str(widgets_path), "--sample", "lhs:4", "--outputs", "Stock A",
              *args])
    assert exit_.value.code == 2 and "invalid seed" in capsys.readouterr().err


def test_binary_ranges_file_is_bad_input(tmp_path, capsys, widgets_path):
    spec = tmp_path / "spec.toml"
    spec.write_bytes(bytes(range(256)) * 4)
    assert main(["ensemble", str(widgets_path), "--sample", "lhs:4", "--ranges", str(spec),
                 "--outputs", "Stock A", "--quiet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "spec 'spec.toml' is binary (a NUL byte at byte 0)" in err and err.count("\n") == 1


@pytest.mark.parametrize("out", [".", ""])
def test_out_must_name_a_folder(tmp_path, monkeypatch, capsys, widgets_path, out):
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", str(widgets_path), "--out", out]) == 2
    assert "not a new folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe\x00"])
def test_corrupt_manifest_is_one_line(tmp_path, content):
    from sdrev import runs
    from sdrev.errors import InvalidValueError

    (tmp_path / "manifest.json").write_bytes(content)
    with pytest.raises(InvalidValueError, match="manifest.json"):
        runs.read_manifest(tmp_path)


def test_brief_from_a_sensitivity_folder_with_a_corrupt_manifest_is_bad_input(
        tmp_path, widgets_path):
    from sdrev.errors import InvalidValueError
    from sdrev.model import load
    from sdrev.report.brief import levers_from_folder

    (tmp_path / "indices.csv").write_text("group,output,metric,factor,index,value,conf\n")
    (tmp_path / "manifest.json").write_text('{"model": "widgets", "trunc')
    with pytest.raises(InvalidValueError, match="cannot read run manifest"):
        levers_from_folder(load(widgets_path), tmp_path)


def test_unusable_cache_folder_runs_without_cache_and_says_so_once(tmp_path, widgets_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    env = {**__import__("os").environ, "SDREV_CACHE_DIR": str(blocker / "cache")}
    proc = subprocess.run([SDREV, "simulate", str(widgets_path), "--out", str(tmp_path / "run")],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("running without a cache") == 1
    assert (tmp_path / "run" / "manifest.json").exists()


def _file(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")


@pytest.mark.parametrize("breakage", ["translations_is_a_file", "programs_is_a_link",
                                      "key_is_a_folder", "root_under_a_file"])
def test_broken_cache_folders_run_without_cache(tmp_path, monkeypatch, capsys,
                                               widgets_path, breakage):
    root = tmp_path / "cache"
    if breakage == "translations_is_a_file":
        _file(root / "translations")
    elif breakage == "programs_is_a_link":
        (tmp_path / "elsewhere").mkdir()
        root.mkdir()
        (root / "programs").symlink_to(tmp_path / "elsewhere")
    elif breakage == "key_is_a_folder":
        (root / "hmac.key").mkdir(parents=True)
    else:
        _file(tmp_path / "file")
        root = tmp_path / "file" / "cache"
    monkeypatch.setenv("SDREV_CACHE_DIR", str(root))
    assert main(["describe", str(widgets_path)]) == 0
    assert main(["describe", str(widgets_path)]) == 0
    assert capsys.readouterr().err.count("running without a cache") == 1
    if breakage == "programs_is_a_link":  # nothing written through the link
        assert not list((tmp_path / "elsewhere").iterdir())


def test_loose_cache_key_is_replaced(tmp_path, monkeypatch, capsys, widgets_path):
    import stat

    root = tmp_path / "cache"
    root.mkdir(mode=0o755)
    (root / "hmac.key").write_bytes(b"k" * 32)
    (root / "hmac.key").chmod(0o644)
    monkeypatch.setenv("SDREV_CACHE_DIR", str(root))
    assert main(["describe", str(widgets_path)]) == 0
    assert "replacing the cache key" in capsys.readouterr().err
    assert (root / "hmac.key").read_bytes() != b"k" * 32
    assert stat.S_IMODE((root / "hmac.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


# -- bounded work: estimated before running, refused in one line, --force insists

FIXTURES = Path(__file__).parent / "fixtures"
HUGE = str(10**12)


def _budget_cases(widgets: Path, tmp_path: Path) -> dict[str, list[str]]:
    samples = tmp_path / "tiny_step.csv"
    samples.write_text("TIME STEP\n1e-9\n0.5\n", encoding="utf-8")
    ishigami, growth = FIXTURES / "ishigami.mdl", FIXTURES / "calibration" / "growth.mdl"
    return {
        "ensemble_lhs": ["ensemble", str(widgets), "--sample", f"lhs:{HUGE}",
                         "--outputs", "Stock A", "--quiet"],
        "ensemble_set_time_step": ["ensemble", str(widgets), "--sample", "lhs:4", "--set",
                                   "TIME STEP=1e-9", "--outputs", "Stock A", "--quiet"],
        "ensemble_samples_time_step": ["ensemble", str(widgets), "--samples", str(samples),
                                       "--outputs", "Stock A", "--quiet"],
        "loops_lhs": ["loops", str(widgets), "--sample", f"lhs:{HUGE}", "--quiet"],
        "sensitivity_sobol": ["sensitivity", str(ishigami), "--spec",
                              str(FIXTURES / "ishigami_sensitivity.toml"), "--method", "sobol",
                              "-N", str(2**40), "--quiet"],
        "sensitivity_morris": ["sensitivity", str(ishigami), "--spec",
                               str(FIXTURES / "ishigami_sensitivity.toml"), "--method",
                               "morris", "-N", HUGE, "--quiet"],
        "discover": ["discover", str(FIXTURES / "discover" / "box5.mdl"), "-N", HUGE, "--quiet"],
        "calibrate": ["calibrate", str(growth), "--spec",
                      str(FIXTURES / "calibration" / "growth_spec.toml"), "-N", HUGE, "--quiet"],
        "report_sobol": ["report", str(widgets), "-N", str(2**40), "--no-pdf", "--no-loops",
                         "--quiet"],
        "report_sets": ["report", str(widgets), "--sets", HUGE, "--no-pdf", "--no-loops",
                        "--quiet"],
        "check_samples": ["check", str(widgets), "--only", "extremes", "--samples", HUGE],
    }


BUDGET_CASES = ("ensemble_lhs", "ensemble_set_time_step", "ensemble_samples_time_step",
                "loops_lhs", "sensitivity_sobol", "sensitivity_morris", "discover", "calibrate",
                "report_sobol", "report_sets", "check_samples")


@pytest.mark.parametrize("case", BUDGET_CASES)
def test_work_that_cannot_fit_is_refused_with_its_estimate(tmp_path, capsys, widgets_path,
                                                            case):
    """-N 10**12, lhs:10**12 or a TIME STEP of 1e-9: one line naming the
    estimate and the way out (--force), exit 2, nothing written, no MemoryError."""
    out = tmp_path / "out"
    args = _budget_cases(widgets_path, tmp_path)[case] + ["--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("sdrev: error: ") and err.count("\n") == 1, err
    assert " would take " in err and "integration steps" in err and "--force" in err, err
    assert "out of memory" not in err
    assert not out.exists()


def test_regime_map_is_refused_over_the_work_limit_and_forced(tmp_path, capsys, monkeypatch):
    from sdrev import budget

    monkeypatch.setattr(budget, "MAX_RUN_STEPS", 1000)  # 2 x 50 x 50 runs are over this
    args = ["compare", "machine_tool_io", "--regime-map", "IP Protection=0:1",
            "Inter Firm Trust=0:1", "--grid", "3x3", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "no")]) == 2
    assert "this regime map would take 18 runs x" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_force_runs_what_the_limits_refuse(tmp_path, capsys, monkeypatch, widgets_path):
    from sdrev import budget

    monkeypatch.setattr(budget, "MAX_RUN_STEPS", 100)
    args = ["ensemble", str(widgets_path), "--sample", "lhs:4", "--outputs", "Stock A",
            "--quiet", "--format", "parquet"]
    assert main([*args, "--out", str(tmp_path / "no")]) == 2
    assert "4 runs x " in capsys.readouterr().err
    assert main([*args, "--force", "--out", str(tmp_path / "yes")]) == 0
    assert (tmp_path / "yes" / "manifest.json").is_file()


def test_memory_and_disk_limits_are_named(tmp_path, capsys, monkeypatch, widgets_path):
    from sdrev import budget

    args = ["ensemble", str(widgets_path), "--sample", "lhs:4", "--outputs", "Stock A",
            "--quiet", "--format", "parquet", "--out", str(tmp_path / "o")]
    monkeypatch.setattr(budget, "memory_limit", lambda: 1000)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "over the limit of 1,000 bytes of memory" in err and "disk" not in err
    monkeypatch.undo()
    monkeypatch.setattr(budget, "free_disk", lambda path: 10)
    assert main(args) == 2
    assert "over the limit of 10 bytes of free disk" in capsys.readouterr().err


def test_output_written_in_blocks_counts_at_its_block_size(tmp_path, capsys, monkeypatch,
                                                           widgets_path):
    """The same runs fit when written to Zarr block by block, not in memory at once."""
    from sdrev import budget, cli_budget
    from sdrev.ensemble import store
    from sdrev.model import load

    model = load(widgets_path)
    monkeypatch.setattr(store, "BLOCK_RUNS", 2)
    whole = cli_budget.ensemble(model, runs=8, columns=len(model.parameters), outputs=1)
    blocks = cli_budget.ensemble(model, runs=8, columns=len(model.parameters), outputs=1,
                                 blocks=True)
    assert blocks.memory < whole.memory and blocks.disk == whole.disk
    monkeypatch.setattr(budget, "memory_limit", lambda: blocks.memory + 1)
    args = ["ensemble", str(widgets_path), "--sample", "lhs:8", "--outputs", "Stock A",
            "--quiet"]
    assert main([*args, "--format", "parquet", "--out", str(tmp_path / "pq")]) == 2
    assert "of memory" in capsys.readouterr().err
    assert main([*args, "--format", "zarr", "--out", str(tmp_path / "zarr")]) == 0
    assert (tmp_path / "zarr" / "ensemble.zarr").is_dir()
    assert main([*args, "--out", str(tmp_path / "auto")]) == 0  # too large: Zarr chosen
    assert (tmp_path / "auto" / "ensemble.zarr").is_dir()


def test_ten_million_runs_in_blocks_hold_one_block():
    """Memory of a blocked result is bounded by the block, not by the runs."""
    from sdrev import cli_budget
    from sdrev.ensemble import store
    from sdrev.model import load

    model = load(FIXTURES / "widgets.mdl")
    whole = cli_budget.ensemble(model, runs=10**7, columns=3, outputs=4)
    blocks = cli_budget.ensemble(model, runs=10**7, columns=3, outputs=4, blocks=True)
    table = (10**7) * 4 * 8
    assert whole.memory > 10 * store.BLOCK_BYTES
    assert blocks.memory - table <= 2 * store.BLOCK_BYTES
    assert blocks.work == whole.work == 10**7 * whole.steps


# -- files from someone else: bounded size, text where text is expected -------

def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("sdrev: error: ") and err.count("\n") == 1, err[:300]
    return err


def test_binary_and_oversized_model_files_are_one_line(tmp_path, capsys, monkeypatch,
                                                       widgets_path):
    from sdrev import budget

    binary = tmp_path / "binary.mdl"
    binary.write_bytes(widgets_path.read_bytes()[:40] + b"\x00\x01\x02" * 100)
    assert main(["describe", str(binary)]) == 2
    assert "is binary (a NUL byte at byte 40)" in _one_line_error(capsys)
    monkeypatch.setattr(budget, "MAX_TEXT_BYTES", 100)
    assert main(["describe", str(widgets_path)]) == 2
    assert "over the limit of 100 bytes" in _one_line_error(capsys)


def test_a_huge_comment_read_as_an_encoding_name_stays_one_short_line(tmp_path, capsys,
                                                                      widgets_path):
    body = widgets_path.read_text(encoding="utf-8").split("\n", 1)[1]
    model = tmp_path / "encoding.mdl"
    model.write_text("{" + "x" * 2_000_000 + "}\n" + body, encoding="utf-8")
    assert main(["describe", str(model)]) == 2
    err = _one_line_error(capsys)
    assert "unknown encoding" in err and len(err) < 600, len(err)


def test_oversized_data_file_of_a_model_is_refused(tmp_path, capsys, monkeypatch):
    from sdrev import budget

    (tmp_path / "rate.csv").write_text("Rate\n" + "0.1\n" * 100, encoding="utf-8")
    (tmp_path / "external.mdl").write_text("""{UTF-8}
Rate = GET DIRECT CONSTANTS('rate.csv', ',', 'A2')
\t~\t1/Year
\t~\tRate.
\t|
Stock = INTEG(Rate * Stock, 1)
\t~\tWidget
\t~\tA stock.
\t|
INITIAL TIME = 0 ~ Year ~ |
FINAL TIME = 4 ~ Year ~ |
TIME STEP = 1 ~ Year ~ |
SAVEPER = TIME STEP ~ Year ~ |
""", encoding="utf-8")
    monkeypatch.setattr(budget, "MAX_DATA_BYTES", 50)
    assert main(["describe", str(tmp_path / "external.mdl")]) == 2
    assert "data file 'rate.csv' is 405 bytes, over the limit of 50 bytes" in \
        _one_line_error(capsys)


@pytest.mark.parametrize("case", ["binary", "oversized"])
def test_observation_and_samples_files_are_bounded(tmp_path, capsys, monkeypatch,
                                                   widgets_path, case):
    from sdrev import budget

    data = tmp_path / "data.csv"
    if case == "binary":
        data.write_bytes(b"time,Stock A\n0,1\x00\x00\n")
        expect = "is binary"
    else:
        data.write_text("time,Stock A\n" + "0,1\n" * 50, encoding="utf-8")
        monkeypatch.setattr(budget, "MAX_TEXT_BYTES", 64)
        monkeypatch.setattr(budget, "MAX_SAMPLES_BYTES", 64)
        expect = "over the limit of 64 bytes"
    assert main(["check", str(widgets_path), "--only", "reference", "--data", str(data)]) == 2
    assert expect in _one_line_error(capsys)
    assert main(["ensemble", str(widgets_path), "--samples", str(data), "--outputs",
                 "Stock A", "--quiet", "--out", str(tmp_path / "o")]) == 2
    assert expect in _one_line_error(capsys)


def test_outputs_whose_names_make_one_file_name_keep_their_own_figures(tmp_path, capsys):
    """Two outputs that differ only in punctuation ("Out-A", "Out A") used to
    write one figure file over the other."""
    model = tmp_path / "twins.mdl"
    model.write_text("""{UTF-8}
"Out-A" = 2 * Level
\t~\tWidget
\t~\tDouble the level.
\t|
Out A = 3 * Level
\t~\tWidget
\t~\tThree times the level.
\t|
Level = 1
\t~\tWidget [0.5,2]
\t~\tThe level.
\t|
Noise = 1
\t~\tWidget [0.5,2]
\t~\tA second factor.
\t|
INITIAL TIME = 0 ~ Year ~ |
FINAL TIME = 2 ~ Year ~ |
TIME STEP = 1 ~ Year ~ |
SAVEPER = TIME STEP ~ Year ~ |
""", encoding="utf-8")
    spec = tmp_path / "twins.toml"
    spec.write_text("""[sensitivity]
method = "morris"
n = 4
seed = 1

[[factor]]
name = "Level"

[[factor]]
name = "Noise"

[[output]]
variable = '"Out-A"'
metrics = [{ kind = "value_at" }]

[[output]]
variable = "Out A"
metrics = [{ kind = "value_at" }]
""", encoding="utf-8")
    out = tmp_path / "run"
    assert main(["sensitivity", str(model), "--spec", str(spec), "--quiet", "--out",
                 str(out)]) == 0, capsys.readouterr().err
    svgs = sorted(p.name for p in out.rglob("morris_parameters_out_a*.svg"))
    assert svgs == ["morris_parameters_out_a.svg", "morris_parameters_out_a_2.svg"], svgs


@pytest.mark.parametrize("command", ["sensitivity", "calibrate", "discover"])
@pytest.mark.parametrize("content", [bytes(range(256)) * 4, b'x = "\xff\xfe"\n'])
def test_binary_or_mis_encoded_spec_is_one_line(tmp_path, capsys, command, content):
    spec = tmp_path / "spec.toml"
    spec.write_bytes(content)
    model = {"sensitivity": FIXTURES / "ishigami.mdl",
             "calibrate": FIXTURES / "calibration" / "growth.mdl",
             "discover": FIXTURES / "discover" / "box5.mdl"}[command]
    assert main([command, str(model), "--spec", str(spec), "-N", "32", "--quiet",
                 "--out", str(tmp_path / "o")]) == 2
    err = _one_line_error(capsys)
    assert ("is binary" if b"\x00" in content else "utf-8") in err.lower(), err
    assert not (tmp_path / "o").exists()


_HEADER = "group,output,metric,factor,index,value,conf\n"
SENSITIVITY_FOLDERS = {
    "truncated_manifest": (_HEADER, '{"model": "widgets", "trunc', "cannot read run manifest"),
    "no_indices": (_HEADER, '{"model": "widgets", "method": "sobol"}', "holds no index value"),
    "foreign_columns": ("a,b\n1,2\n", '{"model": "widgets"}', "lacks the column(s) group"),
    "binary_indices": ("\x00\x01\x02", '{"model": "widgets"}', "is binary"),
    "other_model": (_HEADER + "parameters,Stock A,final,Rate,ST,0.5,0.1\n",
                    '{"model": "sir"}', "analysed model 'sir'"),
}


@pytest.mark.parametrize("case", list(SENSITIVITY_FOLDERS))
def test_report_from_a_corrupt_sensitivity_folder_is_one_line(tmp_path, capsys, widgets_path,
                                                              case):
    """Not a brief of "0 parameters", nor an internal error."""
    indices, manifest, expect = SENSITIVITY_FOLDERS[case]
    folder = tmp_path / "sensitivity"
    folder.mkdir()
    (folder / "indices.csv").write_text(indices, encoding="utf-8")
    (folder / "manifest.json").write_text(manifest, encoding="utf-8")
    out = tmp_path / "brief"
    assert main(["report", str(widgets_path), "--sensitivity", str(folder), "--no-pdf",
                 "--no-loops", "--no-uncertainty", "--quiet", "--out", str(out)]) == 2
    assert expect in _one_line_error(capsys)
    assert not out.exists()


@pytest.mark.parametrize("command", ["ensemble", "loops", "compare"])
def test_binary_or_oversized_posterior_table_is_one_line(tmp_path, capsys, monkeypatch,
                                                         widgets_path, command):
    """A calibration folder from someone else: its posterior.csv is bounded
    and must be text, wherever --posterior reads it."""
    from sdrev import budget

    folder = tmp_path / "calibration"
    folder.mkdir()
    args = {"ensemble": ["--outputs", "Stock A", "--quiet"], "loops": [],
            "compare": ["--quiet"]}[command]
    (folder / "posterior.csv").write_bytes(b"Rate\n0.5\x00\n")
    assert main([command, str(widgets_path), "--posterior", str(folder), *args,
                 "--out", str(tmp_path / "o1")]) == 2
    assert "posterior table 'posterior.csv' is binary" in _one_line_error(capsys)
    (folder / "posterior.csv").write_text("Rate\n" + "0.5\n" * 40, encoding="utf-8")
    monkeypatch.setattr(budget, "MAX_SAMPLES_BYTES", 100)
    assert main([command, str(widgets_path), "--posterior", str(folder), *args,
                 "--out", str(tmp_path / "o2")]) == 2
    assert "over the limit of 100 bytes" in _one_line_error(capsys)
