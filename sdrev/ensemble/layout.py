"""Subscript layouts: where each equation of a subscripted element writes.

An element defined by several equations (single elements, subranges,
``:EXCEPT:``) is assembled from regions; :func:`element_layout` computes
the element's dimensions as PySD merges them and one :class:`Part` (region,
kept cells) per equation. Pure functions of PySD's subscript manager and
the element: the compile driver keeps what they return.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdrev.ensemble.program import UnsupportedConstructError

__all__ = ["Layout", "Part", "element_layout", "fit", "is_numeric", "merged_dims"]


@dataclass(frozen=True)
class Part:
    """Where one equation of a subscripted element writes its values."""

    axes: tuple      # (range, elements) of each ranged position
    fixed: tuple     # positions given as a single element
    shape: tuple     # region shape, one entry per position
    target: tuple    # index arrays into the element's array (kept cells)
    source: tuple    # index arrays into the region (kept cells)
    whole: bool      # the region is the whole element, in order


@dataclass(frozen=True)
class Layout:
    """A subscripted element: its ranges, their elements, its shape after
    the run axis and one :class:`Part` per equation."""

    shape: tuple
    parts: tuple
    dims: tuple = ()
    coords: tuple = ()


def fit(value: np.ndarray, part: Part, name: str) -> np.ndarray:
    """A constant's values shaped like the ranged subscripts of its part."""
    ranged = tuple(len(e) for _, e in part.axes)
    if value.ndim == 0:
        return np.broadcast_to(value, ranged)
    if value.shape != ranged and value.size == int(np.prod(ranged)):
        return value.reshape(ranged)  # tabbed arrays come flat
    if value.shape != ranged:
        raise UnsupportedConstructError(
            f"element {name!r}: {value.size} values do not fit its "
            f"subscripts {[n for n, _ in part.axes]}")
    return value


def is_numeric(ast) -> bool:
    """Whether a syntax tree is a number or an array of numbers."""
    return isinstance(ast, (int, float, np.ndarray)) and not isinstance(ast, bool)


def merged_dims(sm, element) -> tuple[list, tuple]:
    """Dimensions of a subscripted element as PySD merges its equations'
    subscripts, and the coordinates of each."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dims = sm.make_merge_list([c.subscripts[0] for c in element.components],
                                  element.name)
    if any(d is None for d in dims):
        raise UnsupportedConstructError(
            f"element {element.name!r}: cannot merge the subscripts of its "
            "equations into ranges")
    return dims, tuple(tuple(sm.subscripts[d]) for d in dims)


def element_layout(sm, element) -> Layout:
    """Dimensions of a subscripted element (as PySD merges them) and the
    region each of its equations defines.

    Merging may add ranges to ``sm`` (PySD's subscript manager): a caller
    keeping a copy of its ranges takes a new one afterwards.
    """
    dims, coords = merged_dims(sm, element)
    ranges = dict(sm.subscripts)
    shape = tuple(len(c) for c in coords)
    parts = []
    for comp in element.components:
        subs, excepts = comp.subscripts
        axes, fixed, lists = [], [], []
        for j, sub in enumerate(subs):
            if sub in ranges:
                elems = tuple(ranges[sub])
                axes.append((sub, elems))
            else:
                elems = (sub,)
                fixed.append(j)
            try:
                lists.append([coords[j].index(e) for e in elems])
            except ValueError:
                raise UnsupportedConstructError(
                    f"element {element.name!r}: subscript {sub!r} is not in "
                    f"range {dims[j]!r}") from None
        rshape = tuple(len(x) for x in lists)
        cells = np.indices(rshape).reshape(len(rshape), -1).T
        keep = np.ones(len(cells), dtype=bool)
        for ex in excepts:
            sets = [set(ranges.get(e, [e])) for e in ex]
            hit = np.ones(len(cells), dtype=bool)
            for j, allowed in enumerate(sets):
                hit &= np.array([coords[j][lists[j][c]] in allowed
                                 for c in cells[:, j]])
            keep &= ~hit
        cells = cells[keep]
        target = tuple(np.array([lists[j][c] for c in cells[:, j]], dtype=int)
                       for j in range(len(rshape)))
        source = tuple(cells[:, j].copy() for j in range(len(rshape)))
        whole = (len(element.components) == 1 and not fixed and not excepts
                 and all(x == list(range(len(c))) for x, c in zip(lists, coords)))
        parts.append(Part(tuple(axes), tuple(fixed), rshape, target, source,
                           whole))
    return Layout(shape, tuple(parts), tuple(dims), coords)
