"""Conformance: run Vensim's test models and compare with canonical output.

Each model folder of a conformance suite (e.g. the SDXorg ``test-models``)
holds a Vensim ``.mdl`` file, often its XMILE versions (``.xmile``,
``.stmx``), and the canonical results ``output.csv`` or ``output.tab``
written by Vensim. :func:`check_folder` runs every model
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
from sdrev.sanitize import clean_text

__all__ = ["SUFFIXES", "ModelResult", "check_folder", "check_model", "check_model_at",
           "load_canonical",
           "summary"]

log = logging.getLogger("sdrev.ensemble")

_CONTROL = {"FINAL TIME", "INITIAL TIME", "TIME STEP", "SAVEPER"}
#: Model files a conformance folder is searched for.
SUFFIXES = (".mdl", ".xmile", ".stmx")

#: Absolute tolerance of the comparison, that of PySD's own conformance
#: harness (``pysd.tools.benchmarking.assert_allclose``): canonical outputs
#: are written with 6 significant digits and float noise around zero.
ATOL = 1e-5


@dataclass(frozen=True)
class ModelResult:
    """Outcome of one conformance model.

    Attributes
    ----------
    model : str
        Path of the model file relative to the checked folder.
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
            # names as sdrev reads the model: cleaned of quotes and
            # backslashes (sdrev.sanitize)
            frame.columns = [clean_text(str(c).strip()) for c in frame.columns]
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
        # Vensim writes constants only at the first time: blank cells are
        # not values to compare
        given = ~np.isnan(expected)
        actual, expected = actual[given], expected[given]
        close = np.isclose(actual, expected, rtol=rtol, atol=ATOL, equal_nan=True)
        ok &= bool(close.all())
        with np.errstate(all="ignore"):
            diff = np.abs(actual - expected)
            rel = diff / np.maximum(np.abs(expected), 1e-12)
        # values within the absolute tolerance count as equal (Vensim
        # writes rounding noise such as 6e-8 where the exact value is 0)
        rel = np.where(close & ((diff <= ATOL) | ~np.isfinite(rel)), 0.0, rel)
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
    return check_model_at(mdl, (rtol,), engine=engine, root=root)[0]


def check_model_at(mdl: Path, rtols, *, engine: str = "auto",
                   root: Path | None = None) -> list[ModelResult]:
    """Run one test model once and compare it at several tolerances.

    Returns one :class:`ModelResult` per entry of ``rtols``.
    """
    from sdrev.ensemble.api import run

    mdl = Path(mdl)
    name = str(mdl.relative_to(root)) if root else mdl.name
    try:
        canon = load_canonical(mdl.parent)
        wanted = _names_of(mdl, canon.columns)
        outputs = list(dict.fromkeys(py for py, _ in wanted.values() if py))
        if not outputs:
            raise SdrevError("no canonical column names a model variable")
        dataset = run(mdl, None, outputs=outputs, progress=False,
                      workers=1, engine=engine)
    except Exception as exc:  # any failure of one model is a failed model
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return [ModelResult(name, False, "error", np.inf, "",
                            f"{type(exc).__name__}: {first}") for _ in rtols]
    result = {"time": dataset["time"].to_numpy()}
    for column, (py, elements) in wanted.items():
        values = _select(dataset, py, elements)
        if values is not None:
            result[column] = values
    used = dataset.attrs.get("engine", engine)
    if used == "pysd-fallback" and engine == "pysd":
        used = "pysd"
    note = dataset.attrs.get("fallback_reason", "")
    out = []
    for rtol in rtols:
        ok, worst, where, reason = _compare(result, canon, rtol)
        out.append(ModelResult(name, ok, used, worst, where,
                               "; ".join(r for r in (reason, note) if r)))
    return out


def _key(name: str) -> str:
    """Vensim's case-, space- and quote-insensitive form of a name."""
    return " ".join(str(name).replace('"', " ").replace("_", " ").split()).lower()


def _names_of(mdl: Path, columns) -> dict:
    """Canonical column -> (Python name or None, subscript elements).

    ``"Var[A, b]"`` names element ``(A, b)`` of ``Var``; names match with
    case, spaces, underscores and quotes ignored, as in Vensim.
    """
    from sdrev.ensemble.api import model_namespace, split_column

    namespace = model_namespace(mdl)
    lowered = {_key(k): v for k, v in namespace.items()}
    out = {}
    for column in columns:
        base, elements = split_column(column)
        py = namespace.get(base) or lowered.get(_key(base))
        out[column] = (py, elements)
    return out


def _select(dataset, py, elements):
    """Values of run 0 of one canonical column, or None if not produced."""
    if py is None or py not in dataset:
        return None
    array = dataset[py]
    dims = array.dims[2:]
    if len(dims) != len(elements):
        return None
    index = {}
    for dim, element in zip(dims, elements):
        keys = [_key(c) for c in array[dim].values.tolist()]
        if _key(element) not in keys:
            return None
        index[dim] = keys.index(_key(element))
    return array.isel(run=0, **index).to_numpy()


def check_folder(path, *, rtol: float = 0.05, engine: str = "auto",
                 progress: bool = False) -> list[ModelResult]:
    """Run every model under ``path`` and compare with canonical output.

    Parameters
    ----------
    path : str or Path
        Folder searched recursively for ``.mdl``, ``.xmile`` and ``.stmx``
        files.
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
    models = sorted(p for p in root.rglob("*")
                    if p.suffix.lower() in SUFFIXES and p.is_file())
    if progress:
        from tqdm.auto import tqdm

        models = tqdm(models, desc="conformance", unit="model")
    return [check_model(m, rtol=rtol, engine=engine, root=root) for m in models]


def summary(results: list[ModelResult]) -> str:
    """The closing line: ``"N passed, M failed"``."""
    passed = sum(r.passed for r in results)
    return f"{passed} passed, {len(results) - passed} failed"
