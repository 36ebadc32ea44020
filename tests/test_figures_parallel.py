"""Sensitivity figures drawn in two processes: the same files as in one."""

from __future__ import annotations

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


def test_few_figures_stay_in_this_process_and_bad_workers_are_refused(result, tmp_path,
                                                                      monkeypatch):
    assert len(figures.figure_tasks(result)) < figures.PARALLEL_FIGURES
    monkeypatch.setattr("concurrent.futures.ProcessPoolExecutor", None)  # must not be used
    paths = figures.write_sensitivity_figures(result, tmp_path / "f", formats=("png",))
    assert all(p.is_file() for p in paths)
    with pytest.raises(ValueError, match="workers"):
        figures.write_sensitivity_figures(result, tmp_path / "g", workers=0)
