"""Whether a model file draws random numbers (Vensim's RANDOM functions).

Kept apart from :mod:`sdrev.ensemble.noise` (the draws, which the compiler's
functions import) because it compiles the model.
"""

from __future__ import annotations

import re
from pathlib import Path

from sdrev.ensemble.compile import compile_model
from sdrev.ensemble.noise import has_noise
from sdrev.ensemble.program import fallback_reason

__all__ = ["model_has_noise"]

#: A call of Vensim's RANDOM family in an equation's text.
RANDOM_CALL = re.compile(r"\bRANDOM[ _]+(0[ _]+1|[A-Z]+)\s*\(", re.IGNORECASE)


def model_has_noise(path) -> bool:
    """Whether the model file at ``path`` uses Vensim's RANDOM functions.

    Read from the compiled program; for a model the engine cannot compile
    (it runs on PySD), from the equations' text: a ``RANDOM`` function
    name of Vensim's family (``RANDOM NORMAL``, ``RANDOM 0 1``, ...).
    """
    try:
        return has_noise(compile_model(Path(path), subscripts=True))
    except Exception as exc:  # noqa: BLE001 - what falls back to PySD: read the text
        if fallback_reason(exc) is None:
            raise
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        return RANDOM_CALL.search(text) is not None
