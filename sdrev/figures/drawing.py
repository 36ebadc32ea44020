"""Drawing and saving figures with less work than matplotlib's plain calls.

:func:`hbars` draws horizontal bars as one artist, :func:`save_laid_out`
lays a figure out once and draws it once per file format, with the PNG
drawn by the renderer that measured the layout's text, and
:func:`save_png` stores a PNG of greys as a greyscale image: the same
pixels as ``barh`` and ``savefig`` give (tested), in less time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DPI", "hbars", "new_figure", "save_laid_out", "save_png"]


def new_figure(**kwargs: Any) -> Figure:
    """``matplotlib.figure.Figure(**kwargs)``, matplotlib imported on the first
    call: a module of figure functions can be imported (and a figure worker
    started, :func:`sdrev.figures.sensitivity.write_sensitivity_figures`)
    before matplotlib is (about half a second)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def hbars(ax, y, widths, *, height: float = 0.8, color: Any = "0.15",
          xerr=None, error_kw: Mapping[str, Any] | None = None, label: str | None = None):
    """Horizontal bars from 0, drawn as ``ax.barh`` draws them, as one artist.

    ``barh`` adds a Rectangle per bar, each updating the axes' limits on its
    own (about a millisecond a bar, most of building a chart of 15 factors
    in 2 or 3 panels); here the bars are one collection of the same
    rectangles with the same colours (one per bar or one for all), no
    edges, 0 a sticky edge of the x axis, and the same error bars
    (``ax.errorbar`` at the bars' ends, as ``barh`` calls it). A bar of
    NaN width is not drawn. ``label`` names the bars in a legend.

    Returns
    -------
    matplotlib.collections.PolyCollection
    """
    from matplotlib.collections import PolyCollection

    y = np.asarray(y, dtype=float)
    w = np.asarray(widths, dtype=float)
    colors = [color] * len(w) if isinstance(color, str) else list(color)
    if len(colors) != len(w):
        raise ValueError(f"{len(colors)} colours for {len(w)} bars")
    keep = np.isfinite(w) & np.isfinite(y)
    low, high = y[keep] - height / 2, y[keep] + height / 2
    zero = np.zeros(len(low))
    verts = np.stack([np.column_stack(c) for c in ((zero, low), (w[keep], low),
                                                   (w[keep], high), (zero, high))], axis=1)
    bars = PolyCollection(list(verts), facecolors=[c for c, k in zip(colors, keep) if k],
                          edgecolors="none", label=label)
    bars.sticky_edges.x.append(0.0)
    ax.add_collection(bars)
    if xerr is not None:
        ax.errorbar(w, y, xerr=xerr, fmt="none", label="_nolegend_", **(error_kw or {}))
    return bars



#: Resolution of the saved figures (dots per inch), as
#: :func:`sdrev.figures.trajectories.save_figure` saves.
DPI = 150


def save_laid_out(fig: Figure, stem: Path, *, formats: Iterable[str] = ("png",),
                  dpi: float = DPI) -> list[Path]:
    """Save ``fig`` as ``stem.<format>`` for each format, laid out once.

    ``savefig`` of a figure with a layout engine draws it twice: once with
    drawing switched off, to run the layout, then for real; a second
    format runs both again. Here the layout engine runs once, at the saving
    resolution (the text extents it measures depend on it), and is then
    removed, so each format is one draw of the laid-out figure: the same
    files as ``savefig`` writes (the PNG's pixels and the SVG byte for
    byte, tested), in about half the drawing. The layout measures the text
    with the renderer the PNG is then drawn by (an Agg canvas given to the
    figure), whose cache of text extents the drawing reuses: shaping a
    label (libraqm in matplotlib 3.11) costs 1 to 3 ms, and each label was
    measured anew by the PNG's own renderer.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    stem : Path
        File name without suffix.
    formats : iterable of str, optional
    dpi : float, optional

    Returns
    -------
    list of Path
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # the figure's canvas from now: its renderer is kept
    engine = fig.get_layout_engine()
    if engine is not None:
        fig.set_dpi(dpi)
        engine.execute(fig)
        # None removes the engine (where 'none' leaves a placeholder that
        # savefig treats as a layout to run); the rc keys decide None's meaning
        with matplotlib.rc_context({"figure.autolayout": False,
                                    "figure.constrained_layout.use": False}):
            fig.set_layout_engine(None)
    paths = []
    for fmt in formats:
        path = Path(stem).with_suffix(f".{fmt}")
        if fmt == "png":
            save_png(fig, path, dpi=dpi)
        else:
            fig.savefig(path, dpi=dpi)
        paths.append(path)
    return paths


def save_png(fig: Figure, path: Path, *, dpi: float = DPI) -> Path:
    """Save ``fig`` as a PNG at ``dpi``: greyscale when every pixel is a grey.

    The pixels are those ``savefig`` writes (the same drawing, read back as
    RGBA); a figure drawn in greys only, as the sensitivity figures are, is
    stored with one channel instead of four (red, green and blue equal,
    fully opaque: nothing is lost, the image decodes to the same RGBA), a
    quarter of the bytes to compress (zlib was an eighth of the drawing
    time) and a smaller file. Any other figure is saved as RGBA. The PNG
    carries matplotlib's ``Software`` entry and the resolution, as
    ``savefig`` writes them.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : Path
    dpi : float, optional

    Returns
    -------
    Path
    """
    import io

    import matplotlib
    from PIL import Image, PngImagePlugin

    raw = io.BytesIO()
    fig.savefig(raw, format="rgba", dpi=dpi)
    # the size of the canvas savefig draws on: the figure's at dpi in whole
    # pixels, as the canvas rounds it (FigureCanvasAgg.get_renderer)
    before = fig.dpi
    fig.dpi = dpi
    width, height = fig.canvas.get_width_height(physical=True)
    fig.dpi = before
    rgba = np.frombuffer(raw.getbuffer(), dtype=np.uint8)
    if rgba.size != width * height * 4:
        raise RuntimeError(f"drawn {rgba.size} bytes for a {width} x {height} image")
    rgba = rgba.reshape(height, width, 4)
    red = rgba[..., 0]
    grey = bool((rgba[..., 3] == 255).all() and (rgba[..., 1] == red).all()
                and (rgba[..., 2] == red).all())
    image = (Image.frombuffer("L", (width, height), np.ascontiguousarray(red), "raw", "L", 0, 1)
             if grey else Image.frombuffer("RGBA", (width, height), rgba, "raw", "RGBA", 0, 1))
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"Matplotlib version{matplotlib.__version__}, "
                              "https://matplotlib.org/")
    image.save(path, format="png", dpi=(dpi, dpi), pnginfo=info)
    return Path(path)
