"""Conformance: run Vensim's test models and compare with canonical output.

Each model folder of a conformance suite (e.g. the SDXorg ``test-models``)
holds a ``.mdl`` file and the canonical results ``output.csv`` or
``output.tab`` written by Vensim. :func:`check_folder` runs every model
once with its own constants and compares every canonical column at the
canonical times.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sdrev.errors import InvalidValueError, ModelNotFoundError, SdrevError

__all__ = ["ModelResult", "check_folder", "check_model", "load_canonical",
           "summary"]

log = logging.getLogger("sdrev.ensemble")

_CONTROL = {"FINAL TIME", "INITIAL TIME", "TIME STEP", "SAVEPER"}


@dataclass(frozen=True)
class ModelResult:
    """Outcome of one conformance model.

    Attributes
    ----------
    model : str
        Path of the ``.mdl`` relative to the checked folder.
    passed : bool
        Every compared value within ``rtol``.
    engine : str
        ``"sdrev"``, ``"pysd-fallback"``, ``"pysd"`` or ``"error"``.
    worst_rel_error : float
        Largest relative error over all columns and times (``inf`` when
        the model could not run or a column is missing).
    worst_column : str
        Column where it occurs.
    reason : str
        Why it failed or fell back (empty if neither).
    """

    model: str
    passed: bool
    engine: str
    worst_rel_error: float
    worst_column: str
    reason: str

    def as_dict(self) -> dict:
        """Plain dictionary (for ``--json``)."""
        out = asdict(self)
        if not np.isfinite(out["worst_rel_error"]):
            out["worst_rel_error"] = None
        return out


def load_canonical(folder: Path) -> pd.DataFrame:
    """Canonical output beside a test model, indexed by time.

    Raises
    ------
    ModelNotFoundError
        If the folder has neither ``output.csv`` nor ``output.tab``.
    """
    for name, sep in (("output.csv", ","), ("output.tab", "\t")):
        file = Path(folder) / name
        if file.is_file():
            try:
                frame = pd.read_csv(file, sep=sep, index_col=0)
            except UnicodeDecodeError:
                frame = pd.read_csv(file, sep=sep, index_col=0,
                                    encoding="latin-1")
            if str(frame.index.name).strip().lower() != "time":
                frame = frame.T
            frame.index = frame.index.astype(float)
            frame.columns = [str(c).strip() for c in frame.columns]
            return frame.apply(pd.to_numeric, errors="coerce")
    raise ModelNotFoundError(
        f"no output.csv or output.tab beside the model in {str(folder)!r}")


def _compare(result, canon: pd.DataFrame, rtol: float):
    times = np.asarray(result["time"], dtype=float)
    worst, where = 0.0, ""
    ok = True
    index = []
    for t in canon.index:
        hit = np.nonzero(np.isclose(times, t, rtol=0, atol=1e-9 + 1e-6 * abs(t)))[0]
        if not len(hit):
            return False, np.inf, "Time", f"time {t} not simulated"
        index.append(hit[0])
    for column in canon.columns:
        if column not in result:
            return False, np.inf, column, f"column {column!r} not produced"
        actual = np.asarray(result[column])[index]
        expected = canon[column].to_numpy(dtype=float)
        close = np.isclose(actual, expected, rtol=rtol, atol=1e-8, equal_nan=True)
        ok &= bool(close.all())
        with np.errstate(all="ignore"):
            rel = np.abs(actual - expected) / np.maximum(np.abs(expected), 1e-12)
        rel = np.where(close & ~np.isfinite(rel), 0.0, rel)
        rel = np.where(np.isnan(rel), np.inf, rel)
        if rel.size and rel.max() > worst:
            worst, where = float(rel.max()), column
    return ok, worst, where, "" if ok else f"{where} off by {worst:.3g}"


def check_model(mdl: Path, *, rtol: float = 0.05, engine: str = "auto",
                root: Path | None = None) -> ModelResult:
    """Run one test model and compare it with its canonical output.

    Parameters
    ----------
    mdl : Path
        The ``.mdl`` file.
    rtol : float
        Relative tolerance.
    engine : {"auto", "sdrev", "pysd"}
        As in :func:`sdrev.ensemble.run`.
    root : Path, optional
        Folder the reported name is relative to.
    """
    from sdrev.ensemble.api import run

    mdl = Path(mdl)
    name = str(mdl.relative_to(root)) if root else mdl.name
    try:
        canon = load_canonical(mdl.parent)
        dataset = run(mdl, None, outputs=list(canon.columns), progress=False,
                      workers=1, engine=engine)
    except Exception as exc:  # any failure of one model is a failed model
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ModelResult(name, False, "error", np.inf, "",
                           f"{type(exc).__name__}: {first}")
    result = {"time": dataset["time"].to_numpy()}
    names = _names_of(mdl, canon.columns)
    for column in canon.columns:
        key = names.get(column)
        if key in dataset:
            result[column] = dataset[key].to_numpy()[0]
    ok, worst, where, reason = _compare(result, canon, rtol)
    used = dataset.attrs.get("engine", engine)
    if used == "pysd-fallback" and engine == "pysd":
        used = "pysd"
    note = dataset.attrs.get("fallback_reason", "")
    return ModelResult(name, ok, used, worst, where,
                       "; ".join(r for r in (reason, note) if r))


def _names_of(mdl: Path, columns) -> dict:
    """Map canonical (Vensim) column names to dataset variable names."""
    from sdrev.ensemble.api import _namespace

    namespace = _namespace(mdl)
    lowered = {" ".join(k.split()).lower(): v for k, v in namespace.items()}
    return {c: namespace.get(c) or lowered.get(" ".join(c.split()).lower(), c)
            for c in columns}


def check_folder(path, *, rtol: float = 0.05, engine: str = "auto",
                 progress: bool = False) -> list[ModelResult]:
    """Run every ``.mdl`` under ``path`` and compare with canonical output.

    Parameters
    ----------
    path : str or Path
        Folder searched recursively for ``.mdl`` files.
    rtol : float
        Relative tolerance of the comparison.
    engine : {"auto", "sdrev", "pysd"}
        ``"auto"``: the ensemble engine with its PySD fallback; ``"sdrev"``:
        the vectorised engine only (unsupported models fail); ``"pysd"``:
        PySD alone, for reference.
    progress : bool
        Show a progress bar over models.

    Returns
    -------
    list of ModelResult
        Sorted by model path.

    Raises
    ------
    ModelNotFoundError
        If ``path`` is not a folder.
    InvalidValueError
        If ``rtol`` is not positive.
    """
    root = Path(path)
    if not root.is_dir():
        raise ModelNotFoundError(f"conformance folder {str(root)!r} does not exist")
    if not rtol > 0:
        raise InvalidValueError(f"rtol must be positive, got {rtol!r}")
    models = sorted(root.rglob("*.mdl"))
    if progress:
        from tqdm.auto import tqdm

        models = tqdm(models, desc="conformance", unit="model")
    return [check_model(m, rtol=rtol, engine=engine, root=root) for m in models]


def summary(results: list[ModelResult]) -> str:
    """The closing line: ``"N passed, M failed"``."""
    passed = sum(r.passed for r in results)
    return f"{passed} passed, {len(results) - passed} failed"
