"""Load stage: a model with its parameters, scenarios and documentation.

:func:`load` reads a model (a library name, or any Vensim ``.mdl`` or XMILE
``.xmile``/``.stmx`` path)
through PySD and its metadata file, and returns a frozen :class:`Model`.
A model is run with :func:`sdrev.simulate` (``sdrev.simulate(model, ...)``);
this layer does not import the run stage.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from sdrev import library
from sdrev.errors import InvalidValueError, UnknownNameError, suggest
from sdrev.naming import name_key, parse_number

if TYPE_CHECKING:
    from sdrev.translate import Translation

__all__ = ["TIME_CONTROLS", "Loop", "Model", "Parameter", "Scenario", "TimeSettings", "Variable",
           "load", "read_scenarios", "resolve_parameter", "resolve_variable"]

#: Vensim's control variables, which set the time axis rather than the model.
CONTROL_NAMES = ("INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER")
#: Key outputs of an undocumented model that has no stock.
KEY_OUTPUTS_WITHOUT_STOCKS = 4


@dataclass(frozen=True)
class Parameter:
    """A constant of the model that runs can vary.

    Attributes
    ----------
    name, py_name : str
        Vensim name and PySD's snake_case name.
    value : float or dict
        The model's own value (per subscript element for subscripted
        constants, keyed by the comma-joined element names).
    units : str
    range : tuple of float or None
        The plausible range documented in the model (Vensim units field).
    doc : str
    """

    name: str
    py_name: str
    value: float | Mapping[str, float]
    units: str
    range: tuple[float, float] | None
    doc: str


@dataclass(frozen=True)
class Variable:
    """A stock, flow or auxiliary of the model."""

    name: str
    py_name: str
    units: str
    doc: str
    kind: str  # "stock", "flow", "auxiliary", "lookup" or "data"


@dataclass(frozen=True)
class TimeSettings:
    """The model's time axis, in the model's time unit.

    Attributes
    ----------
    initial, final, step, saveper : float
        INITIAL TIME, FINAL TIME, TIME STEP and SAVEPER.
    units : str
        The model's time unit as written (the units of TIME STEP, else of
        INITIAL TIME or FINAL TIME, in Vensim; ``<sim_specs time_units>``
        in XMILE); ``""`` when the model gives none.
    """

    initial: float
    final: float
    step: float
    saveper: float
    units: str = ""


@dataclass(frozen=True)
class Loop:
    """A feedback loop the model documents by name and gain parameter."""

    id: str
    name: str
    polarity: str
    gain: str
    variables: tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    """A named set of parameter values.

    Attributes
    ----------
    name : str
        The id used on the command line (``no_strategic_guiding``).
    description : str
    params : mapping of str to float
    label : str
        A short name for people (``"Without strategic guiding"``), from the
        metadata's optional ``label``; empty when none is given (see
        :attr:`title`).
    """

    name: str
    description: str
    params: Mapping[str, float]
    label: str = ""

    @property
    def title(self) -> str:
        """The label, or the id in words (``"no strategic guiding"``) without one."""
        return self.label or self.name.replace("_", " ")


#: Control variables a run may change, and PySD's keyword for each.
TIME_CONTROLS = {"FINAL TIME": "final_time", "TIME STEP": "time_step",
                 "SAVEPER": "saveper"}


@dataclass(frozen=True)
class Model:
    """A loaded model. Create it with :func:`load`.

    Attributes
    ----------
    name : str
        Library name, or the file stem for a user model.
    path : Path
        The ``.mdl`` file.
    sha256 : str
        Hash of the ``.mdl`` file.
    title, description, source, question : str
        From the metadata file beside the model (empty if there is none).
    key_outputs : tuple of str
        Vensim names of the outputs to show first (undocumented: the stocks,
        or the first auxiliaries of a model without stocks).
    assumptions, omissions : tuple of str
    parameters : tuple of Parameter
    variables : tuple of Variable
        Stocks, flows, auxiliaries, lookups and data, in model order.
    scenarios : mapping of str to Scenario
    loops : tuple of Loop
    time : TimeSettings
    """

    name: str
    path: Path
    sha256: str
    title: str
    description: str
    source: str
    question: str
    key_outputs: tuple[str, ...]
    assumptions: tuple[str, ...]
    omissions: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    variables: tuple[Variable, ...]
    scenarios: Mapping[str, Scenario]
    loops: tuple[Loop, ...]
    time: TimeSettings
    translation: Translation = field(repr=False)

    @property
    def stocks(self) -> tuple[Variable, ...]:
        """The model's stocks (levels)."""
        return tuple(v for v in self.variables if v.kind == "stock")

    @property
    def flows(self) -> tuple[Variable, ...]:
        """The rates flowing into or out of stocks."""
        return tuple(v for v in self.variables if v.kind == "flow")

    def parameter(self, name: str) -> Parameter:
        """The parameter called ``name`` (Vensim or snake_case name)."""
        return resolve_parameter(self, name)

    def _summary(self) -> list[tuple[str, object]]:
        t = self.time
        unit = t.units or "time unit missing"

        def names(items, limit=6):
            items = list(items)
            head = ", ".join(items[:limit])
            return f"{len(items)}" + (f": {head}" if items else "") + (
                ", ..." if len(items) > limit else "")

        return [("file", self.path.name),
                ("time", f"{t.initial:g} to {t.final:g} {unit}, TIME STEP {t.step:g}, "
                         f"SAVEPER {t.saveper:g}"),
                ("stocks", names(v.name for v in self.stocks)),
                ("flows", names(v.name for v in self.flows)),
                ("parameters", names(p.name for p in self.parameters)),
                ("scenarios", names(self.scenarios)),
                ("loops", names(f"{lp.id} {lp.name}".strip() for lp in self.loops))]

    def __repr__(self) -> str:
        from sdrev.display import summary_repr
        return summary_repr("Model", self.name, self._summary())

    def _repr_html_(self) -> str:
        import pandas as pd

        from sdrev.display import summary_html
        table = pd.DataFrame(
            [{"parameter": p.name, "value": p.value if isinstance(p.value, float)
              else "per element", "units": p.units,
              "range": "" if p.range is None else f"[{p.range[0]:g}, {p.range[1]:g}]"}
             for p in self.parameters])
        return summary_html("Model", self.name, self._summary(), table=table,
                            caption="Parameters")


