"""Run folders: where results are written, atomically, with a manifest.

A run folder holds the outputs of one command and a ``manifest.json`` that
records how they were made (model file hash, parameter values, scenario,
software versions, time settings, command line). Folders are assembled in a
hidden staging folder beside the target and renamed into place when
complete, so a crash never leaves a folder that looks finished.
"""

from __future__ import annotations

import atexit
import csv
import io
import json
import os
import platform
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from sdrev.errors import InvalidValueError, OutputError

if TYPE_CHECKING:
    import pandas as pd

    from sdrev.model import Model
    from sdrev.scenario import RunSettings
    from sdrev.simulate import Trajectories

__all__ = ["STALE_SECONDS", "clean_stale_staging", "default_run_dir", "manifest",
           "read_manifest", "save_simulation",
           "software_versions", "staged_folder", "write_csv", "write_json"]

_LOCK = threading.Lock()
_VERSIONED = ("sdrev", "pysd", "numpy", "pandas", "xarray", "SALib", "matplotlib")


def default_run_dir(model_name: str, label: str, *, root: Path = Path("results")) -> Path:
    """``results/MODEL/<timestamp>-<random>-<label>/``, reserved for this run.

    The run id is the time to the second and four random hex digits; the
    folder is created (empty) at once, with a new random part on the rare
    collision, so that runs started in the same second by several processes
    never share a folder. A reserved folder still empty when the process
    ends (the command failed early) is removed, with ``results/MODEL/`` if
    that is left empty too.

    Raises
    ------
    OutputError
        If the folder cannot be created.
    """
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    parent = Path(root) / _folder_name(model_name)
    label = _folder_name(label)
    created = not parent.exists()
    for _ in range(100):
        candidate = parent / f"{stamp}-{secrets.token_hex(2)}-{label}"
        try:
            parent.mkdir(parents=True, exist_ok=True)
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"cannot create run folder {str(candidate)!r}: "
                              f"{exc.strerror or exc}") from None
        atexit.register(_remove_if_empty, candidate,
                        parent if created else None)
        return candidate
    raise OutputError(f"cannot find a free run folder name in {str(parent)!r}")


def _folder_name(name: str) -> str:
    """``name`` as one folder name inside ``results/`` (no ``..``, no ``/``)."""
    return re.sub(r"[^\w.-]+", "_", str(name)).lstrip(".") or "model"


def _remove_if_empty(folder: Path, parent: Path | None) -> None:
    for path in (folder, parent):
        if path is None:
            continue
        try:
            path.rmdir()  # only succeeds on an empty folder
        except OSError:
            return


#: Staging folders older than this, whose process is gone, are removed.
STALE_SECONDS = 24 * 3600


def _umask() -> int:
    """The process umask (read from /proc where possible: setting it to read
    it back would briefly change it for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _LOCK:
        current = os.umask(0o077)
        os.umask(current)
    return current


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process
    return True


def clean_stale_staging(parent: Path, *, max_age: float = STALE_SECONDS) -> list[Path]:
    """Remove hidden ``.NAME.partial-PID-*`` folders left by killed runs.

    A staging folder is stale when it is older than ``max_age`` seconds and
    the process that made it (its name records the process id) is gone.

    Returns
    -------
    list of Path
        The folders removed.
    """
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(Path(parent).glob(".*.partial-*"))
    except OSError:
        return removed
    for entry in entries:
        match = re.search(r"\.partial-(\d+)-", entry.name)
        try:
            old = now - entry.lstat().st_mtime > max_age
        except OSError:
            continue
        if old and entry.is_dir() and not entry.is_symlink() and not (
                match and _pid_alive(int(match.group(1)))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


@contextmanager
def staged_folder(folder: Path) -> Iterator[Path]:
    """Assemble a run folder in a staging folder, then move it into place.

    The staging folder (``.NAME.partial-PID-XXXX`` beside the target) is
    removed on any failure, Ctrl-C or SIGTERM (which the command line
    unwinds like Ctrl-C); staging folders of killed runs are removed by
    the next run in the same parent (:func:`clean_stale_staging`). The
    finished folder gets the user's umask (results are meant to be shared).

    Parameters
    ----------
    folder : Path
        The final folder. It must not exist, or be empty.

    Yields
    ------
    Path
        The staging folder to write into.

    Raises
    ------
    OutputError
        If ``folder`` already holds files, or its parent cannot be written.
    """
    folder = Path(folder)
    if not folder.name or folder.name in (".", "..") or folder.resolve() == Path.cwd():
        raise OutputError(
            f"output folder {str(folder)!r} is not a new folder; name one, "
            "e.g. --out results/run1")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise OutputError(
            f"output folder {str(folder)!r} already exists and is not empty; "
            "choose another --out or remove it")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_staging(folder.parent)
        staging = Path(tempfile.mkdtemp(
            prefix=f".{folder.name}.partial-{os.getpid()}-", dir=folder.parent))
        os.chmod(staging, 0o777 & ~_umask())
    except OSError as exc:
        raise OutputError(
            f"cannot write to output folder {str(folder)!r}: {exc.strerror or exc}") from None
    try:
        yield staging
        try:
            # atomic; replaces the folder if it is (still) empty
            os.rename(staging, folder)
        except OSError as exc:
            raise OutputError(
                f"cannot move the finished run into {str(folder)!r}: "
                f"{exc.strerror or exc} (another run wrote there first?)") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_json(path: Path, data: Mapping) -> None:
    """Write ``data`` as indented JSON."""
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n",
                          encoding="utf-8")


def write_csv(frame: pd.DataFrame, path: str | Path, *, index_label: str | None = None
              ) -> None:
    """Write ``frame`` as CSV, a large table of numbers through pyarrow.

    pandas formats each number in Python (a table of sampled runs and
    their metrics, 56,320 x 64, took 9 s); pyarrow's writer takes a
    twentieth of that. Both write every float as its shortest decimal
    that reads back to the same double (``1e-07`` in pandas, ``1e-7`` in
    pyarrow) and an empty field for NaN, so ``pandas.read_csv`` reads the
    same table from either. Tables with text, booleans, dates or a
    non-integer index go through pandas.

    Parameters
    ----------
    frame : pandas.DataFrame
    path : str or Path
    index_label : str, optional
        Write the index first, under this name; without it the index is
        not written.
    """
    import pandas as pd

    numeric = all(pd.api.types.is_integer_dtype(t) or pd.api.types.is_float_dtype(t)
                  for t in frame.dtypes) and not any(
                      pd.api.types.is_bool_dtype(t) for t in frame.dtypes)
    plain = (frame.columns.nlevels == 1 and all(isinstance(c, str) for c in frame.columns)
             and frame.columns.is_unique and index_label not in frame.columns
             and (index_label is None or (frame.index.nlevels == 1 and
                                          pd.api.types.is_integer_dtype(frame.index.dtype))))
    if not (numeric and plain and len(frame.columns)):
        frame.to_csv(path, index=index_label is not None, index_label=index_label)
        return
    import pyarrow as pa
    import pyarrow.csv as pacsv

    columns = {str(c): frame[c].to_numpy() for c in frame.columns}
    if index_label is not None:
        columns = {index_label: frame.index.to_numpy(), **columns}
    table = pa.table({k: pa.array(v, from_pandas=True) for k, v in columns.items()})
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(list(columns))  # quoted as pandas does
    with open(path, "wb") as out:
        out.write(header.getvalue().encode("utf-8"))
        pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False,
                                                       quoting_style="needed"))


def read_manifest(folder: Path) -> dict:
    """The ``manifest.json`` of a run folder, checked to be a JSON object.

    Raises
    ------
    InvalidValueError
        If the file cannot be read, is not UTF-8 JSON or not an object; the
        message names the file.
    """
    path = Path(folder) / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or " ".join(str(exc).split())[:120]
        raise InvalidValueError(f"cannot read run manifest {str(path)!r}: {reason}; "
                                "is the folder complete?") from None
    if not isinstance(data, dict):
        raise InvalidValueError(f"run manifest {str(path)!r} is not a JSON object; "
                                "is the folder complete?")
    return data


def software_versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on."""
    from sdrev.versions import version

    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        if (number := version(name)) is not None:
            versions[name] = number
    return versions


