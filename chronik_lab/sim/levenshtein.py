"""Levenshtein distance between two sequences of message ids, fast at 10 and at 10^5 ids.

The common prefix and suffix are cut first (an exact reproduction costs one comparison). What is
left goes one of two ways, both exact:
- the shorter side is short: the textbook dynamic programme one row per element of the shorter
  side, each row a few numpy passes along the longer one;
- both are long: Hyyro's bit-parallel form of Myers' algorithm, one Python-int step per element
  of the longer side over a bit vector as wide as the shorter side.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["edit_distance"]

ROWS_UP_TO = 32  # the shorter side's length up to which the numpy rows are the faster way


def edit_distance(a: Sequence[int] | np.ndarray, b: Sequence[int] | np.ndarray) -> int:
    """Levenshtein distance between two id sequences (insert, delete, substitute: cost 1)."""
    x, y = _trimmed(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
    if len(x) < len(y):
        x, y = y, x  # y is the shorter
    if len(y) == 0:
        return len(x)
    if len(y) <= ROWS_UP_TO:
        return by_rows(x, y)
    return bit_parallel(x, y)


def _trimmed(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y without their common prefix and suffix (which never change the distance)."""
    n = min(len(x), len(y))
    differ = np.flatnonzero(x[:n] != y[:n])
    start = int(differ[0]) if len(differ) else n
    x, y = x[start:], y[start:]
    n = min(len(x), len(y))
    differ = np.flatnonzero(x[len(x) - n :][::-1] != y[len(y) - n :][::-1])
    end = int(differ[0]) if len(differ) else n
    return x[: len(x) - end], y[: len(y) - end]


def by_rows(x: np.ndarray, y: np.ndarray) -> int:
    """The dynamic programme, one row per element of y, vectorised along x."""
    # A row holds D[i][0..len(x)]. Substitution and deletion come elementwise from the row
    # above; insertion is a running minimum along the row: new[j] = j + min_{k<=j}(t[k] - k),
    # which np.minimum.accumulate does in one pass.
    cols = np.arange(len(x) + 1, dtype=np.int64)
    prev = cols.copy()
    t = np.empty_like(prev)
    for i, yi in enumerate(y, start=1):
        t[0] = i
        np.minimum(prev[1:] + 1, prev[:-1] + (x != yi), out=t[1:])
        prev = np.minimum.accumulate(t - cols) + cols
    return int(prev[-1])


def bit_parallel(x: np.ndarray, y: np.ndarray) -> int:
    """Hyyro (2001): the columns of the programme as bit vectors of vertical deltas, one bit
    per element of y, advanced with a few word operations per element of x."""
    m = len(y)
    full = (1 << m) - 1
    top = 1 << (m - 1)
    peq = _positions(y)
    vp, vn, distance = full, 0, m
    for symbol in x.tolist():
        eq = peq.get(symbol, 0)
        d0 = ((((eq & vp) + vp) ^ vp) | eq | vn) & full
        hp = vn | (~(d0 | vp) & full)
        hn = d0 & vp
        if hp & top:
            distance += 1
        elif hn & top:
            distance -= 1
        hp = ((hp << 1) | 1) & full  # row 0 grows by one per column: shift in a 1
        hn = (hn << 1) & full
        vp = hn | (~(d0 | hp) & full)
        vn = hp & d0
    return distance


def _positions(y: np.ndarray) -> dict[int, int]:
    """For each symbol of y, the bit mask of the positions where it occurs."""
    order = np.argsort(y, kind="stable")
    values, starts = np.unique(y[order], return_index=True)
    ends = np.append(starts[1:], len(y))
    peq: dict[int, int] = {}
    for value, lo, hi in zip(values.tolist(), starts.tolist(), ends.tolist(), strict=True):
        where = order[lo:hi]
        if hi - lo <= 8:
            peq[value] = sum(1 << p for p in where.tolist())
        else:  # many positions: one bitmap in numpy instead of one big int per position
            bits = np.zeros(len(y), dtype=np.uint8)
            bits[where] = 1
            peq[value] = int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")
    return peq
