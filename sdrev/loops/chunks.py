"""Loop analyses of many runs, one chunk of runs at a time.

:func:`iter_chunks` turns a table of parameter sets into
:class:`LoopChunk` objects: for every run of the chunk, the relative and raw
loop scores at every saving time (:mod:`sdrev.loops.batch`), each loop's
polarity, its id and name, and the dominant sets over all loops and among
the documented loops -- everything :func:`sdrev.loops.analyze` reports for
that run, with the same numbers. Runs whose loops have the same polarities
share their names and table order (computed once per distinct polarity
pattern). Memory is bounded by the chunk size.

The loop metrics of :mod:`sdrev.loops.metrics` have array versions here
(:func:`relative_score_at`, :func:`dominance_shift_time`,
:func:`dominance_share`): one value per run of a chunk.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sdrev.errors import InvalidValueError, UnknownNameError, suggest
from sdrev.loops import batch as _batch
from sdrev.loops.dominance import (COMPILED_MIN_SIZE, DOMINANCE_THRESHOLD,
                                  compiled_scan, dominant_flags, dominant_membership, shares)
from sdrev.loops.naming import LoopName, id_sort_key
from sdrev.loops.scores import POLARITY_CONFIDENCE_THRESHOLD

__all__ = ["LoopChunk", "NamedGroup", "RunSettingsTable", "dominance_share",
           "compiled_passes", "dominance_shift_time", "iter_chunks", "polarities",
           "polarity_codes",
           "relative_score_at", "run_table", "score_sums"]

#: Polarity classes, in the order of the codes :func:`polarities` returns.
POLARITIES = ("reinforcing", "balancing", "mostly reinforcing", "mostly balancing",
              "undetermined")

#: Memory a chunk's score arrays may take (runs per chunk follow from it).
CHUNK_BYTES = 256 * 2**20

#: Chunks the runs of the compiled passes are split into at least (of at
#: least :data:`PIPELINE_RUNS` runs each), equal in size.
PIPELINE_CHUNKS = 8
PIPELINE_RUNS = 1024


def polarities(rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sdrev.loops.scores.classify_polarity` of every run and loop.

    Parameters
    ----------
    rel : ndarray, shape (runs, loops, times)

    Returns
    -------
    codes : ndarray of int, shape (runs, loops)
        Index into :data:`POLARITIES`.
    confidence : ndarray, shape (runs, loops)
    """
    return polarity_codes(score_sums(rel))


def score_sums(rel: np.ndarray) -> np.ndarray:
    """Sums of each run's positive and of its negative relative scores over
    time, shape ``(runs, loops, 2)`` (non-finite scores count 0)."""
    s = np.where(np.isfinite(rel), rel, 0.0)
    return np.stack([np.where(s > 0, s, 0.0).sum(axis=-1),
                     np.where(s < 0, s, 0.0).sum(axis=-1)], axis=-1)


