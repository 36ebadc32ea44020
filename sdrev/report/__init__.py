"""Report stage: figures, text summaries and briefs.

The only package of sdrev (with :mod:`sdrev.figures`) that imports matplotlib.
Its names load on first use, so that a plain-text command (``sdrev list``)
does not start matplotlib.
"""

import importlib

#: Public name -> the module that defines it.
_NAMES = {"save_figure": "figures", "trajectory_figure": "figures",
          "loop_score_figure": "loop_figures", "loops_table_text": "loop_figures",
          "describe_text": "text", "library_text": "text", "summary_table": "text"}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        value = getattr(importlib.import_module(f"sdrev.report.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sdrev.report' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
