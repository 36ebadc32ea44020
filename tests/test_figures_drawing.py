"""Sensitivity figures drawn with less work: the same pixels as matplotlib's
plain calls (bars, PNG files, tables), and the measurements skipped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from sdrev.figures import sensitivity as figures


def pixels(path):
    with Image.open(path) as image:
        return image.mode, np.asarray(image.convert("RGBA"))


def bar_figure(draw):
    fig = Figure(figsize=(4, 5), layout="constrained")
    ax = fig.add_subplot(2, 1, 1)
    y = np.arange(6)
    widths = np.array([0.3, -0.2, np.nan, 0.05, 0.7, 0.0])
    draw(ax, y - 0.2, widths, height=0.38, color="0.15", label="ST",
         xerr=np.array([0.05, 0.02, np.nan, 0.01, 0.1, 0.0]),
         error_kw={"ecolor": "0.3", "capsize": 2, "linewidth": 0.8})
    draw(ax, y + 0.2, widths / 2, height=0.38, label="S1",
         color=["0.25" if v < 0 else "0.65" for v in widths / 2])
    ax.set_yticks(y, [f"factor {k}" for k in y])
    ax.legend(frameon=False, loc="lower right")
    positive = fig.add_subplot(2, 1, 2)  # the x axis starts at 0, the sticky edge
    draw(positive, y, np.linspace(0.1, 0.6, 6), color="0.5")
    return fig


def sobol_output_figure(label: str):
    """A Sobol' output figure of six factors named ``label0`` ... ``label5``."""
    indices = pd.DataFrame({"group": "parameters", "output": "Y", "metric": "m",
                            "factor": [f"{label}{k}" for k in range(6)] * 2,
                            "index": ["ST"] * 6 + ["S1"] * 6,
                            "value": np.linspace(0, 1, 12), "conf": 0.01})
    return figures.output_figure(indices, group="parameters", output="Y", metrics=["m"],
                                 method="sobol", index="ST")


def test_bars_are_drawn_as_barh_draws_them(tmp_path):
    def barh(ax, y, widths, **kw):
        ax.barh(y, widths, **kw)

    for name, draw in (("barh", barh), ("hbars", figures.hbars)):
        bar_figure(draw).savefig(tmp_path / f"{name}.png", dpi=100)
    # the same limits (0 sticky, NaN skipped), bars, colours, error bars, legend
    assert (pixels(tmp_path / "barh.png")[1] == pixels(tmp_path / "hbars.png")[1]).all()


def test_bars_are_one_artist_and_colours_must_match_bars():
    fig = bar_figure(figures.hbars)
    assert not fig.axes[0].patches  # no Rectangle per bar
    with pytest.raises(ValueError, match="2 colours for 3 bars"):
        figures.hbars(fig.axes[0], [0, 1, 2], [1, 2, 3], color=["0.1", "0.2"])


@pytest.mark.parametrize("colour,mode", [("0.3", "L"), ("tab:red", "RGBA")])
def test_a_grey_figure_is_a_greyscale_png_with_the_same_pixels(tmp_path, colour, mode):
    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [1, 0, 2], color=colour)
    ax.set_title("a title")
    fig.savefig(tmp_path / "savefig.png", dpi=80)
    figures.save_png(fig, tmp_path / "grey.png", dpi=80)
    assert pixels(tmp_path / "savefig.png")[0] == "RGBA"
    got_mode, got = pixels(tmp_path / "grey.png")
    assert got_mode == mode
    assert (got == pixels(tmp_path / "savefig.png")[1]).all()
    with Image.open(tmp_path / "grey.png") as image:
        assert image.info["Software"].startswith("Matplotlib version")
        assert [round(v) for v in image.info["dpi"]] == [80, 80]


def test_tables_by_factor_and_over_time_are_pivot_tables():
    rng = np.random.default_rng(0)
    rows = [(f, i, t, v, c) for f in ("b", "a", "c") for i in ("ST", "S1")
            for t, v, c in zip((2.0, 1.0, 3.0), rng.random(3), rng.random(3))
            if not (f == "c" and i == "S1")]  # c has no S1
    part = pd.DataFrame(rows, columns=["factor", "index", "time", "value", "conf"])
    one = part[part["time"] == 1.0]
    for column in ("value", "conf"):
        expected = one.pivot_table(index="factor", columns="index", values=column,
                                   dropna=False)
        got = figures._by_factor(one, ("ST", "S1", "other"), column)
        assert list(got.columns) == ["ST", "S1"]
        pd.testing.assert_frame_equal(got, expected[["ST", "S1"]], check_names=False)
    for index in ("ST", "S1"):
        expected = part[part["index"] == index].pivot_table(index="time", columns="factor",
                                                            values="value", dropna=False)
        pd.testing.assert_frame_equal(figures._over_time(part, index), expected,
                                      check_names=False)


def test_drawing_a_laid_out_figure_measures_no_tick_labels_again_to_place_titles(
        tmp_path, monkeypatch):
    """Panel titles sit at a given height: drawing does not measure the y
    tick labels of every titled panel (matplotlib's automatic placement)."""
    from matplotlib.axis import YAxis

    fig = sobol_output_figure("f")
    calls = []
    measure = YAxis.get_tightbbox

    def counting(self, *args, **kwargs):
        calls.append(self)
        return measure(self, *args, **kwargs)

    figures.save_laid_out(fig, tmp_path / "f", formats=())  # the layout measures
    monkeypatch.setattr(YAxis, "get_tightbbox", counting)
    figures.save_laid_out(fig, tmp_path / "f", formats=("png", "svg"))
    assert calls == []


def test_the_png_reuses_the_text_extents_the_layout_measured(tmp_path, monkeypatch):
    """Shaping a label is the costliest part of drawing: the layout's
    renderer draws the PNG too, so no label is measured twice."""
    from matplotlib.backends.backend_agg import RendererAgg

    fig = sobol_output_figure("factor ")
    measured = []
    measure = RendererAgg.get_text_width_height_descent

    def counting(self, text, prop, ismath):
        measured.append((text, prop.get_size_in_points(), ismath))
        return measure(self, text, prop, ismath)

    monkeypatch.setattr(RendererAgg, "get_text_width_height_descent", counting)
    figures.save_laid_out(fig, tmp_path / "f", formats=("png",))
    assert ("factor 5", 7.0, False) in measured
    assert len(measured) == len(set(measured))