def read_scenarios(model: Model, table: Mapping) -> dict[str, Scenario]:
    """Build the scenarios of ``model`` from its metadata table.

    Raises
    ------
    InvalidValueError
        If a scenario sets a constant the model does not have, or a value
        that is not a number.
    """
    scenarios = {}
    for name, entry in table.items():
        values = {}
        for key, value in dict(entry.get("params", {})).items():
            try:
                param = resolve_parameter(model, key)
            except UnknownNameError as exc:
                raise InvalidValueError(
                    f"{model.path.with_suffix('.toml').name}: scenario {name!r}: {exc}") from None
            values[param.name] = parse_number(value, f"scenario {name!r}, {key}")
        scenarios[name] = Scenario(name, str(entry.get("description", "")),
                                   MappingProxyType(values),
                                   label=" ".join(str(entry.get("label", "")).split()))
    return scenarios


def resolve_parameter(model: Model, name: str) -> Parameter:
    """Find the constant called ``name`` (Vensim, case-insensitive, or snake_case).

    Raises
    ------
    UnknownNameError
        Saying what ``name`` is if it is a variable but not a constant, and
        suggesting close names otherwise.
    """
    key = name_key(name)
    for param in model.parameters:
        if key in (name_key(param.name), name_key(param.py_name)):
            return param
    for var in model.variables:
        if key in (name_key(var.name), name_key(var.py_name)):
            raise UnknownNameError(
                f"{name!r} is a {var.kind} of {model.name}, not a constant; "
                "only constants can be set")
    names = [p.name for p in model.parameters] + list(TIME_CONTROLS)
    raise UnknownNameError(
        f"unknown parameter {name!r} in model {model.name}"
        + (suggest(name, names) or "; see `sdrev describe " + model.name + "`"))