def polarity_codes(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`polarities` from :func:`score_sums` (or the compiled loop
    scores' sums, :func:`sdrev.loops.fused.score_chunk`)."""
    r = sums[..., 0]
    b = -sums[..., 1]
    any_score = (r != 0) | (b != 0)  # a non-zero score adds to one of them
    with np.errstate(all="ignore"):
        conf = np.minimum(1.0, np.abs(r - b) / (r + b))
    conf = np.where(any_score, conf, 0.0)
    codes = np.full(r.shape, 4)
    mostly = conf >= POLARITY_CONFIDENCE_THRESHOLD
    codes[mostly & (r > b)] = 2
    codes[mostly & ~(r > b)] = 3
    codes[r == 0.0] = 1
    codes[b == 0.0] = 0
    codes[~any_score] = 4
    conf = np.where(any_score & ((b == 0.0) | (r == 0.0)), 1.0, conf)
    return codes, conf


def _key(name: str) -> str:
    return " ".join(str(name).replace("_", " ").split()).lower()


@dataclass(frozen=True)
class NamedGroup:
    """Runs whose loops have the same polarities (and, for strongest-path
    models, the same loops): one naming, one table order.

    Attributes
    ----------
    loops : tuple of int
        Indices (into the chunk's loops) of the loops these runs have, in
        the order of their analysis's loops table.
    names : dict of int to LoopName
    polarity : dict of int to str
    """

    loops: tuple
    names: dict
    polarity: dict

    def ids(self) -> dict:
        """Loop id -> loop index."""
        return {self.names[i].id: i for i in self.loops}


@dataclass(frozen=True)
class LoopChunk:
    """The loop analyses of a chunk of runs.

    Attributes
    ----------
    start : int
        Row of the first run in the samples.
    times : ndarray
        Saving times (rounded as the per-run analysis's index).
    loops : tuple of tuple of str
        The loops (nodes in causal order) the arrays' loop axis runs over.
    labels : tuple of tuple of str
        Each loop's variables (Vensim names).
    partition : tuple of int
    relative, raw : ndarray, shape (runs, loops, times)
    group : ndarray of int, shape (runs,)
        Index into ``groups``.
    groups : tuple of NamedGroup
    dominant : ndarray of bool, shape (runs, loops, times)
        In the dominant set of its partition (all loops compared).
    documented_dominant : ndarray of bool, shape (runs, loops, times)
        In the dominant set among the documented loops.
    polarity : ndarray of int, shape (runs, loops)
        Each loop's polarity in each run, as an index into :data:`POLARITIES`.
    aliases : mapping
        Normalised names -> the names loops are matched by (Vensim and
        Python names of the same variable).
    sums : ndarray, shape (runs, loops, 2)
        Sums of each run's positive and negative relative scores over time
        (:func:`score_sums`).
    """

    start: int
    times: np.ndarray
    loops: tuple
    labels: tuple
    partition: tuple
    relative: np.ndarray
    raw: np.ndarray
    group: np.ndarray
    groups: tuple
    dominant: np.ndarray
    documented_dominant: np.ndarray
    polarity: np.ndarray
    aliases: Mapping
    sums: np.ndarray

    @property
    def runs(self) -> int:
        return len(self.group)

    def loop_index(self, loop, *, documented: bool = False) -> np.ndarray:
        """Index of a loop in each run: as :meth:`sdrev.loops.LoopAnalysis.loop_id`
        (id, documented name, or variables).

        Parameters
        ----------
        loop : str or iterable of str
        documented : bool
            A loop named by a string must be a documented loop (as the
            sensitivity specs require).

        Raises
        ------
        UnknownNameError
        """
        found = [self._index(g, loop, documented) for g in self.groups]
        return np.array(found, dtype=int)[self.group] if found else np.zeros(0, int)

    def _index(self, g: NamedGroup, loop, documented: bool) -> int:
        if isinstance(loop, str):
            ids = g.ids()
            hit = ids.get(loop)
            if hit is None:
                key = loop.strip().lower()
                hit = next((i for i in g.loops if g.names[i].name
                            and g.names[i].name.lower() == key), None)
            if hit is None:
                known = list(ids) + [g.names[i].name for i in g.loops if g.names[i].name]
                raise UnknownNameError(f"no loop {loop!r}" + suggest(loop, known))
            if documented and not g.names[hit].documented:
                raise UnknownNameError(f"loop {loop!r} was not found in this run (its id "
                                       "belongs to an undocumented loop)")
            return hit
        wanted = {self.aliases.get(_key(v), _key(v)) for v in loop}
        for i in g.loops:
            if {_key(v) for v in self.labels[i]} == wanted:
                return i
        raise UnknownNameError(f"no loop through exactly {sorted(wanted)}")

    def series(self, index: np.ndarray, *, what: str = "relative") -> np.ndarray:
        """``(runs, times)`` of one loop per run (``index`` from :meth:`loop_index`)."""
        data = {"relative": self.relative, "raw": self.raw, "dominant": self.dominant,
                "documented_dominant": self.documented_dominant}[what]
        return data[np.arange(self.runs), index]


@dataclass(frozen=True)
class RunSettingsTable:
    """Constants of every run: shared ones and per-run columns (Python names)."""

    base: dict
    varied: dict
    runs: int
    params: pd.DataFrame  # the sampled columns by Vensim name


def run_table(model, samples: pd.DataFrame, *, scenario: str | None,
              program) -> RunSettingsTable:
    """Resolve a samples table into constants as the per-run analysis sets them.

    Raises
    ------
    UnknownNameError, InvalidValueError
    """
    from sdrev.scenario import run_settings

    if not isinstance(samples, pd.DataFrame):
        raise InvalidValueError("samples must be a pandas DataFrame (one row per run, one "
                                f"column per constant), got {type(samples).__name__}")
    if len(samples) == 0:
        raise InvalidValueError("samples must have at least one row")
    settings = run_settings(model, scenario=scenario)
    base = dict(program.constants)
    base.update({program.resolve(k): _number(v) for k, v in settings.params.items()})
    for key, value in (("initial_time", model.time.initial), ("final_time", model.time.final),
                       ("time_step", model.time.step), ("saveper", model.time.saveper)):
        if key not in program.constants:
            base[key] = float(value)
    varied: dict = {}
    names = {}
    for column in samples.columns:
        try:
            values = samples[column].to_numpy(dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidValueError(f"samples column {column!r} must be numeric: {exc}"
                                    ) from None
        if not np.isfinite(values).all():
            raise InvalidValueError(f"samples column {column!r} has a missing or "
                                    "non-finite value")
        one = run_settings(model, params={str(column): float(values[0])})
        if one.time:  # a control variable: the same in every run
            key = next(iter(one.time))
            if np.ptp(values) > 0:
                raise InvalidValueError(f"{column} must be the same in every run of a loop "
                                        "ensemble")
            base[key] = float(values[0])
            continue
        vensim = next(iter(one.params))
        names[column] = vensim
        varied[program.resolve(vensim)] = values
    for py in varied:
        base.pop(py, None)
    params = samples.rename(columns=names)[list(names.values())] if names else \
        pd.DataFrame(index=samples.index)
    return RunSettingsTable(base=base, varied=varied, runs=len(samples),
                            params=params.reset_index(drop=True))


def with_noise(table: RunSettingsTable, program, *, seed: int,
               streams) -> RunSettingsTable:
    """``table`` whose runs follow their own noise realisations.

    For a model with RANDOM functions, run ``i`` of the table draws the
    stream ``streams[i]`` of ``seed`` (:mod:`sdrev.ensemble.noise`), the
    draws of run ``streams[i]`` of :func:`sdrev.ensemble.run` with that
    seed; without ``streams`` (or for a model without noise) the table is
    returned as it is, and every run draws stream 0 of seed 0, as
    :func:`sdrev.loops.analyze` by default.
    """
    from dataclasses import replace

    from sdrev.ensemble import noise
    if streams is None or not noise.has_noise(program):
        return table
    own = noise.stream_constants(int(seed), np.asarray(streams)[:table.runs])
    if len(own[noise.RUN]) != table.runs:
        raise InvalidValueError(f"{len(own[noise.RUN])} noise streams for {table.runs} runs")
    return replace(table, base={**table.base, noise.SEED: own[noise.SEED]},
                   varied={**table.varied, noise.RUN: own[noise.RUN]})


def _number(value):
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=float)


def compiled_passes(st) -> bool:
    """Whether a model's loop scores come from the compiled passes
    (:func:`sdrev.loops.fused.score_chunk`: every loop enumerated, no
    subscripts, a kernel that integrates as numpy does up to libm's last bits:
    :func:`sdrev.loops.batch.fused_allowed`), which use every core through
    threads."""
    return bool(st.complete and st.elements is None and _batch.fused_allowed(st.program))


def iter_chunks(model, table: RunSettingsTable, *, max_loops: int,
                threshold: float = DOMINANCE_THRESHOLD, chunk_size: int | None = None,
                progress: bool = False, dominance=("all", "documented"),
                threads: int | None = None):
    """Yield the :class:`LoopChunk` of every chunk of runs, in order.

    Parameters
    ----------
    model : Model
    table : RunSettingsTable
        From :func:`run_table`.
    max_loops : int
    threshold : float
    chunk_size : int, optional
        Runs per chunk (default: as many as :data:`CHUNK_BYTES` allows).
    progress : bool
        Show a tqdm progress bar.
    dominance : collection of str
        Dominant sets to find: ``"all"`` (:attr:`LoopChunk.dominant`),
        ``"documented"`` (:attr:`LoopChunk.documented_dominant`); those
        left out stay all False.
    threads : int, optional
        Threads of the compiled kernel.
    """
    from tqdm.auto import tqdm

    st = _batch.structure(model.path, max_loops)
    program, lg = st.program, st.graph
    aliases = {**{_key(v): _key(k) for k, v in lg.labels.items()},
               **{_key(k): _key(lg.label(k)) for k in lg.labels}}
    if chunk_size is None:
        steps = len(_saved_steps(table.base))
        # the compiled passes keep only the scores (raw, relative, flags); the
        # numpy path also every variable at each saving time and the step before
        fused = compiled_passes(st)
        per_run = 8 * steps * (max(len(st.loops), 1) * (3 if fused else 6)
                               + (0 if fused else len(program.step) * 3))
        cap = int(max(16, min(4096, CHUNK_BYTES // max(per_run, 1))))
        count = -(-table.runs // cap)
        if fused:  # smaller chunks: the compiled passes of one overlap the
            # dominance of the one before sooner and longer (a short first
            # and last chunk, no short tail chunk)
            count = max(count, min(PIPELINE_CHUNKS, table.runs // PIPELINE_RUNS))
        chunk_size = -(-table.runs // count)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    edges = _batch.loop_edges(st.loops) if st.complete else None
    naming: dict = {}
    bar = tqdm(total=table.runs, desc="loop scores", unit="run", disable=not progress)
    starts = range(0, table.runs, chunk_size)

    def part(start: int) -> tuple[int, dict]:
        n = min(chunk_size, table.runs - start)
        return n, {k: v[start:start + n] for k, v in table.varied.items()}

    # the compiled passes of the next chunk run (their threads release the
    # GIL) while this one's dominance and the caller's tallies are done
    ahead = None
    if len(starts) > 1 and compiled_passes(st):
        from concurrent.futures import ThreadPoolExecutor
        ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sdrev-ltm-ahead")
    pending = None
    try:
        for c, start in enumerate(starts):
            n, varied = part(start)
            if pending is not None:
                fused = pending.result()
            else:
                fused = _fused(st, table.base, varied, n, threads) if st.complete else None
            pending = None
            if fused is not None and ahead is not None and c + 1 < len(starts):
                n_next, varied_next = part(starts[c + 1])
                pending = ahead.submit(_fused, st, table.base, varied_next, n_next, threads)
            if fused is not None:  # integrated and scored in one compiled pass
                times, raw, rel, sums = fused
                loops = list(st.loops)
                partition = tuple(st.partitions[lp[0]] for lp in loops)
                yield _chunk(model, st, start, times, loops, partition, raw, rel, None,
                             naming, threshold, aliases, frozenset(dominance), sums=sums)
                bar.update(n)
                continue
            sp = _batch.simulate_pairs(st, table.base, varied, n, threads=threads)
            links = _batch.batch_link_scores(st, sp, edges)
            if st.complete:
                loops, found = list(st.loops), None
            else:
                per_run = _batch.strongest_loops(st, links, sp)
                loops = sorted({lp for run in per_run for lp in run},
                               key=lambda c: (len(c), c))
                where = {lp: i for i, lp in enumerate(loops)}
                found = np.zeros((n, len(loops)), dtype=bool)
                for r, run in enumerate(per_run):
                    found[r, [where[lp] for lp in run]] = True
            partition = tuple(st.partitions[lp[0]] for lp in loops)
            raw, rel = _batch.saved_scores(loops, partition, links, sp, found=found)
            yield _chunk(model, st, start, sp.times, loops, partition, raw, rel, found,
                         naming, threshold, aliases, frozenset(dominance))
            bar.update(n)
    finally:
        bar.close()
        if ahead is not None:
            ahead.shutdown(wait=True, cancel_futures=True)


def _fused(st, base, varied, n, threads):
    """:func:`sdrev.loops.fused.score_chunk`, or None (the numpy path runs)
    where it does not cover the model or numba fails."""
    from sdrev.ensemble.kernel import KernelFailed
    from sdrev.loops.fused import score_chunk

    loops = list(st.loops)
    try:
        return score_chunk(st, base, varied, n, loops,
                           tuple(st.partitions[lp[0]] for lp in loops), threads=threads)
    except KernelFailed as exc:
        import logging
        logging.getLogger(__name__).warning(
            "the compiled loop scores failed (%s); numpy computes them", exc)
        return None


def _saved_steps(base: dict) -> np.ndarray:
    from sdrev.ensemble.engine import time_grid
    grid = time_grid(*(float(np.ravel(base[k])[0]) for k in
                       ("initial_time", "final_time", "time_step", "saveper")))
    return np.flatnonzero(grid.saved)


def _chunk(model, st, start, times, loops, partition, raw, rel, found, naming,
           threshold, aliases, which, sums=None) -> LoopChunk:
    n, count = rel.shape[0], rel.shape[1]
    sums = score_sums(rel) if sums is None else sums
    codes, _ = polarity_codes(sums)
    present = np.ones((n, count), dtype=bool) if found is None else found
    key_rows = np.where(present, codes, -1)
    if count:
        keys, group = _distinct_rows(key_rows)
    else:
        keys, group = np.zeros((1, 0), dtype=int), np.zeros(n, dtype=int)
    group = np.asarray(group).reshape(-1)
    groups = []
    # all loops of every run, compared in one compiled scan (runs keep their
    # polarities); strongest-path runs, each with its own loops, by group
    every = found is None and count > 0 and compiled_scan() is not None
    dominant = np.zeros(rel.shape, dtype=bool)
    doc_dominant = np.zeros(rel.shape, dtype=bool)
    for g, row in enumerate(keys):
        cache_key = (tuple(loops[i] for i in np.flatnonzero(row >= 0)),
                     tuple(int(c) for c in row[row >= 0]))
        if cache_key not in naming:
            naming[cache_key] = _name_group(model, st, cache_key)
        names_by_loop, order = naming[cache_key]
        where = {lp: i for i, lp in enumerate(loops)}
        idx = tuple(where[lp] for lp in order)
        named = NamedGroup(loops=idx, names={where[lp]: nm for lp, nm in names_by_loop.items()},
                           polarity={where[lp]: POLARITIES[c] for lp, c in
                                     zip(cache_key[0], cache_key[1])})
        groups.append(named)
        runs = np.flatnonzero(group == g)
        if not every:
            _dominance(named, partition, rel, raw, runs, dominant, doc_dominant, threshold,
                       which, compiled=rel.size >= COMPILED_MIN_SIZE)
    if every:  # every run's own polarities and loop order, one scan per partition
        _dominance_all(groups, group, partition, codes, rel, raw, dominant, doc_dominant,
                       threshold, which)
    labels = tuple(tuple(st.graph.label(v) for v in lp) for lp in loops)
    return LoopChunk(start=start, times=np.round(times, 10), loops=tuple(loops),
                     labels=labels, partition=partition, relative=rel, raw=raw,
                     group=group, groups=tuple(groups), dominant=dominant,
                     documented_dominant=doc_dominant, polarity=codes, aliases=aliases,
                     sums=sums)


def _distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(rows, axis=0, return_inverse=True)`` for small integers
    (polarity codes): rows hashed as bytes instead of sorted as records."""
    small = np.ascontiguousarray(rows, dtype=np.int8)
    seen: dict = {}
    inverse = np.fromiter((seen.setdefault(row, len(seen)) for row in map(bytes, small)),
                          dtype=np.intp, count=len(small))
    keys = np.frombuffer(b"".join(seen), dtype=np.int8).reshape(len(seen), rows.shape[1])
    order = np.lexsort(keys.T[::-1]) if keys.size else np.arange(len(keys))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return keys[order].astype(rows.dtype), rank[inverse]


def _name_group(model, st, key) -> tuple[dict, list]:
    loops, codes = key
    pols = [POLARITIES[c] for c in codes]
    names: list[LoopName] = _batch.loop_names(st, list(loops), pols, model.loops)
    order = sorted(range(len(loops)), key=lambda i: id_sort_key(names[i].id))
    return dict(zip(loops, names)), [loops[i] for i in order]


def _dominance_all(groups, group, partition, codes, rel, raw, dominant, doc_dominant,
                   threshold, which) -> None:
    """Dominant sets of every run of a chunk whose runs all have every loop,
    in place: for each partition one compiled scan of all runs, each with its
    polarities and its naming group's loop order (that of
    :func:`_dominance`: ties in ``|score|`` are broken the same way, sums
    are added in the same order)."""
    parts = sorted(set(partition))
    if "all" in which and groups:
        for p in parts:
            cols = sorted(i for i in groups[0].loops if partition[i] == p)
            pos = {i: j for j, i in enumerate(cols)}
            order = np.array([[pos[i] for i in g.loops if partition[i] == p]
                              for g in groups], dtype=np.int64)[group]
            # a view, not a copy, where the partition's loops are adjacent
            span = slice(cols[0], cols[-1] + 1) if cols == list(range(cols[0], cols[-1] + 1)) \
                else cols
            pols = codes[:, span]
            flags = dominant_flags(
                rel[:, span], (pols == 0) | (pols == 2), (pols == 1) | (pols == 3),
                order=order, threshold=threshold,
                out=dominant[:, span] if isinstance(span, slice) else None)
            if not isinstance(span, slice):
                dominant[:, span] = flags
    if "documented" not in which:
        return
    docs = {p: [[i for i in g.loops if partition[i] == p and g.names[i].documented]
                for g in groups] for p in parts}
    if any(sorted(d) != sorted(per[0]) for per in docs.values() for d in per):
        # naming groups differ in which loops are documented: group by group
        for g, named in enumerate(groups):
            _dominance(named, partition, rel, raw, np.flatnonzero(group == g), dominant,
                       doc_dominant, threshold, {"documented"}, compiled=True)
        return
    for p in parts:
        members = sorted(docs[p][0]) if groups else []
        if not members:
            continue
        at = {i: j for j, i in enumerate(members)}
        order = np.array([[at[i] for i in d] for d in docs[p]], dtype=np.int64)[group]
        # each run's shares summed in its group's order, as per run
        pols = codes[:, members]
        doc_dominant[:, members] = dominant_flags(
            shares(raw, members, order), (pols == 0) | (pols == 2), (pols == 1) | (pols == 3),
            order=order, threshold=threshold)


def _dominance(named: NamedGroup, partition, rel, raw, runs, dominant, doc_dominant,
               threshold, which, *, compiled: bool) -> None:
    """Dominant sets of ``runs`` (one naming group), in place (``compiled``:
    with the compiled scan, chosen once for the whole chunk)."""
    if not len(runs) or not which:
        return
    parts: dict[int, list[int]] = {}
    for i in named.loops:
        parts.setdefault(partition[i], []).append(i)
    every = len(runs) == rel.shape[0]
    for cols in parts.values():
        if "all" in which:
            pols = [named.polarity[i] for i in cols]
            span = slice(cols[0], cols[-1] + 1)
            if every and cols == list(range(cols[0], cols[-1] + 1)):  # no copy
                dominant[:, span] = dominant_membership(
                    rel[:, span], pols, threshold=threshold, compiled=compiled)
            else:
                dominant[np.ix_(runs, cols)] = dominant_membership(
                    rel[np.ix_(runs, cols)], pols, threshold=threshold, compiled=compiled)
        docs = [i for i in cols if named.names[i].documented]
        if not docs or "documented" not in which:
            continue
        block = raw[np.ix_(runs, docs)]
        total = np.abs(block).sum(axis=1)
        with np.errstate(all="ignore"):
            share = np.where(total[:, None, :] > 0,
                             block / np.where(total > 0, total, 1.0)[:, None, :], 0.0)
        doc_dominant[np.ix_(runs, docs)] = dominant_membership(
            share, [named.polarity[i] for i in docs], threshold=threshold,
            compiled=compiled)


# ------------------------------------------------------------ metrics

def relative_score_at(chunk: LoopChunk, index: np.ndarray, time: float) -> np.ndarray:
    """:func:`sdrev.loops.metrics.relative_score_at` of every run."""
    t = chunk.times
    if not t[0] <= time <= t[-1]:
        raise ValueError(f"time {time} is outside the run ({t[0]:g} to {t[-1]:g})")
    series = chunk.series(index)
    return np.array([float(np.interp(time, t, row)) for row in series])


def dominance_shift_time(chunk: LoopChunk, source: np.ndarray, target: np.ndarray, *,
                         after: float | None = None, default: float = math.nan
                         ) -> np.ndarray:
    """:func:`sdrev.loops.metrics.dominance_shift_time` of every run."""
    a, b = chunk.series(source), chunk.series(target)
    t = chunk.times
    d = np.abs(a) - np.abs(b)
    valid = np.ones(len(t), dtype=bool) if after is None else ~(t < after)
    ahead = valid[None, :] & (d > 0)
    led = np.zeros_like(ahead)
    led[:, 1:] = np.logical_or.accumulate(ahead, axis=1)[:, :-1]
    hit = valid[None, :] & ~(d > 0) & led & ((a != 0.0) | (b != 0.0))
    out = np.full(len(a), float(default))
    rows = np.flatnonzero(hit.any(axis=1))
    k = hit[rows].argmax(axis=1)
    d0, d1 = d[rows, k - 1], d[rows, k]
    out[rows] = t[k - 1] + (t[k] - t[k - 1]) * d0 / (d0 - d1)
    return out


def dominance_share(chunk: LoopChunk, index: np.ndarray, *, start: float | None = None,
                    end: float | None = None) -> np.ndarray:
    """:func:`sdrev.loops.metrics.dominance_share` of every run."""
    t = chunk.times
    lo = t[0] if start is None else start
    hi = t[-1] if end is None else end
    mask = (t >= lo) & (t <= hi)
    if not mask.any():
        raise ValueError(f"no saved time between {lo:g} and {hi:g}")
    hits = chunk.series(index, what="dominant")
    return hits[:, mask].mean(axis=1)
