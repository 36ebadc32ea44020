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

__all__ = ["LoopName", "name_loops", "polarity_letter"]


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
