"""Sensitivity figures drawn in two processes: the same files as in one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import sdrev
from sdrev.figures import sensitivity as figures
from sdrev.sensitivity import load_spec, run

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def result():
    model = sdrev.load(FIXTURES / "ishigami.mdl")
    spec = load_spec(model, FIXTURES / "ishigami_sensitivity.toml")
    return run(model, spec, method="sobol", n=64, seed=3, progress=False, knockout=False)


@pytest.mark.slow
def test_two_processes_write_the_same_files_in_the_same_order(result, tmp_path, monkeypatch):
    drawn_here = []
    draw = figures.draw_figures

    def counting(tasks, folder, **kw):
        drawn_here.extend(stem for stem, _, _ in tasks)
        return draw(tasks, folder, **kw)

    monkeypatch.setattr(figures, "draw_figures", counting)
    one = figures.write_sensitivity_figures(result, tmp_path / "one", formats=("png",),
                                            workers=1)
    drawn_here.clear()
    two = figures.write_sensitivity_figures(result, tmp_path / "two", formats=("png",),
                                            workers=2)
    tasks = figures.figure_tasks(result)
    assert len(tasks) >= 2
    # this process drew every other figure; a worker drew the rest
    assert drawn_here == [stem for stem, _, _ in tasks[::2]]
    assert [p.name for p in one] == [p.name for p in two] == [f"{s}.png" for s, _, _ in tasks]
    for a, b in zip(one, two):
        assert a.read_bytes() == b.read_bytes(), a.name


@pytest.mark.slow
def test_a_script_without_a_main_guard_runs_once(tmp_path):
    """The workers are not multiprocessing children: they do not import the
    caller's script again."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import sdrev\nfrom sdrev.sensitivity import load_spec, run\n"
        "from sdrev.figures.sensitivity import write_sensitivity_figures\n"
        f"model = sdrev.load({str(FIXTURES / 'ishigami.mdl')!r})\n"
        f"spec = load_spec(model, {str(FIXTURES / 'ishigami_sensitivity.toml')!r})\n"
        "print('analysis')\n"
        "res = run(model, spec, method='sobol', n=16, seed=1, progress=False, knockout=False)\n"
        f"paths = write_sensitivity_figures(res, {str(tmp_path / 'f')!r}, formats=('png',),"
        " workers=2)\nprint(len(paths), all(p.is_file() for p in paths))\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout.splitlines()
    assert out == ["analysis", f"{len(list((tmp_path / 'f').iterdir()))} True"]


def test_a_failing_worker_is_an_error_naming_its_reason(result, tmp_path, monkeypatch):
    monkeypatch.setattr(figures, "_WORKER", "raise SystemExit('worker cannot draw')")
    with pytest.raises(RuntimeError, match="figure worker failed: worker cannot draw"):
        figures.write_sensitivity_figures(result, tmp_path / "f", formats=("png",), workers=2)


@pytest.mark.parametrize("threshold,idle,started", [(1, 2.0, True), (1, 0.5, False),
                                                   (99, 2.0, False)])
def test_a_worker_starts_for_many_figures_and_an_idle_core(result, tmp_path, monkeypatch,
                                                          threshold, idle, started):
    monkeypatch.setattr(figures, "PARALLEL_FIGURES", threshold)
    monkeypatch.setattr(figures, "idle_cores", lambda: idle)
    popen = subprocess.Popen
    calls = []

    def recording(*args, **kwargs):
        calls.append(args)
        return popen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", recording)
    paths = figures.write_sensitivity_figures(result, tmp_path / "f", formats=("png",))
    assert paths and all(p.is_file() for p in paths)
    assert bool(calls) == started


def test_idle_cores_follow_the_load_average(monkeypatch):
    monkeypatch.setattr(figures.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(figures.os, "getloadavg", lambda: (0.5, 0.0, 0.0))
    assert figures.idle_cores() == 1.5
    monkeypatch.setattr(figures.os, "getloadavg", lambda: (7.0, 0.0, 0.0))
    assert figures.idle_cores() == 0.0


def test_bad_workers_are_refused(result, tmp_path):
    with pytest.raises(ValueError, match="workers"):
        figures.write_sensitivity_figures(result, tmp_path / "g", workers=0)


def test_the_second_format_takes_the_first_formats_layout(result, tmp_path, monkeypatch):
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    tasks = figures.figure_tasks(result)
    plain = tmp_path / "plain"
    plain.mkdir()
    figures.draw_figures(tasks, plain, formats=("png",))  # one format: laid out as always
    runs = []
    execute = ConstrainedLayoutEngine.execute

    def counting(self, fig):
        runs.append(fig)
        return execute(self, fig)

    monkeypatch.setattr(ConstrainedLayoutEngine, "execute", counting)
    paths = figures.draw_figures(tasks, tmp_path, formats=("png", "svg"))
    assert [p.name for p in paths] == [f"{s}.{f}" for s, _, _ in tasks for f in ("png", "svg")]
    assert len(runs) == len(tasks)  # once per figure, for its PNG
    for stem, _, _ in tasks:  # the PNG as drawn alone
        assert (tmp_path / f"{stem}.png").read_bytes() == (plain / f"{stem}.png").read_bytes()
