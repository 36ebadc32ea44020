"""Translate stage: the only module of sdrev that imports PySD.

PySD parses a Vensim ``.mdl`` file into an abstract model and builds a
Python module from it. sdrev keeps the generated Python in a cache folder
keyed by the model file's content hash (never next to the user's model) and
hands out either the runnable PySD model (reference engine for single runs)
or PySD's abstract model (for sdrev's own ensemble engine and loop analysis),
so that every part of sdrev reads a model exactly as PySD does.

PySD itself is imported on first need (parsing, building, running with
PySD): finding a cached translation does not load it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from sdrev import budget, cache, pysdlinear, versions, xmile
from sdrev.cache import cache_root
from sdrev.errors import ModelParseError, SdrevError
from sdrev.sanitize import audit_source, clean_text, sanitize

__all__ = [
    "PYSD_VERSION",
    "ExternalValues",
    "Translation",
    "abstract_model",
    "abstract_model_types",
    "cache_root",
    "external_values",
    "file_hash",
    "load_pysd",
    "python_names",
    "run_pysd",
    "subscript_manager",
    "translate",
]

#: PySD's version, read from its installed metadata: a cached translation is
#: found (and a cached run made) without importing PySD.
PYSD_VERSION: str = versions.version("pysd") or "unknown"
#: Bump when the way sdrev builds the cache changes, to invalidate old entries.
_CACHE_LAYOUT = "2"
#: Vensim's functions that read a file named by their first argument.
_FILE_CALL = re.compile(
    r"\bGET[ _]+(?:XLS|DIRECT|123)[ _]+\w+\s*\(\s*'([^']*)'", re.IGNORECASE)


@functools.cache
def _pysd() -> SimpleNamespace:
    """PySD's parts sdrev uses, imported on first need (PySD takes most of a
    second to import; a model whose translation is cached runs without it)."""
    with warnings.catch_warnings():
        # PySD's dependencies emit deprecation warnings on import (chardet);
        # they are PySD's to fix and say nothing to sdrev's users.
        warnings.simplefilter("ignore", DeprecationWarning)
        import pysd
        from pysd.builders.python.namespace import NamespaceManager
        from pysd.builders.python.python_model_builder import ModelBuilder
        from pysd.builders.python.subscripts import SubscriptManager
        from pysd.translators.structures import abstract_expressions
        from pysd.translators.vensim.vensim_file import VensimFile
        from pysd.translators.xmile.xmile_file import XmileFile
        from pysd.builders.python import python_model_builder
        from pysd.py_backend.model import Macro

    # two steps that grow faster than the model, made linear (sdrev/pysdlinear.py)
    pysdlinear.unformatted_builder(python_model_builder)
    pysdlinear.index_call_counts(Macro)

    class SafeXmileFile(XmileFile):
        """PySD's XMILE reader on a tree :mod:`sdrev.xmile` parsed safely (no
        entities, DTD or network) and normalised."""

        def _get_root(self):
            return xmile.read_root(self.xmile_path)

    return SimpleNamespace(pysd=pysd, NamespaceManager=NamespaceManager,
                           ModelBuilder=ModelBuilder, SubscriptManager=SubscriptManager,
                           abstract_expressions=abstract_expressions, VensimFile=VensimFile,
                           XmileFile=XmileFile, SafeXmileFile=SafeXmileFile)


def __getattr__(name: str):
    # ``abstract_expressions`` (PySD's syntax-tree classes) loads PySD on first use
    if name == "abstract_expressions":
        return _pysd().abstract_expressions
    raise AttributeError(f"module 'sdrev.translate' has no attribute {name!r}")


@dataclass(frozen=True)
class Translation:
    """A model translated by PySD into the cache.

    Attributes
    ----------
    mdl_path : Path
        The Vensim model file (absolute).
    py_path : Path
        The generated Python module, inside the cache.
    sha256 : str
        Hash of the model file's bytes.
    """

    mdl_path: Path
    py_path: Path
    sha256: str


def file_hash(path: Path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def abstract_model(mdl_path: Path):
    """Parse a Vensim file into PySD's abstract model.

    Parameters
    ----------
    mdl_path : Path
        The ``.mdl`` file.

    Returns
    -------
    pysd.translators.structures.abstract_model.AbstractModel
        Typed syntax trees of every element, as PySD reads them.

    Raises
    ------
    ModelParseError
        If PySD cannot parse the file; the message says where.

    Notes
    -----
    Every string of the model is cleaned (:func:`sdrev.sanitize.sanitize`):
    the model file is untrusted, and its text must not become code in any
    source generated from it.
    """
    return sanitize(_abstract(_parse(Path(mdl_path))))


def translate(mdl_path: Path) -> Translation:
    """Translate a Vensim model into the cache, or reuse a cached translation.

    The entry is keyed by the model file's contents and absolute path and by
    the contents of every file it reads (GET XLS/DIRECT ... ), and
    authenticated (:mod:`sdrev.cache`): an entry that fails its check is
    rebuilt, never loaded. The model's strings are cleaned before PySD
    builds the module and the module is audited
    (:mod:`sdrev.sanitize`), so a model file cannot run code.

    Parameters
    ----------
    mdl_path : Path
        The ``.mdl`` file. Nothing is written next to it.

    Returns
    -------
    Translation

    Raises
    ------
    ModelParseError
        If the file cannot be parsed or built; the message says where.
    """
    mdl_path = Path(mdl_path).resolve()
    if not mdl_path.is_file():
        raise ModelParseError(f"model file {str(mdl_path)!r} does not exist")
    budget.check_file(mdl_path, what="model file")
    data = mdl_path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    key_hash = hashlib.sha256(
        f"{digest}|{mdl_path}|{PYSD_VERSION}|{_CACHE_LAYOUT}".encode())
    for name, file_digest in _read_files(data, mdl_path.parent):
        key_hash.update(f"|{name}={file_digest}".encode())
    if xmile.is_xmile(mdl_path):  # sdrev's own reading of XMILE, in the key
        key_hash.update(f"|xmile={xmile.reader_digest()}".encode())
    root, key = cache.usable_root()
    stem = _safe_stem(mdl_path)
    folder = cache.private_dir(root / "translations")
    target = folder / f"{stem}-{key_hash.hexdigest()[:24]}"
    if not _verified(target, key):
        if target.exists() or target.is_symlink():
            cache.note_once(f"cache entry {target.name} failed its integrity "
                            "check; rebuilt")
            _remove(target)
        with pysdlinear.collector_paused():
            _build_into(mdl_path, target, key)
    return Translation(mdl_path=mdl_path, py_path=target / f"{stem}.py",
                       sha256=digest)


def load_pysd(translation: Translation, *, initialize: bool = False):
    """Load a translated model as a PySD model object.

    Python's byte-code cache is neither read nor written for the generated
    module: only the authenticated source runs.

    Raises
    ------
    ModelParseError
        If PySD cannot initialise the model (e.g. a data file is missing).
    """
    shutil.rmtree(translation.py_path.parent / "__pycache__", ignore_errors=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dont_write = sys.dont_write_bytecode
        sys.dont_write_bytecode = True
        try:
            with pysdlinear.collector_paused():
                return _pysd().pysd.load(str(translation.py_path), initialize=initialize)
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelParseError(
                f"cannot initialise {translation.mdl_path.name}: {first}") from exc
        finally:
            sys.dont_write_bytecode = dont_write


def python_names(abstract_section) -> tuple[dict[str, str], dict[str, str]]:
    """Python identifiers PySD gives the elements of an abstract section.

    Parameters
    ----------
    abstract_section : pysd.translators.structures.abstract_model.AbstractSection
        Usually ``abstract_model(path).sections[0]``.

    Returns
    -------
    namespace : dict of str to str
        Vensim name -> Python name (e.g. ``"R and D Stock" -> "r_and_d_stock"``).
    cleanspace : dict of str to str
        PySD's case- and space-insensitive name (the form that references
        in the abstract syntax trees use) -> Python name.
    """
    manager = _pysd().NamespaceManager(abstract_section.params)
    for element in abstract_section.elements:
        manager.add_to_namespace(element.name)
    return dict(manager.namespace), dict(manager.cleanspace)


def subscript_manager(abstract_section, root: Path):
    """PySD's subscript manager of an abstract section.

    Parameters
    ----------
    abstract_section : pysd.translators.structures.abstract_model.AbstractSection
    root : Path
        Folder of the model (subscript ranges may be read from files there).

    Returns
    -------
    pysd.builders.python.subscripts.SubscriptManager
        ``.subscripts`` (range -> elements), ``.mapping``, ``.subranges``
        and ``make_merge_list`` (the dimensions PySD gives an element).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _pysd().SubscriptManager(abstract_section.subscripts, Path(root))


