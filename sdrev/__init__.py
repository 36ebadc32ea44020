"""sdrev: system-dynamics models of latecomer catch-up and reverse innovation.

The flow of work, one module or package per stage::

    load (model)  ->  scenario / parameters  ->  simulate or ensemble
                  ->  sensitivity / loops / compare  ->  report

Examples
--------
>>> import sdrev
>>> model = sdrev.load("crrc_standards")
>>> frame = sdrev.simulate(model, scenario="baseline")
>>> frame["standards_influence"].iloc[-1]  # doctest: +SKIP
"""

from sdrev.errors import SdrevError

#: Names loaded on first use (PEP 562): loading a model needs PySD and the
#: scientific stack, which ``sdrev --help`` and ``import sdrev.errors`` do not.
_LAZY = {"Loop": "sdrev.model", "Model": "sdrev.model", "Parameter": "sdrev.model",
         "TimeSettings": "sdrev.model", "Variable": "sdrev.model", "load": "sdrev.model",
         "Scenario": "sdrev.scenario", "list_models": "sdrev.library"}

__all__ = [
    "Loop",
    "Model",
    "Parameter",
    "Scenario",
    "SdrevError",
    "TimeSettings",
    "Variable",
    "__version__",
    "list_models",
    "load",
    "simulate",
]

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "simulate":  # the run stage's module, callable: sdrev.simulate(model, ...)
        import importlib

        return importlib.import_module("sdrev.simulate")
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sdrev' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"simulate"})
