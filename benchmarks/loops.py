"""Benchmark: Loops that Matter over an ensemble, beside pysimlin's LTM run by run.

For each model, a Latin hypercube of ``--runs`` parameter sets over the
documented ranges (seed 1) is analysed

* by ``sdrev.loops.analyze_ensemble`` in a warm process (model loaded, one
  small ensemble analysed before: caches filled, numpy warm), and in a fresh
  process (``python benchmarks/loops.py --child MODEL RUNS``: imports, model
  load from the cache, analysis; wall time of the whole process);
* by pysimlin (``simlin.load(path).run(overrides=..., analyze_loops=True)``)
  one run after another on the first ``--sequential`` of the same parameter
  sets (model loaded beforehand), its rate extrapolated;
* and, for the first ``--check`` runs, by ``sdrev.loops.analyze`` one run at
  a time: the largest difference of the documented loops' relative scores
  shows the ensemble gives the per-run numbers.

Then ``sdrev sensitivity crrc_standards --spec crrc_standards_dominance -N
1024`` is timed end to end as a command (``--sensitivity 0`` skips it).

Wall times depend on what else the machine runs; CPU times (``*_cpu_s``:
this process's threads, or a child process and its workers) much less, so
rates are given both ways.

Run::

    python benchmarks/loops.py [--runs 10000] [--sequential 40] [--sensitivity 1024]
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

MODELS = ("crrc_standards", "machine_tool_io")


def _samples(model, runs: int, seed: int = 1):
    from sdrev.ensemble import sample_lhs

    ranges = {p.py_name: tuple(p.range) for p in model.parameters
              if p.range and np.isfinite(p.range).all() and p.range[0] < p.range[1]}
    return sample_lhs(ranges, runs, seed=seed)


def child(name: str, runs: int) -> None:
    """Fresh process: load, sample, analyse (the parent times the process)."""
    import sdrev
    from sdrev import loops

    model = sdrev.load(name)
    result = loops.analyze_ensemble(model, _samples(model, runs))
    print(f"runs {result.runs}")


def bench_simlin(model, samples, k: int):
    try:
        import simlin
    except ImportError:
        return None
    sim = simlin.load(str(model.path))
    sim.run(analyze_loops=True)  # warm
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(k):
        sim.run(overrides={c: float(samples[c].iloc[i]) for c in samples},
                analyze_loops=True)
    return k / (time.perf_counter() - start), k / (time.process_time() - cpu)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def compare_model(name: str, runs: int, sequential: int, check: int) -> dict:
    import sdrev
    from sdrev import loops

    start, cpu = time.perf_counter(), _children_cpu()
    out = subprocess.run([sys.executable, __file__, "--child", name, str(runs)],
                         check=True, capture_output=True, text=True).stdout
    fresh = time.perf_counter() - start
    fresh_cpu = _children_cpu() - cpu
    assert f"runs {runs}" in out
    model = sdrev.load(name)
    samples = _samples(model, runs)
    loops.analyze_ensemble(model, _samples(model, 200, seed=3))  # warm the process
    start, cpu = time.perf_counter(), time.process_time()
    result = loops.analyze_ensemble(model, samples, workers=1)
    warm = time.perf_counter() - start
    warm_cpu = time.process_time() - cpu
    start = time.perf_counter()
    loops.analyze_ensemble(model, samples, workers=2)
    warm2 = time.perf_counter() - start
    rate_l, cpu_rate_l = bench_simlin(model, samples, sequential) or (None, None)
    start = time.perf_counter()
    worst = 0.0
    for i in range(check):
        ref = loops.analyze(model, params=samples.iloc[i].to_dict())
        for j, loop_id in enumerate(result.documented):
            worst = max(worst, float(np.max(np.abs(
                result.relative[i, j] - ref.relative_scores[loop_id].to_numpy()))))
    per_run = (time.perf_counter() - start) / check
    rate_w = runs / warm
    return {"model": name, "runs": runs, "loops": len(result.loops),
            "saved_times": len(result.times),
            "sdrev_warm_s": round(warm, 2), "sdrev_warm_runs_s": round(rate_w, 1),
            "sdrev_warm_cpu_s": round(warm_cpu, 2),
            "sdrev_warm_2_workers_s": round(warm2, 2),
            "sdrev_fresh_process_s": round(fresh, 2),
            "sdrev_fresh_process_cpu_s": round(fresh_cpu, 2),
            "sdrev_fresh_runs_s": round(runs / fresh, 1),
            "pysimlin_runs_s": round(rate_l, 1) if rate_l else None,
            "pysimlin_runs_per_cpu_s": round(cpu_rate_l, 1) if rate_l else None,
            "speedup_warm_vs_pysimlin": round(rate_w / rate_l, 1) if rate_l else None,
            "speedup_warm_cpu_vs_pysimlin": round(runs / warm_cpu / cpu_rate_l, 1)
            if rate_l else None,
            "speedup_fresh_vs_pysimlin": round(runs / fresh / rate_l, 1) if rate_l else None,
            "sdrev_per_run_analyze_runs_s": round(1 / per_run, 1),
            "max_abs_diff_vs_per_run": worst}


def sensitivity(n: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="sdrev-bench-")) / "run"
    cmd = [sys.executable, "-m", "sdrev.cli", "sensitivity", "crrc_standards", "--spec",
           "crrc_standards_dominance", "-N", str(n), "--out", str(folder)]
    start, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    total = time.perf_counter() - start
    total_cpu = _children_cpu() - cpu
    manifest = json.loads((folder / "manifest.json").read_text())
    timings = manifest.get("timings_seconds", {})
    return {"command": " ".join(["sdrev"] + cmd[3:-2]), "runs": manifest.get("runs"),
            "total_s": round(total, 2), "total_cpu_s": round(total_cpu, 2),
            "loop_metrics_s": timings.get("loop_metrics"),
            "simulation_s": timings.get("simulation"), "analysis_s": timings.get("analysis")}


def positive(text: str) -> int:
    """An integer of at least 1 (argparse type: anything else is one line, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer of at least 1, got {text!r}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--sequential", type=int, default=40,
                        help="runs timed for pysimlin (one after another)")
    parser.add_argument("--check", type=positive, default=5,
                        help="runs compared with sdrev.loops.analyze one by one (at least 1)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--sensitivity", type=int, default=1024, metavar="N",
                        help="N of the dominance Sobol analysis (0: skip)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "RUNS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    results = [compare_model(m, args.runs, args.sequential, args.check)
               for m in args.models.split(",") if m]
    out = {"models": results}
    if args.sensitivity:
        out["sensitivity"] = sensitivity(args.sensitivity)
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
