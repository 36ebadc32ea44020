"""Groups of a model's constants, as the modeller drew them in Vensim.

A Vensim ``.mdl`` file divides its equations into ``.Group`` sections (a
line of stars, ``.Name``, a line of stars). The explorer shows one panel of
sliders per section. The file is untrusted text: it is only read, never
run, and a group's name is used as a label (the page escapes it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["DEFAULT_GROUP", "mdl_groups"]

#: Group of a constant the model file puts in no section (and of every
#: constant of an XMILE model).
DEFAULT_GROUP = "Constants"
#: Longest group name kept (longer names are cut).
MAX_NAME = 60

_HEADER = re.compile(r"^\*{5,}\s*\n\s*\.([^\n]*)\n\*{5,}~", re.MULTILINE)
_LHS = re.compile(r"^\s*([^=(:\[~|]+?)\s*(?:\[[^\]]*\]\s*)?(?:=|:=|==|\(|:)", re.DOTALL)


def _key(name: str) -> str:
    return " ".join(str(name).replace("_", " ").strip('"').split()).lower()


def mdl_groups(path: str | Path, names: Iterable[str]) -> dict[str, str]:
    """The ``.Group`` section each named constant is defined in.

    Parameters
    ----------
    path : str or Path
        A Vensim ``.mdl`` file (any other file gives every name
        :data:`DEFAULT_GROUP`).
    names : iterable of str
        Vensim names of constants.

    Returns
    -------
    dict of str to str
        Each name -> its section's name (``Control`` sections included as
        written), :data:`DEFAULT_GROUP` where the file puts it in none.
    """
    names = list(names)
    found = {n: DEFAULT_GROUP for n in names}
    path = Path(path)
    if path.suffix.lower() != ".mdl":
        return found
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return found
    text = text.split("\\\\\\---///", 1)[0]  # the sketch follows the equations
    wanted = {_key(n): n for n in names}
    headers = list(_HEADER.finditer(text))
    bounds = [(m.end(), headers[i + 1].start() if i + 1 < len(headers) else len(text),
               _label(m.group(1))) for i, m in enumerate(headers)]
    for start, end, group in bounds:
        for entry in text[start:end].split("|"):
            entry = entry.split("~", 1)[0] if "~" in entry else entry
            match = _LHS.match(entry.replace("\\\n", " "))
            if match and _key(match.group(1)) in wanted:
                found[wanted[_key(match.group(1))]] = group
    return found


def _label(raw: str) -> str:
    label = " ".join(raw.split())[:MAX_NAME]
    return label or DEFAULT_GROUP
