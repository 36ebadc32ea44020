"""Calibrate stage: estimate constants from observed numbers, with uncertainty.

The flow::

    load_spec (TOML: factors = priors, data, cases)
        -> Problem (log prior, likelihood, posterior over arrays of parameter sets,
                    one ensemble batch per call)
        -> mcmc.fit (emcee) or mle.fit (scipy differential evolution + profiles)
        -> run: summary (what the data pin down), predictive bands, holdout
        -> write (run folder) / read_posterior (draws as parameter sets)

Examples
--------
>>> import sdrev, sdrev.calibrate as cal                       # doctest: +SKIP
>>> model = sdrev.load("machine_tool_io")
>>> result = cal.run(model, method="mcmc", steps=2000, seed=1)  # calibration/machine_tool_io.toml
>>> print(cal.summary_text(result))
>>> cal.write(result, "results/machine_tool_io/calibration")
"""

from sdrev.calibrate.run import (CalibrationResult, read_posterior, run, scenario_toml,
                                 summary_text, write)
from sdrev.calibrate.spec import (ERRORS, METHODS, CalibrationSpec, load_spec, parse_spec,
                                  spec_path)

__all__ = ["ERRORS", "METHODS", "CalibrationResult", "CalibrationSpec", "load_spec",
           "parse_spec", "read_posterior", "run", "scenario_toml", "spec_path", "summary_text",
           "write"]
