"""Sensitivity stage: which parameters and which feedback loops decide the outcome.

Built on SALib (the only sdrev package that imports it), running the model
on the ensemble engine. The flow::

    load_spec (TOML)  ->  run: sample -> ensemble -> metrics -> analyse
                      ->  write (tables, figures, manifest) / summary_text

Loop-dominance metrics (``[[loop_metric]]`` in a spec: when dominance shifts
from one feedback loop to another, a loop's relative score at a time) take
one loop analysis per run (:mod:`sdrev.loops`) and are analysed like any
output metric.

Examples
--------
>>> import sdrev, sdrev.sensitivity as sa                     # doctest: +SKIP
>>> model = sdrev.load("crrc_standards")
>>> spec = sa.load_spec(model)                   # sensitivity/crrc_standards.toml
>>> result = sa.run(model, spec, method="sobol", n=1024, seed=1)
>>> print(sa.summary_text(result))
>>> sa.write(result, "results/crrc_standards/sobol-1")
"""

from sdrev.sensitivity.folders import summary_text, write
from sdrev.sensitivity.run import SensitivityResult, run
from sdrev.sensitivity.spec import (DISTRIBUTIONS, LOOP_METRICS, LOOP_OUTPUT, METHODS, METRICS,
                                    Factor, LoopMetric, Metric, Output, Spec, load_spec,
                                    parse_spec, spec_path)

__all__ = ["DISTRIBUTIONS", "LOOP_METRICS", "LOOP_OUTPUT", "METHODS", "METRICS", "Factor",
           "LoopMetric", "Metric", "Output", "SensitivityResult", "Spec", "load_spec",
           "parse_spec", "run", "spec_path", "summary_text", "write"]
