"""Sensitivity specs: which factors vary, which outputs and metrics are analysed.

A spec is a TOML file, ``sensitivity/<model>.toml`` for library models or
any path for a user's model::

    [sensitivity]
    description = "What the analysis asks."
    scenario = "baseline"        # constants not varied take this scenario's values
    method = "sobol"             # default method (the CLI's --method overrides)
    n = 1024                     # default sample size (the CLI's -N overrides)
    seed = 20240501              # default seed (the CLI's --seed overrides)
    second_order = false         # Sobol second-order indices (S2)
    noise = "factor"             # a model with RANDOM functions: factor | fixed | independent
    noise_realisations = 100000  # noise = "factor": realisations the noise seed ranges over

    [[factor]]                   # a model constant varied over its range
    name = "R and D Spending"    # Vensim or snake_case name
    range = [0.0, 0.2]           # optional: defaults to the model's documented range
    distribution = "uniform"     # uniform | loguniform | triangular | normal
                                 # | truncnormal | lognormal
    # mode = 0.1                 # triangular: the peak, inside range
    # mean = 0.1, sd = 0.02      # normal, truncnormal (range truncates), lognormal (of ln x)

    [[loop]]                     # a loop-gain factor: analysed as a group of its own
    id = "R1"                    # loop id from the model's metadata
    # gain = "Strategic Guiding Loop Gain"   # needed when the model documents no loops
    range = [0.0, 2.0]           # optional, default [0, 2]

    [[loop_metric]]              # a number from each run's loop-dominance analysis
    kind = "dominance_shift"     # first time `to` takes over from `from` (sdrev.loops)
    from = "strategic guiding"   # documented loop name or id, or a list of variables
    to = "ecology"
    # after = 2005               # ignore shifts before this time
    # default = 2040             # value if the shift never happens (default FINAL TIME,
                                 # as for first_crossing; the run's warnings count them)

    [[loop_metric]]
    kind = "relative_score"      # a loop's relative loop score at a time, in [-1, 1]
    loop = "ecology"
    time = 2015                  # default FINAL TIME

    [[loop_metric]]
    kind = "dominance_share"     # share of saved times the loop is in the dominant set
    loop = ["Legitimacy", "Legitimacy Building"]   # a loop by its variables
    # start = 2000, end = 2040   # default the whole run

    [[output]]
    variable = "Standards Influence"
    metrics = [
      { kind = "value_at" },                      # at FINAL TIME unless time = ...
      { kind = "value_at", time = 2030 },
      { kind = "time_average", start = 2010 },    # start/end default to the horizon
      { kind = "maximum" },
      { kind = "first_crossing", threshold = 0.5 },   # direction = "up" | "down"
      { kind = "trajectory" },                    # time-resolved indices
    ]

:func:`load_spec` reads and validates a spec against a model: every error
names the bad value and the valid ones. Loop metrics are analysed like any
output metric, as the output :data:`LOOP_OUTPUT`; a loop is named by its
documented name, the id of a documented loop, or its variables (ids of
undocumented loops, such as ``B17``, are refused: their numbering can change
from run to run).

Noise: a model with Vensim's RANDOM functions gets a ``noise`` setting
(:mod:`sdrev.sensitivity.noise`), by default a noise-seed factor.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sdrev import budget
from sdrev.errors import InvalidValueError, ModelNotFoundError, UnknownNameError, suggest
from sdrev.factors import DISTRIBUTIONS, Factor, check_keys, number, parse_factor
from sdrev.sensitivity.noise import (NOISE_FACTOR, NOISE_FACTOR_METHODS, NOISE_MODES,
                                     NOISE_REALISATIONS, check_noise)

if TYPE_CHECKING:
    from sdrev.model import Model

__all__ = ["DISTRIBUTIONS", "LOOP_METRICS", "LOOP_OUTPUT", "METHODS", "METRICS",
           "NOISE_FACTOR", "NOISE_FACTOR_METHODS", "NOISE_MODES", "NOISE_REALISATIONS",
           "Factor", "LoopMetric", "Metric", "Output", "Spec", "check_method", "check_noise",
           "load_spec", "noise_for_method", "parse_spec", "spec_path"]

#: Analysis methods, each a module of :mod:`sdrev.sensitivity.methods`.
METHODS = ("sobol", "morris", "fast", "rbd_fast", "pawn", "delta")
#: Output metric kinds (see :mod:`sdrev.sensitivity.metrics`).
METRICS = ("value_at", "time_average", "maximum", "first_crossing", "trajectory")
#: Loop-dominance metric kinds (see :mod:`sdrev.loops.metrics`).
LOOP_METRICS = ("dominance_shift", "relative_score", "dominance_share")
#: Output label under which loop metrics appear in the result tables.
LOOP_OUTPUT = "loop dominance"
#: Default range of a loop gain (models/README.md: gains are in [0, 2]).
LOOP_GAIN_RANGE = (0.0, 2.0)

_TOP_KEYS = {"sensitivity", "factor", "loop", "output", "loop_metric"}
_SETTINGS = {"description", "scenario", "method", "n", "seed", "second_order", "noise",
             "noise_realisations"}
_METRIC_KEYS = {"value_at": {"time"}, "time_average": {"start", "end"}, "maximum": set(),
                "first_crossing": {"threshold", "direction"}, "trajectory": set()}
_LOOP_METRIC_KEYS = {"dominance_shift": ({"from", "to"}, {"after", "default"}),
                     "relative_score": ({"loop"}, {"time"}),
                     "dominance_share": ({"loop"}, {"start", "end"})}
_UNDOCUMENTED_ID = re.compile(r"^[RBU]\d+$", re.IGNORECASE)


@dataclass(frozen=True)
class Metric:
    """One scalar (or per-time) summary of an output trajectory.

    Attributes
    ----------
    kind : str
        One of :data:`METRICS`.
    name : str
        Short label, e.g. ``"value_at_2040"``, ``"first_crossing_0.5"``.
    time, start, end, threshold : float or None
    direction : str
        ``"up"`` or ``"down"`` (first crossing).
    """

    kind: str
    name: str
    time: float | None = None
    start: float | None = None
    end: float | None = None
    threshold: float | None = None
    direction: str = "up"


@dataclass(frozen=True)
class Output:
    """A model variable and the metrics computed from its trajectory."""

    variable: str
    py_name: str
    units: str
    metrics: tuple[Metric, ...]


@dataclass(frozen=True)
class LoopMetric:
    """One number from each run's loop-dominance analysis (:mod:`sdrev.loops`).

    A loop is a string (a documented loop's name, or its id when it has no
    name) or a tuple of Vensim variable names (the loop through exactly those
    variables).

    Attributes
    ----------
    kind : str
        One of :data:`LOOP_METRICS`.
    name : str
        Label in the tables, e.g. ``"shift_strategic_guiding_to_ecology"``.
    loop : str or tuple of str
        The loop (``relative_score``, ``dominance_share``) or, for
        ``dominance_shift``, the loop that dominates first.
    to_loop : str or tuple of str or None
        The loop that takes over (``dominance_shift``).
    time, after, start, end : float or None
    default : float or None
        Value of a shift that never happens; ``None``: FINAL TIME.
    """

    kind: str
    name: str
    loop: str | tuple[str, ...]
    to_loop: str | tuple[str, ...] | None = None
    time: float | None = None
    after: float | None = None
    start: float | None = None
    end: float | None = None
    default: float | None = None

    def loops(self) -> tuple:
        """The loops the metric reads."""
        return (self.loop,) if self.to_loop is None else (self.loop, self.to_loop)

    def words(self) -> str:
        """The metric in plain words."""
        def name(loop):
            return loop if isinstance(loop, str) else "the loop " + " -> ".join(loop)
        if self.kind == "dominance_shift":
            return (f"time dominance shifts from {name(self.loop)} to {name(self.to_loop)}"
                    + (f" after {self.after:g}" if self.after is not None else ""))
        if self.kind == "relative_score":
            return f"relative loop score of {name(self.loop)} at {self.time:g}"
        span = ("" if self.start is None and self.end is None else
                f" in {self.start:g}-{self.end:g}")
        return f"share of time {name(self.loop)} dominates{span}"


@dataclass(frozen=True)
class Spec:
    """A validated sensitivity spec for one model.

    Attributes
    ----------
    model : str
        Name of the model it was validated against.
    path : Path or None
        The file it was read from.
    description : str
    scenario : str or None
    method : str
        Default method.
    n : int
        Default sample size (meaning per method: see :mod:`sdrev.sensitivity.methods`).
    seed : int
        Default seed.
    second_order : bool
    factors : tuple of Factor
        The parameter group.
    loop_factors : tuple of Factor
        The loop-gain group.
    outputs : tuple of Output
    loop_metrics : tuple of LoopMetric
        Loop-dominance metrics, analysed as the output :data:`LOOP_OUTPUT`.
    noise : str or None
        One of :data:`NOISE_MODES` for a model with RANDOM functions,
        ``None`` for a model without.
    noise_realisations : int
        Stream indices the noise-seed factor ranges over (``noise = "factor"``).
    """

    model: str
    path: Path | None
    description: str
    scenario: str | None
    method: str
    n: int
    seed: int
    second_order: bool
    factors: tuple[Factor, ...]
    loop_factors: tuple[Factor, ...]
    outputs: tuple[Output, ...]
    text: str = field(default="", repr=False)
    loop_metrics: tuple[LoopMetric, ...] = ()
    noise: str | None = None
    noise_realisations: int = NOISE_REALISATIONS

    @property
    def noise_factor(self) -> Factor | None:
        """The noise-seed factor (``noise = "factor"``), else ``None``."""
        if self.noise != "factor":
            return None
        span = (0.0, float(self.noise_realisations))
        return Factor(NOISE_FACTOR, NOISE_FACTOR.replace(" ", "_"), span, "uniform", span,
                      label="noise realisation")

    def with_noise(self, noise: str) -> Spec:
        """The spec with the noise treated as ``noise`` (one of :data:`NOISE_MODES`).

        Raises
        ------
        InvalidValueError
            For another value, or a model without RANDOM functions.
        """
        import dataclasses
        return dataclasses.replace(self, noise=check_noise(noise, self.model,
                                                           stochastic=self.noise is not None))

    def problem(self, group: str = "parameters") -> dict:
        """The SALib problem dict of a factor group (``"parameters"`` or ``"loops"``)."""
        factors = self.group(group)
        return {
            "num_vars": len(factors),
            "names": [f.name for f in factors],
            "bounds": [list(f.salib_bounds) for f in factors],
            "dists": [DISTRIBUTIONS[f.distribution] for f in factors],
        }

    def group(self, group: str) -> tuple[Factor, ...]:
        """The factors of ``group``."""
        noise = self.noise_factor
        if group == "parameters":
            members = self.factors
        elif group == "loops":
            members = self.loop_factors
        else:
            raise InvalidValueError(f"unknown factor group {group!r}; valid groups: "
                                    "parameters, loops")
        # the noise joins each group that varies something
        return members + (noise,) if members and noise is not None else members

    def streams(self, sample):
        """The noise stream of each row of a sample of a factor group (columns
        as the group's factor names): the noise-seed factor's value rounded
        down (``noise = "factor"``), stream 0 (``"fixed"``) or the row's
        position (``"independent"``, and models without noise), as an
        int64 array."""
        import numpy as np

        rows = len(sample)
        if self.noise == "factor" and NOISE_FACTOR in sample:
            column = np.floor(np.asarray(sample[NOISE_FACTOR], dtype=float))
            return np.clip(column, 0, self.noise_realisations - 1).astype(np.int64)
        if self.noise in ("factor", "fixed"):
            return np.zeros(rows, dtype=np.int64)
        return np.arange(rows, dtype=np.int64)


def noise_for_method(spec: Spec, method: str) -> tuple[Spec, str]:
    """``spec`` as ``method`` can analyse its noise, and a warning when the
    noise-seed factor had to be dropped (see :data:`NOISE_FACTOR_METHODS`)."""
    import dataclasses
    if spec.noise != "factor" or method in NOISE_FACTOR_METHODS:
        return spec, ""
    return dataclasses.replace(spec, noise="independent"), (
        f"the noise of the model's RANDOM functions is not a factor with {method}, which "
        "estimates each index from that factor's values alone: each run draws its own "
        "realisation, variance no index is given (use sobol or morris for a noise-seed "
        "factor)")




def check_method(method: str) -> str:
    """Return ``method`` if it is one of :data:`METHODS`, else raise naming the valid ones."""
    if method not in METHODS:
        raise InvalidValueError(
            f"unknown sensitivity method {method!r}; valid methods: {', '.join(METHODS)}"
            + suggest(str(method), METHODS))
    return method


def spec_path(model: Model) -> Path:
    """Where the library keeps the spec of ``model``."""
    from sdrev.library import sensitivity_dir
    return sensitivity_dir() / f"{model.name}.toml"


def load_spec(model: Model, path: str | Path | None = None) -> Spec:
    """Read and validate the sensitivity spec of ``model``.

    Parameters
    ----------
    model : Model
    path : str or Path, optional
        A spec file; by default the library's ``sensitivity/<model>.toml``.
        A bare file name that does not exist in the working folder (such as
        ``crrc_standards_dominance.toml`` or ``crrc_standards_dominance``)
        is looked up in the library's sensitivity folder.

    Returns
    -------
    Spec

    Raises
    ------
    ModelNotFoundError
        If there is no spec file.
    InvalidValueError, UnknownNameError
        If the spec is invalid; the message names the bad entry and the
        valid values.
    """
    file = _spec_file(path) if path is not None else spec_path(model)
    if not file.is_file():
        hint = ("" if path is not None else
                "; the model has no library spec, give one with --spec FILE")
        raise ModelNotFoundError(f"sensitivity spec {str(file)!r} does not exist{hint}")
    budget.check_file(file, what="sensitivity spec")
    text = file.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidValueError(f"cannot read sensitivity spec {file.name}: {exc}") from None
    return parse_spec(model, data, path=file, text=text)


def _spec_file(path: str | Path) -> Path:
    """``path``, or for a bare name not found here, the library's spec of that name."""
    file = Path(path)
    if file.is_file() or len(file.parts) != 1:
        return file
    from sdrev.library import sensitivity_dir
    for name in (file.name, f"{file.name}.toml"):
        bundled = sensitivity_dir() / name
        if bundled.is_file():
            return bundled
    return file


def parse_spec(model: Model, data: Mapping, *, path: Path | None = None, text: str = "") -> Spec:
    """Validate a spec already read into a mapping; see :func:`load_spec`."""
    where = path.name if path is not None else "spec"
    check_keys(data, _TOP_KEYS, where)
    settings = dict(data.get("sensitivity", {}))
    check_keys(settings, _SETTINGS, f"{where} [sensitivity]")
    method = check_method(str(settings.get("method", "sobol")))
    n = settings.get("n", 1024)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidValueError(f"{where}: n must be a positive integer, got {n!r}")
    seed = settings.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidValueError(f"{where}: seed must be a non-negative integer, got {seed!r}")
    scenario = settings.get("scenario")
    if scenario is not None and scenario not in model.scenarios:
        raise UnknownNameError(
            f"{where}: unknown scenario {scenario!r} for model {model.name}; known scenarios: "
            f"{', '.join(model.scenarios) or 'none'}")
    second = settings.get("second_order", False)
    if not isinstance(second, bool):
        raise InvalidValueError(f"{where}: second_order must be true or false, got {second!r}")
    from sdrev.ensemble.stochastic import model_has_noise
    stochastic = model_has_noise(model.path)
    noise = (check_noise(settings["noise"], model.name, stochastic=stochastic)
             if "noise" in settings else NOISE_MODES[0] if stochastic else None)
    realisations = settings.get("noise_realisations", NOISE_REALISATIONS)
    if (isinstance(realisations, bool) or not isinstance(realisations, int)
            or not 2 <= realisations < 2**53):
        raise InvalidValueError(f"{where}: noise_realisations must be an integer from 2 to "
                                f"2**53 - 1, got {realisations!r}")

    factors = tuple(parse_factor(model, entry, f"{where} [[factor]] #{i + 1}")
                    for i, entry in enumerate(_tables(data, "factor", where)))
    loops = tuple(_loop_factor(model, entry, f"{where} [[loop]] #{i + 1}")
                  for i, entry in enumerate(_tables(data, "loop", where)))
    if not factors and not loops:
        raise InvalidValueError(f"{where}: no [[factor]] or [[loop]] entries; nothing to vary")
    seen: dict[str, str] = {}
    for f in factors + loops:
        if f.name in seen:
            raise InvalidValueError(f"{where}: {f.name!r} is varied twice ({seen[f.name]} and "
                                    f"{f.group}); list each constant once")
        seen[f.name] = f.group
    outputs = tuple(_output(model, entry, f"{where} [[output]] #{i + 1}")
                    for i, entry in enumerate(_tables(data, "output", where)))
    loop_metrics = tuple(_loop_metric(model, entry, f"{where} [[loop_metric]] #{i + 1}")
                         for i, entry in enumerate(_tables(data, "loop_metric", where)))
    if not outputs and not loop_metrics:
        raise InvalidValueError(f"{where}: no [[output]] or [[loop_metric]] entries; name at "
                                "least one variable")
    names = [m.name for m in loop_metrics]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InvalidValueError(f"{where}: loop metric {dup[0]!r} listed twice (give one of "
                                "them another name = ...)")
    if any(o.variable == LOOP_OUTPUT for o in outputs) and loop_metrics:
        raise InvalidValueError(f"{where}: the model has a variable named {LOOP_OUTPUT!r}, "
                                "the label of loop metrics; it cannot be an output as well")
    return Spec(model=model.name, path=path, description=str(settings.get("description", "")),
                scenario=scenario, method=method, n=n, seed=seed, second_order=second,
                factors=factors, loop_factors=loops, outputs=outputs, text=text,
                loop_metrics=loop_metrics, noise=noise, noise_realisations=realisations)


def _tables(data: Mapping, key: str, where: str) -> list:
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise InvalidValueError(f"{where}: {key} must be an array of tables ([[{key}]])")
    return entries


def _loop_factor(model: Model, entry: Mapping, where: str) -> Factor:
    loop_id = entry.get("id")
    loops = {lp.id: lp for lp in model.loops}
    entry = dict(entry)
    label = ""
    if loop_id is not None:
        if loop_id in loops:
            loop = loops[loop_id]
            label = f"{loop.id} {loop.name}".strip()
            entry.setdefault("gain", loop.gain)
        elif "gain" not in entry:
            raise UnknownNameError(
                f"{where}: unknown loop {loop_id!r} in model {model.name}; documented loops: "
                + (", ".join(loops) or "none (give gain = ... Loop Gain)"))
        else:
            label = str(loop_id)
    if "gain" not in entry:
        raise InvalidValueError(f"{where}: give the loop id or its gain parameter (gain = ...)")
    factor = parse_factor(model, entry, where, group="loops", default_range=LOOP_GAIN_RANGE,
                     label=label)
    return factor


def _output(model: Model, entry: Mapping, where: str) -> Output:
    check_keys(entry, {"variable", "metrics"}, where)
    name = entry.get("variable")
    variables = {v.name.lower(): v for v in model.variables
                 if v.kind in ("stock", "flow", "auxiliary")}
    variables.update({v.py_name: v for v in model.variables
                      if v.kind in ("stock", "flow", "auxiliary")})
    var = variables.get(str(name).lower()) or variables.get(str(name))
    if var is None:
        valid = [v.name for v in model.variables if v.kind in ("stock", "flow", "auxiliary")]
        raise UnknownNameError(
            f"{where}: unknown variable {name!r} in model {model.name}"
            + (suggest(str(name), valid) or f"; valid variables: {', '.join(valid)}"))
    raw = entry.get("metrics", [{"kind": "value_at"}])
    if not isinstance(raw, list) or not raw:
        raise InvalidValueError(f"{where} ({var.name}): metrics must be a non-empty list")
    metrics = tuple(_metric(model, m, f"{where} ({var.name})") for m in raw)
    names = [m.name for m in metrics]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise InvalidValueError(f"{where} ({var.name}): metric {sorted(dup)[0]!r} listed twice")
    return Output(var.name, var.py_name, var.units, metrics)


def _metric(model: Model, entry, where: str) -> Metric:
    if isinstance(entry, str):
        entry = {"kind": entry}
    if not isinstance(entry, Mapping):
        raise InvalidValueError(f"{where}: a metric must be a table like {{ kind = \"maximum\" }}")
    kind = entry.get("kind")
    if kind not in METRICS:
        raise InvalidValueError(f"{where}: unknown metric {kind!r}; valid metrics: "
                                f"{', '.join(METRICS)}" + suggest(str(kind), METRICS))
    check_keys(entry, {"kind", "name"} | _METRIC_KEYS[kind], f"{where} metric {kind}")
    t0, t1 = model.time.initial, model.time.final

    def when(key, default):
        value = number(entry.get(key, default), f"{where}: {kind} {key}")
        if not t0 <= value <= t1:
            raise InvalidValueError(f"{where}: {kind} {key} = {value:g} is outside the "
                                    f"simulated horizon [{t0:g}, {t1:g}]")
        return value

    if kind == "value_at":
        time = when("time", t1)
        metric = Metric(kind, f"value_at_{time:g}", time=time)
    elif kind == "time_average":
        start, end = when("start", t0), when("end", t1)
        if not start < end:
            raise InvalidValueError(f"{where}: time_average start {start:g} must be before "
                                    f"end {end:g}")
        metric = Metric(kind, f"time_average_{start:g}_{end:g}", start=start, end=end)
    elif kind == "first_crossing":
        if "threshold" not in entry:
            raise InvalidValueError(f"{where}: first_crossing needs threshold = <value>")
        threshold = number(entry["threshold"], f"{where}: threshold")
        direction = entry.get("direction", "up")
        if direction not in ("up", "down"):
            raise InvalidValueError(f"{where}: unknown direction {direction!r}; valid: up, down")
        metric = Metric(kind, f"first_crossing_{threshold:g}", threshold=threshold,
                        direction=direction)
    else:
        metric = Metric(kind, kind)
    if "name" in entry:
        name = entry["name"]
        if not isinstance(name, str) or not name.strip():
            raise InvalidValueError(f"{where}: metric name must be a non-empty string")
        metric = Metric(**{**metric.__dict__, "name": name.strip()})
    return metric


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "_", text.lower()).strip("_")


