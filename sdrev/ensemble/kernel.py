"""Compiled kernel: the generated time step, fused into one numba loop.

The numpy engine (:mod:`sdrev.ensemble.engine`) evaluates every equation
once per time step over arrays with a leading run axis: one numpy call per
operation, each making a temporary array. For the scalar models of the
library that costs more in call overhead and memory traffic than in
arithmetic. :mod:`sdrev.ensemble.kernelgen` rewrites the generated
``step`` function of a :class:`~sdrev.ensemble.program.Simulator` into a
loop over runs whose body is the whole time loop of one run on machine
floats; this module compiles it with numba (``nogil``, so chunks of runs go
to threads), caches the machine code in sdrev's cache folder
(``$SDREV_CACHE_DIR`` or ``~/.cache/sdrev``), never beside the user's
model, and runs it (:func:`run_kernel`).

The rewrite is a translation of the same expressions in the same order
(no reassociation, no fast-math), so results equal the numpy engine's up
to the last bits of library functions such as ``exp``. It covers scalar
models (no subscripts) whose steps use arithmetic, comparisons, the
element-wise numpy functions, the Vensim builtins of
:mod:`sdrev.ensemble.functions` and the stateful functions INTEG, SMOOTH,
SMOOTH N, DELAY (fixed order), TREND, FORECAST, INITIAL and SAMPLE IF TRUE.
Anything else (subscripts, DELAY N, DELAY FIXED) makes :func:`get_kernel`
return ``None`` and the numpy engine, the reference, runs the model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import threading
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sdrev.ensemble import kernelgen
from sdrev.ensemble.kernelgen import NotCovered, covers, kernel_source

__all__ = ["Kernel", "KernelFailed", "NotCovered", "available", "covers",
           "get_kernel", "kernel_source", "load_generated", "run_kernel", "seal_after_call"]


class KernelFailed(Exception):
    """numba could not compile or run a kernel (the numpy engine runs)."""


@dataclass(frozen=True)
class Kernel:
    """A compiled kernel and how to feed it.

    Attributes
    ----------
    func : callable
        ``func(P, S, times, saved, out, LX, LY, start, stop, shift)``
        integrates runs ``start:stop`` into rows ``shift + start:shift +
        stop`` of ``out``.
    params : tuple of str
        Keys of the constants dictionary, one row of ``P`` each.
    states : tuple of tuple
        ``(position in the state tuple, order)`` per state block, in the
        order of the rows of ``S`` (order 0: one row).
    outputs : int
        Number of outputs.
    tables : tuple of int
        Lookup tables the kernel reads, in the order of ``LX``/``LY``.
    source : str
        The generated Python source.
    """

    func: Callable[..., None]
    params: tuple[str, ...]
    states: tuple[tuple[int, int], ...]
    outputs: int
    tables: tuple[int, ...]
    source: str


def available() -> bool:
    """Whether numba can be imported."""
    try:
        importlib.import_module("numba")
    except ImportError:
        return False
    return True


_LOCK = threading.Lock()
_KERNELS: dict = {}
#: kernel functions whose numba cache files are not sealed yet -> module path
_UNSEALED: dict = {}


def _cache_folder() -> Path:
    from sdrev.cache import private_dir, usable_root

    folder = private_dir(usable_root()[0] / "kernels")
    private_dir(folder / "__pycache__")  # numba's machine code, 0700 too
    return folder


def _numba_files(path: Path) -> list[Path]:
    """numba's cache files (index and machine code) of a kernel module."""
    return sorted((path.parent / "__pycache__").glob(f"{path.stem}.*.nb[ic]"))


def _check_numba_cache(path: Path) -> None:
    """Remove numba's cache files of ``path`` unless sdrev sealed them.

    numba's index is a pickle: only files this user's sdrev wrote (sealed
    with the cache key after compiling) may be loaded; others are deleted
    and numba compiles afresh.
    """
    from sdrev.cache import note_once, seal_holds

    files = _numba_files(path)
    if files and not seal_holds(path.with_suffix(".seal"), path.parent, files):
        note_once(f"numba cache of {path.name} failed its integrity check; "
                  "rebuilt")
        for file in files:
            file.unlink(missing_ok=True)


