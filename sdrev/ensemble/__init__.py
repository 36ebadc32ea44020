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
    api       run / run_arrays / sample_lhs / write
    result    Arrays (run_arrays' result), NetCDF written without xarray
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

import importlib

#: Public name -> the module that defines it, loaded on first use (PEP 562):
#: one run (``sdrev simulate``) needs the engine, not xarray, pandas or PySD.
_NAMES = {"Batch": "sdrev.ensemble.batch",
          "UnsupportedConstructError": "sdrev.ensemble.program",
          "compile_model": "sdrev.ensemble.compile",
          "conformance": "sdrev.ensemble.conformance",
          "model_path": "sdrev.ensemble.api", "non_finite_runs": "sdrev.ensemble.api",
          "run": "sdrev.ensemble.api", "run_arrays": "sdrev.ensemble.api",
          "sample_lhs": "sdrev.ensemble.api",
          "write": "sdrev.ensemble.api"}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        module = importlib.import_module(_NAMES[name])
        value = module if _NAMES[name].endswith("." + name) else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sdrev.ensemble' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
