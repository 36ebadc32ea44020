"""Naming stage of loop analysis: stable ids and the model's own names.

A loop documented in the model's metadata (``[[loops]]`` in ``NAME.toml``:
id, name, polarity, gain parameter, variables) keeps its documented id and
name. It is matched to a discovered loop

1. by its variables: the discovered loop with exactly the documented set of
   variables (synthetic net-flow nodes ignored), or else
2. by its gain parameter: among the loops through the variable whose
   equation uses the gain parameter, the one sharing most documented
   variables (then the shortest).

Every other loop gets an id from its polarity (``R``, ``B``, or ``U`` for
undetermined), numbered after the highest documented number of that
letter, in a fixed order (length, then variable names), so ids depend only
on the model's structure and the polarity in the analysed run.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LoopName", "id_sort_key", "name_element_loops", "name_loops",
           "polarity_letter"]


@dataclass(frozen=True)
class LoopName:
    id: str
    name: str
    documented: bool
    match: str  # "variables", "gain" or ""


def polarity_letter(polarity: str) -> str:
    if polarity.endswith("reinforcing"):
        return "R"
    if polarity.endswith("balancing"):
        return "B"
    return "U"


def _number(loop_id: str) -> tuple[str, int]:
    head = loop_id.rstrip("0123456789")
    tail = loop_id[len(head):]
    return head, int(tail) if tail else 0


def id_sort_key(loop_id: str):
    """Sort key of a loop id: R before B before others, then by number, then
    by element suffix (``B5[sub2]`` after ``B5[sub1]``)."""
    base, _, suffix = loop_id.partition("[")
    head, num = _number(base)
    return ({"R": 0, "B": 1}.get(head, 2), head, num, suffix)


def name_loops(loops: list[tuple[str, ...]], polarities: list[str], *,
               documented=(), py_of=None, users_of=None, synthetic=frozenset()
               ) -> list[LoopName]:
    """Ids and names of discovered loops.

    Parameters
    ----------
    loops : list of tuple of str
        Discovered loops (Python names, causal order).
    polarities : list of str
        Polarity of each loop in the analysed run.
    documented : iterable of sdrev.model.Loop
        The model's documented loops.
    py_of : callable
        Vensim name -> Python name (``None`` if unknown).
    users_of : callable
        Python name of a constant -> set of Python names whose equations use it.
    synthetic : set of str
        Synthetic nodes (net flows) to ignore when matching.
    """
    names: list[LoopName | None] = [None] * len(loops)
    sets = [frozenset(loop) - synthetic for loop in loops]
    taken: set[int] = set()
    pending = []
    for doc in documented:
        wanted = {py_of(v) for v in doc.variables} - {None}
        hit = next((i for i, s in enumerate(sets)
                    if i not in taken and s == wanted), None)
        if hit is None:
            pending.append((doc, wanted))
            continue
        taken.add(hit)
        names[hit] = LoopName(doc.id, doc.name, True, "variables")
    for doc, wanted in pending:
        gain = py_of(doc.gain) if doc.gain else None
        anchors = users_of(gain) if gain and users_of else set()
        candidates = [i for i, s in enumerate(sets)
                      if i not in taken and s & anchors]
        if not candidates:
            continue
        best = max(candidates, key=lambda i: (len(sets[i] & wanted),
                                              -len(sets[i]), loops[i]))
        if not sets[best] & wanted - anchors and wanted:
            continue
        taken.add(best)
        names[best] = LoopName(doc.id, doc.name, True, "gain")
    highest: dict[str, int] = {}
    for doc in documented:
        head, num = _number(doc.id)
        highest[head] = max(highest.get(head, 0), num)
    order = sorted((i for i in range(len(loops)) if names[i] is None),
                   key=lambda i: (len(loops[i]), loops[i]))
    used = {n.id for n in names if n is not None}
    for i in order:
        letter = polarity_letter(polarities[i])
        num = highest.get(letter, 0) + 1
        while f"{letter}{num}" in used:
            num += 1
        highest[letter] = num
        used.add(f"{letter}{num}")
        names[i] = LoopName(f"{letter}{num}", "", False, "")
    return names  # type: ignore[return-value]


def _rotation(seq: tuple) -> tuple:
    """Smallest rotation of a cyclic sequence (a key for repeated names)."""
    return min(seq[i:] + seq[:i] for i in range(len(seq))) if seq else seq


def _elements_of(node: str) -> str:
    return node[node.index("[") + 1:-1] if node.endswith("]") and "[" in node else ""


def name_element_loops(loops: list[tuple[str, ...]], polarities: list[str], *,
                       variable_of, documented=(), py_of=None, users_of=None,
                       synthetic=frozenset()) -> list[LoopName]:
    """Ids and names of the loops of a subscripted model's element graph.

    Loops that run through the same variables in the same order, with the
    same polarity letter, and differ only in their elements (the
    recovery loop of ``sub1`` and of ``sub2``) form a group. Each group is
    named as one loop by :func:`name_loops` (documented names and ids
    match by variables or gain parameter); a group of several loops gives
    each member the group's id with its elements appended, in the order
    the loop visits them: ``B5[sub1]``, ``R4[sub3;sub1;sub2]``.

    Parameters
    ----------
    loops : list of tuple of str
        Loops of element nodes.
    polarities : list of str
    variable_of : callable
        Element node -> Python name of its variable.
    documented, py_of, users_of, synthetic
        As for :func:`name_loops` (variable level).
    """
    keys = []
    for loop, pol in zip(loops, polarities):
        keys.append((_rotation(tuple(variable_of(n) for n in loop)),
                     polarity_letter(pol)))
    groups: dict = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    reps = list(groups)
    names = name_loops([k[0] for k in reps],
                       [{"R": "reinforcing", "B": "balancing"}.get(k[1], "undetermined")
                        for k in reps],
                       documented=documented, py_of=py_of, users_of=users_of,
                       synthetic=synthetic)
    out: list[LoopName | None] = [None] * len(loops)
    for rep, name in zip(reps, names):
        members = groups[rep]
        if len(members) == 1:
            out[members[0]] = name
            continue
        seen: dict[str, int] = {}
        for i in sorted(members, key=lambda m: loops[m]):
            tags = []
            for node in loops[i]:
                tag = _elements_of(node)
                if tag and tag not in tags:
                    tags.append(tag)
            suffix = ";".join(tags)
            seen[suffix] = seen.get(suffix, 0) + 1
            if seen[suffix] > 1:
                suffix += f"#{seen[suffix]}"
            out[i] = LoopName(f"{name.id}[{suffix}]", name.name, name.documented,
                              name.match)
    return out  # type: ignore[return-value]
