"""Untrusted model files: make their text unable to become code.

PySD builds a Python module from a model's abstract syntax, pasting the
model's own text (documentation into docstrings, subscript and range names,
data file names, tab and cell names into string literals) into the source
without escaping. A model file from someone else could therefore close a
string and run code. sdrev treats every model file as untrusted:

* :func:`sanitize` rewrites every string of PySD's abstract model before
  PySD's builder sees it, so that no string holds a character that can end
  or escape a Python string literal of any kind (quotes, backslashes,
  line breaks, control characters): ``'`` becomes ``’``, ``"`` becomes
  ``”`` (a quoted Vensim name keeps its outer pair), a backslash becomes
  ``/`` (``\\`` in documentation is Vensim's line break), control
  characters become spaces (documentation keeps its line breaks and tabs).
  The same function applies to every string, so a name and every
  reference to it stay equal.
* :func:`audit_source` checks the generated module before it is cached or
  imported, as a second line of defence: only the imports PySD writes, no
  statement that only evaluates an expression (beyond docstrings), no
  dynamic code, file or process access, no dunder attributes.

The module is generic over dataclasses, lists, tuples and dicts, so it does
not import PySD (only :mod:`sdrev.translate` does).
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import unicodedata
from collections.abc import Callable

from sdrev.errors import ModelParseError

__all__ = ["audit_source", "clean_text", "sanitize"]

_QUOTES = str.maketrans({"'": "\u2019", '"': "\u201d"})
#: Line and paragraph separators Python or black might treat as line ends.
_BREAKS = {"\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"}


def clean_text(text: str, *, multiline: bool = False) -> str:
    """``text`` without anything that can end or escape a string literal.

    Parameters
    ----------
    text : str
    multiline : bool, optional
        Documentation: keep line breaks and tabs, and read a backslash as
        Vensim's line break (as PySD does); otherwise they become a space
        and ``/``, and a quoted Vensim name (``"R&D"``) keeps its two
        outer quotes.

    Returns
    -------
    str
    """
    if not multiline and len(text) > 1 and text[0] == text[-1] == '"':
        # a quoted Vensim name keeps its quotes (PySD keeps them in the
        # name, and writes names only into single-quoted or repr'd
        # literals); its inside is cleaned
        return '"' + clean_text(text[1:-1]) + '"'
    text = text.translate(_QUOTES)
    text = text.replace("\\", "\n" if multiline else "/")
    keep = {"\n", "\t"} if multiline else set()
    return "".join(
        c if c in keep or not (c in _BREAKS or unicodedata.category(c) == "Cc")
        else " " for c in text)


def sanitize(model, *, on_file: Callable[[str], str] | None = None):
    """A copy of PySD's abstract model whose strings cannot become code.

    Parameters
    ----------
    model : object
        PySD's ``AbstractModel`` (or any part of it): dataclasses, lists,
        tuples, sets, dicts and numpy arrays of text are copied, every string
        cleaned with
        :func:`clean_text` (documentation keeping its lines).
    on_file : callable, optional
        Applied (after cleaning) to every data file name (a ``file`` field
        or key), e.g. to make it absolute.

    Returns
    -------
    object
        Of the same structure as ``model``.
    """
    def walk(obj, field=""):
        if isinstance(obj, str):
            text = clean_text(obj, multiline=field == "documentation")
            return on_file(text) if on_file and field == "file" else text
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            new = copy.copy(obj)
            for f in dataclasses.fields(obj):
                value = getattr(obj, f.name)
                cleaned = walk(value, f.name)
                if cleaned is not value:
                    object.__setattr__(new, f.name, cleaned)
            return new
        if isinstance(obj, dict):
            return type(obj)((walk(k), walk(v, k if isinstance(k, str) else ""))
                             for k, v in obj.items())
        if isinstance(obj, (list, tuple, set, frozenset)) and not hasattr(obj, "_fields"):
            return type(obj)(walk(v) for v in obj)
        if getattr(getattr(obj, "dtype", None), "kind", "") in ("U", "S", "O") \
                and hasattr(obj, "tolist"):  # a numpy array of text or objects
            import numpy as np

            return np.array(walk(obj.tolist()), dtype=object if obj.dtype.kind == "O"
                            else None)
        if isinstance(obj, tuple):  # named tuple
            return type(obj)(*(walk(v) for v in obj))
        return obj

    return walk(model)


#: Modules PySD's generated code imports.
_IMPORTS = {"pathlib", "numpy", "xarray", "pysd", "scipy", "pandas"}
#: Names generated code never uses: dynamic code, builtins that reach
#: modules, files or the interpreter.
_NAMES = {"__import__", "eval", "exec", "compile", "open", "getattr",
          "setattr", "delattr", "globals", "locals", "vars", "breakpoint",
          "input", "help", "exit", "quit", "__builtins__", "__loader__",
          "__spec__", "os", "sys", "subprocess", "importlib", "builtins",
          "shutil", "socket", "pickle", "marshal", "ctypes", "memoryview",
          "classmethod", "staticmethod", "super", "type", "object"}
#: Attributes that write files or start processes.
_ATTRIBUTES = {"system", "popen", "spawn", "fork", "write_text",
               "write_bytes", "unlink", "rmdir", "rmtree", "symlink_to",
               "hardlink_to", "chmod", "touch", "replace",
               "mkdir", "open", "load_module", "exec_module", "tofile",
               "to_csv", "to_pickle", "to_netcdf", "savetxt", "save", "savez",
               "load", "read_pickle"}


def _docstring(node: ast.Expr) -> bool:
    return isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _external_addition(node: ast.Expr) -> bool:
    """``_ext_<kind>_<name>.add(...)`` and the like: PySD's objects built
    in parts (external data, lookups defined per subscript)."""
    call = node.value
    return (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            and call.func.attr == "add" and isinstance(call.func.value, ast.Name)
            and call.func.value.id.startswith("_"))


def audit_source(source: str, *, name: str) -> None:
    """Refuse generated source holding code no model can legitimately produce.

    Parameters
    ----------
    source : str
        A module PySD generated.
    name : str
        The model file's name, for the message.

    Raises
    ------
    ModelParseError
        Naming the first offending construct and its line.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ModelParseError(
            f"cannot build {name}: PySD generated invalid Python "
            f"(line {exc.lineno})") from None
    for node in ast.walk(tree):
        bad = None
        if isinstance(node, ast.Import):
            bad = next((a.name for a in node.names
                        if a.name.split(".")[0] not in _IMPORTS), None)
        elif isinstance(node, ast.ImportFrom):
            if node.level or (node.module or "").split(".")[0] not in _IMPORTS:
                bad = f"import from {node.module}"
        elif isinstance(node, ast.Name) and node.id in _NAMES:
            bad = node.id
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "Path" and ast.unparse(node) != "Path(__file__)":
            bad = ast.unparse(node)[:60]
        elif isinstance(node, ast.Attribute) and (
                node.attr in _ATTRIBUTES
                or (node.attr.startswith("__") and node.attr.endswith("__"))):
            bad = f".{node.attr}"
        elif isinstance(node, (ast.Global, ast.Nonlocal, ast.AsyncFunctionDef,
                               ast.ClassDef, ast.With, ast.Try, ast.While,
                               ast.Await, ast.Yield, ast.YieldFrom)):
            bad = type(node).__name__
        elif isinstance(node, ast.Expr) and not (
                _docstring(node) or _external_addition(node)):
            bad = "a statement that only evaluates an expression"
        if bad is not None:
            raise ModelParseError(
                f"refusing {name}: its translation holds {bad} at line "
                f"{getattr(node, 'lineno', '?')}, which no model equation "
                "produces (a model file trying to run code?)")


