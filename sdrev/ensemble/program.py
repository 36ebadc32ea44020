"""Data model of the ensemble engine: what the compile stage produces.

A :class:`Program` is a model compiled for vectorised simulation: the
initialisation and time-step :class:`Equation` of every element (numpy
expressions over arrays with a leading run axis), its stateful
:class:`Slot` instances, lookup tables and constant arrays. A
:class:`Simulator` is the code generated from a program for one set of
outputs (:mod:`sdrev.ensemble.codegen`). Constructs the engine cannot
vectorise raise :class:`UnsupportedConstructError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdrev.errors import SdrevError, UnknownNameError, suggest

__all__ = [
    "CONTROL",
    "Equation",
    "Program",
    "Simulator",
    "Slot",
    "UnsupportedConstructError",
    "describe",
    "fallback_reason",
]

#: Python names of Vensim's control variables.
CONTROL = ("initial_time", "final_time", "time_step", "saveper")


class UnsupportedConstructError(SdrevError, NotImplementedError):
    """A model uses a construct the ensemble engine cannot vectorise yet."""


def fallback_reason(exc: Exception) -> str | None:
    """Why the engine could not run a model, for the warning of the PySD fallback.

    ``None`` for what PySD would not help with either (bad input, a refused
    model file, memory): the caller re-raises those. Any other exception is an
    engine bug, which must not end the run.
    """
    if isinstance(exc, UnsupportedConstructError):
        return str(exc)
    if isinstance(exc, (SdrevError, MemoryError)):
        return None
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"the engine failed ({type(exc).__name__}: {first})"


@dataclass(frozen=True)
class Slot:
    """One stateful function instance.

    Attributes
    ----------
    index : int
        Position in the state tuple.
    kind : str
        ``integ``, ``nninteg``, ``smooth``, ``delay``, ``delayn``,
        ``delayfixed``, ``trend``, ``forecast``, ``initial`` or ``sample``.
    element : str
        Python name of the element it belongs to.
    value : str
        Expression of its current value.
    init_code : tuple of str
        Statements that create its state at initialisation.
    update_code : tuple of str
        Statements that compute its next state into ``n{index}``.
    update_refs : frozenset of str
        Elements the update reads.
    rate : str or None
        INTEG (``integ``, ``nninteg``): the rate expression, the stock's net
        flow (``update_code`` is ``n{index} = s{index} + (rate) *
        v_time_step``, inside ``np.maximum(..., 0.0)`` when non-negative);
        ``None`` for other kinds.
    ordered : bool
        Whether its number of stages is set at initialisation and read as
        ``O[index]`` (SMOOTH, DELAY, DELAY N, DELAY FIXED).
    """

    index: int
    kind: str
    element: str
    value: str
    init_code: tuple[str, ...]
    update_code: tuple[str, ...]
    update_refs: frozenset[str]
    rate: str | None = None
    ordered: bool = False


@dataclass(frozen=True)
class Equation:
    """Code of one element in one phase (initialisation or time step)."""

    pre: tuple[str, ...]
    expr: str
    refs: frozenset[str]


@dataclass(frozen=True)
class Program:
    """A model compiled for vectorised simulation.

    Attributes
    ----------
    path : Path
        The model file.
    names : dict of str to str
        Vensim name -> Python name, for every element.
    constants : dict of str to float
        Default value of every element defined by a number (the values a
        sample may vary), by Python name.
    limits : dict of str to tuple
        ``(lo, hi)`` range of each constant from the units field
        (``None`` where open).
    stateful : frozenset of str
        Python names of elements holding state (may not be overridden).
    init : dict of str to Equation
        Initialisation equation of every element.
    step : dict of str to Equation
        Time-step equation of every element.
    slots : tuple of Slot
    lookups : tuple of tuple
        ``(xs, ys, kind)`` tables referenced as ``L[i]`` in the code.
    dims : dict of str to tuple of str
        Subscript ranges of each subscripted element (PySD's dimension
        names); its values have shape ``(runs, *sizes)``.
    coords : dict of str to tuple
        Elements of each of those ranges, per subscripted element.
    arrays : tuple
        Constant arrays and index tuples referenced as ``K[i]``.
    """

    path: Path
    names: dict[str, str]
    constants: dict[str, float]
    limits: dict[str, tuple[float | None, float | None]]
    stateful: frozenset[str]
    init: dict[str, Equation]
    step: dict[str, Equation]
    slots: tuple[Slot, ...]
    lookups: tuple[tuple[np.ndarray, np.ndarray, str], ...]
    dims: dict[str, tuple[str, ...]] = field(default_factory=dict)
    coords: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    arrays: tuple = ()

    def resolve(self, name: str) -> str:
        """Python name of ``name`` (a Vensim or Python name).

        Raises
        ------
        UnknownNameError
            If the model has no such variable.
        """
        if name in self.step:
            return name
        if name in self.names:
            return self.names[name]
        lowered = {k.lower(): v for k, v in self.names.items()}
        key = " ".join(name.replace("_", " ").split()).lower()
        if key in lowered:
            return lowered[key]
        raise UnknownNameError(
            f"{self.path.name} has no variable {name!r}"
            + suggest(name, list(self.names) + list(self.step)))


@dataclass(frozen=True)
class Simulator:
    """Generated code of a program for a fixed set of outputs and overrides.

    ``init(C, n)`` returns ``(S, control, orders, hoisted)``: the state
    tuple, the values of the control variables, the delay orders and the
    elements constant in time (to merge into ``C``); ``step(S, C, time,
    orders)`` returns ``(S_next, outputs)``: the state after one Euler step
    and the outputs at ``time``.
    """

    outputs: tuple[str, ...]
    source: str
    init: Callable[..., tuple] = field(repr=False)
    step: Callable[..., tuple] = field(repr=False)
    #: shape of each subscripted output after the run axis
    shapes: dict = field(default_factory=dict)
    #: ``prepare(C)`` -> values constant in time hoisted out of ``step``
    prepare: Callable[[dict], dict] | None = field(default=None, repr=False)
    #: the program's lookup tables ``(xs, ys, kind)``, read as ``L[i]``
    lookups: tuple = field(default=(), repr=False)
    #: whether the program has subscripted elements
    subscripted: bool = False
    #: slots whose number of stages ``init`` sets (``O[i]``), by index
    orders: tuple[int, ...] = ()


def describe(node) -> str:
    """A syntax-tree node in words, for messages (``GET LOOKUPS``, ``Integ``)."""
    name = type(node).__name__.replace("Structure", "")
    words = {"AllocateAvailable": "ALLOCATE AVAILABLE",
             "AllocateByPriority": "ALLOCATE BY PRIORITY",
             "GetLookups": "GET LOOKUPS", "GetData": "GET DATA",
             "GetConstants": "GET CONSTANTS", "Data": "a data variable",
             "SubscriptsReference": "subscripts"}
    return words.get(name, name)
