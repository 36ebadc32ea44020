"""Compare defaults: the optional ``[compare]`` table of a model's metadata."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from sdrev.errors import InvalidValueError, UnknownNameError, suggest
from sdrev.naming import name_key

if TYPE_CHECKING:
    from sdrev.model import Model


#: Keys allowed in a model's ``[compare]`` metadata table.
_COMPARE_KEYS = {"regime_parameter", "regimes", "regime_labels", "output", "year", "x", "y",
                 "grid", "scenario", "scenarios", "thresholds", "description"}


@dataclass(frozen=True)
class CompareDefaults:
    """The ``[compare]`` table of a model's metadata, validated.

    Every field is ``None`` (or empty) where the table does not set it.
    """

    regime_parameter: str | None = None
    regimes: tuple[float, float] | None = None
    regime_labels: tuple[str, str] | None = None
    output: str | None = None
    year: float | None = None
    x: tuple[str, float, float] | None = None
    y: tuple[str, float, float] | None = None
    grid: tuple[int, int] | None = None
    scenario: str | None = None
    scenarios: tuple[str, ...] = ()
    thresholds: Mapping[str, float | str] = field(default_factory=dict)
    description: str = ""

    @property
    def has_regime_map(self) -> bool:
        """Whether the model documents a regime map (a regime parameter and two conditions)."""
        return bool(self.regime_parameter and self.x and self.y)


def compare_defaults(model: Model) -> CompareDefaults:
    """Read and check the optional ``[compare]`` table beside ``model``.

    Raises
    ------
    InvalidValueError
        For unknown keys or badly formed entries (naming the entry).
    """
    from sdrev.library import read_metadata

    table = read_metadata(model.path).get("compare")
    if table is None:
        return CompareDefaults()
    where = f"{model.path.with_suffix('.toml').name} [compare]"
    if not isinstance(table, Mapping):
        raise InvalidValueError(f"{where} must be a table")
    unknown = set(table) - _COMPARE_KEYS
    if unknown:
        bad = sorted(unknown)[0]
        raise InvalidValueError(f"{where}: unknown key {bad!r}"
                                + (suggest(bad, _COMPARE_KEYS) or
                                   f"; valid keys: {', '.join(sorted(_COMPARE_KEYS))}"))

    def pair(key, kind):
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or len(value) != 2:
            raise InvalidValueError(f"{where}: {key} must be a list of two values, got {value!r}")
        try:
            return tuple(kind(v) for v in value)
        except (TypeError, ValueError):
            raise InvalidValueError(f"{where}: bad {key} {value!r}") from None

    def axis(key):
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping) or "name" not in value:
            raise InvalidValueError(f"{where}: {key} must be a table "
                                    '{ name = "...", range = [lo, hi] }')
        name = model.parameter(str(value["name"])).name
        rng = value.get("range") or model.parameter(name).range
        if rng is None or len(rng) != 2:
            raise InvalidValueError(f"{where}: {key} {name!r} needs a range [lo, hi]")
        return (name, float(rng[0]), float(rng[1]))

    regime = table.get("regime_parameter")
    if regime is not None:
        regime = model.parameter(str(regime)).name
    output = table.get("output")
    if output is not None:
        output = output_variable(model, str(output)).name
    for name in table.get("scenarios", []):
        if name not in model.scenarios:
            raise UnknownNameError(f"{where}: unknown scenario {name!r}"
                                   + suggest(name, model.scenarios))
    scenario = table.get("scenario")
    if scenario is not None and scenario not in model.scenarios:
        raise UnknownNameError(f"{where}: unknown scenario {scenario!r}"
                               + suggest(scenario, model.scenarios))
    thresholds = {}
    for name, value in dict(table.get("thresholds", {})).items():
        var = output_variable(model, name)
        if isinstance(value, str):
            model.parameter(value)  # must be a constant of the model
        elif not isinstance(value, (int, float)) or isinstance(value, bool):
            raise InvalidValueError(f"{where}: threshold of {name!r} must be a number or a "
                                    f"parameter name, got {value!r}")
        thresholds[var.name] = value
    year = table.get("year")
    return CompareDefaults(
        regime_parameter=regime, regimes=pair("regimes", float),
        regime_labels=pair("regime_labels", str), output=output,
        year=None if year is None else float(year), x=axis("x"), y=axis("y"),
        grid=pair("grid", int), scenario=scenario,
        scenarios=tuple(table.get("scenarios", ())),
        thresholds=MappingProxyType(thresholds),
        description=str(table.get("description", "")))


def output_variable(model, name: str):
    """The variable of ``model`` called ``name`` (any kind; Vensim, any case and
    spacing, or snake_case), raising an error that suggests close outputs."""
    key = name_key(name)
    for var in model.variables:
        if key in (name_key(var.name), name_key(var.py_name)):
            return var
    names = [v.name for v in model.variables if v.kind in ("stock", "flow", "auxiliary")]
    raise UnknownNameError(f"unknown output {name!r} in model {model.name}"
                           + suggest(str(name), names))
