"""sdrev: system-dynamics models of latecomer catch-up and reverse innovation.

The flow of work, one module or package per stage::

    load (model)  ->  scenario / parameters  ->  simulate or ensemble
                  ->  sensitivity / loops / compare  ->  report

Examples
--------
>>> import sdrev
>>> model = sdrev.load("crrc_standards")
>>> frame = model.simulate(scenario="baseline")
>>> frame["standards_influence"].iloc[-1]  # doctest: +SKIP
"""

from sdrev.errors import SdrevError
from sdrev.library import list_models
from sdrev.model import Loop, Model, Parameter, TimeSettings, Variable, load
from sdrev.scenario import Scenario

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
]

__version__ = "0.1.0"
