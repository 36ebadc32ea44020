"""Vectorised ensemble engine: many runs of one model in one array pass.

Stages, one module each::

    program   data model: Program (compiled model), Simulator (generated code)
    macros    macro calls expanded inline, one copy per call site
    externals GET CONSTANTS/LOOKUPS/DATA values, subscripted lookups
    layout    regions of subscripted elements defined by several equations
    compile   PySD's abstract model -> Program (numpy expressions), cached
    codegen   Program -> Simulator: ordered, hoisted Python source, executed
    functions Vensim builtins over arrays with a leading run axis
    engine    Euler integration of one chunk, exactly as PySD/Vensim
    kernel    the same time loop compiled by numba (scalar models), cached
    execute   chunks over local processes or a Dask cluster
    api       run / sample_lhs / write
    batch     Batch: array in, arrays out, for samplers and optimisers
    conformance  Vensim test-model suite

Examples
--------
>>> import sdrev.ensemble as ens                       # doctest: +SKIP
>>> samples = ens.sample_lhs({"R and D Spending": (0.5, 2)}, 1000, seed=1)
>>> ds = ens.run("models/crrc_standards.mdl", samples,
...              outputs=["Standards Influence"])
>>> ens.write(ds, "results/run-1")
"""

from sdrev.ensemble import conformance
from sdrev.ensemble.api import model_path, non_finite_runs, run, sample_lhs, write
from sdrev.ensemble.batch import Batch
from sdrev.ensemble.compile import UnsupportedConstructError, compile_model

__all__ = [
    "Batch",
    "UnsupportedConstructError",
    "compile_model",
    "conformance",
    "model_path",
    "non_finite_runs",
    "run",
    "sample_lhs",
    "write",
]
