"""One module per SALib method, all with the same functions.

Every module has

``sample(problem, n, *, seed, second_order=False) -> ndarray``
    SALib's sampler for the method; rows are runs, columns follow
    ``problem["names"]``.
``analyze(problem, X, Y, *, seed, second_order=False, resamples=100) -> pandas.DataFrame``
    SALib's analyser (``resamples``: bootstrap resamples for the intervals;
    PAWN gives no intervals and ignores it); a tidy table with columns ``factor``, ``index``,
    ``value`` and ``conf`` (half-width of the 95% interval, NaN when the
    method gives none).
``runs(problem, n, *, second_order=False) -> int``
    How many runs ``sample`` returns.
``prefix(problem, n, *, second_order=False) -> int | None``
    How many leading rows of a sample form the sample of size ``n``
    (for the convergence check), or ``None`` if a smaller sample must be
    drawn anew.
``check_n(problem, n) -> None``
    Raise :class:`sdrev.errors.InvalidValueError` if ``n`` does not suit
    the method.
``thread_safe(problem, *, seed, second_order=False) -> bool`` (optional)
    Whether ``analyze`` may run in several threads at once (it shares no
    state, numpy's global generator included); without it, one at a time.

and the constants ``INDICES`` (names of the indices it reports), ``MAIN``
(the index used to rank factors), ``N_MEANING`` (what ``n`` counts).

The data contract between sampling and analysis is SALib's ``problem``
dict: ``num_vars``, ``names``, ``bounds`` and ``dists``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from sdrev.sensitivity.spec import METHODS, check_method

__all__ = ["METHODS", "get"]


def get(method: str) -> ModuleType:
    """The module of ``method`` (one of :data:`METHODS`)."""
    return importlib.import_module(f"sdrev.sensitivity.methods.{check_method(method)}")
