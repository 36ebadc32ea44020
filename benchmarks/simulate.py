"""Benchmark ``sdrev simulate`` (one run) against PySD's own read-and-run.

Prints, measured in one run, the wall time and the CPU time (user + system,
less sensitive to other load on the machine) of whole processes:

* ``python -c pass``: a bare interpreter's start, the floor of any command;
* ``sdrev simulate MODEL`` cold: a fresh process and an empty sdrev cache
  (PySD translates the model, the engine compiles it);
* ``sdrev simulate MODEL`` warm: the cache filled by the cold run (the second
  run a user types): the structure and the compiled program come from the
  cache; neither PySD, pandas nor numba is imported;
* ``sdrev simulate MODEL --engine pysd`` warm: the reference engine through
  sdrev (a cached translation, PySD's run);
* PySD alone: ``pysd.read_vensim(copy of MODEL).run()`` in a fresh process
  (translation included, as a PySD user runs a model);

each the median (and minimum) of ``--repeat`` processes, plus the warm run's
time beyond the bare interpreter, which issue 15 asks to be under 0.5 s.

Usage::

    python benchmarks/simulate.py                       # crrc_standards, 5 repeats
    python benchmarks/simulate.py machine_tool_io --repeat 9
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _sdrev() -> list[str]:
    """The sdrev command beside this interpreter, else ``python -m sdrev``."""
    script = Path(sys.executable).with_name("sdrev")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sdrev"]


def _timed(argv: list[str], env: dict) -> tuple[float, float] | None:
    """Wall and CPU seconds (user + system) of one process; ``None`` if it
    fails (e.g. an sdrev without ``--engine``, timed for comparison)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        return None
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _series(label: str, make_argv, env_for, repeat: int) -> dict:
    walls, cpus = [], []
    for k in range(repeat):
        timed = _timed(make_argv(k), env_for(k))
        if timed is None:
            return {"label": label, "failed": True}
        walls.append(timed[0])
        cpus.append(timed[1])
    return {"label": label, "wall": statistics.median(walls), "wall_min": min(walls),
            "cpu": statistics.median(cpus), "cpu_min": min(cpus)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="crrc_standards",
                        help="library name or .mdl path (default crrc_standards)")
    parser.add_argument("--repeat", type=int, default=5, help="processes per row (default 5)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    from sdrev.library import resolve_model_path

    model = resolve_model_path(args.model)
    work = Path(tempfile.mkdtemp(prefix="sdrev-bench-simulate-"))
    try:
        base = {**os.environ, "SDREV_CACHE_DIR": str(work / "cache")}
        sdrev = _sdrev()

        def out(tag):
            return lambda k: [*sdrev, "simulate", str(model), "--out", str(work / f"{tag}{k}")]

        def fresh_cache(k):
            return {**base, "SDREV_CACHE_DIR": str(work / f"cold-cache{k}")}

        copy = work / "pysd" / model.name
        copy.parent.mkdir()
        shutil.copy(model, copy)
        pysd_code = ("import warnings; warnings.simplefilter('ignore'); import pysd; "
                     f"pysd.read_vensim({str(copy)!r}).run()")
        rows = [_series("python -c pass (bare interpreter)",
                        lambda k: [sys.executable, "-c", "pass"], lambda k: base, args.repeat),
                _series("sdrev simulate, cold (empty cache)", out("cold"), fresh_cache,
                        args.repeat)]
        subprocess.run(out("warmup")(0), env=base, check=True, stdout=subprocess.DEVNULL)
        rows.append(_series("sdrev simulate, warm", out("warm"), lambda k: base, args.repeat))
        rows.append(_series("sdrev simulate --engine pysd, warm",
                            lambda k: [*out("pysd")(k), "--engine", "pysd"], lambda k: base,
                            args.repeat))
        rows.append(_series("PySD: read_vensim(...).run()",
                            lambda k: [sys.executable, "-c", pysd_code], lambda k: base,
                            args.repeat))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{model.name}: whole processes, median (min) of {args.repeat}, seconds; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"{'':42} {'wall':>14} {'cpu (user+sys)':>16}")
    for row in rows:
        if row.get("failed"):
            print(f"{row['label']:42} {'failed':>14}")
            continue
        print(f"{row['label']:42} {row['wall']:7.3f} ({row['wall_min']:.3f})"
              f" {row['cpu']:8.3f} ({row['cpu_min']:.3f})")
    bare, warm = rows[0], rows[2]
    print(f"warm sdrev simulate beyond the bare interpreter: wall "
          f"{warm['wall'] - bare['wall']:.3f} s (min {warm['wall_min'] - bare['wall_min']:.3f}),"
          f" cpu {warm['cpu'] - bare['cpu']:.3f} s (min {warm['cpu_min'] - bare['cpu_min']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