def _safe_stem(path: Path) -> str:
    stem = re.sub(r"\W+", "_", path.stem).strip("_").lower() or "model"
    if stem[0].isdigit():
        stem = "m_" + stem
    return stem


def _abstract(model_file):
    """PySD's abstract model of a parsed file; for XMILE, completed where
    PySD's reader leaves out part of the standard (:func:`xmile.amend`)."""
    abstract = model_file.get_abstract_model()
    if isinstance(model_file, _pysd().XmileFile):
        abstract = xmile.amend(abstract, model_file.xmile_root)
    return abstract


def _parse(mdl_path: Path):
    if not mdl_path.is_file():
        raise ModelParseError(f"model file {str(mdl_path)!r} does not exist")
    text = mdl_path.read_text(encoding="utf-8", errors="replace")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parts = _pysd()
            reader = parts.SafeXmileFile if xmile.is_xmile(mdl_path) else parts.VensimFile
            ven_file = reader(mdl_path)
            ven_file.parse()
    except SdrevError:
        raise
    except Exception as exc:  # PySD raises many kinds; all mean "cannot parse"
        raise ModelParseError(_parse_error_message(mdl_path, text, exc)) from exc
    return ven_file


def _read_files(data: bytes, folder: Path) -> list[tuple[str, str]]:
    """Files a model reads (GET XLS/DIRECT ...), each with its SHA-256."""
    text = data.decode("utf-8", errors="replace")
    out = []
    for name in sorted(set(_FILE_CALL.findall(text))):
        path = _data_path(folder, clean_text(name))
        budget.check_file(path, what="data file", limit=budget.MAX_DATA_BYTES, text=False)
        try:
            out.append((str(path), file_hash(path)))
        except OSError:
            out.append((str(path), "missing"))
    return out


