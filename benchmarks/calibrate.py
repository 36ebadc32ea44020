"""Benchmark `sdrev calibrate`: MCMC on machine_tool_io, end to end, beside PySD.

Prints, measured in one run:

* sdrev: one ``sdrev.calibrate`` MCMC run of ``--walkers`` walkers x
  ``--steps`` steps (emcee, ``vectorize=True``: two ensemble batches per step)
  on the library spec ``calibration/machine_tool_io.toml``, end to end in this
  process: model load, spec, sampling, summary, predictive bands, the run
  folder with its figures. Proposals outside the priors' support are not run
  (emcee evaluates them; sdrev's log posterior returns -inf before running the
  model), so the model-run count is below walkers x steps.
* PySD: the same log posterior evaluated run by run with PySD (the reference
  engine: ``Problem(..., engine="pysd")``, one parameter set per call) on
  ``--pysd-runs`` sets, and the time the same number of model runs would take.

Usage::

    python benchmarks/calibrate.py                     # 64 walkers x 2000 steps
    python benchmarks/calibrate.py --steps 500         # quicker
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def pysd_likelihood(model, problem, theta):
    """The same log likelihood with PySD: one model object, one run per set
    (as benchmarks/ensemble.py times PySD), outputs on the problem's times."""
    from sdrev.translate import load_pysd

    pysd_model = load_pysd(model.translation)
    names = problem.batch_columns
    values = problem.design(theta)        # one case: rows are the sets
    ll = np.empty(len(theta))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, row in enumerate(values):
            frame = pysd_model.run(params=dict(zip(names, map(float, row))),
                                   return_columns=list(problem.variables),
                                   return_timestamps=problem.times, progress=False)
            Y = frame[list(problem.variables)].to_numpy().T[:, None, None, :]
            ll[i] = problem.log_likelihood(theta[i:i + 1], outputs=Y)[0]
    return len(theta) / (time.perf_counter() - start), ll


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="machine_tool_io")
    parser.add_argument("--walkers", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--pysd-runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    import sdrev
    import sdrev.calibrate as cal
    from sdrev.calibrate.likelihood import Problem

    model = sdrev.load(args.model)
    spec = cal.load_spec(model)
    result = cal.run(model, spec, walkers=args.walkers, steps=args.steps, seed=args.seed,
                     progress=False)
    with tempfile.TemporaryDirectory() as folder:
        cal.write(result, Path(folder) / "run")
    total = time.perf_counter() - start
    d = result.diagnostics
    runs = d["model_runs"]
    sampling_rate = runs / d["seconds"]

    problem = Problem(model, result.spec)
    rng = np.random.default_rng(args.seed)
    theta = np.column_stack([p.rvs(size=args.pysd_runs, random_state=rng)
                             for p in problem.priors])
    sdrev_ll = problem.log_likelihood(theta)
    pysd_rate, pysd_ll = pysd_likelihood(model, problem, theta)
    finite = np.isfinite(sdrev_ll) & np.isfinite(pysd_ll)
    diff = float(np.max(np.abs(sdrev_ll[finite] - pysd_ll[finite]))) if finite.any() else 0.0

    print(f"model {args.model}: {args.walkers} walkers x {args.steps} steps "
          f"({args.walkers * args.steps:,} proposals, {runs:,} model runs)")
    print(f"  sdrev end to end (load, sample, summarise, bands, figures): {total:.1f} s")
    print(f"  sdrev sampling: {d['seconds']:.1f} s = {sampling_rate:,.0f} runs/s "
          f"({d['engine']} engine)")
    print(f"  PySD, the same likelihood run by run: {pysd_rate:,.1f} runs/s; "
          f"{runs:,} runs would take {runs / pysd_rate / 60:,.0f} min")
    print(f"  speed-up of sampling over PySD: {sampling_rate / pysd_rate:,.0f}x; "
          f"largest log-likelihood difference on {args.pysd_runs} sets: {diff:.2e}")
    print(f"  converged: {d['converged']}; max tau "
          f"{max(v for v in d['tau'].values() if v is not None):.0f}, max R-hat "
          f"{max(v for v in d['rhat'].values() if v is not None):.3f}")


if __name__ == "__main__":
    main()
