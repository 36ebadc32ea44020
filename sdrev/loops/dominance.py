"""Dominance stage of loop analysis: which loops drive behaviour when.

At each saved time and within each cycle partition (relative scores are
only comparable between loops sharing stocks), loops are split by polarity
(undetermined loops by the sign of their score at that time) and, for each
polarity, taken in order of decreasing ``|relative score|`` until their
combined share reaches :data:`DOMINANCE_THRESHOLD`. The polarity group with
the larger combined share is the dominant set at that time; consecutive
times with the same set form a dominant period. This is the definition of
Schoenberg, Davidsen & Eberlein (2020) as pysimlin 0.8.5 implements it
(``Run.dominant_periods``), so the two agree period by period.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from sdrev.loops.naming import id_sort_key

__all__ = ["COMPILED_MIN_SIZE", "DOMINANCE_THRESHOLD", "compiled_scan", "documented_periods",
           "dominant_flags", "dominant_membership",
           "dominant_periods", "dominant_sets", "set_words", "shares"]

#: Combined share of the partition's loop activity a dominant set must reach.
DOMINANCE_THRESHOLD = 0.5

_REINFORCING = ("reinforcing", "mostly reinforcing")
_BALANCING = ("balancing", "mostly balancing")


def dominant_sets(scores: np.ndarray, ids: list[str], polarities: list[str],
                  *, threshold: float = DOMINANCE_THRESHOLD) -> list[frozenset]:
    """Dominant loop set at each time for one partition.

    Parameters
    ----------
    scores : ndarray
        Relative loop scores, shape ``(loops, times)``.
    ids, polarities : list of str
        Per loop.
    """
    sets = []
    for k in range(scores.shape[1]):
        col = scores[:, k]
        order = sorted(range(len(ids)), key=lambda i: -abs(col[i]))
        groups: dict[str, list[int]] = {"R": [], "B": []}
        for i in order:
            pol = polarities[i]
            if pol in _REINFORCING or (pol not in _BALANCING and col[i] > 0):
                groups["R"].append(i)
            elif pol in _BALANCING or col[i] < 0:
                groups["B"].append(i)
        picked = {}
        for key, members in groups.items():
            chosen, total = [], 0.0
            for i in members:
                chosen.append(i)
                total += abs(col[i])
                if total >= threshold:
                    break
            picked[key] = (chosen, total)
        (r_sel, r_tot), (b_sel, b_tot) = picked["R"], picked["B"]
        if r_tot >= b_tot and r_tot > 0:
            sets.append(frozenset(ids[i] for i in r_sel))
        elif b_tot > 0:
            sets.append(frozenset(ids[i] for i in b_sel))
        else:
            sets.append(frozenset())
    return sets


def dominant_membership(scores: np.ndarray, polarities: list[str], *,
                        threshold: float = DOMINANCE_THRESHOLD,
                        compiled: bool | None = None) -> np.ndarray:
    """:func:`dominant_sets` for many runs at once, as membership flags.

    Parameters
    ----------
    scores : ndarray
        Relative loop scores of one partition, shape ``(runs, loops,
        times)``, loops in the order :func:`dominant_sets` receives them
        (ties in ``|score|`` keep that order).
    polarities : list of str
        Per loop (the same in every run given).
    threshold : float
        Combined share a dominant set must reach.
    compiled : bool, optional
        Scan every run and time in a loop compiled by numba
        (:func:`_scan`, about three times faster than the sorted numpy
        arrays used otherwise; same flags). Default: when numba is installed
        and ``scores`` has at least :data:`COMPILED_MIN_SIZE` values (below,
        loading the compiled loop costs more than it saves).

    Returns
    -------
    ndarray of bool, shape ``(runs, loops, times)``
        Whether each loop is in the dominant set at each time; the same
        sets as :func:`dominant_sets`, run by run (running totals are added
        in the same order, so the threshold is met at the same loop).
    """
    scores = np.asarray(scores, dtype=float)
    if compiled is None:
        compiled = scores.size >= COMPILED_MIN_SIZE
    scan = compiled_scan() if compiled else None
    if scan is not None:
        pols = list(polarities)
        runs = scores.shape[0]
        return dominant_flags(
            scores, np.tile(np.array([p in _REINFORCING for p in pols], dtype=bool), (runs, 1)),
            np.tile(np.array([p in _BALANCING for p in pols], dtype=bool), (runs, 1)),
            threshold=threshold)
    runs, count, times = scores.shape
    # one row per run and time, loops along the contiguous axis
    rows = np.ascontiguousarray(scores.transpose(0, 2, 1)).reshape(-1, count)
    pols = list(polarities)
    fixed_r = np.array([p in _REINFORCING for p in pols], dtype=bool)[None, :]
    fixed_b = np.array([p in _BALANCING for p in pols], dtype=bool)[None, :]
    is_r = fixed_r | (~fixed_b & (rows > 0))
    is_b = ~is_r & (fixed_b | (rows < 0))
    size = np.abs(rows)
    order = np.argsort(-size, axis=1, kind="stable")
    size_s = np.take_along_axis(size, order, axis=1)
    picks, totals = [], []
    for group in (is_r, is_b):
        member = np.take_along_axis(group, order, axis=1)
        running = np.cumsum(np.where(member, size_s, 0.0), axis=1)
        before = np.zeros_like(running)
        before[:, 1:] = running[:, :-1]
        pick = member & (before < threshold)
        picks.append(pick)
        totals.append(np.where(pick, running, 0.0).max(axis=1, initial=0.0))
    (r_pick, b_pick), (r_tot, b_tot) = picks, totals
    r_wins = (r_tot >= b_tot) & (r_tot > 0)
    b_wins = ~r_wins & (b_tot > 0)
    picked = (r_pick & r_wins[:, None]) | (b_pick & b_wins[:, None])
    out = np.zeros_like(picked)
    np.put_along_axis(out, order, picked, axis=1)
    return out.reshape(runs, times, count).transpose(0, 2, 1)


def dominant_flags(scores: np.ndarray, reinforcing: np.ndarray, balancing: np.ndarray, *,
                   order: np.ndarray | None = None,
                   threshold: float = DOMINANCE_THRESHOLD,
                   out: np.ndarray | None = None) -> np.ndarray:
    """:func:`dominant_membership` with each run's own loop polarities, in one
    compiled scan (numba required; runs split between threads).

    Parameters
    ----------
    scores : ndarray, shape (runs, loops, times)
    reinforcing, balancing : ndarray of bool, shape (runs, loops)
        Loops whose polarity is (mostly) reinforcing / balancing in each run
        (the others count by the sign of their score at each time).
    order : ndarray of int, shape (runs, loops), optional
        Each run's loops in the order :func:`dominant_sets` receives them
        (ties in ``|score|`` keep it; default: as in ``scores``).
    threshold : float
    out : ndarray of bool, optional
        All False, shape of ``scores`` (a view is fine): receives the flags.

    Returns
    -------
    ndarray of bool, shape (runs, loops, times)
        ``out`` when given.

    Raises
    ------
    RuntimeError
        Without numba.
    ValueError
        For an ``out`` of another shape or type.
    """
    scan = compiled_scan()
    if scan is None:  # pragma: no cover - numba is a dependency
        raise RuntimeError("dominant_flags needs numba")
    if out is None:
        out = np.zeros(scores.shape, dtype=bool)
    elif out.shape != scores.shape or out.dtype != np.bool_:
        raise ValueError(f"out must be a bool array of shape {scores.shape}, got "
                         f"{out.dtype} {out.shape}")
    fixed_r = np.ascontiguousarray(reinforcing, dtype=bool)
    fixed_b = np.ascontiguousarray(balancing, dtype=bool)
    runs, count = scores.shape[:2]
    order = np.ascontiguousarray(np.broadcast_to(np.arange(count), (runs, count))
                                 if order is None else order, dtype=np.int64)
    threads = min(os.cpu_count() or 1, 8, runs // 64 or 1)
    if threads == 1:
        scan(scores, fixed_r, fixed_b, order, float(threshold), out)
        return out
    # runs split between threads (the compiled scan releases the GIL)
    bounds = np.linspace(0, runs, threads + 1).astype(int)
    futures = [_pool(threads - 1).submit(scan, scores[a:b], fixed_r[a:b], fixed_b[a:b],
                                         order[a:b], float(threshold), out[a:b])
               for a, b in zip(bounds[1:-1], bounds[2:])]
    first = slice(0, bounds[1])
    scan(scores[first], fixed_r[first], fixed_b[first], order[first], float(threshold),
         out[first])
    for future in futures:
        future.result()
    return out


def shares(raw: np.ndarray, members, order: np.ndarray) -> np.ndarray:
    """Each run's scores of some loops as shares of their summed absolute
    scores at each time (0 where that sum is 0), as
    :func:`documented_periods` normalises the documented loops, in one
    compiled pass (runs split between threads).

    Parameters
    ----------
    raw : ndarray, shape (runs, loops, times)
    members : sequence of int
        The loops of ``raw`` to take.
    order : ndarray of int, shape (runs, len(members))
        Each run's order of adding them (positions into ``members``): the
        sum is added in that order, so it equals that run's own sum bit for
        bit.

    Returns
    -------
    ndarray, shape (runs, len(members), times)
    """
    if compiled_scan() is None:  # pragma: no cover - numba is a dependency
        raise RuntimeError("shares needs numba")
    members = np.asarray(members, dtype=np.int64)
    order = np.ascontiguousarray(order, dtype=np.int64)
    runs = raw.shape[0]
    if order.shape != (runs, len(members)):
        raise ValueError(f"order must have shape {(runs, len(members))}, got {order.shape}")
    out = np.empty((runs, len(members), raw.shape[2]))
    threads = min(os.cpu_count() or 1, 8, runs // 64 or 1)
    bounds = np.linspace(0, runs, threads + 1).astype(int)
    futures = [_pool(threads - 1).submit(_SHARES[0], raw[a:b], members, order[a:b],
                                         out[a:b])
               for a, b in zip(bounds[1:-1], bounds[2:])]
    _SHARES[0](raw[:bounds[1]], members, order[:bounds[1]], out[:bounds[1]])
    for future in futures:
        future.result()
    return out


def _shares(raw, members, order, out):  # pragma: no cover - numba
    runs, _, times = raw.shape
    total = np.empty(times)
    for r in range(runs):
        for k in range(times):
            total[k] = 0.0
        for q in range(members.shape[0]):
            i = members[order[r, q]]
            for k in range(times):
                total[k] += abs(raw[r, i, k])
        for q in range(members.shape[0]):
            i = members[q]
            for k in range(times):
                out[r, q, k] = raw[r, i, k] / total[k] if total[k] > 0 else 0.0


#: Fewest scores :func:`dominant_membership` scans with the compiled loop.
COMPILED_MIN_SIZE = 2_000_000


def _scan(scores, fixed_r, fixed_b, order, threshold, out):  # pragma: no cover - numba
    """:func:`dominant_sets` at every run and time of ``scores`` (runs, loops,
    times), as flags into ``out``, each run's loops of fixed polarity flagged
    in ``fixed_r``/``fixed_b`` (runs, loops) and taken in the order of
    ``order`` (runs, loops): loops sorted by decreasing ``|score|``
    (stable: ties keep that order), each polarity group taken until its
    running total reaches ``threshold``, the larger group wins.

    A group's members are added in the sorted order restricted to the
    group, so each group is taken by selection (the largest remaining
    member, the first of equals) only until its total reaches the
    threshold: the same members and the same running totals as a full
    sort, without ordering the loops no group reaches."""
    runs, count, times = scores.shape
    buf = np.empty((times, count))  # a run's scores, times-major, loops in its order
    cls = np.empty(count, np.int64)  # 0: reinforcing, 1: balancing, 2: by the sign
    pos = np.empty(count, np.int64)
    idx = np.empty((2, count), np.int64)  # group 0: reinforcing, 1: balancing
    size = np.empty((2, count))
    sel = np.empty((2, count), np.int64)
    spot = np.zeros(count, np.int64)  # for _take
    taken = np.zeros(count)
    picked = np.zeros(2, np.int64)
    total = np.zeros(2)
    members = np.zeros(2, np.int64)
    whole = np.zeros(2)
    low = threshold * (1.0 - 1e-9)
    for r in range(runs):
        for q in range(count):
            i = order[r, q]
            pos[q] = i
            cls[q] = 0 if fixed_r[r, i] else (1 if fixed_b[r, i] else 2)
            for k in range(times):
                buf[k, q] = scores[r, i, k]
        for k in range(times):
            m0 = 0
            m1 = 0
            w0 = 0.0
            w1 = 0.0
            for q in range(count):
                value = buf[k, q]
                c = cls[q]
                if c == 0 or (c == 2 and value > 0):
                    a = abs(value)
                    idx[0, m0] = pos[q]
                    size[0, m0] = a
                    w0 += a
                    m0 += 1
                elif c == 1 or value < 0:
                    a = abs(value)
                    idx[1, m1] = pos[q]
                    size[1, m1] = a
                    w1 += a
                    m1 += 1
            members[0] = m0
            members[1] = m1
            whole[0] = w0
            whole[1] = w1
            rough = False
            for g in range(2):
                m = members[g]
                # a group whose total stays clearly under the threshold is
                # taken whole, whatever the order: its total in loop order
                # differs from the sorted order's in the last bits only
                if whole[g] < low:
                    for q in range(m):
                        sel[g, q] = idx[g, q]
                    picked[g] = m
                    total[g] = whole[g]
                    rough = True
                    continue
                picked[g], total[g] = _TAKE(idx[g], size[g], m, threshold, sel[g], spot,
                                            taken)
            if rough and abs(total[0] - total[1]) <= 1e-9 * (total[0] + total[1]):
                # too close to call on totals added out of order: exactly
                for g in range(2):
                    picked[g], total[g] = _TAKE(idx[g], size[g], members[g], threshold,
                                                sel[g], spot, taken)
            win = -1
            if total[0] >= total[1] and total[0] > 0:
                win = 0
            elif total[1] > 0:
                win = 1
            if win >= 0:
                for q in range(picked[win]):
                    out[r, sel[win, q], k] = True


def _take(idx, size, m, threshold, sel, spot, taken):  # pragma: no cover - numba
    """Members ``idx[:m]`` (sizes ``size[:m]``, in loop order) in decreasing
    size, ties in loop order, until their running total reaches
    ``threshold``: how many (into ``sel``) and the total. A member taken is
    marked by the size -1 until the end (sizes are absolute values), its
    place and size kept in ``spot`` and ``taken`` to restore them."""
    n, tot = 0, 0.0
    while n < m and tot < threshold:
        best = -1
        top = -1.0
        for q in range(m):  # the first of equals
            if size[q] > top:
                best = q
                top = size[q]
        if best < 0:  # only NaN left (scores are finite): the first not taken
            for q in range(m):
                if size[q] != -1.0:
                    best = q
                    top = size[q]
                    break
        sel[n] = idx[best]
        spot[n] = best
        taken[n] = top
        n += 1
        tot += top
        size[best] = -1.0
    for q in range(n):
        size[spot[q]] = taken[q]
    return n, tot


def set_words(member: np.ndarray, local, positions) -> np.ndarray:
    """Each run and time's dominant set as one machine word: the time index
    (two bytes, big-endian) then the flags as bits (``np.packbits`` order,
    loop ``local[q]`` at bit ``positions[q]``), read as a little-endian
    ``uint64``; the rows :class:`sdrev.loops.ensemble.EnsembleLoopAnalysis`
    counts, packed in one compiled pass (no transposed copy).

    Parameters
    ----------
    member : ndarray of bool, shape (runs, loops, times)
    local, positions : sequence of int
        Loops of ``member`` to pack and their bits (below 48).

    Returns
    -------
    ndarray of uint64, shape (runs * times,)
        Run-major, times along each run.
    """
    if max(positions, default=0) >= 48 or member.shape[2] >= 2**16:
        raise ValueError(f"{max(positions, default=0) + 1} loop bits and {member.shape[2]} "
                         "times do not fit a word (at most 48 bits and 65,535 times)")
    compiled_scan()
    out = np.empty(member.shape[0] * member.shape[2], dtype=np.uint64)
    _WORDS[0](member, np.asarray(local, dtype=np.int64),
              np.asarray(positions, dtype=np.int64), out)
    return out


def _words(member, local, positions, out):  # pragma: no cover - numba
    runs, _, times = member.shape
    one = np.uint64(1)
    zero = np.uint64(0)
    for r in range(runs):
        w = out[r * times:(r + 1) * times]
        for k in range(times):
            w[k] = np.uint64(((k >> 8) & 255) | ((k & 255) << 8))
        for q in range(local.shape[0]):  # a loop's flags along time, contiguous
            g = positions[q]
            bit = one << np.uint64(8 * (2 + g // 8) + 7 - g % 8)
            flags = member[r, local[q]]
            for k in range(times):
                w[k] |= bit if flags[k] else zero


_WORDS: list = []
_SHARES: list = []
_SCAN: list = []
_TAKE = _take  # compiled by compiled_scan
_POOLS: dict = {}


def _pool(workers: int):
    """Threads kept for the process (keyed by process id: a forked worker
    makes its own)."""
    from concurrent.futures import ThreadPoolExecutor

    key = (os.getpid(), workers)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(max_workers=workers,
                                         thread_name_prefix="sdrev-dominance")
    return _POOLS[key]


def compiled_scan():
    """:func:`_scan` compiled by numba, or None without numba.

    numba keeps the machine code beside this module (``__pycache__``, where
    Python keeps this module's byte code, with the same trust), or in its
    per-user cache when the package folder is read-only, so a process loads
    it instead of compiling (about 2 s).
    """
    if not _SCAN:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a dependency
            _SCAN.append(None)
        else:
            global _TAKE
            _TAKE = numba.njit(nogil=True, cache=True)(_take)  # what the scan calls
            _SCAN.append(numba.njit(nogil=True, cache=True)(_scan))
            _WORDS.append(numba.njit(nogil=True, cache=True)(_words))
            _SHARES.append(numba.njit(nogil=True, cache=True, error_model="numpy")(_shares))
    return _SCAN[0]


def dominant_periods(relative: pd.DataFrame, loops: pd.DataFrame, *,
                     threshold: float = DOMINANCE_THRESHOLD) -> pd.DataFrame:
    """Dominant periods of every cycle partition.

    Parameters
    ----------
    relative : DataFrame
        Relative loop scores, indexed by saved time, one column per loop id.
    loops : DataFrame
        The loops table (``id``, ``polarity``, ``partition``).

    Returns
    -------
    DataFrame
        One row per period: ``partition``, ``start``, ``end`` (saved times,
        inclusive), ``loops`` (tuple of ids, sorted), ``polarity``
        (``"reinforcing"`` or ``"balancing"``), ``share`` (mean combined
        ``|relative score|`` of the set over the period).
    """
    rows = []
    times = relative.index.to_numpy(dtype=float)
    groups = loops.groupby("partition", sort=True) if len(loops) else ()
    for part, table in groups:
        ids = list(table["id"])
        pols = list(table["polarity"])
        data = relative[ids].to_numpy().T
        sets = dominant_sets(data, ids, pols, threshold=threshold)
        start = 0
        for k in range(1, len(sets) + 1):
            if k < len(sets) and sets[k] == sets[start]:
                continue
            current = sets[start]
            if current:
                members = sorted(current, key=_id_key)
                cols = relative.loc[:, members].to_numpy()[start:k]
                total = np.abs(cols).sum(axis=1)
                sign = np.sign(cols.sum(axis=1).mean())
                rows.append({"partition": int(part), "start": times[start],
                             "end": times[k - 1], "loops": tuple(members),
                             "polarity": "reinforcing" if sign > 0 else "balancing",
                             "share": float(total.mean())})
            start = k
    return pd.DataFrame(rows, columns=["partition", "start", "end", "loops",
                                       "polarity", "share"])


_id_key = id_sort_key


def documented_periods(loop_scores: pd.DataFrame, loops: pd.DataFrame, *,
                       threshold: float = DOMINANCE_THRESHOLD) -> pd.DataFrame:
    """Dominant periods among the model's documented (named) loops only.

    Loops that Matter measures each loop's share of the change in the
    stocks it runs through. In a smooth model every first-order stock has a
    two-link balancing loop with its own outflow or adjustment flow (decay,
    erosion, ``(goal - S) / time``): the stock-to-flow link scores 1 (the
    flow's change is all due to the stock) and the flow-to-stock link the
    flow's share of the net-flow change, so the loop scores near ``-1``
    whenever the stock moves, while a long reinforcing loop's score is a
    product of many link scores below 1. These housekeeping loops therefore
    carry most of the partition's total score at almost every time and
    dominate the full analysis, although no mechanism of the model's story
    lives in them. The mechanisms the model documents (``[[loops]]`` in its
    metadata) are compared here among themselves: their raw loop scores are
    normalised by the summed absolute scores of the documented loops of the
    same partition, and the dominant periods are found as in
    :func:`dominant_periods`.

    Parameters
    ----------
    loop_scores : DataFrame
        Raw loop scores indexed by saved time, one column per loop id.
    loops : DataFrame
        The loops table (``id``, ``polarity``, ``partition``, ``documented``).

    Returns
    -------
    DataFrame
        As :func:`dominant_periods`; empty when the model documents no loop.
    """
    table = loops[loops["documented"]]
    if table.empty:
        return dominant_periods(pd.DataFrame(index=loop_scores.index), table,
                                threshold=threshold)
    raw = loop_scores[list(table["id"])]
    rel = pd.DataFrame(0.0, index=raw.index, columns=raw.columns)
    for _, part in table.groupby("partition"):
        cols = list(part["id"])
        total = raw[cols].abs().sum(axis=1).to_numpy()
        with np.errstate(all="ignore"):
            share = np.where(total[:, None] > 0, raw[cols].to_numpy()
                             / np.where(total > 0, total, 1.0)[:, None], 0.0)
        rel[cols] = share
    return dominant_periods(rel, table, threshold=threshold)