def _loop_ref(model: Model, value, where: str):
    """A loop as the spec names it -> documented name (or id), or a tuple of variables."""
    documented = [lp for lp in model.loops]
    known = [lp.name for lp in documented if lp.name] + [lp.id for lp in documented]
    if isinstance(value, str):
        key = " ".join(value.split()).lower()
        for lp in documented:
            if key in (lp.name.lower(), lp.id.lower()):
                return lp.name or lp.id
        if _UNDOCUMENTED_ID.match(key):
            raise UnknownNameError(
                f"{where}: loop id {value!r} is not documented in model {model.name}, and the "
                "ids of undocumented loops can change from run to run; name the loop by its "
                "variables instead, e.g. [\"A\", \"B\"]"
                + (f" (documented loops: {', '.join(known)})" if known else ""))
        raise UnknownNameError(
            f"{where}: unknown loop {value!r} in model {model.name}; "
            + (f"documented loops: {', '.join(known)}" + suggest(value, known) if known else
               "the model documents no loops: name a loop by its variables, e.g. "
               "[\"A\", \"B\"]"))
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, str) for v in value)):
        raise InvalidValueError(f"{where}: a loop is a documented loop name or id, or a "
                                f"non-empty list of variable names; got {value!r}")
    variables = {}
    for v in model.variables:
        if v.kind in ("stock", "flow", "auxiliary"):
            variables[v.name.lower()] = v.name
            variables[v.py_name] = v.name
    names = []
    for item in value:
        name = variables.get(" ".join(item.split()).lower()) or variables.get(item)
        if name is None:
            valid = sorted({v for v in variables.values()})
            raise UnknownNameError(
                f"{where}: unknown variable {item!r} in the loop {value!r} (model "
                f"{model.name})" + (suggest(item, valid) or
                                    f"; valid variables: {', '.join(valid)}"))
        names.append(name)
    if len(set(names)) != len(names):
        raise InvalidValueError(f"{where}: the loop {value!r} lists a variable twice")
    return tuple(names)


