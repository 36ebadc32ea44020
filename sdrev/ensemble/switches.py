"""Timed constants: a step in a constant's value at a run-specific time.

Policy timing (``--set NAME=VALUE@TIME``, :class:`sdrev.scenario.Switch`)
turns a constant on at a chosen time. In the engine, :func:`with_switches`
rewrites a :class:`~sdrev.ensemble.program.Program` so that each switched
constant ``x`` is no longer read from the constants but computed at every
step from three per-run constants::

    x = x@after  if time + TIME STEP / 2 > x@at  else  x@before

the comparison of Vensim's ``STEP(height, stime)`` as PySD evaluates it
(``pysd.py_backend.functions.step``), so the value changes at the first
computation step at or past the switch time and equals PySD's
``before + STEP(after - before, at)``. ``x@before`` keeps the constant's
own value (a sample column or ``--set`` of ``x`` sets it), so the rest of
the program is untouched: the equations read ``x`` as before, only its
value now depends on time and on the run. The three constants are arrays
over runs like any varied constant, so an ensemble can vary the switch
time across runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from sdrev.ensemble.program import Equation, Program, UnsupportedConstructError

__all__ = ["split_switch_constant", "switch_constants", "with_switches"]

#: Suffixes of the per-run constants of a switched constant (Python names:
#: the engine's generated code reads them as ``v_<name>__<suffix>``).
_SUFFIXES = ("before", "after", "at")


def switch_constants(name: str) -> tuple[str, str, str]:
    """Python names of the constants ``(before, after, at)`` of the switched
    constant ``name`` (a Python name)."""
    return tuple(f"{name}__switch_{s}" for s in _SUFFIXES)  # type: ignore[return-value]


def split_switch_constant(name: str) -> tuple[str, int] | None:
    """``(constant, role)`` of a name made by :func:`switch_constants` (role 0
    before, 1 after, 2 the switch time); ``None`` for any other name."""
    base, sep, suffix = name.rpartition("__switch_")
    if not sep or suffix not in _SUFFIXES or not base:
        return None
    return base, _SUFFIXES.index(suffix)


def with_switches(program: Program, names: Iterable[str]) -> Program:
    """``program`` with each constant of ``names`` switched at a per-run time.

    Parameters
    ----------
    program : Program
    names : iterable of str
        Python names of scalar constants of ``program``.

    Returns
    -------
    Program
        A new program: each switched constant is an element computed from
        ``switch_constants(name)`` at every step (and at initialisation, at
        INITIAL TIME); the three are constants whose defaults are the
        constant's own value (before and after) and an infinite switch time
        (never).

    Raises
    ------
    UnsupportedConstructError
        For a name that is not a scalar constant of the program (a
        subscripted constant, an equation): the caller falls back to PySD
        or reports it.
    """
    names = tuple(dict.fromkeys(names))
    if not names:
        return program
    constants = dict(program.constants)
    init, step = dict(program.init), dict(program.step)
    for name in names:
        if name not in program.constants or program.dims.get(name):
            raise UnsupportedConstructError(
                f"{name!r} is not a scalar constant of the compiled program; a timed "
                "setting needs one")
        before, after, at = switch_constants(name)
        taken = {before, after, at} & (set(program.step) | set(program.constants))
        if taken:
            raise UnsupportedConstructError(
                f"the model already has an element named {sorted(taken)[0]!r}")
        default = constants.pop(name)
        constants.update({before: default, after: default, at: float("inf")})
        for key in (before, after, at):
            equation = Equation((), f"C[{key!r}]", frozenset())
            init[key] = step[key] = equation
        switched = Equation(
            (), f"fn.if_then_else(time + v_time_step / 2 > v_{at}, v_{after}, v_{before})",
            frozenset({"time", "time_step", before, after, at}))
        init[name] = step[name] = switched
    return replace(program, constants=constants, init=init, step=step,
                   limits={k: v for k, v in program.limits.items() if k not in names})
