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
    # this process took figures costliest first, each once; a worker drew the rest
    by_cost = [tasks[i][0] for i in figures.draw_order(tasks)]
    assert drawn_here == [stem for stem in by_cost if stem in drawn_here]
    assert len(set(drawn_here)) == len(drawn_here)
    assert [p.name for p in one] == [p.name for p in two] == [f"{s}.png" for s, _, _ in tasks]
    for a, b in zip(one, two):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_a_claimed_figure_is_drawn_by_one_process_only(result, tmp_path):
    tasks = figures.figure_tasks(result)
    claims = tmp_path / "claims"
    claims.mkdir()
    (claims / "0").touch()  # another process took the first
    order = list(range(len(tasks)))
    first = figures.draw_claimed(tasks, order, tmp_path, formats=("png",), claims=claims)
    assert sorted(first) == order[1:]
    assert [p.name for p in first[1]] == [f"{tasks[1][0]}.png"]
    assert figures.draw_claimed(tasks, order, tmp_path, formats=("png",), claims=claims) == {}


def test_the_costliest_figures_are_drawn_first():
    import pandas as pd

    knockout = pd.DataFrame({"output": ["A", "A", "B", "B"], "metric": ["m"] * 4,
                             "loop": ["R1", "B1"] * 2})
    indices = pd.DataFrame({"factor": [f"f{k}" for k in range(30)]})
    tasks = [("tr", "time_resolved", {"top": 5}),
             ("small", "output", {"indices": indices.head(2), "metrics": ["m"]}),
             ("knockout", "knockout", {"knockout": knockout}),
             ("wide", "output", {"indices": indices, "metrics": ["m", "n"]})]
    # panels x (3 + labelled rows): 2 x 18 (15 factors shown), 2 x 5, 1 x 8, 1 x 5
    assert [tasks[i][0] for i in figures.draw_order(tasks)] == ["wide", "knockout", "tr",
                                                                "small"]


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
    monkeypatch.setattr(figures, "running_others", lambda: None)
    monkeypatch.setattr(figures.os, "getloadavg", lambda: (0.5, 0.0, 0.0))
    assert figures.idle_cores() == 1.5
    monkeypatch.setattr(figures.os, "getloadavg", lambda: (7.0, 0.0, 0.0))
    assert figures.idle_cores() == 0.0
    # a load average still counting work that has ended: the tasks running now
    monkeypatch.setattr(figures, "running_others", lambda: 0)
    assert figures.idle_cores() == 2.0
    monkeypatch.setattr(figures, "running_others", lambda: 9)
    assert figures.idle_cores() == 0.0


@pytest.mark.parametrize("text,expected", [("1.07 0.96 2.10 3/78 20445\n", 2),
                                           ("0.00 0.01 0.05 1/64 7\n", 0),
                                           ("1.07 0.96 2.10\n", None), ("", None)])
def test_running_others_reads_the_runnable_tasks(tmp_path, text, expected):
    """The runnable count of /proc/loadavg, less the reader itself."""
    path = tmp_path / "loadavg"
    path.write_text(text)
    assert figures.running_others(path=path) == expected
    assert figures.running_others(path=tmp_path / "none") is None


def test_bad_workers_are_refused(result, tmp_path):
    with pytest.raises(ValueError, match="workers"):
        figures.write_sensitivity_figures(result, tmp_path / "g", workers=0)


def test_figures_are_laid_out_once_and_drawn_once_per_format(result, tmp_path,
                                                              monkeypatch):
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # no date in the SVG
    monkeypatch.setitem(matplotlib.rcParams, "svg.hashsalt", "test")  # fixed SVG ids
    tasks = figures.figure_tasks(result)
    plain = tmp_path / "plain"
    plain.mkdir()
    for stem, kind, kwargs in tasks:  # savefig: the PNG laid out, the SVG in its layout
        fig = figures.BUILDERS[kind](**kwargs)
        fig.savefig(plain / f"{stem}.png", dpi=figures.DPI)
        fig.set_layout_engine("none")
        fig.savefig(plain / f"{stem}.svg", dpi=figures.DPI)
    layouts, draws = [], []
    execute, draw = ConstrainedLayoutEngine.execute, Figure.draw

    def counting_layout(self, fig):
        layouts.append(fig)
        return execute(self, fig)

    def counting_draw(self, renderer):
        draws.append(self)
        return draw(self, renderer)

    monkeypatch.setattr(ConstrainedLayoutEngine, "execute", counting_layout)
    monkeypatch.setattr(Figure, "draw", counting_draw)
    paths = figures.draw_figures(tasks, tmp_path, formats=("png", "svg"))
    assert [p.name for p in paths] == [f"{s}.{f}" for s, _, _ in tasks for f in ("png", "svg")]
    assert len(layouts) == len(tasks)  # once per figure
    assert len(draws) == 2 * len(tasks)  # once per file
    for path in paths:  # the same SVG bytes; the same PNG pixels (stored as greys)
        if path.suffix == ".svg":
            assert path.read_bytes() == (plain / path.name).read_bytes(), path.name
        else:
            assert png_pixels(path).tobytes() == png_pixels(plain / path.name).tobytes()


def png_pixels(path):
    """A PNG's pixels as RGBA, whatever its colour type."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


@pytest.mark.slow
def test_a_prestarted_worker_draws_its_share(result, tmp_path, monkeypatch):
    """A worker started before the runs (``sdrev sensitivity``) is the one given
    the job: no worker is started when the figures are written, and the files
    are the one-process files."""
    one = figures.write_sensitivity_figures(result, tmp_path / "one", formats=("png",),
                                            workers=1)
    assert figures.prestart_worker(when_busy=True)
    warm = figures._prestarted[0]
    monkeypatch.setattr(figures, "PARALLEL_FIGURES", 1)
    monkeypatch.setattr(figures, "idle_cores", lambda: 0.0)  # would draw in one process
    popen = subprocess.Popen
    started = []
    monkeypatch.setattr(subprocess, "Popen",
                        lambda *a, **kw: started.append(a) or popen(*a, **kw))
    claimed = figures.draw_claimed
    here = []
    monkeypatch.setattr(figures, "draw_claimed",
                        lambda *a, **kw: here.append(1) or claimed(*a, **kw))
    two = figures.write_sensitivity_figures(result, tmp_path / "two", formats=("png",))
    assert here, "the figures were drawn in one process"
    assert not started and not figures._prestarted
    assert warm.returncode == 0 and warm.stdin.closed
    assert [p.name for p in one] == [p.name for p in two]
    for a, b in zip(one, two):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_an_unused_prestarted_worker_exits_with_its_parent():
    """Its standard input closes when the process that started it ends (or
    draws in one process): it exits without drawing."""
    assert figures.prestart_worker(when_busy=True)
    warm = figures._take_prestarted()
    assert warm is not None and not figures._prestarted
    _, err = warm.communicate(timeout=60)
    assert warm.returncode == 0, err.decode()
