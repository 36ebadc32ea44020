"""The command line: outputs, run folders and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sdrev.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def test_list_prints_each_library_model(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "crrc_standards" in out and "standard" in out.lower()


def test_describe_prints_structure(capsys, widgets_path):
    assert main(["describe", str(widgets_path)]) == 0
    out = capsys.readouterr().out
    for expected in ("Stocks", "Stock A", "Parameters", "[0.1, 1]", "Scenarios", "fast",
                     "Documentation", "logistic growth"):
        assert expected in out


def test_simulate_writes_a_complete_run_folder(tmp_path, capsys, user_model_copy):
    out = tmp_path / "run"
    code = main(["simulate", str(user_model_copy), "--scenario", "fast",
                 "--set", "Cap=12", "--out", str(out), "--plot"])
    assert code == 0
    frame = pd.read_csv(out / "trajectories.csv", index_col="time")
    assert {"stock_a", "inflow_a", "outflow_a"} <= set(frame.columns)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scenario"] == "fast"
    assert manifest["parameters"]["Rate"] == 1.0 and manifest["parameters"]["Cap"] == 12.0
    assert len(manifest["model_sha256"]) == 64
    assert {"sdrev", "pysd", "numpy"} <= set(manifest["software"])
    assert manifest["time"]["time_step"] == 0.0625
    assert "--set Cap=12" in manifest["command"] and manifest["command"].startswith("sdrev simulate")
    assert (out / "figures" / "stock_a.png").stat().st_size > 1000
    assert "Stock A" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*partial*"))


def test_simulate_default_folder_is_under_results(tmp_path, monkeypatch, user_model_copy):
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", str(user_model_copy)]) == 0
    (folder,) = (tmp_path / "results" / "widgets").iterdir()
    assert folder.name.endswith("-baseline")
    assert (folder / "manifest.json").exists()


def test_failed_run_leaves_no_folder(tmp_path, monkeypatch, user_model_copy):
    def crash(*args, **kwargs):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr("sdrev.simulate.trajectories", crash)
    out = tmp_path / "run"
    assert main(["simulate", str(user_model_copy), "--out", str(out)]) == 70
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [user_model_copy.parent]


@pytest.mark.parametrize(("args", "message"), [
    (["simulate", "nosuch"], "unknown model 'nosuch'; known models:"),
    (["describe", "missing/model.mdl"], "model file 'missing/model.mdl' does not exist"),
    (["simulate", "{m}", "--set", "Rat=1"], "did you mean 'Rate'"),
    (["simulate", "{m}", "--set", "Rate=abc"], "value of 'Rate' must be a number, got 'abc'"),
    (["simulate", "{m}", "--set", "Rate"], "expected NAME=VALUE"),
    (["simulate", "{m}", "--scenario", "slow"], "unknown scenario 'slow'"),
    (["simulate", "{m}", "--out", "/proc/forbidden/run"], "cannot write to output folder"),
    (["simulate", "{broken}"], "cannot parse broken.mdl at line"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, capsys, user_model_copy):
    broken = user_model_copy.with_name("broken.mdl")
    broken.write_text("{UTF-8}\nX = INTEG( , 1) ~ w ~ |\n")
    args = [a.format(m=user_model_copy, broken=broken) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sdrev: error: ")
    assert message in err


def test_existing_run_folder_is_never_overwritten(tmp_path, capsys, user_model_copy):
    out = tmp_path / "run"
    assert main(["simulate", str(user_model_copy), "--out", str(out)]) == 0
    before = (out / "manifest.json").read_text()
    assert main(["simulate", str(user_model_copy), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "manifest.json").read_text() == before


def test_console_entry_point_exit_code(widgets_path):
    proc = subprocess.run([sys.executable, "-m", "sdrev.cli", "simulate", "no_model_here"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("sdrev: error: unknown model")


def test_ensemble_lhs_writes_netcdf_samples_and_manifest(tmp_path, user_model_copy):
    xr = pytest.importorskip("xarray")
    out = tmp_path / "ens"
    assert main(["ensemble", str(user_model_copy), "--sample", "lhs:24", "--seed", "7",
                 "--outputs", "Stock A,inflow_a", "--out", str(out), "--quiet"]) == 0
    data = xr.load_dataset(out / "ensemble.nc")
    assert dict(data.sizes) == {"run": 24, "time": 81}
    samples = pd.read_csv(out / "samples.csv", index_col="run")
    assert set(samples.columns) == {"Cap", "Initial A", "Lifetime", "Rate"}
    assert samples["Rate"].between(0.1, 1).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["ensemble"]["runs"] == 24
    # One sampled run equals the reference engine's single run.
    row = samples.iloc[5].to_dict()
    reference = pd.read_csv(_simulate(tmp_path, user_model_copy, row), index_col="time")
    assert abs(float(data["stock_a"][5, -1]) - reference["stock_a"].iloc[-1]) < 1e-9


def _simulate(tmp_path, model_path, values):
    out = tmp_path / "single"
    args = ["simulate", str(model_path), "--out", str(out)]
    for name, value in values.items():
        args += ["--set", f"{name}={value!r}"]
    assert main(args) == 0
    return out / "trajectories.csv"


def test_ensemble_reads_a_samples_csv_in_snake_case(tmp_path, user_model_copy):
    xr = pytest.importorskip("xarray")
    samples = tmp_path / "runs.csv"
    pd.DataFrame({"rate": [0.2, 0.4, 0.8], "cap": [6, 8, 10]}).to_csv(samples, index=False)
    out = tmp_path / "ens"
    assert main(["ensemble", str(user_model_copy), "--samples", str(samples),
                 "--outputs", "Stock A", "--out", str(out), "--quiet"]) == 0
    final = xr.load_dataset(out / "ensemble.nc")["stock_a"][:, -1].to_numpy()
    assert final[0] < final[1] < final[2]


@pytest.mark.parametrize(("extra", "message"), [
    (["--sample", "grid:10"], "expected lhs:N"),
    (["--sample", "lhs:10", "--outputs", "Stok A"], "Stok A"),
    (["--samples", "missing.csv"], "cannot read samples file"),
])
def test_ensemble_bad_input_is_one_line(extra, message, capsys, user_model_copy, tmp_path):
    args = ["ensemble", str(user_model_copy), "--out", str(tmp_path / "e"), "--quiet", *extra]
    if "--outputs" not in args:
        args += ["--outputs", "Stock A"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "e").exists()


def test_loops_prints_table_and_writes_figure(tmp_path, capsys):
    sir = FIXTURES / "sir.mdl"
    out = tmp_path / "loops"
    assert main(["loops", str(sir), "--plot", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "reinforcing" in text and "balancing" in text and "Dominant periods" in text
    assert (out / "loop_scores.png").stat().st_size > 1000
    assert (out / "loop_scores.svg").exists() and (out / "manifest.json").exists()


def test_loops_json_lists_loops_with_polarity(capsys):
    assert main(["loops", str(FIXTURES / "sir.mdl"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    polarities = {loop["polarity"] for loop in data["loops"]}
    assert {"reinforcing", "balancing"} <= polarities


LIBRARY = sorted(p.stem for p in (Path(__file__).parent.parent / "models").glob("*.mdl"))


@pytest.mark.parametrize("name", [n if n == "machine_tool_io" else
                                  pytest.param(n, marks=pytest.mark.slow) for n in LIBRARY])
def test_compare_and_report_work_for_every_library_model(name, tmp_path, capsys):
    """`sdrev compare NAME` (every scenario) and `sdrev report NAME` (HTML + PDF,
    small Sobol' run, loop analysis) for each model of the library."""
    import sdrev

    model = sdrev.load(name)
    cmp_dir = tmp_path / "cmp"
    assert main(["compare", name, "--out", str(cmp_dir), "--quiet"]) == 0
    from sdrev.compare import compare_defaults

    metrics = pd.read_csv(cmp_dir / "metrics.csv")
    expected = compare_defaults(model).scenarios or tuple(model.scenarios)
    assert set(metrics["scenario"]) == set(expected)
    assert "comparison written to" in capsys.readouterr().out
    brief_dir = tmp_path / "brief"
    from sdrev.report.brief import find_pdf_engine
    pdf = find_pdf_engine() is not None
    assert main(["report", name, "-N", "16", "--sets", "24", "--compare", str(cmp_dir),
                 "--out", str(brief_dir), "--quiet"] + ([] if pdf else ["--no-pdf"])) == 0
    html = (brief_dir / "brief.html").read_text()
    if pdf:
        assert (brief_dir / "brief.pdf").read_bytes().startswith(b"%PDF")
    assert "Loop analysis left out" not in html
    assert "Uncertainty analysis left out" not in html
    assert html.count("data:image/svg+xml;base64,") >= 3  # trajectories, levers, loops


def test_compare_regime_map_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "map"
    assert main(["compare", "machine_tool_io", "--regime-map", "IP Protection=0.2:0.95",
                 "Inter Firm Trust=0.2:0.95", "--grid", "6x5", "--out", str(out),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "comparison written to" in printed
    assert (out / "manifest.json").exists()
    assert any(p.suffix == ".nc" or p.suffix == ".csv" for p in out.iterdir())


@pytest.mark.parametrize(("args", "message"), [
    (["compare", "crrc_standards", "--scenarios", "baseline,nosuch"], "unknown scenario 'nosuch'"),
    (["compare", "crrc_standards", "--vary", "Nosuch Param=1,2"], "Nosuch Param"),
    (["compare", "machine_tool_io", "--regime-map", "IP Protection=0.9:0.2",
      "Inter Firm Trust=0.2:0.9"], "0.9:0.2"),
    (["report", "crrc_standards", "-N", "10"], "power of 2"),
    (["report", "crrc_standards", "--sensitivity", "/nonexistent/run"], "/nonexistent/run"),
])
def test_compare_and_report_bad_input_is_one_line(args, message, tmp_path, capsys):
    assert main(args + ["--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sdrev: error: ") and message in err
    assert not (tmp_path / "o").exists()


def test_ensemble_samples_the_ranges_of_a_sensitivity_spec(tmp_path):
    xr = pytest.importorskip("xarray")
    import sdrev
    from sdrev.sensitivity import load_spec

    out = tmp_path / "ens"
    assert main(["ensemble", "crrc_standards", "--sample", "lhs:40", "--ranges",
                 "crrc_standards", "--seed", "2", "--outputs", "Standards Influence",
                 "--out", str(out), "--quiet"]) == 0
    samples = pd.read_csv(out / "samples.csv", index_col="run")
    spec = load_spec(sdrev.load("crrc_standards"))
    assert set(samples.columns) == {f.name for f in spec.factors}
    for f in spec.factors:
        assert samples[f.name].between(*f.range).all()
    assert xr.load_dataset(out / "ensemble.nc").sizes["run"] == 40


def test_ensemble_writes_parquet(tmp_path, user_model_copy):
    out = tmp_path / "ens"
    assert main(["ensemble", str(user_model_copy), "--sample", "lhs:5", "--outputs",
                 "Stock A", "--format", "parquet", "--out", str(out), "--quiet"]) == 0
    table = pd.read_parquet(out / "ensemble.parquet")
    assert {"run", "time", "stock_a"} <= set(table.columns)
    assert table["run"].nunique() == 5


def test_ensemble_counts_and_names_runs_that_give_no_finite_numbers(tmp_path, capsys):
    """A run dividing by zero completes, but is counted on stderr and in the manifest."""
    import json

    model = Path(__file__).parent / "fixtures" / "check" / "zero_division.mdl"
    samples = tmp_path / "samples.csv"
    samples.write_text("Innovation Time\n2\n0\n4\n")
    out = tmp_path / "ens"
    assert main(["ensemble", str(model), "--samples", str(samples), "--outputs", "Adopters",
                 "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "1 of 3 runs give NaN or infinite values (runs 1;" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["non_finite_runs"] == {"count": 1, "runs": [1]}


def test_simulate_refuses_a_run_orders_of_magnitude_too_long(capsys, tmp_path, monkeypatch):
    """A TIME STEP or FINAL TIME typed wrong is refused with its estimate, not run for hours."""
    import sdrev.simulate as sim

    for setting, steps in (("TIME STEP=1e-7", "400,000,001"),
                           ("FINAL TIME=1e12", "15,999,999,968,001")):
        assert main(["simulate", "crrc_standards", "--set", setting,
                     "--out", str(tmp_path / "never")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"{steps} integration steps" in err
        assert "--force" in err
    assert not (tmp_path / "never").exists()
    monkeypatch.setattr(sim, "MAX_STEPS", 100)  # the ordinary run is over this limit
    assert main(["simulate", "crrc_standards", "--out", str(tmp_path / "no")]) == 2
    capsys.readouterr()
    assert main(["simulate", "crrc_standards", "--force", "--out", str(tmp_path / "yes")]) == 0
    assert (tmp_path / "yes" / "trajectories.csv").is_file()
