"""The record of a brief: everything it shows, computed or read from run folders.

Its own module, below the modules that compute a brief (``content``) and
those that read one (``findings``, ``figures``, ``render``), so that they
import it without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sdrev.compare import Comparison, RegimeMap
    from sdrev.discover import DiscoveryResult
    from sdrev.loops import EnsembleLoopAnalysis, LoopAnalysis
    from sdrev.model import Model
    from sdrev.report.brief.levers import Levers
    from sdrev.report.brief.uncertainty import BriefUncertainty
    from sdrev.scenario import Switch

__all__ = ["Brief"]


@dataclass(frozen=True, eq=False)
class Brief:
    """Everything a brief shows, computed or read from run folders.

    Attributes
    ----------
    model : Model
    comparison : Comparison
        Runs labelled for people (scenario labels, not ids).
    loops : LoopAnalysis or None
    levers : Levers or None
    regime_map : RegimeMap or None
    uncertainty : BriefUncertainty or None
    discovery : DiscoveryResult or None
        Boxes of conditions under which each regime leads (models with a
        regime map and a ``[discover]`` outcome).
    loop_ensemble : EnsembleLoopAnalysis or None
        Loop dominance over the uncertainty runs' parameter sets (baseline
        scenario): how often each documented mechanism leads, period by period.
    notes : tuple of str
        Parts left out and why.
    settings : mapping of str to float or Switch
        Constants the brief sets on top of every scenario (``--set``), by
        Vensim name (a Switch for a timed setting, ``NAME=VALUE@TIME``);
        empty for the model's own scenarios.
    noise : bool
        Whether the model draws random numbers (Vensim's RANDOM functions):
        the brief then says which noise realisations each part follows.
    timings : mapping of str to float
        Seconds per part.
    sources : mapping of str to str
        Run folder of each part read from disk.
    created : str
    """

    model: Model
    comparison: Comparison
    loops: LoopAnalysis | None = None
    levers: Levers | None = None
    regime_map: RegimeMap | None = None
    notes: tuple[str, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    created: str = ""
    uncertainty: BriefUncertainty | None = None
    discovery: DiscoveryResult | None = None
    loop_ensemble: EnsembleLoopAnalysis | None = None
    settings: Mapping[str, float | Switch] = field(default_factory=dict)
    noise: bool = False
