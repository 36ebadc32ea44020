"""XMILE conformance: sdrev beside PySD alone and pysimlin on the same files.

Every ``.xmile``/``.stmx`` file under a conformance folder (default
``../shared/test-models/tests``) is run three ways and compared with the
canonical output beside it by the same comparison ``sdrev conformance``
uses (rtol 0.05, atol 1e-5):

* sdrev: ``sdrev.ensemble.conformance.check_model`` (sdrev's XMILE reading,
  the vectorised engine, its PySD fallback);
* PySD alone: ``pysd.read_xmile`` on a copy of the file in a temporary
  folder (PySD writes its translation beside the model), ``model.run()``;
* pysimlin: ``simlin.load(path).base_case.results``.

Usage::

    python benchmarks/xmile_conformance.py [FOLDER] [--rtol 0.05] [--verbose]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from sdrev.ensemble import conformance as conf

ROOT = Path(__file__).resolve().parents[1]


def _key(name) -> str:
    return " ".join(str(name).replace('"', " ").replace("_", " ").split()).lower()


def _compare(frame, canon, rtol):
    """Every canonical column of ``canon`` in ``frame`` (columns matched
    case-, space- and underscore-insensitively)."""
    columns = {_key(c): c for c in frame.columns}
    result = {"time": np.asarray(frame.index, dtype=float)}
    for column in canon.columns:
        hit = columns.get(_key(column))
        if hit is not None:
            result[column] = np.asarray(frame[hit], dtype=float)
    ok, _, _, reason = conf._compare(result, canon, rtol)
    return ok, reason


def run_pysd(path: Path, canon, rtol):
    import pysd

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        shutil.copy(path, copy)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = pysd.read_xmile(str(copy))
            frame = model.run()
    return _compare(frame, canon, rtol)


def run_simlin(path: Path, canon, rtol):
    import simlin

    frame = simlin.load(str(path)).base_case.results
    return _compare(frame, canon, rtol)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?",
                        default=str(ROOT.parent / "shared" / "test-models" / "tests"))
    parser.add_argument("--rtol", type=float, default=0.05)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    root = Path(args.folder)
    files = sorted(p for p in root.rglob("*")
                   if p.suffix.lower() in (".xmile", ".stmx"))
    counts = {"sdrev": 0, "pysd": 0, "pysimlin": 0}
    for path in files:
        canon = conf.load_canonical(path.parent)
        row = {"sdrev": conf.check_model(path, rtol=args.rtol, root=root)}
        row["sdrev"] = (row["sdrev"].passed, row["sdrev"].reason)
        for name, fn in (("pysd", run_pysd), ("pysimlin", run_simlin)):
            try:
                row[name] = fn(path, canon, args.rtol)
            except Exception as exc:  # noqa: BLE001 - a failed model
                text = str(exc).splitlines()[0] if str(exc) else ""
                row[name] = (False, f"{type(exc).__name__}: {text}"[:120])
        for name, (ok, _) in row.items():
            counts[name] += ok
        if args.verbose:
            marks = " ".join(f"{n}={'PASS' if ok else 'FAIL'}"
                             for n, (ok, _) in row.items())
            print(f"{path.relative_to(root)}: {marks}")
            for n, (ok, reason) in row.items():
                if not ok:
                    print(f"    {n}: {reason[:160]}")
    print(f"{len(files)} XMILE files at rtol {args.rtol}: "
          + ", ".join(f"{n} {c} passed" for n, c in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
