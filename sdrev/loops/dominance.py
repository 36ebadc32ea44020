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

import numpy as np
import pandas as pd

__all__ = ["DOMINANCE_THRESHOLD", "dominant_periods", "dominant_sets"]

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
    for part, table in loops.groupby("partition", sort=True):
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


def _id_key(loop_id: str):
    head = loop_id.rstrip("0123456789")
    tail = loop_id[len(head):]
    return ({"R": 0, "B": 1}.get(head, 2), head, int(tail) if tail else 0)