def manifest(model: Model, settings: RunSettings, *, command: str, extra: Mapping | None = None
             ) -> dict:
    """The manifest of a run of ``model`` with ``settings``.

    Records the model file and hash, the scenario, every constant's value
    as run (before any switch), the timed settings (``switches``: the value
    from the switch time on and that time), the time settings, software
    versions, the command line and the time of the run.
    """
    time: dict[str, float | str] = {"initial_time": model.time.initial, "final_time": model.time.final,
            "time_step": model.time.step, "saveper": model.time.saveper}
    time.update(settings.time)
    time["units"] = model.time.units  # "" when the model gives none
    params = {p.name: (dict(p.value) if isinstance(p.value, Mapping) else p.value)
              for p in model.parameters}
    params.update(settings.params)
    return {
        "model": model.name,
        "model_file": str(model.path),
        "model_sha256": model.sha256,
        "scenario": settings.scenario,
        "overrides": dict(settings.params),
        **({"switches": {name: {"value": sw.value, "at": sw.at}
                         for name, sw in settings.switches.items()}}
           if settings.switches else {}),
        "parameters": params,
        "time": time,
        "software": software_versions(),
        "command": command,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **dict(extra or {}),
    }


def save_simulation(folder: Path, model: Model, settings: RunSettings, run: Trajectories,
                    *, command: str, seconds: float, plot: bool = False) -> list[Path]:
    """Write one run into ``folder``: trajectories, manifest and figures.

    Writes ``trajectories.csv`` (time and one column per variable, in
    snake_case), ``manifest.json`` (with the engine that ran it and, for a
    fallback to PySD, why) and, with ``plot``, one PNG per key output in
    ``figures/``. Returns the paths written.
    """
    folder = Path(folder)
    paths = [folder / "trajectories.csv"]
    run.write_csv(paths[0])
    if plot:
        from sdrev.figures.trajectories import save_figure, trajectory_figure
        (folder / "figures").mkdir()
        frame = run.to_frame()
        label = settings.scenario or "model constants"
        for var in (v for v in model.variables if v.name in model.key_outputs):
            if var.py_name in frame:
                fig = trajectory_figure({label: frame[var.py_name]}, title=var.name,
                                        units=var.units, time_units=model.time.units)
                paths += save_figure(fig, folder / "figures" / var.py_name)
    files = [str(p.relative_to(folder)) for p in paths]
    paths.append(folder / "manifest.json")
    extra = {"engine": run.engine, "elapsed_seconds": round(seconds, 3), "files": files}
    if run.fallback_reason:
        extra["fallback_reason"] = run.fallback_reason
    if bad := run.non_finite():
        extra["non_finite"] = bad
    write_json(paths[-1], manifest(model, settings, command=command, extra=extra))
    return paths


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