def _data_path(folder: Path, name: str) -> Path:
    return (folder / name).resolve()


def _verified(target: Path, key: bytes) -> bool:
    try:
        stamp = (target / ".complete").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return False
    try:
        actual = cache.tree_mac(target, key, skip=frozenset({".complete"}))
    except OSError:
        return False
    return hmac.compare_digest(stamp, actual)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _absolute_file(folder: Path):
    def absolute(name: str) -> str:
        path = str(_data_path(folder, name))
        if clean_text(path) != path:
            raise ModelParseError(
                f"the data file path {path!r} holds a quote, backslash or "
                "control character; move the model to a plainer folder")
        return path
    return absolute


def _build_into(mdl_path: Path, target: Path, key: bytes) -> None:
    ven_file = _parse(mdl_path)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        stem = _safe_stem(mdl_path)
        for section in ven_file.sections:
            section.path = staging / (
                f"{stem}.py" if section is ven_file.sections[0]
                else _safe_stem(section.path) + ".py")
        try:
            abstract = sanitize(_abstract(ven_file),
                                on_file=_absolute_file(mdl_path.parent))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _pysd().ModelBuilder(abstract).build_model()
        except SdrevError:
            raise
        except Exception as exc:
            raise ModelParseError(_build_error_message(mdl_path, exc)) from exc
        for source in staging.rglob("*.py"):
            audit_source(source.read_text(encoding="utf-8"), name=mdl_path.name)
        (staging / ".complete").write_text(
            cache.tree_mac(staging, key, skip=frozenset({".complete"})),
            encoding="utf-8")
        try:
            staging.rename(target)
        except OSError:
            # Another process finished the same translation first.
            if not _verified(target, key):
                _remove(target)
                staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _parse_error_message(mdl_path: Path, text: str, exc: Exception) -> str:
    snippet = getattr(exc, "text", None)
    where = ""
    if isinstance(snippet, str) and snippet.strip():
        line = _locate(text, snippet)
        pos = getattr(exc, "pos", 0) or 0
        near = snippet[pos:pos + 40].strip()
        if line is not None:
            where = f" at line {line + snippet[:pos].count(chr(10))}"
        detail = f"near {near!r}" if near else f"in {snippet[:60]!r}"
    else:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if len(detail) > 200:  # e.g. a 50 MB comment read as the encoding's name
        detail = detail[:200] + f"... ({len(detail):,} characters)"
    return f"cannot parse {mdl_path.name}{where}: {detail}"


def _build_error_message(mdl_path: Path, exc: Exception) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return (f"cannot build {mdl_path.name}: variable {exc.args[0]!r} "
                "is used in an equation but never defined")
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"cannot build {mdl_path.name}: {first}"


