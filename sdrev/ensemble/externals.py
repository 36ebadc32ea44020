"""External data: GET CONSTANTS/LOOKUPS/DATA and subscripted lookups.

The values are those PySD loads from the files
(``sdrev.translate.external_values``); they are put into the elements'
syntax trees as numbers, arrays or :class:`Series` (tabulated over x or
time) before compiling. Subscripted lookups keep one table per element
(:func:`subscripted_lookup`). Pure functions: they return new components
and tables, the compile driver keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sdrev.ensemble.layout import Layout, merged_dims
from sdrev.ensemble.program import UnsupportedConstructError, describe
from sdrev.translate import abstract_expressions as ae

__all__ = ["Series", "external_parts", "external_scalar", "load_externals",
           "subscripted_lookup"]


@dataclass(frozen=True)
class Series:
    """Values tabulated over x (lookups) or time (data), loaded by PySD.

    ``values`` has shape ``(len(x), *ranged sizes)``.
    """

    x: np.ndarray
    values: np.ndarray
    interp: str


_EXTERNAL_TYPES = {"GetConstantsStructure": "constant",
                   "GetLookupsStructure": "lookup", "GetDataStructure": "data"}


def load_externals(path: Path, section) -> dict:
    """Values of the model's external constants, lookups and data as PySD
    loads them (empty, without building the PySD model, when none)."""
    if not any(type(c.ast).__name__ in _EXTERNAL_TYPES
               for e in section.elements for c in e.components):
        return {}
    from sdrev.translate import external_values

    return external_values(path)


def _external(values: dict, ast, name: str):
    kind = _EXTERNAL_TYPES[type(ast).__name__]
    if kind not in values:
        raise UnsupportedConstructError(
            f"element {name!r}: PySD loaded no external {kind} for it")
    return values[kind]


def external_scalar(comp, values: dict, name: str):
    """A scalar component with its external values put in its syntax tree."""
    import dataclasses

    if type(comp.ast).__name__ not in _EXTERNAL_TYPES:
        return comp
    ext = _external(values, comp.ast, name)
    if ext.dims:
        raise UnsupportedConstructError(
            "an element without subscripts reads subscripted external data")
    if ext.kind == "constant":
        return dataclasses.replace(comp, ast=float(ext.values))
    return dataclasses.replace(comp, ast=Series(
        np.asarray(ext.x, dtype=float), np.asarray(ext.values, dtype=float),
        ext.interp or "interpolate"))


def _aligned(ext, dims, coords, name: str, lead: int) -> np.ndarray:
    """External values reordered to the element's coordinates (after
    ``lead`` leading axes: 1 for lookups and data)."""
    values = np.asarray(ext.values, dtype=float)
    if len(ext.coords) != len(coords):
        raise UnsupportedConstructError(
            f"element {name!r}: the external data has dimensions "
            f"{list(ext.dims)}, the element {list(dims)}")
    for j, (own, theirs) in enumerate(zip(coords, ext.coords)):
        try:
            index = [theirs.index(e) for e in own]
        except ValueError:
            raise UnsupportedConstructError(
                f"element {name!r}: the external data does not cover the "
                f"elements of {dims[j]!r}") from None
        values = np.take(values, index, axis=lead + j)
    return values


def external_parts(element, comps, layout: Layout, dims, coords, values: dict):
    """Components with their external constants (arrays) and data
    (:class:`Series`) put in their syntax trees, over their regions."""
    import dataclasses

    out = []
    for comp, part in zip(comps, layout.parts):
        if type(comp.ast).__name__ not in _EXTERNAL_TYPES:
            out.append(comp)
            continue
        ext = _external(values, comp.ast, element.name)
        lead = 0 if ext.kind == "constant" else 1
        full = _aligned(ext, dims, coords, element.name, lead)
        head = full.shape[:lead]
        region = np.full(head + part.shape, np.nan)
        index = (slice(None),) * lead
        region[index + part.source] = full[index + part.target]
        ranged = tuple(len(e) for _, e in part.axes)
        region = region.reshape(head + ranged)
        if ext.kind == "constant":
            out.append(dataclasses.replace(comp, ast=region))
        elif ext.kind == "data":
            out.append(dataclasses.replace(comp, ast=Series(
                np.asarray(ext.x, dtype=float), region,
                ext.interp or "interpolate")))
        else:
            raise UnsupportedConstructError(
                f"element {element.name!r} mixes lookups with other "
                "equations")
    return out


def subscripted_lookup(sm, ranges: dict, element, values: dict):
    """``(xs, ys, kind, dims, coords)`` of a subscripted lookup: tables
    from the model (one per equation) and from external files, sharing
    their x values.

    ``sm`` is PySD's subscript manager, ``ranges`` the ranges the
    equations' subscripts are read against, ``values`` the element's
    external values (:func:`load_externals`).
    """
    dims, coords = merged_dims(sm, element)
    shape = tuple(len(c) for c in coords)
    tables, kinds = [], set()  # (x, y, cells) with cells a boolean mask
    for comp in element.components:
        if comp.subscripts[1]:
            raise UnsupportedConstructError(
                f"element {element.name!r}: a lookup defined with :EXCEPT:")
        if isinstance(comp.ast, ae.LookupsStructure):
            index = []
            for j, sub in enumerate(comp.subscripts[0]):
                elems = ranges.get(sub, [sub])
                try:
                    index.append([coords[j].index(e) for e in elems])
                except ValueError:
                    raise UnsupportedConstructError(
                        f"element {element.name!r}: subscript {sub!r} is "
                        f"not in range {dims[j]!r}") from None
            cells = np.zeros(shape, dtype=bool)
            cells[np.ix_(*index)] = True
            x = np.asarray(comp.ast.x, dtype=float)
            y = np.asarray(comp.ast.y, dtype=float)
            tables.append((x, np.broadcast_to(
                y.reshape((len(x),) + (1,) * len(shape)), (len(x),) + shape),
                cells))
            kinds.add(comp.ast.type)
        elif type(comp.ast).__name__ == "GetLookupsStructure":
            ext = _external(values, comp.ast, element.name)
            full = _aligned(ext, dims, coords, element.name, 1)
            tables.append((np.asarray(ext.x, dtype=float), full,
                           ~np.all(np.isnan(full), axis=0)))
            kinds.add("interpolate")
        else:
            raise UnsupportedConstructError(
                f"element {element.name!r} uses {describe(comp.ast)}, "
                "which the ensemble engine does not support yet")
    kind = kinds.pop() if len(kinds) == 1 else None
    if kind not in ("interpolate", "hold_backward", "extrapolate"):
        raise UnsupportedConstructError(
            f"element {element.name!r}: lookup type(s) {sorted(kinds)} not "
            "supported; supported: one of 'interpolate', 'hold_backward', "
            "'extrapolate'")
    if all(np.array_equal(x, tables[0][0]) for x, _, _ in tables):
        xs = tables[0][0]
        ys = np.full((len(xs),) + shape, np.nan)
        for _, y, cells in tables:
            ys[:, cells] = y[:, cells]
        return xs, ys, kind, tuple(dims), coords
    if kind == "extrapolate":
        raise UnsupportedConstructError(
            f"element {element.name!r}: extrapolating lookup tables with "
            "different x values")
    # one table per element: shorter tables repeat their last point
    n = max(len(x) for x, _, _ in tables)
    xs = np.full((n,) + shape, np.nan)
    ys = np.full((n,) + shape, np.nan)
    for x, y, cells in tables:
        pad = n - len(x)
        xp = np.concatenate([x, np.repeat(x[-1:], pad)])
        yp = np.concatenate([y, np.repeat(y[-1:], pad, axis=0)])
        xs[:, cells] = np.broadcast_to(
            xp.reshape((n,) + (1,) * len(shape)), (n,) + shape)[:, cells]
        ys[:, cells] = yp[:, cells]
    return xs, ys, kind, tuple(dims), coords
