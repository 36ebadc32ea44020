"""Compile stage: PySD's abstract model -> a vectorised program.

The model is read exactly as PySD reads it (``sdrev.translate``), then each
element's syntax tree is turned into a numpy expression over arrays with a
leading run axis. Subscripted elements (``compile_model(path,
subscripts=True)``) add one axis per subscript range after the run axis,
with PySD's dimension names; elements defined by several equations (single
elements, subranges, ``:EXCEPT:``) are assembled from their regions.
Stateful functions (INTEG, SMOOTH, DELAY, DELAY FIXED, TREND, FORECAST,
INITIAL, SAMPLE IF TRUE) become *slots*. External constants, lookups and
data (GET XLS/DIRECT ...) use the values PySD loads from the files
(``sdrev.translate.external_values``); macro calls are expanded inline,
each call with its own copy of the macro's elements and state.

:func:`compile_model` returns a :class:`Program`; :func:`build_simulator`
turns it, for a given list of outputs, into two Python functions generated
from source: ``init(C, n)`` and ``step(S, C, time)``.

This module is the driver: it walks the model's elements, asks the other
steps for their parts and keeps the program cache. The steps have their
own modules: :mod:`~sdrev.ensemble.builder` (syntax tree -> numpy
expression, dispatched on the node's class), :mod:`~sdrev.ensemble.slots`
(stateful functions), :mod:`~sdrev.ensemble.program` (data model),
:mod:`~sdrev.ensemble.macros`, :mod:`~sdrev.ensemble.externals`,
:mod:`~sdrev.ensemble.layout` (subscript regions) and
:mod:`~sdrev.ensemble.codegen` (:func:`build_simulator`). ``CONTROL``,
:class:`Program`, :class:`Simulator`, :class:`UnsupportedConstructError` and
:func:`build_simulator` are importable from here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sdrev.ensemble import functions as fn
from sdrev.ensemble import programcache
from sdrev.ensemble.codegen import build_simulator
from sdrev.ensemble.program import (
    CONTROL,
    Equation,
    Program,
    Simulator,
    UnsupportedConstructError,
    describe,
)
from sdrev.errors import ModelParseError

if TYPE_CHECKING:
    from sdrev.ensemble.builder import Builder
    from sdrev.ensemble.layout import Layout

__all__ = [
    "CONTROL",
    "Program",
    "Simulator",
    "UnsupportedConstructError",
    "build_simulator",
    "compile_model",
]


def compile_model(path: str | Path, *, subscripts: bool = False,
                  cache: bool = True) -> Program:
    """Compile a Vensim model for vectorised simulation.

    Parameters
    ----------
    path : str or Path
        The ``.mdl`` file.
    subscripts : bool, optional
        Compile subscripted models (values get one array axis per
        subscript range after the run axis). ``False`` (the default, for
        consumers that need scalar programs, such as loop analysis) raises
        :class:`UnsupportedConstructError` for models with subscript
        ranges.
    cache : bool, optional
        Reuse the program compiled earlier from the same file contents
        (kept under ``<sdrev cache>/programs``, keyed by the file's hash,
        its path, sdrev's compiler source and the PySD and numpy
        versions). Models that read other files (GET XLS, data, external
        subscripts) are always compiled afresh.

    Returns
    -------
    Program

    Raises
    ------
    ModelParseError
        If PySD cannot parse the file, or a data variable has no equation
        (its values would come from a data file named at run time).
    UnsupportedConstructError
        If the model uses something the engine cannot vectorise; the
        message names the construct and the element.
    """
    path = Path(path).resolve()
    target = programcache.cache_entry(path, subscripts) if cache else None
    if target is not None and (program := programcache.load_program(target)) is not None:
        return program
    program = _compile(path, subscripts)
    if target is not None:
        programcache.save_program(target, program)
    return program


def _compile(path: Path, subscripts: bool) -> Program:
    """Compile without the cache (see :func:`compile_model`)."""
    # the compiler's parts, and PySD's parser behind them, load only when a
    # model is compiled: a program from the cache needs none of them
    from sdrev.ensemble.builder import NOISE_CONSTANTS, Builder, Context
    from sdrev.ensemble.externals import (
        Series,
        external_parts,
        external_scalar,
        load_externals,
        subscripted_lookup,
    )
    from sdrev.ensemble.layout import element_layout, fit, is_numeric
    from sdrev.ensemble.macros import expand_macros
    from sdrev.ensemble.slots import SLOT_TYPES
    from sdrev.translate import abstract_expressions as ae
    from sdrev.translate import abstract_model, python_names, subscript_manager

    model = abstract_model(path)
    section = model.sections[0]
    if len(model.sections) > 1:
        section = expand_macros(section, model.sections[1:], path)
    unsourced = [e.name for e in section.elements
                 if any(c.type == "Data" and type(c.ast) is ae.DataStructure
                        for c in e.components)]
    if unsourced:  # PySD cannot run these either: no fallback
        names = ", ".join(repr(n) for n in unsourced[:3])
        more = f" and {len(unsourced) - 3} more" if len(unsourced) > 3 else ""
        raise ModelParseError(
            f"{path.name}: {names}{more} are data variables without an equation "
            "(Vensim fills them from a run's data file named when simulating, "
            "which sdrev does not take); give each an equation or a GET DIRECT "
            "DATA call on a CSV or spreadsheet beside the model")
    if section.subscripts and not subscripts:
        raise UnsupportedConstructError(
            f"{path.name} defines subscript ranges; compile it with "
            "subscripts=True (loop analysis needs scalar models)")
    namespace, clean = python_names(section)
    constants: dict = {}
    limits: dict[str, tuple] = {}
    lookups_of: dict[str, int] = {}
    manager = subscript_manager(section, path.parent) if section.subscripts else None
    builder = Builder(clean, lookups_of, manager)
    externals = load_externals(path, section)
    elements = []
    for element in section.elements:
        py = namespace[element.name]
        comps = element.components
        if not any(c.subscripts and c.subscripts[0] for c in comps):
            if len(comps) != 1:
                raise UnsupportedConstructError(
                    f"element {element.name!r} has {len(comps)} equations "
                    "without subscripts")
            comp = external_scalar(comps[0], externals.get(py, {}),
                                    element.name)
            if comp.type == "Lookup" and isinstance(comp.ast, Series):
                lookups_of[py] = builder.add_series_table(comp.ast)
                continue
            if comp.type == "Lookup":
                if not isinstance(comp.ast, ae.LookupsStructure):
                    raise UnsupportedConstructError(
                        f"element {element.name!r} uses "
                        f"{describe(comp.ast)}, which the ensemble engine "
                        "does not support yet")
                lookups_of[py] = builder.table(comp.ast)
                continue
            if comp.type not in ("Auxiliary", "Constant") and not (
                    comp.type == "Data" and isinstance(comp.ast, Series)):
                raise UnsupportedConstructError(
                    f"element {element.name!r} is of type {comp.type!r} "
                    "(supported: Auxiliary, Constant, Lookup, external "
                    "Data)")
            if isinstance(comp.ast, (int, float)) and not isinstance(comp.ast, bool):
                constants[py] = float(comp.ast)
                lo, hi = (tuple(element.limits) + (None, None))[:2]
                limits[py] = (lo, hi)
            elements.append((py, comp.ast, None))
            continue
        if all(c.type == "Lookup" for c in comps):
            builder.ltables[py] = subscripted_lookup(
                manager, builder.ranges, element, externals.get(py, {}))
            continue
        layout = element_layout(manager, element)
        builder.ranges = dict(manager.subscripts)  # merging may add ranges
        builder.dims[py] = layout.dims
        builder.coords[py] = layout.coords
        comps = external_parts(element, comps, layout, builder.dims[py],
                                builder.coords[py], externals.get(py, {}))
        for comp in comps:
            if comp.type not in ("Auxiliary", "Constant") and not (
                    comp.type == "Data" and isinstance(comp.ast, Series)):
                raise UnsupportedConstructError(
                    f"element {element.name!r} is a subscripted "
                    f"{comp.type!r}; the ensemble engine supports subscripted "
                    "auxiliaries, constants, stocks, lookups and external "
                    "data")
        if all(is_numeric(c.ast) for c in comps):
            full = np.full(layout.shape, np.nan)
            for comp, part in zip(comps, layout.parts):
                value = fit(np.asarray(comp.ast, dtype=float), part, element.name)
                region = fn.region(value[None], part.fixed, part.shape)[0]
                full[part.target] = region[part.source]
            constants[py] = full[None]
            lo, hi = (tuple(element.limits) + (None, None))[:2]
            limits[py] = (lo, hi)
        elements.append((py, comps, layout))
    init: dict[str, Equation] = {}
    step: dict[str, Equation] = {}
    stateful = set()
    for py, ast, layout in elements:
        for phase, target in (("step", step), ("init", init)):
            before = len(builder.slots)
            if layout is None:
                ctx = Context(py, phase, builder)
                text = builder.expr(ast, ctx)
                refs, pre = ctx.refs, ctx.pre
                asts = [ast]
            else:
                text, refs, pre = _compile_subscripted(builder, py, ast,
                                                       layout, phase)
                asts = [c.ast for c in ast]
            target[py] = Equation(pre=tuple(pre) if phase == "init" else (),
                                  expr=text, refs=frozenset(refs))
            if len(builder.slots) > before or any(
                    type(a).__name__ in SLOT_TYPES for a in asts):
                stateful.add(py)
    if builder.noise_sites:  # RANDOM calls read the run's seed and index
        for name in NOISE_CONSTANTS:
            constants[name] = 0.0
            init[name] = step[name] = Equation((), "0.0", frozenset())
    for name in CONTROL:
        if name not in step:
            raise UnsupportedConstructError(
                f"{path.name} does not define {name.upper()}")
    slots = tuple(sorted(builder.slots.values(), key=lambda s: s.index))
    return Program(path=path, names=dict(namespace), constants=constants,
                   limits=limits, stateful=frozenset(stateful), init=init,
                   step=step, slots=slots, lookups=tuple(builder.tables),
                   dims=dict(builder.dims), coords=dict(builder.coords),
                   arrays=tuple(builder.arrays))


def _compile_subscripted(builder: Builder, py: str, comps, layout: Layout,
                         phase: str):
    from sdrev.ensemble.builder import Context

    refs: set = set()
    pre: list = []
    pieces = []
    for comp, part in zip(comps, layout.parts):
        ctx = Context(py, phase, builder, refs, pre, part.axes)
        text = builder.expr(comp.ast, ctx)
        if part.whole:
            return f"fn.bcast({text}, {layout.shape})", refs, pre
        where = builder.const((part.target, part.source))
        pieces.append(f"(fn.region({text}, {part.fixed}, {part.shape}), "
                      f"{where})")
    return (f"fn.assemble({layout.shape}, ({', '.join(pieces)},))", refs, pre)