def resolve_variable(model: Model, name: str, *,
                     kinds: tuple[str, ...] = ("stock", "flow", "auxiliary")) -> Variable:
    """Find the variable called ``name`` (Vensim, case-insensitive, or snake_case).

    Parameters
    ----------
    model : Model
    name : str
    kinds : tuple of str, optional
        The kinds of variable accepted (``"stock"``, ``"flow"``,
        ``"auxiliary"``, ``"lookup"``, ``"data"``).

    Raises
    ------
    UnknownNameError
        Suggesting close names, or naming all valid ones when none is close.
    """
    key = name_key(name)
    candidates = [v for v in model.variables if v.kind in kinds]
    for var in candidates:
        if key in (name_key(var.name), name_key(var.py_name)):
            return var
    valid = [v.name for v in candidates]
    raise UnknownNameError(
        f"unknown variable {name!r} in model {model.name}"
        + (suggest(str(name), valid) or f"; valid variables: {', '.join(valid)}"))


def load(name_or_path: str | Path) -> Model:
    """Load a model from the library or from any Vensim ``.mdl`` or XMILE file.

    Parameters
    ----------
    name_or_path : str or Path
        A library name (see :func:`sdrev.list_models`) or a path.

    Returns
    -------
    Model

    Raises
    ------
    ModelNotFoundError, ModelParseError, InvalidValueError
    """
    path = library.resolve_model_path(name_or_path)
    from sdrev import translate  # PySD loads there, and only on a cache miss

    translation = translate.translate(path)
    meta = library.read_metadata(path)
    info = meta.get("model", {})
    parameters, variables, time = _structure(translation)
    # undocumented models show their stocks first; a model without stocks its
    # first few auxiliaries (and flows)
    stocks = [v.name for v in variables if v.kind == "stock"] or [
        v.name for v in variables if v.kind in ("auxiliary", "flow")][:KEY_OUTPUTS_WITHOUT_STOCKS]
    model = Model(
        name=path.stem,
        path=path,
        sha256=translation.sha256,
        title=info.get("title", path.stem),
        description=info.get("description", ""),
        source=info.get("source", ""),
        question=info.get("question", ""),
        key_outputs=tuple(info.get("key_outputs", stocks)),
        assumptions=tuple(info.get("assumptions", ())),
        omissions=tuple(info.get("omissions", ())),
        parameters=parameters,
        variables=variables,
        scenarios=MappingProxyType({}),
        loops=tuple(_loops(meta.get("loops", ()), path)),
        time=time,
        translation=translation,
    )
    scenarios = read_scenarios(model, meta.get("scenarios", {}))
    model = replace(model, scenarios=MappingProxyType(scenarios))
    _check_names(model, path)
    return model


def _structure(translation: Translation):
    """Parameters, variables and time settings of a translated model.

    Read from PySD's loaded model (its ``doc`` table and dependencies) the
    first time, then from a sealed JSON entry beside the translation in the
    cache (:mod:`sdrev.cache`), so that loading a model whose translation
    is cached does not import PySD. The entry's name carries a hash of this
    module's source: a change in how the structure is read rebuilds it.
    """
    import hashlib

    from sdrev import cache, translate

    folder = translation.py_path.parent
    reader = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    entry = folder.with_name(f"{folder.name}.structure-{reader}.json")
    key = cache.usable_root()[1]
    try:
        data = cache.unseal(entry.read_bytes(), key)
    except OSError:
        data = None
    if data is not None:
        try:
            return _structure_from_json(json.loads(data))
        except (ValueError, KeyError, TypeError, IndexError):
            pass  # unreadable: read again from PySD and rewrite
    pysd_model = translate.load_pysd(translation, initialize=True)
    structure = _elements(pysd_model.doc, pysd_model)
    try:
        tmp = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
        tmp.write_bytes(cache.seal(json.dumps(_structure_to_json(*structure)).encode(), key))
        os.replace(tmp, entry)
    except OSError:
        pass  # a read-only cache only costs PySD's load next time
    return structure


def _structure_to_json(parameters, variables, time) -> dict:
    return {"parameters": [[p.name, p.py_name,
                            dict(p.value) if isinstance(p.value, Mapping) else p.value,
                            p.units, list(p.range) if p.range else None, p.doc]
                           for p in parameters],
            "variables": [[v.name, v.py_name, v.units, v.doc, v.kind] for v in variables],
            "time": [time.initial, time.final, time.step, time.saveper, time.units]}


