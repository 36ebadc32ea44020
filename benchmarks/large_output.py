"""Ensembles larger than memory: results written to Zarr block by block.

Two cases, each in a fresh child process so that its peak resident memory
(``ru_maxrss``) is its own:

* ``crrc10m``: 10,000,000 runs of crrc_standards (every documented range
  varied, 53 constants, Latin hypercubes of 200,000 runs made block by
  block), three stocks saved yearly (41 times): 9.2 GiB of results;
* ``step100k``: 100,000 runs of crrc_standards at TIME STEP 0.0125 saved
  every step (3,201 times), one output: 2.4 GiB, over NetCDF3's 2 GiB
  limit per variable.

Each prints runs, saved times, the result's size in memory terms, the
store's size on disk, wall time, runs per second and peak RSS, then reads
the store back with ``xarray.open_zarr`` and checks its shape, attributes
and that every value of the last run is finite.

Usage::

    python benchmarks/large_output.py [crrc10m] [step100k] [--runs N] [--out DIR]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "crrc10m": {"runs": 10_000_000, "outputs": ["Standards Influence", "Strategic Cognition",
                                             "Technological Capability"],
                    "saveper": 1.0, "time_step": None},
    "step100k": {"runs": 100_000, "outputs": ["Standards Influence"], "saveper": 0.0125,
                     "time_step": 0.0125},
}
#: Runs per sampled block (a Latin hypercube of its own).
SAMPLE_BLOCK = 200_000


def _blocks(model, runs: int, time_step: float | None, seed: int = 1):
    from sdrev.ensemble.plan import documented_factors, sample_factors

    factors = documented_factors(model)
    for k, start in enumerate(range(0, runs, SAMPLE_BLOCK)):
        block = sample_factors(factors, min(SAMPLE_BLOCK, runs - start), seed=seed + k)
        if time_step is not None:
            block["TIME STEP"] = time_step
        yield block


def child(case: str, runs: int, out: Path) -> None:
    import numpy as np
    import xarray as xr

    import sdrev
    from sdrev.ensemble.store import run_to_zarr

    spec = CASES[case]
    model = sdrev.load("crrc_standards")
    store = out / f"{case}.zarr"
    start = time.perf_counter()
    run_to_zarr(model, _blocks(model, runs, spec["time_step"]), store,
                outputs=spec["outputs"], saveper=spec["saveper"], progress=False)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    disk = sum(p.stat().st_size for p in store.rglob("*") if p.is_file())
    with xr.open_zarr(store, consolidated=False) as data:
        times = data.sizes["time"]
        assert data.sizes["run"] == runs, data.sizes
        first = next(iter(data.data_vars))
        assert data[first].attrs["long_name"] and data["time"].attrs["units"] == "Year"
        last = data[first].isel(run=-1).values
        assert np.isfinite(last).all()
        engine = data.attrs.get("engine")
    values = runs * times * len(spec["outputs"]) * 8
    print(f"{case}: {runs:,} runs x {times} saved times x {len(spec['outputs'])} "
          f"output(s) = {values / 2**30:.2f} GiB of float64, on disk {disk / 2**30:.2f} GiB "
          f"(Zarr, default compression); {elapsed:.1f} s ({runs / elapsed:,.0f} runs/s, "
          f"engine {engine}); peak RSS {peak:.0f} MiB (largest child {kids:.0f} MiB); "
          "read back with xarray.open_zarr: shape, units and finite values checked")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", metavar="CASE",
                        help=f"any of {', '.join(CASES)} (default: all)")
    parser.add_argument("--runs", type=int, help="override the number of runs")
    parser.add_argument("--out", type=Path, help="folder for the stores (default: a "
                        "temporary folder, removed afterwards)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.runs or CASES[args.child]["runs"], args.out)
        return 0
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; valid: {list(CASES)}")
    out = args.out or Path(tempfile.mkdtemp(prefix="sdrev-large-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        for case in args.cases or list(CASES):
            cmd = [sys.executable, __file__, "--child", case, "--out", str(out)]
            if args.runs:
                cmd += ["--runs", str(args.runs)]
            subprocess.run(cmd, check=True)
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