def audit_generated(source: str, *, name: str, names: str,
                    attributes: str) -> None:
    """Refuse source generated by sdrev that strays from its own vocabulary.

    The ensemble engine generates Python from a model (variable names it
    gets from PySD as identifiers, numbers as ``repr``); this checks the
    result before it is executed, as a second line of defence.

    Parameters
    ----------
    source : str
    name : str
        The model file's name, for the message.
    names : str
        Regular expression every name must match in full.
    attributes : str
        Regular expression every attribute access (``a.b`` as written)
        must match in full; dunder attributes are refused regardless.

    Raises
    ------
    ModelParseError
        Naming the offending name or attribute.
    """
    import re

    name_re, attr_re = re.compile(names), re.compile(attributes)
    for node in ast.walk(ast.parse(source)):
        bad = None
        if isinstance(node, ast.Name) and not name_re.fullmatch(node.id):
            bad = node.id
        elif isinstance(node, ast.Attribute) and (
                "__" in node.attr or not attr_re.fullmatch(ast.unparse(node))):
            bad = ast.unparse(node)[:60]
        elif isinstance(node, (ast.Import, ast.ImportFrom, ast.Global,
                               ast.Nonlocal, ast.ClassDef, ast.Lambda)):
            bad = type(node).__name__
        if bad is not None:
            raise ModelParseError(
                f"refusing {name}: the code generated from it uses {bad!r}, "
                "outside the engine's vocabulary (a model file trying to run "
                "code?)")
