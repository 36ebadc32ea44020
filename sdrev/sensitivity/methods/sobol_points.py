"""Scrambled Sobol' points without importing :mod:`scipy.stats`.

``sobol_points(n, d, seed=seed)`` returns the values of
``scipy.stats.qmc.Sobol(d, scramble=True, seed=seed).random(n)`` (tested
bit for bit): the Sobol' (1967) sequence with the direction numbers of Joe
and Kuo (2008, search criterion D(6), the file scipy ships), generated in
Gray-code order (Antonov and Saleev 1979), scrambled by a random lower
triangular linear matrix and a random digital shift (Matousek 1998; Owen
2003), drawn from ``numpy.random.default_rng(seed)`` in scipy's order.

Why: the sample of a Sobol' analysis is the only part of the default
analysis that needs :mod:`scipy.stats`, and importing it costs 0.7 to 2 s
(its distributions' docstrings are parsed at import), about a tenth of a
whole ``sdrev sensitivity`` run of crrc_standards, on the one core the
command uses before its simulations start.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

__all__ = ["BITS", "direction_numbers", "sobol_points"]

#: Bits of each coordinate (scipy's default): points are multiples of 2**-30.
BITS = 30


@functools.lru_cache(maxsize=1)
def _joe_kuo() -> tuple[np.ndarray, np.ndarray]:
    """Primitive polynomials and initial direction numbers per dimension,
    read from the file scipy ships beside its Sobol' engine (found without
    importing :mod:`scipy.stats`)."""
    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("scipy is not installed: no Sobol' direction numbers")
    path = Path(list(spec.submodule_search_locations)[0]) / "stats" / \
        "_sobol_direction_numbers.npz"
    with np.load(path) as data:
        return data["poly"].astype(np.int64), data["vinit"].astype(np.int64)


def direction_numbers(d: int, bits: int = BITS) -> np.ndarray:
    """The ``d x bits`` direction numbers, each scaled to ``bits`` bits.

    Row 0 is all ones; row k takes its first ``m`` numbers (``m`` the degree
    of its primitive polynomial) from the table and the rest from the
    recurrence of Bratley and Fox (1988, Algorithm 659).
    """
    poly, vinit = _joe_kuo()
    if d > len(poly):
        raise ValueError(f"at most {len(poly)} dimensions, got {d}")
    v = np.zeros((d, bits), dtype=np.int64)
    if d == 0:
        return v.astype(np.uint32)
    v[0, :] = 1
    for k in range(1, d):
        p = int(poly[k])
        m = p.bit_length() - 1
        row = [int(x) for x in vinit[k, :m]] + [0] * (bits - m)
        for j in range(m, bits):
            new = row[j - m]
            for i in range(m):
                if (p >> (m - 1 - i)) & 1:
                    new ^= row[j - i - 1] << (i + 1)
            row[j] = new
        v[k, :] = row[:bits]
    v <<= np.arange(bits - 1, -1, -1, dtype=np.int64)  # column c times 2**(bits-1-c)
    return (v & 0xFFFFFFFF).astype(np.uint32)


def _scramble(v: np.ndarray, ltm: np.ndarray) -> np.ndarray:
    """Left linear matrix scramble of the direction numbers ``v`` (d x bits):
    bit ``bits-1-p`` of a new number is the parity of row ``p`` of the
    lower triangular binary matrix (unit diagonal) and the old number."""
    d, bits = v.shape
    weights = np.left_shift(np.uint64(1), np.arange(bits - 1, -1, -1, dtype=np.uint64))
    rows = (ltm.astype(np.uint64) * weights).sum(axis=2)  # (d, p): row p as a number
    both = rows[:, :, None] & v.astype(np.uint64)[:, None, :]  # (d, p, j)
    parity = np.bitwise_count(both) & 1
    out = (parity.astype(np.uint64) << np.arange(bits - 1, -1, -1, dtype=np.uint64)[
        None, :, None]).sum(axis=1)
    return out.astype(np.uint32)


def sobol_points(n: int, d: int, *, seed: int) -> np.ndarray:
    """The first ``n`` points of a scrambled ``d``-dimensional Sobol' sequence.

    Parameters
    ----------
    n : int
        Points (at most ``2**30``; a power of 2 keeps the balance).
    d : int
        Dimensions.
    seed : int
        Seed of the scrambling (``numpy.random.default_rng``).

    Returns
    -------
    numpy.ndarray
        Shape ``(n, d)``, in ``[0, 1)``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= 2**BITS:
        raise ValueError(f"n must be an integer from 0 to 2**{BITS}, got {n!r}")
    rng = np.random.default_rng(seed)
    bits = BITS
    v = direction_numbers(d, bits)
    # as scipy draws them: the shift's bits, then the matrices' lower triangles
    shift_bits = rng.integers(2, size=(d, bits), dtype=np.uint32)
    shift = (shift_bits.astype(np.uint64) << np.arange(bits, dtype=np.uint64)).sum(axis=1)
    ltm = np.tril(rng.integers(2, size=(d, bits, bits), dtype=np.uint32))
    ltm[:, np.arange(bits), np.arange(bits)] = 1
    v = _scramble(v, ltm)
    # point k: the shift XOR the direction numbers of the bits set in k's
    # Gray code (k ^ k >> 1), the order of scipy's one-bit-at-a-time update
    k = np.arange(n, dtype=np.uint64)
    gray = k ^ (k >> np.uint64(1))
    quasi = np.broadcast_to(shift.astype(np.uint32), (n, d)).copy()
    for b in range(max(int(n - 1).bit_length(), 0)):
        on = ((gray >> np.uint64(b)) & np.uint64(1)).astype(bool)
        quasi[on] ^= v[:, b]
    return quasi * (1.0 / 2**bits)