def _structure_from_json(data: dict):
    parameters = tuple(
        Parameter(str(name), str(py), MappingProxyType({str(k): float(v) for k, v in value.items()})
                  if isinstance(value, dict) else float(value),
                  str(units), (float(limits[0]), float(limits[1])) if limits else None, str(doc))
        for name, py, value, units, limits, doc in data["parameters"])
    variables = tuple(Variable(*map(str, row)) for row in data["variables"])
    initial, final, step, saveper, units = data["time"]
    time = TimeSettings(float(initial), float(final), float(step), float(saveper), str(units))
    return parameters, variables, time


def _elements(doc, pysd_model):
    flows = set()
    for key, deps in pysd_model.dependencies.items():
        if key.startswith("_integ_") and isinstance(deps, dict):
            flows.update(deps.get("step", {}))
    parameters, variables, control = [], [], {}
    time_units: dict[str, str] = {}
    for row in doc.itertuples(index=False):
        real, py, kind, subtype = row[0], row[1], row[5], row[6]
        units = "" if _missing(row[3]) else str(row[3])
        comment = "" if _missing(row[7]) else " ".join(str(row[7]).split())
        if real == "Time" or _missing(kind):
            continue
        control_name = " ".join(real.replace("_", " ").split()).upper()  # FINAL_TIME too
        if control_name in CONTROL_NAMES:  # a constant, or an expression (SAVEPER = TIME STEP)
            control[control_name] = _constant_value(pysd_model, py)
            if units:
                time_units.setdefault(control_name, units)
            continue
        if kind == "Constant":
            value = _constant_value(pysd_model, py)
            parameters.append(Parameter(real, py, value, units, _limits(row[4]), comment))
            continue
        if kind == "Stateful" and subtype == "Integ":
            role = "stock"
        elif kind == "Lookup":
            role = "lookup"
        elif kind == "Data":
            role = "data"
        elif py in flows:
            role = "flow"
        else:
            role = "auxiliary"
        variables.append(Variable(real, py, units, comment, role))
    if "SAVEPER" not in control or math.isnan(control["SAVEPER"]):
        # Vensim (and PySD) save every TIME STEP when SAVEPER is absent
        control["SAVEPER"] = control.get("TIME STEP", math.nan)
    missing = [n for n in CONTROL_NAMES if n not in control or math.isnan(control[n])]
    if missing:
        raise InvalidValueError(
            f"model lacks the control variable(s) {', '.join(missing)}; "
            "Vensim models define them in the .Control group")
    unit = next((time_units[n] for n in ("TIME STEP", "INITIAL TIME", "FINAL TIME",
                                         "SAVEPER") if n in time_units), "")
    time = TimeSettings(control["INITIAL TIME"], control["FINAL TIME"],
                        control["TIME STEP"], control["SAVEPER"], unit)
    return tuple(parameters), tuple(variables), time


def _constant_value(pysd_model, py_name: str):
    try:
        value = getattr(pysd_model.components, py_name)()
    except Exception:  # constants that need initialisation (rare)
        return math.nan
    if hasattr(value, "to_series"):
        series = value.to_series()
        return MappingProxyType({
            ",".join(map(str, k)) if isinstance(k, tuple) else str(k): float(v)
            for k, v in series.items()})
    return float(value)


def _limits(limits) -> tuple[float, float] | None:
    if not isinstance(limits, tuple) or len(limits) < 2:
        return None
    lo, hi = limits[0], limits[1]
    if _missing(lo) or _missing(hi):
        return None
    return (float(lo), float(hi))


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _loops(entries, path: Path):
    for entry in entries:
        try:
            yield Loop(str(entry["id"]), str(entry.get("name", "")),
                       str(entry["polarity"]), str(entry.get("gain", "")),
                       tuple(entry.get("variables", ())))
        except KeyError as exc:
            raise InvalidValueError(
                f"{path.with_suffix('.toml').name}: a [[loops]] entry lacks {exc.args[0]!r}"
            ) from None


def _check_names(model: Model, path: Path) -> None:
    names = {v.name for v in model.variables} | {p.name for p in model.parameters}
    meta = path.with_suffix(".toml").name
    for name in model.key_outputs:
        if name not in names:
            raise InvalidValueError(f"{meta}: key output {name!r} is not a variable of the model")
    for loop in model.loops:
        for name in loop.variables + ((loop.gain,) if loop.gain else ()):
            if name not in names:
                raise InvalidValueError(
                    f"{meta}: loop {loop.id} names {name!r}, which is not in the model")
