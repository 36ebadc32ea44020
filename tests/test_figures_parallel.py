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


def test_few_figures_stay_in_this_process_and_bad_workers_are_refused(result, tmp_path,
                                                                      monkeypatch):
    assert len(figures.figure_tasks(result)) < figures.PARALLEL_FIGURES

    def no_worker(*args, **kwargs):
        raise AssertionError("a worker process was started")

    monkeypatch.setattr(subprocess, "Popen", no_worker)
    paths = figures.write_sensitivity_figures(result, tmp_path / "f", formats=("png",))
    assert paths and all(p.is_file() for p in paths)
    with pytest.raises(ValueError, match="workers"):
        figures.write_sensitivity_figures(result, tmp_path / "g", workers=0)
