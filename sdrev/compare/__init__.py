"""Compare stage: scenarios side by side, and regime maps over two conditions.

:func:`compare_scenarios` runs a model under several scenarios (or several
values of one or more parameters) with PySD, the reference engine, and
tabulates outcome metrics per scenario and output: final value, time to a
threshold, area between each scenario's curve and the first scenario's, and
the years in which the leading scenario changes.

:func:`regime_map` runs two values of a regime parameter (for
``machine_tool_io``, ``IO Regime`` 0 = large integrated enterprises and
1 = innovation network) over a grid of two conditions in one call of the
ensemble engine, and finds, per grid point, which regime reaches the higher
value of an output by a given year, the boundary between the two areas, and
the year in which the leader changes (the crossover year).

:func:`scenario_uncertainty` runs the scenarios over many parameter sets
(posterior draws of a calibration) on the ensemble engine: outcome ranges,
bands and the probability that one scenario ends above another.

All are pure functions returning frozen dataclasses. Defaults come from an
optional ``[compare]`` table of the model's metadata file (see
``models/README.md``). :func:`write` and :func:`read` store results in, and
read them back from, a run folder.

Examples
--------
>>> import sdrev
>>> from sdrev import compare
>>> model = sdrev.load("machine_tool_io")
>>> comp = compare.compare_scenarios(model, ["lie", "network"])     # doctest: +SKIP
>>> comp.metrics[["output", "label", "final_value", "time_to_threshold"]]  # doctest: +SKIP
>>> rmap = compare.regime_map(model, grid=(30, 30))                   # doctest: +SKIP
>>> rmap.share_won(1), rmap.boundary()[:3]                           # doctest: +SKIP
"""

from sdrev.compare.defaults import CompareDefaults, compare_defaults
from sdrev.compare.folders import read, summary_text, write
from sdrev.compare.regime import Axis, RegimeMap, parse_grid, parse_range, regime_map
from sdrev.compare.scenarios import (ComparedRun, Comparison, compare_scenarios,
                                     leader_changes, parse_vary, time_to_threshold)
from sdrev.compare.uncertainty import ScenarioUncertainty, scenario_uncertainty

__all__ = ["Axis", "Comparison", "ComparedRun", "CompareDefaults", "RegimeMap",
           "ScenarioUncertainty", "scenario_uncertainty",
           "compare_defaults", "compare_scenarios", "leader_changes", "parse_grid",
           "parse_range", "parse_vary", "read", "regime_map", "summary_text",
           "time_to_threshold", "write"]
