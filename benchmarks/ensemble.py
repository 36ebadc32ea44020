"""Benchmark the ensemble engine against sequential PySD and pysimlin.

Prints, measured side by side in one run: runs per second of (a) PySD's
``model.run`` one run after another, (b) pysimlin (``pip install
pysimlin``; skipped when absent), (c) ``sdrev.ensemble.run`` over all
cores, for ``--runs`` runs of each model (PySD and pysimlin are timed on
``--sequential`` runs and extrapolated), the largest relative difference of
their outputs from sdrev's, and, with ``--million``, the peak memory of
1,000,000 runs of the first model saving three outputs yearly.

sdrev is timed four ways, each the wall time of one ``run`` call (model
parse and compile included):

* ``sdrev_cold``: a fresh process and an empty sdrev cache: parse,
  compile, kernel compilation by numba and numba's own start-up;
* ``sdrev_fresh_process``: a fresh process, the cache filled by the cold
  run (the second ``sdrev ensemble`` a user types): program and machine
  code come from the cache, numba and xarray still start up;
* ``sdrev``: a later ``run`` in the same process (as in sensitivity and
  regime studies, which call ``run`` again and again), median of three;
* ``sdrev_numpy``: the same, with ``jit=False`` (the numpy engine, the
  reference the kernel must equal).

Usage::

    python benchmarks/ensemble.py                    # 10,000 runs, two models
    python benchmarks/ensemble.py --million          # plus the 10^6-run memory test
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = [
    ROOT / "models" / "crrc_standards.mdl",
    ROOT.parent / "shared" / "test-models" / "tests" / "smooth_and_stock"
    / "test_smooth_and_stock.mdl",
]


def _setup(path: Path, n: int, seed: int):
    from sdrev.ensemble import compile_model
    from sdrev.ensemble.compile import CONTROL

    # not through the cache: the timed runs must find it as they left it
    program = compile_model(path, subscripts=True, cache=False)
    ranged = {k: v for k, v in program.limits.items()
              if k not in CONTROL and v[0] is not None and v[1] is not None
              and v[0] < v[1]}
    if not ranged:  # test models rarely document ranges: vary by +-50 %
        ranged = {k: (0.5 * v, 1.5 * v) for k, v in program.constants.items()
                  if k not in CONTROL and v > 0}
    rng = np.random.default_rng(seed)
    samples = pd.DataFrame({k: rng.uniform(lo, hi, n) for k, (lo, hi) in ranged.items()})
    stocks = [s.element for s in program.slots]
    outputs = list(dict.fromkeys(stocks))[:3]
    return program, samples, outputs


def bench_pysd(path, program, samples, outputs, k):
    from sdrev.translate import load_pysd, translate

    model = load_pysd(translate(path))
    vensim = {v: n for n, v in program.names.items()}
    cols = [vensim[o] for o in outputs]
    frames = []
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(k):
            params = {vensim[c]: float(samples[c].iloc[i]) for c in samples}
            frames.append(model.run(params=params, return_columns=cols,
                                    progress=False))
    rate = k / (time.perf_counter() - start)
    return rate, [f[cols].to_numpy().T for f in frames]


def bench_simlin(path, samples, outputs, k):
    try:
        import simlin
    except ImportError:
        return None, None
    model = simlin.load(str(path))
    values = []
    start = time.perf_counter()
    for i in range(k):
        res = model.run(overrides={c: float(samples[c].iloc[i]) for c in samples},
                        analyze_loops=False).results
        values.append(res)
    rate = k / (time.perf_counter() - start)
    return rate, values


def bench_sdrev(path, samples, outputs, *, jit=None):
    from sdrev.ensemble import run

    start = time.perf_counter()
    ds = run(path, samples, outputs=outputs, progress=False, jit=jit)
    return len(samples) / (time.perf_counter() - start), ds


def bench_child(path: Path, runs: int, cache: str) -> float:
    """Runs per second of one ``run`` in a fresh process using ``cache``."""
    env = {**os.environ, "SDREV_CACHE_DIR": cache}
    out = subprocess.run([sys.executable, __file__, str(path),
                          "--child-rate", str(runs)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out.split()[-1])


def child_rate(path: Path, n: int) -> None:
    """Child process: time one run (libraries imported beforehand)."""
    _, samples, outputs = _setup(path, n, seed=1)
    rate, _ = bench_sdrev(path, samples, outputs)
    print(f"rate {rate}")


def _median(results):
    """The (rate, dataset) of median rate among repeated timings."""
    results = sorted(results, key=lambda r: r[0])
    return results[len(results) // 2]


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def compare_model(path: Path, runs: int, sequential: int) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sdrev-bench-cache-") as cache:
        rate_cold = bench_child(path, runs, cache)
        rate_fresh = bench_child(path, runs, cache)
    program, samples, outputs = _setup(path, runs, seed=1)
    _, other, _ = _setup(path, runs, seed=3)
    bench_sdrev(path, other, outputs)  # the first run of this process
    bench_sdrev(path, other, outputs, jit=False)
    rate_s, ds = _median(bench_sdrev(path, samples, outputs) for _ in range(3))
    rate_n, ds_numpy = _median(bench_sdrev(path, samples, outputs, jit=False)
                               for _ in range(3))
    diff_n = max(_rel(ds[o].values, ds_numpy[o].values) for o in outputs)
    rate_p, pysd_out = bench_pysd(path, program, samples, outputs, sequential)
    diff_p = max(_rel(ds[o].values[i], pysd_out[i][j])
                 for i in range(sequential) for j, o in enumerate(outputs))
    rate_l, simlin_out = bench_simlin(path, samples, outputs, sequential)
    diff_l = None
    if simlin_out is not None:
        diffs = []
        for i, res in enumerate(simlin_out):
            for o in outputs:
                if o in res.columns:
                    t = ds["time"].values
                    got = res[o].reindex(t, method="nearest").to_numpy()
                    diffs.append(_rel(got, ds[o].values[i]))
        diff_l = max(diffs) if diffs else None
    return {"model": path.stem, "runs": runs, "outputs": ", ".join(outputs),
            "kernel": ds.attrs.get("kernel"),
            "pysd_runs_s": rate_p, "simlin_runs_s": rate_l,
            "sdrev_cold_runs_s": rate_cold,
            "sdrev_fresh_process_runs_s": rate_fresh,
            "sdrev_runs_s": rate_s, "sdrev_numpy_runs_s": rate_n,
            "cold_x_pysd": rate_cold / rate_p,
            "fresh_process_x_pysd": rate_fresh / rate_p,
            "speedup_vs_pysd": rate_s / rate_p,
            "speedup_vs_simlin": rate_s / rate_l if rate_l else None,
            "numpy_x_pysd": rate_n / rate_p,
            "max_rel_diff_pysd": diff_p, "max_rel_diff_simlin": diff_l,
            "max_rel_diff_numpy": diff_n}


def million(path: Path, n: int) -> None:
    """Child process: n runs saving three outputs yearly; prints peak RSS."""
    from sdrev.ensemble import run

    _, samples, outputs = _setup(path, n, seed=2)
    start = time.perf_counter()
    ds = run(path, samples, outputs=outputs, progress=False, saveper=1.0)
    elapsed = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if ds.attrs.get("kernel"):
        # the compiled kernel ran in this process (threads): no workers
        kids, workers = 0.0, 0
    else:
        # workers start from a forkserver (not our direct children), so
        # each reports its own peak with its chunks; RUSAGE_CHILDREN covers
        # the rest
        kids = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                   float(ds.attrs.get("worker_peak_mib", 0.0)))
        workers = os.cpu_count() or 1
    where = (f"largest worker {kids:.0f} MiB, total <= "
             f"{own + workers * kids:.0f} MiB ({workers} workers)" if workers
             else "no worker processes (compiled kernel, threads)")
    print(f"{n} runs x {len(outputs)} outputs x {ds.sizes['time']} times in "
          f"{elapsed:.1f} s ({n / elapsed:.0f} runs/s); result "
          f"{ds.nbytes / 2**20:.0f} MiB (outputs "
          f"{sum(ds[o].nbytes for o in ds.data_vars) / 2**20:.0f} MiB); peak RSS "
          f"main {own:.0f} MiB; {where}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, default=DEFAULT_MODELS)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--sequential", type=int, default=20,
                        help="runs timed for PySD and pysimlin")
    parser.add_argument("--million", action="store_true")
    parser.add_argument("--child-million", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-rate", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_rate:
        child_rate(args.models[0], args.child_rate)
        return
    if args.child_million:
        million(args.models[0], args.child_million)
        return
    rows = [compare_model(p, args.runs, args.sequential)
            for p in args.models if p.is_file()]
    table = pd.DataFrame(rows).set_index("model")
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.float_format", "{:.4g}".format):
        print(table.T.to_string())
    if args.million:
        subprocess.run([sys.executable, __file__, str(args.models[0]),
                        "--child-million", "1000000"], check=True)


if __name__ == "__main__":
    main()
