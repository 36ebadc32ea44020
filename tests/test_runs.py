"""Run folders under concurrency and interruption: unique ids, atomic moves,
stale staging folders cleaned, SIGTERM unwound, the user's umask."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sdrev import runs
from sdrev.errors import OutputError

SDREV = str(Path(sys.executable).parent / "sdrev")


def test_default_run_dirs_in_one_second_are_unique_and_reserved(tmp_path):
    folders = [runs.default_run_dir("m", "baseline", root=tmp_path) for _ in range(50)]
    assert len(set(folders)) == 50
    assert all(f.is_dir() and not any(f.iterdir()) for f in folders)
    assert all(f.name.endswith("-baseline") for f in folders)
    with runs.staged_folder(folders[0]) as stage:  # a reserved folder is usable
        (stage / "x.txt").write_text("x")
    assert (folders[0] / "x.txt").exists()


@pytest.mark.slow
def test_three_concurrent_simulations_each_get_their_own_folder(tmp_path, user_model_copy):
    env = {**os.environ, "SDREV_CACHE_DIR": str(tmp_path / "cache")}
    # translate once so that the three start their runs together
    subprocess.run([SDREV, "describe", str(user_model_copy)], env=env, cwd=tmp_path,
                   capture_output=True, check=True, timeout=300)
    procs = [subprocess.Popen([SDREV, "simulate", str(user_model_copy)], env=env,
                              cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0, 0], [r[1] for r in results]
    folders = sorted((tmp_path / "results" / "widgets").iterdir())
    assert len(folders) == 3
    assert all((f / "manifest.json").exists() and (f / "trajectories.csv").exists()
               for f in folders)
    assert not list((tmp_path / "results" / "widgets").glob(".*"))


def test_stale_staging_folders_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    day_ago = time.time() - 2 * runs.STALE_SECONDS
    stale = tmp_path / f".run1.partial-{dead.pid}-abcd"
    alive_owner = tmp_path / f".run2.partial-{os.getpid()}-abcd"
    fresh = tmp_path / f".run3.partial-{dead.pid}-efgh"
    legacy = tmp_path / ".run4.partial-k2j4h5"  # before process ids were recorded
    for folder in (stale, alive_owner, fresh, legacy):
        folder.mkdir()
        (folder / "part.csv").write_text("1\n")
    for folder in (stale, alive_owner, legacy):
        os.utime(folder, (day_ago, day_ago))
    with runs.staged_folder(tmp_path / "run5") as stage:
        (stage / "x").write_text("x")
    assert not stale.exists() and not legacy.exists()
    assert alive_owner.exists() and fresh.exists()


def test_finished_folders_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with runs.staged_folder(tmp_path / "shared") as stage:
            (stage / "x").write_text("x")
        os.umask(0o027)
        with runs.staged_folder(tmp_path / "group") as stage:
            (stage / "x").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "group").stat().st_mode) == 0o750


@pytest.mark.parametrize("out", [".", "", ".."])
def test_out_must_name_a_new_folder(tmp_path, monkeypatch, out):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError, match="not a new folder"):
        with runs.staged_folder(Path(out)):
            pass


def test_early_failure_leaves_no_empty_results_folder(tmp_path):
    code = ("import sys; from sdrev import runs; "
            "runs.default_run_dir('m', 'x', root=sys.argv[1]); sys.exit(2)")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "results")], timeout=120)
    assert not (tmp_path / "results" / "m").exists()


@pytest.mark.slow
def test_sigterm_removes_the_staging_folder_and_exits_143(tmp_path, user_model_copy):
    env = {**os.environ, "SDREV_CACHE_DIR": str(tmp_path / "cache")}
    subprocess.run([SDREV, "describe", str(user_model_copy)], env=env,
                   capture_output=True, check=True, timeout=300)
    out = tmp_path / "run"
    proc = subprocess.Popen([SDREV, "simulate", str(user_model_copy), "--out", str(out),
                             "--set", "TIME STEP=0.00001"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 120
    while not list(tmp_path.glob(".run.partial-*")) and time.time() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob(".run.partial-*")), "the run never started staging"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.strip().endswith("sdrev: terminated")
    assert not out.exists() and not list(tmp_path.glob(".run.partial-*"))


@pytest.mark.parametrize("name", ["..", "../../x", "a/b", ".hidden", ""])
def test_default_run_dir_stays_inside_results(tmp_path, name):
    folder = runs.default_run_dir(name, name, root=tmp_path / "results")
    assert folder.parent.parent == tmp_path / "results"
    assert not folder.parent.name.startswith(".") and "/" not in folder.name


def test_overflowing_simulation_is_named_in_a_warning_and_the_manifest(
        tmp_path, capsys, widgets_path):
    import json

    from sdrev.cli import main

    out = tmp_path / "run"
    assert main(["simulate", str(widgets_path), "--set", "Rate=1e300",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "sdrev: warning: 3 variable(s) become NaN or infinite" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["non_finite"]) == {"stock_a", "inflow_a", "outflow_a"}
    assert main(["simulate", str(widgets_path), "--out", str(tmp_path / "ok")]) == 0
    assert "warning" not in capsys.readouterr().err
    assert "non_finite" not in json.loads((tmp_path / "ok" / "manifest.json").read_text())
