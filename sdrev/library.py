"""Where models live: the model library and user model paths.

sdrev's own models are the ``.mdl`` files of the repository's ``models/``
folder (bundled into the installed package). A user's model is any path to
a Vensim ``.mdl`` file or an XMILE ``.xmile``/``.stmx`` file (Stella,
Simlin).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from sdrev.errors import InvalidValueError, ModelNotFoundError

__all__ = [
    "MODEL_SUFFIXES",
    "LibraryEntry",
    "calibration_dir",
    "data_dir",
    "library_dir",
    "list_models",
    "read_metadata",
    "resolve_model_path",
    "sensitivity_dir",
]

_PACKAGE = Path(__file__).resolve().parent
#: File suffixes sdrev reads as models: Vensim text models and XMILE.
MODEL_SUFFIXES = (".mdl", ".xmile", ".stmx", ".xml")


@dataclass(frozen=True)
class LibraryEntry:
    """A model of the library: its name, file and one-line description."""

    name: str
    path: Path
    description: str


def _data_dir(kind: str) -> Path:
    checkout = _PACKAGE.parent / kind
    return checkout if checkout.is_dir() else _PACKAGE / "_bundled" / kind


def library_dir() -> Path:
    """Folder of the library's models."""
    return _data_dir("models")


def sensitivity_dir() -> Path:
    """Folder of the library's sensitivity problem definitions."""
    return _data_dir("sensitivity")


def calibration_dir() -> Path:
    """Folder of the library's calibration specs (``calibration/<model>.toml``)."""
    return _data_dir("calibration")


def data_dir() -> Path:
    """Folder of the library's observation tables (``data/<model>.csv``)."""
    return _data_dir("data")


def list_models() -> tuple[LibraryEntry, ...]:
    """The library's models, sorted by name."""
    folder = library_dir()
    entries = []
    for path in sorted(p for p in folder.iterdir()
                       if p.suffix.lower() in MODEL_SUFFIXES[:3]):
        meta = read_metadata(path).get("model", {})
        entries.append(LibraryEntry(path.stem, path, meta.get("description", "")))
    return tuple(entries)


def resolve_model_path(name_or_path: str | Path) -> Path:
    """Turn a library name or a path into the model file it names.

    A path may name a Vensim ``.mdl`` or an XMILE ``.xmile``, ``.stmx`` or
    ``.xml`` file.

    Raises
    ------
    ModelNotFoundError
        Naming the known models when a library name is unknown, or the
        path when a file does not exist.
    """
    text = str(name_or_path)
    looks_like_path = (isinstance(name_or_path, Path)
                       or text.lower().endswith(MODEL_SUFFIXES)
                       or "/" in text or "\\" in text)
    if looks_like_path:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(f"model file {text!r} does not exist")
        if path.suffix.lower() not in MODEL_SUFFIXES:
            raise ModelNotFoundError(
                f"{text!r} is not a model file: sdrev reads Vensim text models "
                f"and XMILE ({', '.join(MODEL_SUFFIXES)})")
        return path.resolve()
    for suffix in MODEL_SUFFIXES[:3]:
        path = library_dir() / f"{text}{suffix}"
        if path.is_file():
            return path
    known = ", ".join(entry.name for entry in list_models()) or "none"
    raise ModelNotFoundError(
        f"unknown model {text!r}; known models: {known} (or give a path to "
        "an .mdl, .xmile or .stmx file)")


def read_metadata(mdl_path: Path) -> dict:
    """Read the TOML metadata beside a model (``NAME.toml``), or ``{}``.

    Raises
    ------
    InvalidValueError
        If the file exists but is not valid TOML.
    """
    meta_path = Path(mdl_path).with_suffix(".toml")
    if not meta_path.is_file():
        return {}
    try:
        return tomllib.loads(meta_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidValueError(f"cannot read {meta_path.name}: {exc}") from exc
