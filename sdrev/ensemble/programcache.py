"""The cache of compiled programs, read and written without PySD.

:func:`~sdrev.ensemble.compile.compile_model` stores each program it
compiles here; a later process that finds the entry (``sdrev simulate`` on a
warm cache) loads the program with pickle and numpy alone: neither the
compiler nor PySD is imported. Entries are sealed with the user's cache key
(:mod:`sdrev.cache`): a planted or damaged file is never unpickled.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import re
from pathlib import Path

from sdrev import cache as store
from sdrev import versions
from sdrev.ensemble.program import Program

__all__ = ["cache_entry", "compiler_digest", "load_program", "save_program"]

#: Vensim's functions that read other files (data, constants, lookups,
#: subscript ranges): a model using them depends on more than its own file,
#: so its program is not cached.
EXTERNAL = re.compile(r"\bGET[ _]+(XLS|DIRECT|123|DATA|VDF)", re.IGNORECASE)


@functools.cache
def compiler_digest() -> str:
    """Hash of the source that defines a compiled program and the code
    generated from it: every module of :mod:`sdrev.ensemble`, the PySD
    reader (``sdrev/translate.py``, ``sdrev/xmile.py``), sdrev's, PySD's
    and numpy's versions. A change to any of them invalidates every cached
    program (read once per process: the code that runs is the code
    loaded)."""
    import numpy as np

    from sdrev import __version__

    here = Path(__file__).parent
    digest = hashlib.sha256()
    for source in sorted(here.glob("*.py")) + [here.parent / "translate.py",
                                                here.parent / "xmile.py"]:
        digest.update(f"{source.name}\0".encode())
        digest.update(source.read_bytes())
    digest.update(f"|{__version__}|{versions.version('pysd')}|{np.__version__}".encode())
    return digest.hexdigest()


def cache_entry(path: Path, subscripts: bool) -> Path | None:
    """Cache file of the program compiled from ``path``, or ``None`` when it
    is not cacheable (the file cannot be read, or the model reads other
    files)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None  # let the parser report it
    if EXTERNAL.search(data.decode("utf-8", errors="replace")):
        return None
    digest = hashlib.sha256(data)
    digest.update(f"|{path}|{subscripts}|{compiler_digest()}".encode())
    return (store.usable_root()[0] / "programs"
            / f"{Path(path).stem[:40]}-{digest.hexdigest()[:24]}.pkl")


def load_program(target: Path) -> Program | None:
    """The program stored at ``target``, or ``None`` when there is none or
    it fails its integrity check (said once on stderr)."""
    try:
        data = store.unseal(target.read_bytes(), store.usable_root()[1])
        if data is None:
            store.note_once(f"cache entry {target.name} failed its integrity "
                            "check; rebuilt")
            return None
        program = pickle.loads(data)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError,
            ImportError, TypeError, ValueError):
        return None  # absent or unreadable: compiled and stored again
    return program if isinstance(program, Program) else None


def save_program(target: Path, program: Program) -> None:
    """Store ``program`` at ``target``, sealed; a cache that cannot be
    written only costs the next compile."""
    try:
        store.private_dir(target.parent)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(store.seal(
            pickle.dumps(program, protocol=pickle.HIGHEST_PROTOCOL), store.usable_root()[1]))
        os.replace(tmp, target)
    except OSError:
        pass
