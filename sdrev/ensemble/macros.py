"""Macro expansion: every macro call becomes inline elements.

Each call site gets its own copy of the macro's elements and state (as
PySD keeps one ``Macro`` object per call), so the compiled program has no
macros left (:func:`expand_macros`).
"""

from __future__ import annotations

import itertools
from pathlib import Path

from sdrev.ensemble.program import UnsupportedConstructError
from sdrev.translate import abstract_expressions as ae

__all__ = ["expand_macros"]


def _map_tree(node, func):
    """A syntax tree with ``func`` applied top-down: where ``func`` returns
    a different object it replaces the node (and its subtree); every other
    structure is copied, so no node is shared with the original tree."""
    import dataclasses

    new = func(node)
    if new is not node:
        return new
    if isinstance(node, list):
        return [_map_tree(item, func) for item in node]
    if isinstance(node, tuple) and not hasattr(node, "_fields"):
        return tuple(_map_tree(item, func) for item in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return dataclasses.replace(node, **{
            f.name: _map_tree(getattr(node, f.name), func)
            for f in dataclasses.fields(node) if f.init})
    return node


def _clean(name: str) -> str:
    """PySD's form of a name in references (lower case, ``_`` for spaces)."""
    return name.lower().replace(" ", "_")


def expand_macros(section, macros, path: Path):
    """The main section with every macro call expanded in place.

    Each call gets its own copy of the macro's elements (named ``<macro>
    <k> <element>``, with their own state), its parameters become
    elements equal to the call's arguments, and the call becomes a
    reference to the copy of the macro's output element, as Vensim (and
    PySD, one ``Macro`` object per call) evaluates it.
    """
    import dataclasses

    from sdrev.translate import abstract_model_types

    AbstractElement, AbstractComponent = abstract_model_types()
    by_name = {_clean(m.name): m for m in macros}
    for macro in macros:
        if macro.returns:
            raise UnsupportedConstructError(
                f"{path.name}: macro {macro.name!r} has more than one output; "
                "such macros run through the PySD fallback")
    taken = {_clean(e.name) for e in section.elements}
    added: list = []
    counter = itertools.count(1)

    def expand(tree, host: str, subs, depth: int):
        """``tree`` with its macro calls expanded; ``subs`` are the
        subscripts ``(ranges, excepts)`` of the host equation, or ``None``
        for a scalar one: a call in a subscripted equation gets a copy
        subscripted as the equation (one state per element)."""
        def visit(node):
            if not (isinstance(node, ae.CallStructure)
                    and isinstance(node.function, ae.ReferenceStructure)
                    and node.function.reference in by_name):
                return node
            macro = by_name[node.function.reference]
            if subs is not None and any("!" in str(s) for s in subs[0]):
                raise UnsupportedConstructError(
                    f"element {host!r} calls the macro {macro.name!r} over a "
                    "'Range!' subscript; such models run through the PySD "
                    "fallback")
            if depth > 20:
                raise UnsupportedConstructError(
                    f"macro {macro.name!r} calls itself")
            if len(node.arguments) != len(macro.params):
                raise UnsupportedConstructError(
                    f"element {host!r} calls the macro {macro.name!r} with "
                    f"{len(node.arguments)} argument(s); it takes "
                    f"{len(macro.params)}")
            args = [expand(a, host, subs, depth) for a in node.arguments]
            prefix = f"{macro.name.replace('_', ' ')} {next(counter)}"
            rename = {_clean(p): _clean(f"{prefix} {p}") for p in macro.params}
            rename.update({_clean(e.name): _clean(f"{prefix} {e.name}")
                           for e in macro.elements})
            clash = set(rename.values()) & taken
            if clash or _clean(macro.name) not in rename:
                raise UnsupportedConstructError(
                    f"{path.name}: cannot expand the macro {macro.name!r} "
                    "inline (name clash or no output element)")
            taken.update(rename.values())
            where = ([], []) if subs is None else (list(subs[0]), list(subs[1]))
            local = (None if subs is None
                     else ae.SubscriptsReferenceStructure(list(subs[0])))
            for param, arg in zip(macro.params, args):
                added.append(AbstractElement(
                    name=f"{prefix} {param}",
                    components=[AbstractComponent(where, arg)]))

            def renamed(item):
                if (isinstance(item, ae.ReferenceStructure)
                        and item.reference in rename):
                    return dataclasses.replace(
                        item, reference=rename[item.reference],
                        subscripts=_map_tree(local, lambda x: x))
                return item

            for element in macro.elements:
                if any(c.subscripts[0] for c in element.components):
                    raise UnsupportedConstructError(
                        f"macro {macro.name!r} has subscripted elements")
                comps = [dataclasses.replace(c, subscripts=where, ast=expand(
                    _map_tree(c.ast, renamed), host, subs, depth + 1))
                    for c in element.components]
                added.append(dataclasses.replace(
                    element, name=f"{prefix} {element.name}", components=comps))
            return ae.ReferenceStructure(rename[_clean(macro.name)],
                                         _map_tree(local, lambda x: x))

        return _map_tree(tree, visit)

    elements = []
    for element in section.elements:
        elements.append(dataclasses.replace(element, components=[
            dataclasses.replace(c, ast=expand(
                c.ast, element.name,
                c.subscripts if c.subscripts and c.subscripts[0] else None, 0))
            for c in element.components]))
    return dataclasses.replace(section, elements=elements + added)