def _seal_numba_cache(path: Path) -> None:
    """Seal numba's freshly written cache files of ``path``."""
    from sdrev.cache import write_seal

    if files := _numba_files(path):
        write_seal(path.with_suffix(".seal"), path.parent, files)


def _helpers_key() -> str:
    import numba

    # the translation (kernelgen) and how it is compiled and run (here)
    text = "".join(Path(module).read_text(encoding="utf-8")
                   for module in (__file__, kernelgen.__file__))
    return hashlib.sha256(
        f"{text}|{numba.__version__}|{np.__version__}|{sys.version}".encode()
    ).hexdigest()[:16]


def get_kernel(sim, orders: dict[int, int], kinds: dict[int, str]):
    """The compiled kernel of a simulator, or ``None`` if not covered.

    Compiled once per process and source; the machine code is cached on
    disk under ``<sdrev cache>/kernels`` so later processes load it.

    Parameters
    ----------
    sim : Simulator
    orders : dict of int to int
        Orders of the SMOOTH/DELAY slots.
    kinds : dict of int to str
        Lookup table kinds.

    Returns
    -------
    Kernel or None
    """
    memo = (sim.source, tuple(sorted(orders.items())),
            tuple(sorted(kinds.items())))
    if memo in _KERNELS:
        return _KERNELS[memo]
    try:
        source, params, states, outputs, tables = kernel_source(
            sim, orders, kinds)
    except NotCovered:
        _KERNELS[memo] = None
        return None
    if not available():
        return None
    key = hashlib.sha256((source + _helpers_key()).encode()).hexdigest()[:24]
    with _LOCK:
        if key in _KERNELS:
            _KERNELS[memo] = _KERNELS[key]
            return _KERNELS[key]
        module = load_generated(source, f"k_{key}", entry="kernel")
        if module is None:
            _KERNELS[memo] = None
            return None
        kernel = Kernel(func=module.kernel, params=params, states=states,
                        outputs=outputs, tables=tables, source=source)
        if len(_KERNELS) > 64:
            _KERNELS.clear()
        _KERNELS[key] = _KERNELS[memo] = kernel
        return kernel


def load_generated(source: str, stem: str, *, entry: str):
    """Import generated kernel source from sdrev's kernel cache folder, so that
    numba keeps the machine code of its ``cache=True`` functions there.

    Parameters
    ----------
    source : str
        Python source (checked by its generator; compiled from this text,
        never from Python's byte-code cache).
    stem : str
        File name without ``.py``: a key of the source and its generator.
    entry : str
        The compiled function called first: numba's cache files are sealed
        after its first call (:func:`seal_after_call`).

    Returns
    -------
    module or None
        None when the cache folder is not writable (numba could not keep the
        machine code, and compiling afresh every time costs more than it
        saves).
    """
    path = _cache_folder() / f"{stem}.py"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != source:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(source, encoding="utf-8")
            os.replace(tmp, path)
    except OSError:
        return None
    name = f"sdrev_{stem}"
    _check_numba_cache(path)
    # numba's cache finds the module by name
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    exec(compile(source, str(path), "exec"), module.__dict__)
    _UNSEALED[id(getattr(module, entry))] = path
    return module


def seal_after_call(func) -> None:
    """Seal numba's cache files of a function from :func:`load_generated`
    once it has run (compiled or loaded); later calls do nothing."""
    path = _UNSEALED.pop(id(func), None)
    if path is not None:
        _seal_numba_cache(path)


