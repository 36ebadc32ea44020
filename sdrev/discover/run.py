"""Scenario discovery: sample, run every scenario of an outcome, classify, find boxes."""

from __future__ import annotations

import time as _time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sdrev import budget
from sdrev.discover.boxes import METHODS, Box, BoxSearch, cart_boxes, prim_boxes
from sdrev.discover.outcome import Variable, evaluate, parse_outcome
from sdrev.errors import InvalidValueError, ModelNotFoundError, suggest
from sdrev.factors import Factor, check_keys, parse_factor

if TYPE_CHECKING:
    from sdrev.model import Model

__all__ = ["DEFAULT_N", "DISCOVER_KEYS", "DiscoverDefaults", "DiscoveryResult",
           "discover_defaults", "load_factors", "run"]

#: Keys allowed in a model's ``[discover]`` metadata table.
DISCOVER_KEYS = frozenset({"outcome", "label", "label_fails", "description"})
#: Default number of parameter sets.
DEFAULT_N = 4000


@dataclass(frozen=True)
class DiscoverDefaults:
    """The ``[discover]`` table of a model's metadata (empty strings where unset).

    Attributes
    ----------
    outcome : str
        The default outcome expression.
    label : str
        The outcome in words, for summaries ("the innovation network is
        ahead of the large integrated enterprises in 2030").
    label_fails : str
        Its failure in words ("the large integrated enterprises are ahead
        or level").
    description : str
    """

    outcome: str = ""
    label: str = ""
    label_fails: str = ""
    description: str = ""


def discover_defaults(model: Model) -> DiscoverDefaults:
    """Read and check the optional ``[discover]`` table beside ``model``.

    Raises
    ------
    InvalidValueError
        For unknown keys or values that are not strings.
    """
    from sdrev.library import read_metadata

    table = read_metadata(model.path).get("discover")
    if table is None:
        return DiscoverDefaults()
    where = f"{model.path.with_suffix('.toml').name} [discover]"
    if not isinstance(table, Mapping):
        raise InvalidValueError(f"{where} must be a table")
    check_keys(table, set(DISCOVER_KEYS), where)
    for key, value in table.items():
        if not isinstance(value, str):
            raise InvalidValueError(f"{where}: {key} must be a string, got {value!r}")
    return DiscoverDefaults(**{k: str(v).strip() for k, v in table.items()})


