"""Loop dominance over an ensemble: how sure is it that a loop leads?

:func:`analyze_ensemble` runs the loop analysis of :func:`sdrev.loops.analyze`
for every parameter set of a sample at once (:mod:`sdrev.loops.chunks`: the
same numbers, run by run) and summarises it across runs:

* the **probability of dominance** of each documented loop at each saving
  time: the share of runs in which it belongs to the dominant set, both
  among all loops of its partition (as :attr:`LoopAnalysis.dominant_periods`)
  and among the model's documented loops (as
  :attr:`LoopAnalysis.documented_periods`: the mechanisms the model's story
  names, compared among themselves);
* the median relative score of each documented loop and its 90% band;
* the share of runs of each dominant set;
* each run's relative score of each documented loop.

Examples
--------
>>> import sdrev, sdrev.ensemble as ens, sdrev.loops as loops
>>> model = sdrev.load("crrc_standards")                              # doctest: +SKIP
>>> samples = ens.sample_lhs({"R and D Spending": (0.05, 0.2)}, 500, seed=1)  # doctest: +SKIP
>>> result = loops.analyze_ensemble(model, samples, scenario="baseline")  # doctest: +SKIP
>>> result.probability("ecology")                                     # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sdrev.errors import InvalidValueError, UnknownNameError, suggest
from sdrev.loops import batch as _batch
from sdrev.loops import chunks as _chunks
from sdrev.loops.bands import BAND, band_table, threads
from sdrev.loops.dominance import DOMINANCE_THRESHOLD, compiled_scan, set_words
from sdrev.loops.graph import MAX_LOOPS
from sdrev.loops.naming import id_sort_key

__all__ = ["BAND", "EnsembleLoopAnalysis", "analyze_ensemble"]


#: Dominant sets reported: those of at least this share of runs at a time.
MIN_SET_SHARE = 0.01

#: Fewest runs shared between worker processes (below: this process).
PARALLEL_RUNS = 4096

_LOOP_COLUMNS = ["id", "name", "polarity", "documented", "length", "variables",
                 "partition", "runs_share", "reinforcing_share", "mean_abs_score"]
_DOMINANCE_COLUMNS = ["loop", "name", "time", "probability", "documented_probability",
                      "median", "low", "high"]


@dataclass(frozen=True)
class EnsembleLoopAnalysis:
    """Loops that Matter over an ensemble of runs.

    Attributes
    ----------
    model : str
    scenario : str or None
    samples : DataFrame
        The parameter set of each run (Vensim names), one row per run.
    times : ndarray
        Saving times.
    loops : DataFrame
        One row per loop: ``id``, ``name``, ``polarity`` (over every run
        and time together), ``documented``, ``length``, ``variables``,
        ``partition``, ``runs_share`` (share of runs whose analysis has the
        loop: 1 unless the model has too many loops to enumerate),
        ``reinforcing_share`` (share of those runs in which it is
        reinforcing or mostly reinforcing), ``mean_abs_score``.
    documented : tuple of str
        Ids of the documented loops, in the order of ``relative``'s axis 1.
    relative : ndarray, shape (runs, documented loops, times)
        Relative score of each documented loop in each run (NaN where a
        run's analysis lacks the loop).
    dominance : DataFrame
        Tidy, one row per documented loop and time: ``loop``, ``name``,
        ``time``, ``probability`` (share of runs in which the loop is in
        its partition's dominant set), ``documented_probability`` (the same
        among the documented loops), ``median``, ``low``, ``high`` (median
        relative score and its 90% band across runs).
    dominant_sets : DataFrame
        ``analysis`` (``"all"`` or ``"documented"``), ``partition``,
        ``time``, ``loops`` (tuple of ids; empty: no loop active),
        ``share`` (of runs); sets of at least :data:`MIN_SET_SHARE` of the
        runs at that time.
    method : str
        ``"exhaustive"`` or ``"strongest path"``.
    threshold : float
    """

    model: str
    scenario: str | None
    samples: pd.DataFrame
    times: np.ndarray
    loops: pd.DataFrame
    documented: tuple
    relative: np.ndarray
    dominance: pd.DataFrame
    dominant_sets: pd.DataFrame
    method: str
    threshold: float = DOMINANCE_THRESHOLD

    @property
    def runs(self) -> int:
        return len(self.samples)

    def loop_id(self, loop: str) -> str:
        """Id of a documented loop given by id or name.

        Raises
        ------
        UnknownNameError
        """
        names = dict(zip(self.loops["id"], self.loops["name"]))
        if loop in self.documented:
            return loop
        for i in self.documented:
            if names.get(i) and names[i].lower() == loop.strip().lower():
                return i
        raise UnknownNameError(f"no documented loop {loop!r} in {self.model}" + suggest(
            loop, list(self.documented) + [names[i] for i in self.documented if names.get(i)]))

    def probability(self, loop: str, *, documented: bool = True) -> pd.Series:
        """Probability of dominance of a documented loop over time.

        Parameters
        ----------
        loop : str
            Id or name.
        documented : bool
            Among the documented loops (default) or among all loops.
        """
        rows = self.dominance[self.dominance["loop"] == self.loop_id(loop)]
        column = "documented_probability" if documented else "probability"
        return pd.Series(rows[column].to_numpy(), index=pd.Index(rows["time"], name="time"),
                         name=self.loop_id(loop))

    def relative_scores(self) -> pd.DataFrame:
        """Tidy relative scores: ``run``, ``time``, ``loop``, ``relative_score``."""
        runs, count, steps = self.relative.shape
        return pd.DataFrame({
            "run": np.repeat(np.arange(runs), count * steps),
            "time": np.tile(self.times, runs * count),
            "loop": pd.Categorical(np.tile(np.repeat(list(self.documented), steps), runs),
                                   categories=list(self.documented)),
            "relative_score": self.relative.reshape(-1)})

    def main_partition(self) -> int | None:
        """The cycle partition holding most documented loops (ties: the lowest)."""
        parts = dict(zip(self.loops["id"], self.loops["partition"]))
        counts = pd.Series([parts[d] for d in self.documented if d in parts], dtype=float)
        if counts.empty:
            return None
        tally = counts.value_counts()
        return int(min(tally[tally == tally.max()].index))

    def leading(self, *, documented: bool = True, partition: int | None = None
                ) -> pd.DataFrame:
        """The most probable dominant documented loop at each time, its
        probability, and how long it keeps leading: ``start``, ``end``,
        ``loop``, ``name``, ``probability`` (mean over the period).

        Loops are compared within one cycle partition (they only compete
        where they share stocks): by default :meth:`main_partition`.
        """
        column = "documented_probability" if documented else "probability"
        empty = pd.DataFrame(columns=["start", "end", "loop", "name", "probability"])
        wide = self.dominance.pivot(index="time", columns="loop", values=column)
        part = self.main_partition() if partition is None else partition
        parts = dict(zip(self.loops["id"], self.loops["partition"]))
        cols = [c for c in self.documented if c in wide.columns and parts.get(c) == part]
        if wide.empty or not cols:
            return empty
        wide = wide[cols]
        best = wide.idxmax(axis=1).where(wide.max(axis=1) > 0, "")
        names = dict(zip(self.loops["id"], self.loops["name"]))
        rows, start = [], 0
        times = wide.index.to_numpy()
        labels = best.to_numpy()
        for k in range(1, len(labels) + 1):
            if k < len(labels) and labels[k] == labels[start]:
                continue
            if labels[start]:
                p = wide[labels[start]].to_numpy()[start:k]
                rows.append({"start": times[start], "end": times[k - 1],
                             "loop": labels[start], "name": names.get(labels[start], ""),
                             "probability": float(p.mean())})
            start = k
        return pd.DataFrame(rows, columns=empty.columns)

    def text(self) -> str:
        """A few lines: which mechanism leads when, and how sure that is."""
        names = dict(zip(self.loops["id"], self.loops["name"]))
        parts = dict(zip(self.loops["id"], self.loops["partition"]))
        main = self.main_partition()
        lines = [(f"{self.model}: loop dominance over {self.runs} runs"
                  f"{f' ({self.scenario})' if self.scenario else ''}, {self.method}; the "
                  "most probable leader among the documented loops:")]
        table = self.leading()
        if table.empty:
            lines.append("  no documented loop is active")
        for row in table.itertuples(index=False):
            label = f"{row.loop} {row.name}".strip()
            lines.append(f"  {row.start:g}-{row.end:g}: {label} leads in "
                         f"{100 * row.probability:.0f}% of runs (mean over the period)")
        apart = [d for d in self.documented if parts.get(d) != main]
        if apart:
            shown = ", ".join(f"{d} {names.get(d, '')}".strip() for d in apart)
            lines.append(f"  (not compared: {shown}, which share(s) no stock with the "
                         "others: a loop dominates only among loops of its own partition)")
        return "\n".join(lines)

    def write(self, folder, *, command: str = "", model=None, figures: bool = True,
              formats=("png", "svg")) -> list[Path]:
        """Write the tables (and figure) into a new run folder (atomically).

        Files: ``loops.csv``, ``dominance.csv``, ``dominant_sets.csv``,
        ``samples.csv``, ``relative_scores.parquet`` (tidy),
        ``summary.txt``, with ``figures`` ``dominance_probability.*``
        (:func:`sdrev.figures.loops.dominance_probability_figure`) and, with
        ``model``, ``manifest.json``.

        Returns
        -------
        list of Path
            The files written (in the final folder).
        """
        from sdrev import runs

        folder = Path(folder)
        names = ["loops.csv", "dominance.csv", "dominant_sets.csv", "samples.csv",
                 "relative_scores.parquet", "summary.txt"]
        with runs.staged_folder(folder) as stage:
            table = self.loops.copy()
            table["variables"] = [" -> ".join(v) for v in table["variables"]]
            table.to_csv(stage / "loops.csv", index=False)
            self.dominance.to_csv(stage / "dominance.csv", index=False)
            sets = self.dominant_sets.copy()
            sets["loops"] = [" ".join(v) for v in sets["loops"]]
            sets.to_csv(stage / "dominant_sets.csv", index=False)
            self.samples.to_csv(stage / "samples.csv", index_label="run")
            self.relative_scores().to_parquet(stage / "relative_scores.parquet", index=False)
            (stage / "summary.txt").write_text(self.text() + "\n", encoding="utf-8")
            if figures:
                from sdrev.figures.loops import dominance_probability_figure
                from sdrev.figures.trajectories import save_figure
                paths = save_figure(dominance_probability_figure(self),
                                    stage / "dominance_probability", formats=formats)
                names += [p.name for p in paths]
            if model is not None:
                from sdrev.scenario import run_settings
                names.append("manifest.json")
                runs.write_json(stage / "manifest.json", runs.manifest(
                    model, run_settings(model, scenario=self.scenario), command=command,
                    extra={"runs": self.runs, "method": self.method,
                           "threshold": self.threshold}))
        return [folder / n for n in names]


def analyze_ensemble(model, samples: pd.DataFrame, *, scenario: str | None = None,
                     max_loops: int = MAX_LOOPS, threshold: float = DOMINANCE_THRESHOLD,
                     chunk_size: int | None = None, workers: int | None = None,
                     progress: bool = False, seed: int = 0) -> EnsembleLoopAnalysis:
    """Loop analysis of every run of a sample, and dominance across runs.

    Every run's numbers are those of :func:`sdrev.loops.analyze` with the
    run's constants: the ensemble engine integrates a chunk of runs at
    once and the link scores are computed for all of them together
    (:mod:`sdrev.loops.batch`).

    Parameters
    ----------
    model : sdrev.Model, str or Path
    samples : DataFrame
        One row per run, one column per constant (Vensim or snake_case
        names), set on top of ``scenario``.
    scenario : str, optional
    max_loops : int
        As for :func:`sdrev.loops.analyze`.
    threshold : float
        Combined share a dominant set must reach.
    chunk_size : int, optional
        Runs analysed together (default: bounded by memory).
    workers : int, optional
        Worker processes sharing the runs (default: all cores from
        :data:`PARALLEL_RUNS` runs on; ``1``: this process). Models scored by
        the compiled passes (:func:`sdrev.loops.chunks.compiled_passes`) run
        in this process, their threads on every core.
    progress : bool
        Show a progress bar.
    seed : int
        For a model with RANDOM functions: each run follows its own noise
        realisation, the stream :func:`sdrev.ensemble.run` draws for it
        with this seed (keyed by the run's index: the samples' integer row
        labels, else their positions), so run ``i`` scores as
        ``analyze(model, params=row i, seed=seed, run=i)``.

    Returns
    -------
    EnsembleLoopAnalysis

    Raises
    ------
    UnknownNameError, InvalidValueError
        For a bad scenario or samples column.
    sdrev.ensemble.compile.UnsupportedConstructError
        For models the ensemble engine cannot compile.
    """
    from sdrev.model import Model, load

    if not isinstance(model, Model):
        model = load(model)
    if max_loops < 1:
        raise InvalidValueError(f"max_loops must be at least 1, got {max_loops}")
    if not 0 < threshold <= 1:
        raise InvalidValueError(f"threshold must be in (0, 1], got {threshold}")
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise InvalidValueError(f"workers must be at least 1, got {workers}")
    st = _batch.structure(model.path, max_loops)
    table = _chunks.run_table(model, samples, scenario=scenario, program=st.program)
    streams = _streams(st.program, samples, seed)
    table = _chunks.with_noise(table, st.program, seed=seed, streams=streams)
    # the compiled passes share the runs between threads already: worker
    # processes would only add their start-up
    if workers == 1 or table.runs < PARALLEL_RUNS or _chunks.compiled_passes(st):
        acc = _Accumulator(table.runs)
        for chunk in _chunks.iter_chunks(model, table, max_loops=max_loops,
                                         threshold=threshold, chunk_size=chunk_size,
                                         progress=progress):
            acc.add(chunk)
    else:
        acc = _parallel(model, samples, scenario, max_loops, threshold, chunk_size, workers,
                        progress, seed, streams)
    return acc.result(model, st, scenario, table.params,
                      "exhaustive" if st.complete else "strongest path", threshold)


def _streams(program, samples: pd.DataFrame, seed: int) -> np.ndarray | None:
    """Each run's noise stream (``None`` for a model without RANDOM calls)."""
    from sdrev.ensemble import noise
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (
            0 <= seed < 2**53):
        raise InvalidValueError(f"seed must be an integer from 0 to 2**53 - 1, got {seed!r}")
    if not noise.has_noise(program):
        return None
    return noise.stream_indices(samples.index)


def _parallel(model, samples, scenario, max_loops, threshold, chunk_size, workers,
              progress, seed=0, streams=None) -> _Accumulator:
    """The runs split in contiguous slices over worker processes."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    n = len(samples)
    size = -(-n // workers)
    acc = _Accumulator(n)
    bar = tqdm(total=n, desc="loop scores", unit="run", disable=not progress)
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_analyze_slice, str(model.path), scenario,
                                   samples.iloc[s:s + size].reset_index(drop=True),
                                   max_loops, threshold, chunk_size, seed,
                                   None if streams is None else streams[s:s + size]): s
                       for s in range(0, n, size)}
            try:
                for done in as_completed(futures):
                    part = done.result()
                    acc.merge(part, futures[done])
                    bar.update(part.runs)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        bar.close()
    return acc


def _analyze_slice(path, scenario, samples, max_loops, threshold, chunk_size, seed=0,
                   streams=None):
    """Worker: the accumulated analysis of one slice of runs (``streams``:
    each run's noise stream of ``seed``)."""
    from sdrev.model import load

    model = load(path)
    st = _batch.structure(model.path, max_loops)
    table = _chunks.run_table(model, samples, scenario=scenario, program=st.program)
    table = _chunks.with_noise(table, st.program, seed=seed, streams=streams)
    acc = _Accumulator(table.runs)
    for chunk in _chunks.iter_chunks(model, table, max_loops=max_loops, threshold=threshold,
                                     chunk_size=chunk_size, threads=1):
        acc.add(chunk)
    return acc


class _Accumulator:
    """What :func:`analyze_ensemble` keeps of each chunk."""

    def __init__(self, runs: int):
        self.runs = runs
        self.times = None
        self.relative: dict[str, np.ndarray] = {}
        # the documented loops of the first chunk: their scores are views of
        # one (runs, loops, times) array, the result's (no copy at the end)
        self.block: np.ndarray | None = None
        self.block_keys: tuple = ()
        self.hits: dict[str, np.ndarray] = {}
        self.doc_hits: dict[str, np.ndarray] = {}
        self.pooled: dict[tuple, np.ndarray] = {}  # loop -> [r, b, runs, reinforcing, |s|]
        self.partition: dict[tuple, int] = {}
        self.labels: dict[tuple, tuple] = {}
        # per analysis and partition: (unique rows of time + set bits, counts)
        self.sets: dict = {"all": {}, "documented": {}}
        self.registry: dict[tuple, int] = {}
        self.order: list[tuple] = []

    def add(self, chunk: _chunks.LoopChunk) -> None:
        if self.times is None:
            self.times = chunk.times
        steps = len(chunk.times)
        rel = chunk.relative
        codes = chunk.polarity
        r = chunk.sums[:, :, 0].sum(axis=0)  # each run's sums over time, over runs
        b = -chunk.sums[:, :, 1].sum(axis=0)
        size = r + b
        present = np.zeros(rel.shape[:2], dtype=bool)
        docs = [{named.names[i].id: i for i in named.loops if named.names[i].documented}
                for named in chunk.groups]
        if self.block is None and self.runs:
            self.block_keys = tuple(sorted({k for d in docs for k in d}, key=id_sort_key))
            self.block = np.full((self.runs, len(self.block_keys), steps), np.nan)
            for j, key in enumerate(self.block_keys):
                self.relative[key] = self.block[:, j]
                self.hits[key] = np.zeros(steps)
                self.doc_hits[key] = np.zeros(steps)
        for key in (k for d in docs for k in d):
            if key not in self.relative:
                self.relative[key] = np.full((self.runs, steps), np.nan)
                self.hits[key] = np.zeros(steps)
                self.doc_hits[key] = np.zeros(steps)
        if all(d == docs[0] and set(named.loops) == set(chunk.groups[0].loops)
               for d, named in zip(docs, chunk.groups)):
            # the usual case: every naming group has the same loops and the
            # same documented ones, so the chunk's runs are taken at once
            # (counts of runs are whole numbers: the same sums in any order)
            if chunk.groups:
                present[:, list(chunk.groups[0].loops)] = True
                cols = list(docs[0].values())
                hits = chunk.dominant[:, cols].sum(axis=0)
                doc_hits = chunk.documented_dominant[:, cols].sum(axis=0)
                for j, (key, i) in enumerate(docs[0].items()):
                    self.relative[key][chunk.start:chunk.start + chunk.runs] = rel[:, i]
                    self.hits[key] += hits[j]
                    self.doc_hits[key] += doc_hits[j]
        else:
            for g, named in enumerate(chunk.groups):
                rows = np.flatnonzero(chunk.group == g)
                present[np.ix_(rows, list(named.loops))] = True
                for key, i in docs[g].items():
                    self.relative[key][chunk.start + rows] = rel[rows, i]
                    self.hits[key] += chunk.dominant[rows, i].sum(axis=0)
                    self.doc_hits[key] += chunk.documented_dominant[rows, i].sum(axis=0)
        reinforcing = (present & np.isin(codes, (0, 2))).sum(axis=0)
        for i, loop in enumerate(chunk.loops):
            row = np.array([r[i], b[i], present[:, i].sum(), reinforcing[i], size[i]])
            self.pooled[loop] = self.pooled.get(loop, 0) + row
            self.partition[loop] = chunk.partition[i]
            self.labels[loop] = chunk.labels[i]
        glob = [self._global(loop) for loop in chunk.loops]
        for analysis, member in (("all", chunk.dominant),
                                 ("documented", chunk.documented_dominant)):
            for p in sorted(set(chunk.partition)):
                cols = [i for i, q in enumerate(chunk.partition) if q == p]
                span = slice(cols[0], cols[-1] + 1) if cols == list(
                    range(cols[0], cols[-1] + 1)) else cols  # a view where adjacent
                if analysis == "documented" and not member[:, span].any():
                    continue
                self._count_sets(analysis, p, member, cols, [glob[i] for i in cols])

    def merge(self, other: _Accumulator, offset: int) -> None:
        """Add the accumulated runs of another slice, starting at row ``offset``."""
        if self.times is None:
            self.times = other.times
        steps = len(other.times) if other.times is not None else 0
        for key, values in other.relative.items():
            if key not in self.relative:
                self.relative[key] = np.full((self.runs, steps), np.nan)
                self.hits[key] = np.zeros(steps)
                self.doc_hits[key] = np.zeros(steps)
            self.relative[key][offset:offset + other.runs] = values
            self.hits[key] += other.hits[key]
            self.doc_hits[key] += other.doc_hits[key]
        for loop, row in other.pooled.items():
            self.pooled[loop] = self.pooled.get(loop, 0) + row
        self.partition.update(other.partition)
        self.labels.update(other.labels)
        remap = [self._global(loop) for loop in other.order]
        same = remap == list(range(len(remap)))
        for analysis, parts in other.sets.items():
            for p, blocks in parts.items():
                for rows, counts in blocks:
                    if not same:  # another worker met the loops in another order
                        flags = np.unpackbits(rows[:, 2:], axis=1)[:, :len(remap)]
                        full = np.zeros((len(rows), len(self.registry)), dtype=bool)
                        full[:, remap] = flags.astype(bool)
                        rows = np.concatenate([rows[:, :2], np.packbits(full, axis=1)], axis=1)
                    self.sets[analysis].setdefault(p, []).append((rows, counts))

    def _global(self, loop) -> int:
        if loop not in self.registry:
            self.registry[loop] = len(self.registry)
            self.order.append(loop)
        return self.registry[loop]

    def _count_sets(self, analysis, partition, member, local, columns) -> None:
        """Count each (time, dominant set) pair: sets as bit strings over the
        loops seen so far (one ``np.unique`` per chunk); ``member[:, local]``
        are the partition's flags, ``columns`` their loops' bits."""
        n, _, steps = member.shape
        width = 2 + -(-len(self.registry) // 8)
        if width <= 8 and compiled_scan() is not None:
            # one machine word per row, packed in one compiled pass, counted
            # by np.unique (numpy sorts machine words with SIMD instructions:
            # twice as fast as pandas' hash table here)
            words = set_words(member, local, columns)
            unique, counts = np.unique(words, return_counts=True)
            rows = unique.view(np.uint8).reshape(-1, 8)[:, :width]
            self.sets[analysis].setdefault(partition, []).append((rows, counts))
            return
        member = member[:, local]
        if list(columns) == list(range(len(columns))):  # the usual case: no scatter
            full = member.transpose(0, 2, 1)
        else:
            full = np.zeros((n, steps, len(self.registry)), dtype=bool)
            full[:, :, columns] = member.transpose(0, 2, 1)
        packed = np.packbits(np.ascontiguousarray(full), axis=-1)  # faster than on a view
        stamp = np.broadcast_to(np.arange(steps, dtype=">u2").view(np.uint8)
                                .reshape(1, steps, 2), (n, steps, 2))
        rows = np.ascontiguousarray(np.concatenate([stamp, packed], axis=-1))
        rows = rows.reshape(n * steps, width)
        if width <= 8:
            words = np.zeros((n * steps, 8), dtype=np.uint8)
            words[:, :width] = rows
            unique, counts = np.unique(words.view(np.uint64).ravel(), return_counts=True)
            rows = unique.view(np.uint8).reshape(-1, 8)[:, :width]
        else:
            keys = rows.view(np.dtype((np.void, width))).ravel()
            unique, counts = np.unique(keys, return_counts=True)
            rows = np.frombuffer(unique.tobytes(), dtype=np.uint8).reshape(-1, width)
        self.sets[analysis].setdefault(partition, []).append((rows, counts))

    def _set_rows(self, ids: dict) -> list[dict]:
        """Rows of the dominant-set table, in its order."""
        key = {i: id_sort_key(i) for i in ids.values()}  # computed once per loop
        set_rows = []
        for analysis in self.sets:
            for p, k, members, count in self._set_counts(analysis):
                members = [ids[self.order[j]] for j in members]
                set_rows.append({"analysis": analysis, "partition": p,
                                 "time": self.times[k],
                                 "loops": tuple(sorted(members, key=key.__getitem__)),
                                 "share": count / self.runs})
        set_rows.sort(key=lambda r: (r["analysis"], r["partition"], r["time"], -r["share"],
                                     [key[i] for i in r["loops"]]))
        return set_rows

    def _set_counts(self, analysis):
        """``(partition, time index, set bits, count)`` of every set of at least
        :data:`MIN_SET_SHARE` of the runs (blocks of all chunks merged)."""
        out = []
        for p, blocks in self.sets[analysis].items():
            width = max(rows.shape[1] for rows, _ in blocks)
            rows = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1])))
                                   for r, _ in blocks])
            counts = np.concatenate([c for _, c in blocks])
            if width <= 8:  # one machine word per row: sorted as integers, far faster
                words = np.zeros((len(rows), 8), dtype=np.uint8)
                words[:, :width] = rows
                unique, inverse = np.unique(words.view(np.uint64).ravel(),
                                            return_inverse=True)
                total = np.bincount(inverse.ravel(), weights=counts)
                keep = np.flatnonzero(total >= MIN_SET_SHARE * self.runs)
                kept = unique[keep].view(np.uint8).reshape(-1, 8)[:, :width]
            else:
                keys = np.ascontiguousarray(rows).view(np.dtype((np.void, width))).ravel()
                unique, inverse = np.unique(keys, return_inverse=True)
                total = np.bincount(inverse.ravel(), weights=counts)
                keep = np.flatnonzero(total >= MIN_SET_SHARE * self.runs)
                kept = np.frombuffer(unique[keep].tobytes(), dtype=np.uint8).reshape(-1, width)
            for row, count in zip(kept, total[keep]):
                out.append((p, int.from_bytes(row[:2].tobytes(), "big"),
                            np.flatnonzero(np.unpackbits(row[2:])), round(float(count))))
        return out

    def result(self, model, st, scenario, params, method, threshold) -> EnsembleLoopAnalysis:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=threads()) as pool:
            return self._result(model, st, scenario, params, method, threshold, pool)

    def _result(self, model, st, scenario, params, method, threshold,
                pool) -> EnsembleLoopAnalysis:
        steps = len(self.times) if self.times is not None else 0
        documented = tuple(sorted(self.relative, key=id_sort_key))
        # the band's quantiles (numpy's sort releases the GIL) found in
        # threads, a few loops each, while the tables are built (a column's
        # quantiles do not depend on the other columns: the same numbers)
        nan = any(np.isnan(self.relative[d]).any() for d in documented)
        share = max(1, -(-len(documented) // threads()))
        band = [pool.submit(band_table, [self.relative[d] for d in documented[i:i + share]])
                for i in range(0, len(documented), share)] if documented and not nan else None
        if documented and documented == self.block_keys:
            relative = self.block
        else:
            relative = (np.stack([self.relative[d] for d in documented], axis=1)
                        if documented else np.zeros((self.runs, 0, steps)))
        loops = sorted(self.pooled, key=lambda c: (len(c), c))
        pols, stats = [], []
        for loop in loops:
            r, b, runs, reinforcing, size = self.pooled[loop]
            pols.append(_pooled_polarity(r, b))
            stats.append((runs, reinforcing, size))
        names = _batch.loop_names(st, loops, pols, model.loops)
        rows = []
        for loop, pol, name, (runs, reinforcing, size) in zip(loops, pols, names, stats):
            rows.append({"id": name.id, "name": name.name, "polarity": pol,
                         "documented": name.documented, "length": len(loop),
                         "variables": self.labels[loop], "partition": self.partition[loop],
                         "runs_share": runs / self.runs,
                         "reinforcing_share": reinforcing / runs if runs else 0.0,
                         "mean_abs_score": size / (runs * steps) if runs and steps else 0.0})
        table = pd.DataFrame(rows, columns=_LOOP_COLUMNS)
        table = table.iloc[sorted(range(len(table)), key=lambda i: id_sort_key(
            table["id"].iloc[i]))].reset_index(drop=True)
        ids = {loop: name.id for loop, name in zip(loops, names)}
        doc_names = {}
        for name in names:
            doc_names.setdefault(name.id, name.name)
        for doc in model.loops:
            doc_names.setdefault(doc.id, doc.name)
        set_rows = self._set_rows(ids)
        frames = []
        if band is not None:
            q = np.concatenate([f.result() for f in band], axis=1)
        elif documented:  # runs without some documented loop (NaN)
            import warnings
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
                q = np.nanquantile(relative, [BAND[0], 0.5, BAND[1]], axis=0)
        else:
            q = np.zeros((3, 0, steps))
        for j, d in enumerate(documented):
            frames.append(pd.DataFrame({
                "loop": d, "name": doc_names.get(d, ""), "time": self.times,
                "probability": self.hits[d] / self.runs,
                "documented_probability": self.doc_hits[d] / self.runs,
                "median": q[1, j], "low": q[0, j], "high": q[2, j]}))
        dominance = (pd.concat(frames, ignore_index=True) if frames
                     else pd.DataFrame(columns=_DOMINANCE_COLUMNS))
        sets = pd.DataFrame(set_rows, columns=["analysis", "partition", "time", "loops",
                                               "share"])
        return EnsembleLoopAnalysis(
            model=model.name, scenario=scenario, samples=params,
            times=np.asarray(self.times if self.times is not None else []),
            loops=table, documented=documented, relative=relative, dominance=dominance,
            dominant_sets=sets, method=method, threshold=threshold)


def _pooled_polarity(r: float, b: float) -> str:
    from sdrev.loops.scores import POLARITY_CONFIDENCE_THRESHOLD
    if r == 0.0 and b == 0.0:
        return "undetermined"
    if b == 0.0:
        return "reinforcing"
    if r == 0.0:
        return "balancing"
    if abs(r - b) / (r + b) >= POLARITY_CONFIDENCE_THRESHOLD:
        return "mostly reinforcing" if r > b else "mostly balancing"
    return "undetermined"
