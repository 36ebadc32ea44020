"""Explore stage: a model as an interactive page in the browser (``sdrev explore``).

A "management flight simulator" on sdrev's ensemble engine: sliders for
every constant with a documented range, the key outputs redrawn against the
baseline when a slider is released, an optional uncertainty band from a few
thousand runs, the outcome table, the documented-loop dominance strip, the
settings in the URL and the runs as CSV.

:class:`Explorer` (:mod:`sdrev.explore.explorer`) is the engine, free of any
web framework; :mod:`sdrev.explore.app` builds the page with Panel and Bokeh
and :mod:`sdrev.explore.server` serves it. Panel and Bokeh are the optional
``explore`` extra (``pip install "sdrev[explore]"``) and are imported only by
those two modules.

Examples
--------
>>> from sdrev.explore import Explorer
>>> ex = Explorer("crrc_standards")                       # doctest: +SKIP
>>> run = ex.run({"R and D Spending": 0.2}, "baseline")   # doctest: +SKIP
>>> ex.outcomes(run, {"R and D Spending": 0.2}, "baseline")[0].final  # doctest: +SKIP
"""

from __future__ import annotations

from sdrev.explore.explorer import (BAND_QUANTILES, Control, Explorer, Outcome,
                                    RunFailedError, Series, Trajectories)

__all__ = ["BAND_QUANTILES", "EXTRA_HINT", "Control", "Explorer", "Outcome", "RunFailedError",
           "Series", "Trajectories", "available", "serve"]

#: What to run when the optional dependencies are missing.
EXTRA_HINT = 'pip install "sdrev[explore]"'


def available() -> bool:
    """Whether Panel and Bokeh (the ``explore`` extra) are installed."""
    from importlib.util import find_spec
    return all(find_spec(name) is not None for name in ("panel", "bokeh"))


def serve(model, **options) -> None:
    """Serve the explorer of ``model`` (see :func:`sdrev.explore.server.serve`)."""
    from sdrev.explore.server import serve as _serve
    _serve(model, **options)
