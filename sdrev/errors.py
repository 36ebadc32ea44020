"""Errors sdrev raises for bad input.

Every error a user can cause (an unknown model, variable or scenario, a bad
value, an unparsable model file, an unwritable folder) is an
:class:`SdrevError`; the CLI prints its message as one line and exits with
code 2. Each subclass also derives from the matching built-in exception so
API users can catch either.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "SdrevError",
    "ModelNotFoundError",
    "ModelParseError",
    "UnknownNameError",
    "InvalidValueError",
    "NonFiniteError",
    "OutputError",
    "suggest",
]


class SdrevError(Exception):
    """Base class of all user-facing sdrev errors."""


class ModelNotFoundError(SdrevError, FileNotFoundError):
    """A model name or path that does not exist."""


class ModelParseError(SdrevError, ValueError):
    """A model file that PySD cannot translate."""


class UnknownNameError(SdrevError, LookupError):
    """An unknown variable, parameter or scenario name."""


class InvalidValueError(SdrevError, ValueError):
    """A value of the wrong type or outside what is allowed."""


class NonFiniteError(InvalidValueError):
    """Runs whose outputs are not finite (NaN or infinite) where numbers are needed."""


class OutputError(SdrevError, OSError):
    """An output location that cannot be written."""


def suggest(name: str, candidates: Iterable[str], *, n: int = 3) -> str:
    """Return a ``"; did you mean ...?"`` hint for ``name``, or ``""``.

    Parameters
    ----------
    name : str
        The name the user gave.
    candidates : iterable of str
        The valid names.
    n : int, optional
        Maximum number of suggestions.
    """
    pool = list(candidates)
    lowered = {c.lower(): c for c in pool}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(lowered[c]) for c in close) + "?"