@dataclass(frozen=True, eq=False)
class DiscoveryResult:
    """Boxes of conditions under which an outcome holds (and fails).

    Attributes
    ----------
    model, model_sha256, model_path : str
        Name, SHA-256 and file of the model.
    outcome : str
        The outcome expression.
    label, label_fails : str
        The outcome and its failure in words (the ``[discover]`` table's,
        for its default outcome; else empty).
    method : str
        ``"prim"`` or ``"cart"``.
    base_scenario : str or None
        Scenario of the constants that are not sampled.
    scenarios : tuple of str or None
        The scenarios run on the same parameter sets (``None``: the base).
    source : str
        Where the parameter sets came from.
    seed : int
    factors : tuple of str
        The dimensions boxes may restrict.
    ranges : mapping of str to (float, float)
        Each factor's sampled range.
    fixed : tuple of str
        Sampled constants every scenario of the outcome sets (not varied in
        any run, so left out of the boxes).
    samples : pandas.DataFrame
        The decided runs' factor values, one row per parameter set.
    holds : numpy.ndarray of bool
        Whether the outcome holds, per row of ``samples``.
    undecided : int
        Parameter sets whose outcome could not be decided (a non-finite
        measure), left out.
    boxes : tuple of Box
        Boxes where the outcome holds (``target`` True) and where it fails
        (``target`` False).
    trajectory : pandas.DataFrame
        PRIM's peeling trajectories (``target, rank, step, coverage,
        density, mass, res_dim, chosen``); empty for CART.
    simulations : int
        Model runs made (parameter sets x scenarios).
    seconds_runs, seconds_boxes : float
    question : str
        The ``[discover]`` table's description, for its default outcome.
    """

    model: str
    model_sha256: str
    model_path: str
    outcome: str
    label: str
    label_fails: str
    method: str
    base_scenario: str | None
    scenarios: tuple[str | None, ...]
    source: str
    seed: int
    factors: tuple[str, ...]
    ranges: Mapping[str, tuple[float, float]]
    fixed: tuple[str, ...]
    samples: pd.DataFrame
    holds: np.ndarray
    undecided: int
    boxes: tuple[Box, ...]
    trajectory: pd.DataFrame
    simulations: int
    seconds_runs: float = 0.0
    seconds_boxes: float = 0.0
    question: str = ""

    @property
    def share(self) -> float:
        """Share of the decided parameter sets in which the outcome holds."""
        return float(self.holds.mean()) if self.holds.size else float("nan")

    def boxes_for(self, target: bool) -> tuple[Box, ...]:
        """The boxes of one class: where the outcome holds (True) or fails (False)."""
        return tuple(b for b in self.boxes if b.target == target)

    def box_table(self) -> pd.DataFrame:
        """One row per box: ``target, rank, coverage, density, mass, runs, hits, restricted``."""
        return pd.DataFrame([{"target": b.target, "rank": b.rank, "coverage": b.coverage,
                              "density": b.density, "mass": b.mass, "runs": b.runs,
                              "hits": b.hits, "restricted": len(b.limits),
                              "conditions": " and ".join(b.conditions())}
                             for b in self.boxes],
                            columns=["target", "rank", "coverage", "density", "mass",
                                     "runs", "hits", "restricted", "conditions"])

    def limit_table(self) -> pd.DataFrame:
        """One row per restriction: ``target, rank, factor, low, high, lower_bound,
        upper_bound, qp``."""
        frames = [b.limits.assign(target=b.target, rank=b.rank) for b in self.boxes]
        cols = ["target", "rank", "factor", "low", "high", "lower_bound", "upper_bound", "qp"]
        if not frames:
            return pd.DataFrame(columns=cols)
        return pd.concat(frames, ignore_index=True)[cols]


def load_factors(model: Model, spec: str | Path | None = None) -> tuple[tuple[Factor, ...],
                                                                         str | None, str]:
    """The factors to sample: a spec's ``[[factor]]`` entries, or the documented ranges.

    Parameters
    ----------
    model : Model
    spec : str or Path, optional
        A TOML file with ``[[factor]]`` entries (a sensitivity spec; other
        tables are ignored, and ``[sensitivity] scenario`` is the base
        scenario). A bare name not found in the working folder is looked
        up in the library's ``sensitivity/`` folder. Default: the model's
        own sensitivity spec if the library has one, else every constant
        with a documented range.

    Returns
    -------
    factors : tuple of Factor
    scenario : str or None
        The spec's base scenario.
    source : str
        Where the factors came from, for summaries.

    Raises
    ------
    ModelNotFoundError, InvalidValueError, UnknownNameError
    """
    from sdrev.library import sensitivity_dir

    if spec is None:
        own = sensitivity_dir() / f"{model.name}.toml"
        if not own.is_file():
            from sdrev.ensemble.plan import documented_factors
            return documented_factors(model), None, "documented parameter ranges"
        spec = own
    file = Path(spec)
    if not file.is_file() and len(file.parts) == 1:
        for name in (file.name, f"{file.name}.toml"):
            if (sensitivity_dir() / name).is_file():
                file = sensitivity_dir() / name
                break
    if not file.is_file():
        raise ModelNotFoundError(f"spec {str(spec)!r} does not exist")
    budget.check_file(file, what="spec")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidValueError(f"cannot read spec {file.name}: {exc}") from None
    entries = data.get("factor", [])
    if not isinstance(entries, list) or not entries:
        raise InvalidValueError(f"spec {file.name} has no [[factor]] entries")
    factors = tuple(parse_factor(model, e, f"{file.name} [[factor]] {i + 1}")
                    for i, e in enumerate(entries))
    names = [f.name for f in factors]
    for name in names:
        if names.count(name) > 1:
            raise InvalidValueError(f"spec {file.name}: factor {name!r} appears twice")
    settings = data.get("sensitivity", {})
    scenario = settings.get("scenario") if isinstance(settings, Mapping) else None
    return factors, scenario, f"the factors of {file.name}"


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 20:
        raise InvalidValueError(f"N must be an integer of at least 20 parameter sets, got {n!r}")
    return int(n)


