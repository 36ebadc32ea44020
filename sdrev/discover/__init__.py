"""Discover stage: the combinations of conditions under which an outcome holds.

Scenario discovery (Bryant & Lempert 2010) over the ensemble engine: sample
the uncertain conditions (a spec's ``[[factor]]`` entries, the documented
ranges, or a calibration's posterior draws), run every scenario an outcome
names on the same parameter sets, classify each set by the outcome (a small
expression language, :mod:`sdrev.discover.outcome`), and find boxes of
conditions that concentrate the sets where it holds and those where it
fails, with PRIM (the ``prim`` package) or CART (scikit-learn).

Examples
--------
>>> import sdrev
>>> from sdrev import discover
>>> model = sdrev.load("machine_tool_io")
>>> result = discover.run(model, n=2000, seed=1)        # doctest: +SKIP
>>> print(discover.summary_text(result))                 # doctest: +SKIP
>>> result.box_table(), result.limit_table()             # doctest: +SKIP
>>> discover.write(result, "results/machine_tool_io/discover")   # doctest: +SKIP
"""

from sdrev.discover.boxes import METHODS, Box, cart_boxes, density_floor, prim_boxes
from sdrev.discover.folders import box_sentence, summary_text, write
from sdrev.discover.outcome import FUNCTIONS, Outcome, evaluate, parse_outcome
from sdrev.discover.run import (
                                DEFAULT_N,
                                DiscoverDefaults,
                                DiscoveryResult,
                                discover_defaults,
                                load_factors,
                                run,
)

__all__ = ["DEFAULT_N", "FUNCTIONS", "METHODS", "Box", "DiscoverDefaults", "DiscoveryResult",
           "Outcome", "box_sentence", "cart_boxes", "density_floor", "discover_defaults",
           "evaluate", "load_factors", "parse_outcome", "prim_boxes", "run", "summary_text",
           "write"]
