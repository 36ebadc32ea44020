"""Benchmark: Sobol' analysis of crrc_standards, N = 1024, second order off.

Wall time end to end (load, sample, ensemble, metrics, analysis, writing the
run folder with figures) and the share spent simulating versus analysing.
Goal (issue 15): under 15 s on a 2-core machine. ``--cli`` also reports the
command's CPU seconds (its own and its figure worker's) and the 1-minute load
average before it started: on a shared machine the wall time follows the
load, the CPU time much less. ``rest_s`` is start-up, loading the model and
writing the folder (tables, figures, manifest).

Run::

    python benchmarks/sensitivity.py [-N 1024] [--model crrc_standards] [--cli | --figures]

``--cli`` times the ``sdrev sensitivity`` command in a subprocess instead
of the Python API (the command must be wired in ``sdrev/cli.py``).
``--figures`` runs the analysis through the API, then draws its figures in
this one process and reports the CPU seconds of each figure: building it,
laying it out, and drawing each format (PNG, SVG), as the run folder's
figures are drawn (``sdrev.figures.sensitivity.save_laid_out``).
The convergence check reuses the first N/4 and N/2 base samples (no extra
runs); time-resolved indices and the loop group are included, as the
command computes them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def via_api(model_name: str, n: int, seed: int, method: str) -> dict:
    import sdrev
    import sdrev.sensitivity as sa

    t0 = time.perf_counter()
    model = sdrev.load(model_name)
    spec = sa.load_spec(model)
    t1 = time.perf_counter()
    result = sa.run(model, spec, method=method, n=n, seed=seed, progress=False)
    t2 = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="sdrev-bench-")) / "run"
    sa.write(result, folder, command="benchmarks/sensitivity.py")
    t3 = time.perf_counter()
    return {"model": model_name, "method": method, "n": n, "runs": result.runs,
            "factors": len(spec.factors), "loop_factors": len(spec.loop_factors),
            "engine": result.engine, "load_s": round(t1 - t0, 2),
            "simulation_s": result.timings["simulation"],
            "analysis_s": result.timings["analysis"], "run_s": round(t2 - t1, 2),
            "write_s": round(t3 - t2, 2), "total_s": round(t3 - t0, 2),
            "simulation_share": round(result.timings["simulation"] / (t3 - t0), 3),
            "folder": str(folder)}


def via_cli(model_name: str, n: int, seed: int, method: str) -> dict:
    import os
    import resource

    folder = Path(tempfile.mkdtemp(prefix="sdrev-bench-")) / "run"
    cmd = [sys.executable, "-m", "sdrev.cli", "sensitivity", model_name, "--method", method,
           "-N", str(n), "--seed", str(seed), "--quiet", "--out", str(folder)]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    total = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    manifest = json.loads((folder / "manifest.json").read_text())
    timings = manifest["timings_seconds"]
    return {"model": model_name, "method": method, "n": n, "runs": manifest["runs"],
            "engine": manifest["engine"], "total_s": round(total, 2),
            "cpu_s": round(cpu, 2), "load_1min_before": round(load, 2),
            "simulation_s": timings["simulation"], "analysis_s": timings["analysis"],
            "rest_s": round(total - timings["total"], 2),
            "simulation_share": round(timings["simulation"] / total, 3), "folder": str(folder)}


def figure_costs(model_name: str, n: int, seed: int, method: str) -> dict:
    """CPU seconds per figure and per step (build, layout, png, svg)."""
    import matplotlib
    import matplotlib.figure  # noqa: F401 (imported before the first figure is timed)

    import sdrev
    import sdrev.sensitivity as sa
    from sdrev.figures import drawing
    from sdrev.figures.sensitivity import BUILDERS, figure_tasks

    model = sdrev.load(model_name)
    result = sa.run(model, sa.load_spec(model), method=method, n=n, seed=seed,
                    progress=False)
    folder = Path(tempfile.mkdtemp(prefix="sdrev-bench-figures-"))
    rows, totals = {}, {"build": 0.0, "layout": 0.0, "png": 0.0, "svg": 0.0}
    for stem, kind, kwargs in figure_tasks(result):
        start = time.process_time()
        fig = BUILDERS[kind](**kwargs)
        built = time.process_time()
        drawing.save_laid_out(fig, folder / stem, formats=())  # the layout alone
        laid = time.process_time()
        with matplotlib.rc_context({"figure.constrained_layout.use": False}):
            drawing.save_png(fig, folder / f"{stem}.png")
            drawn = time.process_time()
            fig.savefig(folder / f"{stem}.svg", dpi=drawing.DPI)
        done = time.process_time()
        row = {"build": built - start, "layout": laid - built, "png": drawn - laid,
               "svg": done - drawn}
        rows[stem] = {k: round(v, 3) for k, v in row.items()}
        for k, v in row.items():
            totals[k] += v
    return {"model": model_name, "method": method, "n": n, "figures": rows,
            "total_cpu_s": {k: round(v, 2) for k, v in totals.items()},
            "folder": str(folder)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-N", type=int, default=1024)
    parser.add_argument("--model", default="crrc_standards")
    parser.add_argument("--method", default="sobol")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cli", action="store_true")
    parser.add_argument("--figures", action="store_true",
                        help="CPU seconds of each figure (build, layout, PNG, SVG)")
    args = parser.parse_args()
    run = via_cli if args.cli else figure_costs if args.figures else via_api
    print(json.dumps(run(args.model, args.N, args.seed, args.method), indent=2))


if __name__ == "__main__":
    main()
