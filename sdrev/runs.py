"""Run folders: where results are written, atomically, with a manifest.

A run folder holds the outputs of one command and a ``manifest.json`` that
records how they were made (model file hash, parameter values, scenario,
software versions, time settings, command line). Folders are assembled in a
hidden staging folder beside the target and renamed into place when
complete, so a crash never leaves a folder that looks finished.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from sdrev.errors import OutputError

if TYPE_CHECKING:
    import pandas as pd

    from sdrev.model import Model
    from sdrev.scenario import RunSettings

__all__ = ["default_run_dir", "manifest", "save_simulation",
           "software_versions", "staged_folder", "write_json"]

_VERSIONED = ("sdrev", "pysd", "numpy", "pandas", "xarray", "SALib", "matplotlib")


def default_run_dir(model_name: str, label: str, *, root: Path = Path("results")) -> Path:
    """``results/MODEL/<timestamp>-<label>/``, unique within its parent."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / model_name / f"{stamp}-{label}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


@contextmanager
def staged_folder(folder: Path) -> Iterator[Path]:
    """Assemble a run folder in a staging folder, then move it into place.

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
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise OutputError(
            f"output folder {str(folder)!r} already exists and is not empty; "
            "choose another --out or remove it")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
    except OSError as exc:
        raise OutputError(
            f"cannot write to output folder {str(folder)!r}: {exc.strerror or exc}") from None
    try:
        yield staging
        if folder.exists():
            folder.rmdir()
        os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_json(path: Path, data: Mapping) -> None:
    """Write ``data`` as indented JSON."""
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n",
                          encoding="utf-8")


def software_versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def manifest(model: Model, settings: RunSettings, *, command: str, extra: Mapping | None = None
             ) -> dict:
    """The manifest of a run of ``model`` with ``settings``.

    Records the model file and hash, the scenario, every constant's value
    as run, the time settings, software versions, the command line and the
    time of the run.
    """
    time = {"initial_time": model.time.initial, "final_time": model.time.final,
            "time_step": model.time.step, "saveper": model.time.saveper}
    time.update(settings.time)
    params = {p.name: (dict(p.value) if isinstance(p.value, Mapping) else p.value)
              for p in model.parameters}
    params.update(settings.params)
    return {
        "model": model.name,
        "model_file": str(model.path),
        "model_sha256": model.sha256,
        "scenario": settings.scenario,
        "overrides": dict(settings.params),
        "parameters": params,
        "time": time,
        "software": software_versions(),
        "command": command,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **dict(extra or {}),
    }


def save_simulation(folder: Path, model: Model, settings: RunSettings, frame: pd.DataFrame,
                    *, command: str, seconds: float, plot: bool = False) -> list[Path]:
    """Write one run into ``folder``: trajectories, manifest and figures.

    Writes ``trajectories.csv`` (time and one column per variable, in
    snake_case), ``manifest.json`` and, with ``plot``, one PNG per key output
    in ``figures/``. Returns the paths written.
    """
    folder = Path(folder)
    paths = [folder / "trajectories.csv"]
    frame.to_csv(paths[0])
    if plot:
        from sdrev.report import save_figure, trajectory_figure
        (folder / "figures").mkdir()
        label = settings.scenario or "model constants"
        for var in (v for v in model.variables if v.name in model.key_outputs):
            if var.py_name in frame:
                fig = trajectory_figure({label: frame[var.py_name]}, title=var.name,
                                        units=var.units)
                paths += save_figure(fig, folder / "figures" / var.py_name)
    files = [str(p.relative_to(folder)) for p in paths]
    paths.append(folder / "manifest.json")
    write_json(paths[-1], manifest(model, settings, command=command,
                                   extra={"engine": "pysd", "elapsed_seconds": round(seconds, 3),
                                          "files": files}))
    return paths


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
