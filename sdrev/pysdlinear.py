"""Two steps of PySD's that grow faster than the model, made linear.

Describing a model of 20,000 constants took minutes (issue 13), in two
places (and a third, the garbage collector's passes over the parser's many
objects: :func:`collector_paused`) that a profile of ``sdrev describe`` on generated models of 1,000 to
20,000 constants shows (``tests/test_describe_scaling.py``):

- PySD's builder formats the generated module with Black
  (``black.format_file_contents``), which takes longer per line the longer
  the file (10 s, 23 s, 59 s for one, two and four copies of a
  1,000-constant module on this machine) and changes nothing that runs:
  :func:`unformatted_builder` gives the builder a Black that returns the
  text as it is (sdrev audits the module's syntax tree, not its layout);
- PySD's ``Macro._count_calls(element)`` scans every dependency entry of
  the model for each element when it decides which to cache, quadratic in
  the model's size: :func:`index_call_counts` counts every element's calls
  in one pass over the dependencies and answers from that index (the
  same counts, tested against PySD's own function).

This module imports nothing of PySD: :mod:`sdrev.translate` (the only
module that imports PySD) hands it the module and class to change.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping
from types import ModuleType, SimpleNamespace

__all__ = ["call_counts", "collector_paused", "index_call_counts", "unformatted_builder"]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while PySD parses and builds.

    PySD's parser (parsimonious) makes millions of small node objects that
    live until the model is built; each full pass of the collector scans
    every live object, so with the collector on, parsing slows per element
    as the model grows. Nothing here needs cycles collected before the
    build ends; the collector is restored afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def unformatted_builder(builder_module: ModuleType) -> None:
    """Make PySD's Python builder write its module without Black.

    Parameters
    ----------
    builder_module : module
        ``pysd.builders.python.python_model_builder``; its ``black`` name is
        replaced by one whose ``format_file_contents`` returns the text.
    """
    black = getattr(builder_module, "black", None)
    if black is None or getattr(black, "sdrev_unformatted", False):
        return
    builder_module.black = SimpleNamespace(
        format_file_contents=lambda text, **options: text, FileMode=black.FileMode,
        sdrev_unformatted=True)


def call_counts(dependencies: dict) -> dict[str, int | None]:
    """How often each element is called, over all of a model's dependencies.

    The sums of PySD's ``Macro._count_calls`` for every element at once: a
    stateful element (name starting with ``_``) counts the calls of its
    ``step`` dependencies, twice those also in its ``initial`` ones; any
    other element counts its dependencies' calls.

    Parameters
    ----------
    dependencies : dict
        PySD's ``Macro._dependencies``.

    Returns
    -------
    dict
        Calls by element; ``None`` for a name some entry maps to something
        other than a count (PySD's markers such as ``"__external__"``),
        which :func:`index_call_counts` leaves to PySD's own function.
    """
    counts: dict[str, int | None] = {}

    def add(element, calls):
        before = counts.get(element, 0)
        if isinstance(calls, int) and before is not None:
            counts[element] = before + calls
        else:  # PySD's markers ("__external__": "_ext_..."): never summed
            counts[element] = None

    for name, deps in dependencies.items():
        if name.startswith("_"):
            initial = deps["initial"]
            for element, calls in deps["step"].items():
                add(element, 2 * calls if element in initial and isinstance(calls, int)
                    else calls)
        elif isinstance(deps, Mapping):
            for element, calls in deps.items():
                add(element, calls)
        else:  # a macro parameter's dependencies are a set: PySD's own count decides
            for element in deps:
                add(element, None)
    return counts


def index_call_counts(macro_class: type) -> None:
    """Answer ``macro_class._count_calls`` from one index per cache assignment.

    ``_assign_cache_type`` (which calls ``_count_calls`` once per element)
    builds the index of :func:`call_counts` when it starts and drops it when
    it ends, so a model whose dependencies change later is counted anew.
    """
    if getattr(macro_class, "sdrev_indexed_calls", False):
        return
    assign = macro_class._assign_cache_type
    count = macro_class._count_calls

    def _assign_cache_type(self):
        self.sdrev_call_counts = call_counts(self._dependencies)
        try:
            return assign(self)
        finally:
            self.sdrev_call_counts = None

    def _count_calls(self, element):
        counts = getattr(self, "sdrev_call_counts", None)
        calls = 0 if counts is None else counts.get(element, 0)
        if counts is None or calls is None:
            return type(self).sdrev_scanning_count(self, element)
        return calls

    macro_class.sdrev_scanning_count = count  # PySD's own, for what the index leaves out
    macro_class._assign_cache_type = _assign_cache_type
    macro_class._count_calls = _count_calls
    macro_class.sdrev_indexed_calls = True