def run_kernel(kernel: Kernel, state: tuple, constants: dict, n: int,
               times: np.ndarray, saved: np.ndarray, lookups: tuple, *,
               threads: int = 1, out: np.ndarray | None = None,
               shift: int = 0) -> np.ndarray:
    """Integrate ``n`` runs with a compiled kernel.

    Parameters
    ----------
    kernel : Kernel
    state : tuple of ndarray
        Initial state from the simulator's ``init``.
    constants : dict
        Constants and hoisted values by key (floats or arrays of shape
        ``(n,)``).
    n : int
        Number of runs.
    times : ndarray
        Integration times.
    saved : ndarray of bool
        Which times are saved.
    lookups : tuple
        The program's ``(xs, ys, kind)`` tables.
    threads : int, optional
        Threads sharing the runs (the kernel releases the GIL).
    out : ndarray, optional
        Array of shape ``(outputs, runs, saved times)`` (C order) to write
        into, rows ``shift:shift + n``; by default a new one for these runs.
    shift : int, optional
        Row of ``out`` of the first run.

    Returns
    -------
    ndarray
        Outputs of these runs, shape ``(outputs, n, saved times)`` (a view
        of ``out`` when given).
    """
    P = np.empty((len(kernel.params), n))
    for row, key in enumerate(kernel.params):
        P[row] = constants[key]  # a float or an (n,) array: assignment broadcasts
    S = np.empty((sum(order or 1 for _, order in kernel.states), n))
    row = 0
    for position, order in kernel.states:
        S[row:row + (order or 1)] = np.asarray(state[position], dtype=float)
        row += order or 1
    shape = (kernel.outputs, n, int(saved.sum()))
    if out is None or not (out.flags.c_contiguous and out.dtype == float
                           and out.shape[0] == shape[0]
                           and out.shape[2] == shape[2]
                           and 0 <= shift <= out.shape[1] - n):
        out, shift = np.empty(shape), 0
    LX = tuple(np.ascontiguousarray(lookups[t][0], dtype=float)
               for t in kernel.tables) or (np.zeros(1),)
    LY = tuple(np.ascontiguousarray(lookups[t][1], dtype=float)
               for t in kernel.tables) or (np.zeros(1),)
    times = np.ascontiguousarray(times, dtype=float)
    saved = np.ascontiguousarray(saved, dtype=np.bool_)
    try:
        _call(kernel, (P, S, times, saved, out, LX, LY), n, shift, threads)
        seal_after_call(kernel.func)  # compiled (or loaded) on its first call
    except Exception as exc:
        if not type(exc).__module__.startswith("numba"):
            raise
        for key, value in list(_KERNELS.items()):
            if value is kernel:
                _KERNELS[key] = None  # do not try this kernel again
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise KernelFailed(f"{type(exc).__name__}: {first}") from exc
    return out[:, shift:shift + n]


def _call(kernel: Kernel, args: tuple, n: int, shift: int, threads: int):
    """Run the kernel over runs ``0:n``, split between ``threads``."""
    P, S, times, saved, out, LX, LY = args
    with warnings.catch_warnings():
        # numba reports its own caching decisions as warnings
        warnings.simplefilter("ignore")
        threads = max(1, min(threads, n))
        if threads == 1:
            kernel.func(P, S, times, saved, out, LX, LY, 0, n, shift)
        else:
            bounds = np.linspace(0, n, threads + 1).astype(int)
            pool = _pool(threads - 1)
            futures = [pool.submit(kernel.func, P, S, times, saved, out,
                                   LX, LY, int(a), int(b), shift)
                       for a, b in zip(bounds[1:-1], bounds[2:])]
            kernel.func(P, S, times, saved, out, LX, LY, 0, int(bounds[1]),
                        shift)
            for future in futures:
                future.result()


_POOLS: dict = {}


def _pool(workers: int):
    """A thread pool kept for the process (starting threads on every call
    costs more than a small call's runs): keyed by process id, so a forked
    worker makes its own instead of waiting on its parent's dead threads."""
    from concurrent.futures import ThreadPoolExecutor

    key = (os.getpid(), workers)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(max_workers=workers,
                                         thread_name_prefix="sdrev-kernel")
    return _POOLS[key]
