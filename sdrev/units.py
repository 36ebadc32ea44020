"""Units as shown to people: one home for labels of units and of time.

A model's variables carry the units the modeller wrote; a blank is not
``Dmnl`` (dimensionless is a unit someone chose), so it is shown as missing.
The time axis is labelled in the model's own time unit (``Week``, ``Month``,
``Year``: the units of TIME STEP in Vensim, ``<sim_specs time_units>`` in
XMILE).
"""

from __future__ import annotations

__all__ = ["DIMENSIONLESS", "MISSING", "axis_label", "duration_label", "reader_units", "time_label",
           "units_label"]

#: How a blank unit is shown.
MISSING = "units missing"


def units_label(units: str | None) -> str:
    """``units``, or :data:`MISSING` when the model gives none."""
    text = " ".join(str(units or "").split())
    return text or MISSING


def time_label(units: str | None) -> str:
    """Label of a time axis: ``"Time (Week)"``; ``"Time (units missing)"``."""
    return f"Time ({units_label(units)})"


def duration_label(units: str | None, *, plural: bool = True) -> str:
    """A span of model time in words, for prose and column headers:
    ``"weeks"`` for ``Week``/``Weeks``, ``"time units"`` when missing."""
    text = " ".join(str(units or "").split())
    if not text:
        return "time units" if plural else "time unit"
    word = text.lower()
    if plural and word.isalpha() and not word.endswith("s"):
        return word + "s"
    if not plural and word.isalpha() and word.endswith("s") and len(word) > 3:
        return word[:-1]
    return word


#: Unit spellings that mean "no dimension": shown to readers as no unit at all.
DIMENSIONLESS = frozenset({"dmnl", "dimensionless", "1", "fraction", "unitless"})


def reader_units(units: str | None) -> str:
    """Units for a reader (briefs, figure axes): ``""`` for dimensionless
    (``Dmnl`` is a modeller's word), :data:`MISSING` when none are declared,
    else the units as written."""
    text = " ".join(str(units or "").split())
    if not text:
        return MISSING
    return "" if text.lower() in DIMENSIONLESS else text


def axis_label(name: str, units: str | None) -> str:
    """``"Standards Influence"`` (dimensionless), ``"Capability (Index)"``,
    ``"Demand (units missing)"``."""
    text = reader_units(units)
    return f"{name} ({text})" if text else name
