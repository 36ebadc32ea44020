"""Names and numbers as users write them: one home for their normalisation.

A model's names may be given as in Vensim (``"R and D Spending"``, any case and
spacing) or as PySD's snake_case (``r_and_d_spending``); :func:`name_key`
maps both to one key. :func:`parse_number` reads a number a user typed (on
the command line or in a TOML file) and refuses anything else.
"""

from __future__ import annotations

import math

from sdrev.errors import InvalidValueError

__all__ = ["name_key", "parse_number"]


def name_key(name: str) -> str:
    """``name`` lower-cased, underscores as spaces, runs of blanks as one space."""
    return " ".join(str(name).replace("_", " ").split()).lower()


def parse_number(raw: object, what: str) -> float:
    """``raw`` as a finite float (a number, or text of one); raise naming ``what``."""
    if isinstance(raw, bool):
        raise InvalidValueError(f"{what} must be a number, got {raw!r}")
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidValueError(f"{what} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise InvalidValueError(f"{what} must be a finite number, got {raw!r}")
    return value
