"""Benchmark: a whole ``sdrev ensemble`` process of SIR runs against pysimlin.

The model is ``tests/fixtures/sir_3200.mdl`` (Kermack & McKendrick's SIR, 200
days at TIME STEP 0.0625: 3,200 steps, Infectious saved daily). Measured in
one run, so that the ratios hold on a loaded machine:

* ``simlin``: pysimlin (``pip install pysimlin``) run by run, ``--simlin-runs``
  runs with the six documented constants drawn uniformly in their ranges,
  each run's Infectious series read back; runs per second;
* ``process``: the command a user types, ``python -m sdrev.cli ensemble
  sir_3200.mdl --sample lhs:N --outputs Infectious --quiet --out DIR``, in a
  subprocess: wall time from start to exit (interpreter start, imports,
  sampling, the runs, ``ensemble.nc``, ``samples.csv`` and the manifest
  written), median of ``--repeat`` after one run that fills the caches;
  also its CPU seconds (user + system, the kernel's two threads counted
  both), set against pysimlin's runs per CPU second where the machine's
  load disturbs wall times;
* ``api``: a warm call of ``sdrev.ensemble.run(path, samples,
  outputs=["Infectious"])`` in this process (median of ``--repeat`` after
  one call), the same N runs.

Goals (issue 15): the process at least 20x pysimlin's rate, warm API calls at
least 100x.

Usage::

    python benchmarks/sir.py [--runs 100000] [--simlin-runs 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "fixtures" / "sir_3200.mdl"
#: The constants with documented ranges in the model file, as sampled.
RANGES = {"Base Contact Rate": (1.0, 5.0), "Contagion Loop Gain": (0.0, 2.0),
          "Duration of Illness": (2.0, 10.0), "Infectivity": (0.1, 0.5),
          "Initial Infectious": (1.0, 10.0), "Initial Susceptible": (500.0, 2000.0)}


def _draws(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(lo, hi, n) for name, (lo, hi) in RANGES.items()}


def simlin_rate(runs: int) -> tuple[float, float] | None:
    """pysimlin's runs per second and per CPU second, one run after another
    (None without it)."""
    try:
        import simlin
    except ImportError:
        return None
    model = simlin.load(str(MODEL))
    draws = _draws(runs, seed=2)
    names = {name: "_".join(name.lower().split()) for name in RANGES}
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(runs):
        sim = model.simulate(overrides={names[k]: float(v[i]) for k, v in draws.items()})
        sim.run_to_end()
        series = sim.get_series("infectious")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    if not np.isfinite(series).all():
        raise RuntimeError("pysimlin gave non-finite values")
    return runs / elapsed, runs / cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_seconds(runs: int, repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds (user + system, all threads) of whole ``sdrev
    ensemble`` processes (after one warm-up)."""
    times, cpus = [], []
    with tempfile.TemporaryDirectory(prefix="sdrev-bench-sir-") as tmp:
        for k in range(repeat + 1):
            out = Path(tmp) / f"run{k}"
            cmd = [sys.executable, "-m", "sdrev.cli", "ensemble", str(MODEL), "--sample",
                   f"lhs:{runs}", "--outputs", "Infectious", "--quiet", "--out", str(out)]
            start, cpu = time.perf_counter(), _children_cpu()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            elapsed, cpu = time.perf_counter() - start, _children_cpu() - cpu
            manifest = json.loads((out / "manifest.json").read_text())
            if manifest["ensemble"]["runs"] != runs:
                raise RuntimeError(f"the process wrote {manifest['ensemble']['runs']} runs")
            if k:  # the first filled the caches
                times.append(elapsed)
                cpus.append(cpu)
    return times, cpus


def api_seconds(runs: int, repeat: int) -> list[float]:
    """Seconds of warm ``sdrev.ensemble.run`` calls in this process."""
    import pandas as pd

    from sdrev import ensemble

    samples = pd.DataFrame(_draws(runs, seed=1))
    ensemble.run(MODEL, samples, outputs=["Infectious"], progress=False)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        ds = ensemble.run(MODEL, samples, outputs=["Infectious"], progress=False)
        times.append(time.perf_counter() - start)
    if ds.sizes["run"] != runs or not np.isfinite(ds["infectious"].values).all():
        raise RuntimeError("the ensemble result is incomplete or not finite")
    return times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--simlin-runs", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    for name, value in (("--runs", args.runs), ("--simlin-runs", args.simlin_runs),
                        ("--repeat", args.repeat)):
        if value < 1:
            parser.error(f"{name} must be a positive integer, got {value}")
    simlin = simlin_rate(args.simlin_runs)
    load_before = os.getloadavg()[0]
    process, process_cpu = process_seconds(args.runs, args.repeat)
    api = api_seconds(args.runs, args.repeat)
    simlin_after = simlin_rate(args.simlin_runs)  # the load may change meanwhile
    measured = [r for r in (simlin, simlin_after) if r]
    rates = [wall for wall, _ in measured]
    peer = float(np.mean(rates)) if rates else None
    peer_cpu = float(np.mean([cpu for _, cpu in measured])) if measured else None
    proc_rate = args.runs / float(np.median(process))
    proc_cpu_rate = args.runs / float(np.median(process_cpu))
    api_rate = args.runs / float(np.median(api))
    report = {
        "model": MODEL.name, "runs": args.runs, "steps": 3200,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "simlin_runs_per_s": [round(r, 1) for r in rates],
        "simlin_runs_per_cpu_s": [round(cpu, 1) for _, cpu in measured],
        "process_seconds": [round(t, 3) for t in process],
        "process_cpu_seconds": [round(t, 3) for t in process_cpu],
        "process_runs_per_s": round(proc_rate),
        "api_seconds": [round(t, 3) for t in api],
        "api_runs_per_s": round(api_rate),
        "process_x_simlin": round(proc_rate / peer, 1) if peer else None,
        "process_x_simlin_by_cpu": round(proc_cpu_rate / peer_cpu, 1) if peer_cpu else None,
        "api_x_simlin": round(api_rate / peer, 1) if peer else None,
        "goals": "process >= 20x, api >= 100x",
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