def _loop_metric(model: Model, entry, where: str) -> LoopMetric:
    if not isinstance(entry, Mapping):
        raise InvalidValueError(f"{where}: must be a table with kind = ...")
    kind = entry.get("kind")
    if kind not in LOOP_METRICS:
        raise InvalidValueError(f"{where}: unknown loop metric {kind!r}; valid loop metrics: "
                                f"{', '.join(LOOP_METRICS)}" + suggest(str(kind), LOOP_METRICS))
    required, optional = _LOOP_METRIC_KEYS[kind]
    check_keys(entry, {"kind", "name"} | required | optional, f"{where} ({kind})")
    for key in sorted(required):
        if key not in entry:
            raise InvalidValueError(f"{where}: {kind} needs {key} = <loop name, id or list of "
                                    "variables>")
    t0, t1 = model.time.initial, model.time.final

    def when(key, default=None):
        if key not in entry:
            return default
        value = number(entry[key], f"{where}: {kind} {key}")
        if not t0 <= value <= t1:
            raise InvalidValueError(f"{where}: {kind} {key} = {value:g} is outside the "
                                    f"run [{t0:g}, {t1:g}]")
        return value

    def label(loop):
        return _slug(loop if isinstance(loop, str) else "_".join(loop))

    if kind == "dominance_shift":
        a = _loop_ref(model, entry["from"], f"{where} from")
        b = _loop_ref(model, entry["to"], f"{where} to")
        if a == b:
            raise InvalidValueError(f"{where}: from and to name the same loop {entry['from']!r}")
        after = when("after")
        default = (None if "default" not in entry else
                   number(entry["default"], f"{where}: dominance_shift default"))
        metric = LoopMetric(kind, f"shift_{label(a)}_to_{label(b)}"
                            + (f"_after_{after:g}" if after is not None else ""),
                            a, b, after=after, default=default)
    elif kind == "relative_score":
        loop = _loop_ref(model, entry["loop"], f"{where} loop")
        time = when("time", t1)
        metric = LoopMetric(kind, f"relative_score_{label(loop)}_at_{time:g}", loop, time=time)
    else:
        loop = _loop_ref(model, entry["loop"], f"{where} loop")
        start, end = when("start"), when("end")
        if start is not None or end is not None:
            start = t0 if start is None else start
            end = t1 if end is None else end
            if not start < end:
                raise InvalidValueError(f"{where}: dominance_share start {start:g} must be "
                                        f"before end {end:g}")
        metric = LoopMetric(kind, f"dominance_share_{label(loop)}"
                            + (f"_{start:g}_{end:g}" if start is not None else ""), loop,
                            start=start, end=end)
    if "name" in entry:
        name = entry["name"]
        if not isinstance(name, str) or not name.strip():
            raise InvalidValueError(f"{where}: metric name must be a non-empty string")
        metric = LoopMetric(**{**metric.__dict__, "name": name.strip()})
    return metric