def _locate(text: str, snippet: str) -> int | None:
    """1-based line of ``text`` where whitespace-normalised ``snippet`` starts."""
    tokens = snippet.split()
    if not tokens:
        return None
    pattern = r"\s*".join(re.escape(t) for t in tokens[:12])
    match = re.search(pattern, text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def run_pysd(translation: Translation, *, params: dict[str, float],
             time: dict[str, float], return_columns: list[str],
             switches: dict[str, tuple[float, float, float]] | None = None):
    """Run a translated model once with PySD, from a freshly loaded module.

    A fresh module per run keeps runs independent (PySD keeps parameter
    changes between runs of one model object).

    Parameters
    ----------
    translation : Translation
    params : dict
        Constants by Vensim name.
    time : dict
        ``final_time``, ``time_step`` and/or ``saveper``.
    return_columns : list of str
        Vensim names of the variables to return.
    switches : dict, optional
        Timed constants by Vensim or Python name: ``(before, after, at)``,
        the value before ``at`` (``None``: the constant's own) and from
        ``at`` on, switched as Vensim's ``STEP`` switches (when time plus
        half a TIME STEP is past ``at``).

    Returns
    -------
    pandas.DataFrame
        Indexed by time, columns named as in the model (subscripted
        variables get one column per element, ``Name[a,b]``).
    """
    model = load_pysd(translation)
    # PySD takes a function of no arguments as a constant that changes in time
    values: dict[str, float | Callable[[], float]] = dict(params)
    for name, (before, after, at) in (switches or {}).items():
        if before is None:
            before = float(getattr(model.components, model.namespace.get(name, name))())
        values[name] = _switched(model.time, before, after, at)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return model.run(params=values, return_columns=list(return_columns),
                             **time)
        except (SdrevError, KeyboardInterrupt):
            raise
        except Exception as exc:  # PySD's own failure to run the model
            text = " ".join(str(exc).split()) or type(exc).__name__
            raise ModelParseError(
                f"PySD cannot run {Path(translation.mdl_path).name}: {text}") from exc


def _switched(clock, before: float, after: float, at: float) -> Callable[[], float]:
    """A constant's replacement that steps from ``before`` to ``after`` at ``at``
    (PySD calls it with no argument, as it calls a constant)."""
    def value() -> float:
        return after if clock() + clock.time_step() / 2 > at else before
    return value


@dataclass(frozen=True)
class ExternalValues:
    """Values PySD loaded for one element's external data.

    Attributes
    ----------
    kind : str
        ``"constant"`` (GET CONSTANTS), ``"lookup"`` (GET LOOKUPS) or
        ``"data"`` (GET DATA).
    values : numpy.ndarray
        For constants, shape ``(*sizes)`` over ``dims`` (a 0-d array for
        a scalar); for lookups and data, shape ``(len(x), *sizes)``. Cells
        the external data does not define are NaN.
    dims : tuple of str
        PySD's dimension names of the element (without the x or time axis).
    coords : tuple of tuple of str
        Elements along each of ``dims``.
    x : numpy.ndarray or None
        Lookup x values or data times (``None`` for constants).
    interp : str or None
        Interpolation of data (``"interpolate"``, ``"look_forward"``,
        ``"hold_backward"`` or ``"raw"``) or lookups (``"interpolate"``).
    """

    kind: str
    values: object
    dims: tuple
    coords: tuple
    x: object = None
    interp: str | None = None


def external_values(mdl_path: Path) -> dict[str, dict[str, ExternalValues]]:
    """Load a model's external constants, lookups and data with PySD.

    PySD reads the spreadsheet or CSV files (GET XLS/DIRECT CONSTANTS,
    LOOKUPS and DATA) exactly as it does for its own runs; the values are
    returned as numpy arrays, so that the ensemble engine uses the same
    numbers without reading files itself.

    Parameters
    ----------
    mdl_path : Path
        The ``.mdl`` file; its data files are looked up beside it.

    Returns
    -------
    dict
        Python name of the element -> ``{kind: ExternalValues}``.

    Raises
    ------
    ModelParseError
        If PySD cannot build the model or load a data file.
    """
    import numpy as np

    model = load_pysd(translate(Path(mdl_path)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.initialize_external_data()
        except Exception as exc:
            line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelParseError(
                f"cannot load the external data of {Path(mdl_path).name}: "
                f"{line}") from exc
    out: dict[str, dict[str, ExternalValues]] = {}
    for ext in model._external_elements:
        match = re.fullmatch(r"_ext_(constant|lookup|data)_(\w+)", ext.py_name)
        if match is None:
            continue
        kind, element = match.groups()
        data = ext.data
        first = {"lookup": "lookup_dim", "data": "time"}.get(kind)
        if hasattr(data, "dims"):
            dims = tuple(d for d in data.dims if d != first)
            if first is not None:
                data = data.transpose(first, *dims)
            values = np.asarray(data.values, dtype=float)
            coords = tuple(tuple(str(c) for c in data.coords[d].values)
                           for d in dims)
            x = (np.asarray(data.coords[first].values, dtype=float)
                 if first is not None else None)
        else:
            dims, coords, x = (), (), None
            values = np.asarray(data, dtype=float)
        out.setdefault(element, {})[kind] = ExternalValues(
            kind=kind, values=values, dims=dims, coords=coords, x=x,
            interp=getattr(ext, "interp", None) if first else None)
    return out


def abstract_model_types():
    """PySD's ``AbstractElement`` and ``AbstractComponent`` classes.

    For building elements of an abstract section (e.g. when sdrev's
    ensemble engine expands macro calls inline).
    """
    from pysd.translators.structures.abstract_model import (
        AbstractComponent,
        AbstractElement,
    )

    return AbstractElement, AbstractComponent
