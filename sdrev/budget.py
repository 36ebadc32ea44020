"""Bounded work: what a command would compute and hold, estimated before it runs.

Every command that runs a model many times (or once for very long) first
builds an :class:`Estimate` -- runs, integration steps per run, bytes held
in memory at once, bytes written to disk -- and :func:`check` refuses, in
one line that names the estimate and the limits, what cannot fit: a TIME
STEP or FINAL TIME typed wrong by orders of magnitude, a sample size of
``10**12``. ``force=True`` (the CLI's ``--force``) runs it anyway.

Output written in blocks (Zarr, :mod:`sdrev.ensemble.store`) counts in
memory at its block size and on disk at its total size.

The limits:

- integration steps, :data:`MAX_STEPS` for one run on PySD (roughly 10^4 to
  10^5 steps a second: minutes of work) and :data:`MAX_RUN_STEPS` for the
  compiled ensemble engine (runs times steps; measured 1.3 million a second
  for crrc_standards and 8.6 million for the small widgets test model on
  two busy cores: 20 minutes to 2 hours);
- memory, half the memory available now (:func:`memory_limit`), and at most
  :data:`MAX_RUN_BYTES` for one PySD run's table;
- disk, the free space where the output goes.

Only the standard library is imported here.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sdrev.errors import InvalidValueError

__all__ = ["FLOAT", "MAX_DATA_BYTES", "MAX_RUN_BYTES", "MAX_RUN_STEPS", "MAX_SAMPLES_BYTES",
           "MAX_STEPS", "MAX_TEXT_BYTES", "Estimate", "available_memory", "check", "check_file",
           "free_disk", "memory_limit", "size_text", "time_points"]

#: Most integration steps one PySD run may take without ``force``.
MAX_STEPS = 10_000_000
#: Most bytes one PySD run's table of values may take without ``force``.
MAX_RUN_BYTES = 2 * 2**30
#: Most integration steps, summed over runs, of the compiled engine without ``force``.
MAX_RUN_STEPS = 10_000_000_000
#: Bytes of one float64 value.
FLOAT = 8
#: Largest model file, spec or observations table read (a 20,000-variable
#: model is a few MiB).
MAX_TEXT_BYTES = 64 * 2**20
#: Largest data file a model reads (GET XLS / GET DIRECT ... spreadsheets).
MAX_DATA_BYTES = 256 * 2**20
#: Largest samples table read (ten million runs of a few constants).
MAX_SAMPLES_BYTES = 2**30


@dataclass(frozen=True)
class Estimate:
    """What a command would compute and hold.

    Attributes
    ----------
    what : str
        The work in words, e.g. ``"this ensemble"``, ``"this run"``.
    runs : int
        Model runs.
    steps : int
        Integration steps of one run (of the longest one).
    memory : int
        Bytes held in memory at once (values, samples, engine state).
    disk : int
        Bytes written to disk (0: nothing large).
    """

    what: str
    runs: int
    steps: int
    memory: int
    disk: int = 0

    @property
    def work(self) -> int:
        """Integration steps over all runs."""
        return self.runs * self.steps

    def text(self) -> str:
        """The estimate in words (part of a sentence)."""
        if self.runs == 1:
            steps = f"{self.steps:,} integration steps"
        else:
            steps = (f"{self.runs:,} runs x {self.steps:,} integration steps "
                     f"({_count(self.work)} in all)")
        words = f"{self.what} would take {steps} and hold {size_text(self.memory)} of values"
        if self.disk:
            words += f" ({size_text(self.disk)} written)"
        return words


def time_points(initial: float, final: float, step: float,
                saveper: float | None = None) -> tuple[int, int]:
    """Integration steps and saved times of one run from ``initial`` to ``final``.

    Parameters
    ----------
    initial, final, step : float
        INITIAL TIME, FINAL TIME and TIME STEP.
    saveper : float, optional
        SAVEPER (default TIME STEP); never shorter than TIME STEP.

    Returns
    -------
    tuple of int
        Steps and saved times; a horizon with no positive finite step
        counts as ``2**63`` steps (more than any limit).
    """
    span = max(float(final) - float(initial), 0.0)
    saveper = step if saveper is None else max(float(saveper), float(step))
    return _points(span, float(step)), _points(span, saveper)


def _points(span: float, step: float) -> int:
    if not (math.isfinite(span) and step > 0 and math.isfinite(step)):
        return 2**63
    count = span / step
    return int(count + 1e-9) + 1 if count < 2**63 else 2**63


def available_memory() -> int:
    """Bytes of memory available to a new allocation now (Linux's
    ``MemAvailable``, else the free pages; ``2**40`` when unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as lines:
            for line in lines:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**40
    return int(pages) if pages > 0 else 2**40


def memory_limit() -> int:
    """Most bytes a command may plan to hold: half the available memory
    (estimates leave out copies and the interpreter's own needs)."""
    return available_memory() // 2


def free_disk(path: str | Path | None) -> int:
    """Free bytes on the file system of ``path`` (its nearest existing
    folder; the current folder for ``None``); ``2**62`` when unknown."""
    here = Path(path if path is not None else ".").absolute()
    for folder in (here, *here.parents):
        if folder.is_dir():
            try:
                return int(shutil.disk_usage(folder).free)
            except OSError:
                break
    return 2**62


def check(estimate: Estimate, *, force: bool = False, max_work: int | None = None,
          max_memory: int | None = None, max_disk: int | None = None,
          hint: str = "ask for fewer runs, or check TIME STEP, FINAL TIME and SAVEPER") -> None:
    """Refuse work that cannot fit, naming its estimate and the limits.

    Parameters
    ----------
    estimate : Estimate
    force : bool, optional
        Do not refuse (the CLI's ``--force``).
    max_work : int, optional
        Most integration steps over all runs (default :data:`MAX_RUN_STEPS`,
        read when called).
    max_memory : int, optional
        Most bytes in memory (default :func:`memory_limit`).
    max_disk : int, optional
        Most bytes written (default: no limit).
    hint : str, optional
        What to change, ending the message.

    Raises
    ------
    InvalidValueError
        One line: the estimate, the limits it passes and how to go on.
    """
    if force:
        return
    max_work = MAX_RUN_STEPS if max_work is None else max_work
    max_memory = memory_limit() if max_memory is None else max_memory
    over = []
    if estimate.work > max_work:
        over.append(f"{_count(max_work)} integration steps")
    if estimate.memory > max_memory:
        over.append(f"{size_text(max_memory)} of memory")
    if max_disk is not None and estimate.disk > max_disk:
        over.append(f"{size_text(max_disk)} of free disk")
    if over:
        raise InvalidValueError(
            f"{estimate.text()}, over the limit of {' and '.join(over)}: {hint}, or give "
            "--force (force=True) to run it anyway")


def check_file(path: str | Path, *, what: str, limit: int | None = None,
               text: bool = True) -> None:
    """Refuse a file from someone else that is too large to read, or binary
    where text is expected, before reading it.

    Parameters
    ----------
    path : str or Path
    what : str
        The file in words, e.g. ``"samples file"``.
    limit : int, optional
        Most bytes (default :data:`MAX_TEXT_BYTES`, read when called).
    text : bool, optional
        Refuse a file whose first 8 KiB hold a NUL byte (binary).

    Raises
    ------
    InvalidValueError
        One line naming the file, its size and the limit, or that it is binary.
        A file that does not exist is left to the reader's own message.
    """
    file = Path(path)
    limit = MAX_TEXT_BYTES if limit is None else limit
    try:
        size = file.stat().st_size
        if not file.is_file():
            return
        head = b""
        if text:
            with open(file, "rb") as stream:
                head = stream.read(8192)
    except OSError:
        return
    if size > limit:
        raise InvalidValueError(f"{what} {file.name!r} is {size_text(size)}, over the limit "
                                f"of {size_text(limit)} for a {what}")
    nul = head.find(b"\x00")
    if nul >= 0:
        raise InvalidValueError(f"{what} {file.name!r} is binary (a NUL byte at byte "
                                f"{nul}), not text")


def size_text(size: float) -> str:
    """Bytes in words: ``"1.5 GiB"``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} PiB"  # pragma: no cover - the loop returns


def _count(value: int) -> str:
    return f"{value:,}" if value < 10**12 else f"{value:.2e}"
