"""Report stage: figures, text summaries and briefs.

The top layer: it composes the stages below (a brief runs scenarios,
sensitivity, loops and comparisons) and draws with :mod:`sdrev.figures`; no
stage imports it. Its names load on first use, so that a plain-text command
(``sdrev list``) does not start matplotlib.
"""

import importlib

#: Public name -> the module that defines it.
_NAMES = {"save_figure": "sdrev.figures.trajectories",
          "trajectory_figure": "sdrev.figures.trajectories",
          "loop_score_figure": "sdrev.figures.loop_scores",
          "loops_table_text": "sdrev.report.text", "describe_text": "sdrev.report.text",
          "library_text": "sdrev.report.text", "summary_table": "sdrev.report.text"}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sdrev.report' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