def run(model: Model | str, *, outcome: str | None = None, spec: str | Path | None = None,
        samples: pd.DataFrame | None = None, source: str | None = None,
        n: int | None = None, seed: int = 0, method: str = "prim", scenario: str | None = None,
        max_boxes: int = 2, mass_min: float = 0.05, progress: bool = False) -> DiscoveryResult:
    """Find the conditions under which an outcome holds, and under which it fails.

    Samples the factors (Latin hypercube over a spec's ``[[factor]]``
    entries or the documented ranges), or takes given parameter sets (such
    as posterior draws); runs them on the ensemble engine once per scenario
    the outcome names (the same sets in each: a scenario's own values
    override the sets' where both name a constant); classifies each set by
    the outcome; and finds boxes of factor values that concentrate the sets
    where it holds and those where it fails.

    Parameters
    ----------
    model : Model or str
    outcome : str, optional
        An outcome expression (:mod:`sdrev.discover.outcome`). Default: the
        ``[discover]`` table's ``outcome``.
    spec : str or Path, optional
        Factors to sample (see :func:`load_factors`).
    samples : pandas.DataFrame, optional
        Given parameter sets instead of a sample (one column per constant),
        e.g. :func:`sdrev.calibrate.read_posterior`; ``spec`` and ``n`` are
        then not used.
    source : str, optional
        Where given ``samples`` came from, for the summary.
    n : int, optional
        Parameter sets to sample (default :data:`DEFAULT_N`).
    seed : int, optional
        Seed of the sample and of CART.
    method : {"prim", "cart"}, optional
    scenario : str, optional
        Base scenario of the constants not sampled (default the spec's,
        else ``baseline`` if the model has one).
    max_boxes : int, optional
        Boxes per class at most.
    mass_min : float, optional
        Smallest share of runs in a box (PRIM's ``mass_min``, CART's
        smallest leaf).
    progress : bool, optional
        Show the ensemble engine's progress bars.

    Returns
    -------
    DiscoveryResult

    Raises
    ------
    InvalidValueError, UnknownNameError, ModelNotFoundError
    """
    from sdrev import ensemble
    from sdrev.ensemble.plan import sample_factors
    from sdrev.model import Model, load, resolve_parameter
    from sdrev.scenario import check_samples, run_settings

    if not isinstance(model, Model):
        model = load(model)
    if method not in METHODS:
        raise InvalidValueError(f"unknown method {method!r}; valid methods: "
                                f"{', '.join(METHODS)}" + suggest(str(method), METHODS))
    if isinstance(max_boxes, bool) or not isinstance(max_boxes, int) or max_boxes < 1:
        raise InvalidValueError(f"max_boxes must be a positive integer, got {max_boxes!r}")
    if not 0 < mass_min < 0.5:
        raise InvalidValueError(f"mass_min must be between 0 and 0.5, got {mass_min!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or \
            not 0 <= seed < 2**32:
        raise InvalidValueError(f"seed must be an integer from 0 to 2**32 - 1, got {seed!r}")
    defaults = discover_defaults(model)
    text = outcome if outcome is not None else defaults.outcome
    if not text:
        raise InvalidValueError(
            f"model {model.name} declares no default outcome ([discover] outcome in its "
            "TOML); give one, e.g. --outcome 'Technological Capability @ 2030 > 0.8'")
    parsed = parse_outcome(text, model)
    own = outcome is None

    if samples is None:
        factors, spec_scenario, origin = load_factors(model, spec)
        n = DEFAULT_N if n is None else _check_n(n)
        sets = sample_factors(factors, n, seed=int(seed))  # Latin hypercube through priors
        ranges: dict[str, tuple[float, float]] = {f.name: (f.range[0], f.range[1])
                                                  for f in factors}
        source = source or f"a Latin hypercube of {n:,} sets over {origin}"
    else:
        if not isinstance(samples, pd.DataFrame):
            raise InvalidValueError("samples must be a pandas DataFrame, one row per "
                                    f"parameter set, got {type(samples).__name__}")
        check_samples(model, samples)
        sets = samples.rename(columns={c: resolve_parameter(model, str(c)).name
                                       for c in samples.columns}).reset_index(drop=True)
        spec_scenario = None
        ranges = {c: (float(sets[c].min()), float(sets[c].max())) for c in sets.columns}
        source = source or f"{len(sets):,} given parameter sets"
    base = scenario or spec_scenario or ("baseline" if "baseline" in model.scenarios else None)
    base_params = run_settings(model, scenario=base).params

    scenarios = parsed.scenarios
    overrides = {s: dict(model.scenarios[s].params) if s is not None else {}
                 for s in scenarios}
    fixed = tuple(c for c in sets.columns
                  if all(c in overrides[s] for s in scenarios))
    varied = [c for c in sets.columns if c not in fixed and sets[c].nunique() > 1]
    if not varied:
        raise InvalidValueError("no sampled factor varies in the runs (every one is set by "
                                "the outcome's scenarios); sample other factors")
    start = _time.perf_counter()
    trajectories: dict[Variable, np.ndarray] = {}
    times = None
    for s in scenarios:
        frame = sets.copy()
        for name, value in base_params.items():
            if name not in frame:
                frame[name] = value
        for name, value in overrides[s].items():
            frame[name] = value  # the scenario's own value wins over the set's
        names = [v.name for v in parsed.variables if v.scenario == s]
        data = ensemble.run(model, frame, outputs=list(dict.fromkeys(names)),
                            progress=progress)
        times = np.asarray(data["time"].values, dtype=float)
        for v in parsed.variables:
            if v.scenario == s:
                values = data[v.py_name]
                if values.ndim != 2:
                    raise InvalidValueError(f"outcome {parsed.text!r}: {v.name!r} is "
                                            "subscripted; outcomes take scalar variables")
                trajectories[v] = np.asarray(values.values, dtype=float)
    seconds_runs = _time.perf_counter() - start
    holds, decided = evaluate(parsed, times, trajectories)
    X = sets.loc[decided, varied].reset_index(drop=True).astype(float)
    y = holds[decided]
    if len(X) < 20:
        raise InvalidValueError(f"only {len(X)} parameter sets give a decided outcome "
                                "(the others have non-finite trajectories); narrow the ranges")
    start = _time.perf_counter()
    searches: list[BoxSearch] = []
    from tqdm.auto import tqdm
    for target in tqdm((True, False), desc=f"{method.upper()} boxes", unit="class",
                       disable=not progress, leave=False):
        if (y == target).sum() == 0:
            continue
        if method == "prim":
            searches.append(prim_boxes(X, y, target=target, max_boxes=max_boxes,
                                       mass_min=mass_min))
        else:
            searches.append(cart_boxes(X, y, target=target, max_boxes=max_boxes,
                                       mass_min=mass_min, seed=int(seed)))
    seconds_boxes = _time.perf_counter() - start
    boxes = tuple(b for s in searches for b in s.boxes)
    trajectory = pd.concat([s.trajectory for s in searches if not s.trajectory.empty],
                           ignore_index=True) if any(not s.trajectory.empty
                                                     for s in searches) else searches[0].trajectory
    return DiscoveryResult(
        model=model.name, model_sha256=model.sha256, model_path=str(model.path), outcome=parsed.text,
        label=defaults.label if own else "", label_fails=defaults.label_fails if own else "",
        method=method, base_scenario=base, scenarios=scenarios, source=source,
        seed=int(seed), factors=tuple(varied),
        ranges=MappingProxyType({c: ranges[c] for c in varied}), fixed=fixed,
        samples=X, holds=y, undecided=int((~decided).sum()), boxes=boxes,
        trajectory=trajectory, simulations=len(sets) * len(scenarios),
        seconds_runs=round(seconds_runs, 3), seconds_boxes=round(seconds_boxes, 3),
        question=defaults.description if own else "")

