"""Scenarios under parameter uncertainty: outcome ranges and how often one wins.

A scenario comparison with the model's own constants says which scenario
leads under one parameter set. With many plausible sets (a calibration's
posterior draws, or a Latin hypercube over documented ranges) the honest
answers are ranges and probabilities: "Standards Influence in 2040: 0.30
(90% range 0.22-0.37) under baseline", "in 82% of the sets, the network
regime ends ahead". :func:`scenario_uncertainty` runs every set under every
scenario on the ensemble engine (one call per scenario; a scenario's own
values override the sets' where both name a constant: the scenario is the
policy being compared) and tabulates bands, outcome ranges and the pairwise
probabilities that one scenario's outcome exceeds another's in the same set.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sdrev.compare.defaults import compare_defaults
from sdrev.errors import InvalidValueError, UnknownNameError
from sdrev.measures import value_at

if TYPE_CHECKING:
    from sdrev.model import Model

__all__ = ["QUANTILES", "ScenarioUncertainty", "scenario_uncertainty"]

#: Quantiles of the bands (the 90% and 50% bands and the median).
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True, eq=False)
class ScenarioUncertainty:
    """Scenarios compared over many parameter sets.

    Attributes
    ----------
    model : str
    scenarios : tuple of str
    outputs : tuple of str
        Vensim names.
    units : mapping of str to str
    sets : int
        Parameter sets run under each scenario.
    source : str
        Where the sets came from (e.g. "posterior draws of results/...").
    time : float
        The time of the outcome ranges and probabilities.
    bands : pandas.DataFrame
        ``scenario, output, time, q05, q25, q50, q75, q95``.
    outcomes : pandas.DataFrame
        ``scenario, output, median, lower, upper`` at ``time`` (the 90% range).
    pairwise : pandas.DataFrame
        ``output, scenario, other, probability``: the share of sets in which
        ``scenario``'s outcome at ``time`` exceeds ``other``'s.
    """

    model: str
    scenarios: tuple[str, ...]
    outputs: tuple[str, ...]
    units: Mapping[str, str]
    sets: int
    source: str
    time: float
    bands: pd.DataFrame
    outcomes: pd.DataFrame
    pairwise: pd.DataFrame

    def text(self) -> str:
        """Outcome ranges and win probabilities in plain words."""
        lines = [f"Over {self.sets:,} parameter sets ({self.source}), at {self.time:g}:"]
        for output in self.outputs:
            units = self.units.get(output) or ""
            for r in self.outcomes[self.outcomes["output"] == output].itertuples(index=False):
                lines.append(f"  {output}: {r.median:.3g} (90% range {r.lower:.3g} to "
                             f"{r.upper:.3g}){' ' + units if units else ''} under {r.scenario}")
            pairs = self.pairwise[(self.pairwise["output"] == output)
                                  & (self.pairwise["scenario"] == self.scenarios[0])]
            for r in pairs.itertuples(index=False):  # each against the first scenario
                lines.append(f"  {output}: {r.scenario} ends above {r.other} in "
                             f"{r.probability:.0%} of the sets")
        return "\n".join(lines)


def scenario_uncertainty(model: Model, samples: pd.DataFrame, *,
                         scenarios: Sequence[str] | None = None,
                         outputs: Sequence[str] | None = None, time: float | None = None,
                         source: str = "given parameter sets",
                         progress: bool = False) -> ScenarioUncertainty:
    """Run every parameter set under every scenario and summarise the spread.

    Parameters
    ----------
    model : Model
    samples : pandas.DataFrame
        One row per parameter set, one column per constant (Vensim or
        snake_case names), such as :func:`sdrev.calibrate.read_posterior`.
    scenarios : sequence of str, optional
        Default: the ``[compare]`` table's scenarios, else every scenario.
    outputs : sequence of str, optional
        Scalar variables (default: the model's key outputs that are scalar).
    time : float, optional
        Time of the outcome ranges (default FINAL TIME).
    source : str, optional
        Where the sets came from, for the text and the run folder.
    progress : bool, optional

    Returns
    -------
    ScenarioUncertainty
    """
    from sdrev import ensemble
    from sdrev.scenario import resolve_variable

    if not isinstance(samples, pd.DataFrame) or not len(samples):
        # a table without columns (rows only) runs the model's own constants: for a
        # model with RANDOM functions, one noise realisation per row
        raise InvalidValueError("samples must be a non-empty table of parameter sets")
    names = list(scenarios or compare_defaults(model).scenarios or model.scenarios)
    if not names:
        raise InvalidValueError(f"{model.name} has no scenarios to compare under uncertainty")
    for name in names:
        if name not in model.scenarios:
            raise UnknownNameError(f"unknown scenario {name!r} for model {model.name}; known "
                                   f"scenarios: {', '.join(model.scenarios) or 'none'}")
    variables = [resolve_variable(model, o) for o in (outputs or model.key_outputs)]
    t0, t1 = model.time.initial, model.time.final
    at = t1 if time is None else float(time)
    if not t0 <= at <= t1:
        raise InvalidValueError(f"time {at:g} is outside the run [{t0:g}, {t1:g}]")
    frames = {}
    for name in names:
        frame = samples.copy()
        for key, value in model.scenarios[name].params.items():
            frame[key] = value  # the scenario's lever wins over the set's value
        data = ensemble.run(model, frame, outputs=[v.name for v in variables],
                            progress=progress)
        frames[name] = data
    first = frames[names[0]]
    times = np.asarray(first["time"].values, dtype=float)
    kept = [v for v in variables if first[v.py_name].ndim == 2]
    if not kept:
        raise InvalidValueError("the outputs are all subscripted; name scalar outputs")
    band_rows, outcome_rows = [], []
    finals: dict = {}
    for name in names:
        for var in kept:
            Y = np.asarray(frames[name][var.py_name].values, dtype=float)
            q = np.nanquantile(Y, QUANTILES, axis=0)
            frame = pd.DataFrame({"scenario": name, "output": var.name, "time": times})
            for k, p in enumerate(QUANTILES):
                frame[f"q{round(p * 100):02d}"] = q[k]
            band_rows.append(frame)
            final = value_at(times, Y, at)
            finals[name, var.name] = final
            lo, mid, hi = np.nanquantile(final, [0.05, 0.5, 0.95])
            outcome_rows.append({"scenario": name, "output": var.name, "median": mid,
                                 "lower": lo, "upper": hi})
    pair_rows = []
    for var in kept:
        for a, b in itertools.permutations(names, 2):
            pair_rows.append({"output": var.name, "scenario": a, "other": b,
                              "probability": float(np.mean(finals[a, var.name]
                                                           > finals[b, var.name]))})
    return ScenarioUncertainty(
        model=model.name, scenarios=tuple(names), outputs=tuple(v.name for v in kept),
        units=MappingProxyType({v.name: v.units for v in kept}), sets=len(samples),
        source=source, time=at, bands=pd.concat(band_rows, ignore_index=True),
        outcomes=pd.DataFrame(outcome_rows), pairwise=pd.DataFrame(pair_rows))
