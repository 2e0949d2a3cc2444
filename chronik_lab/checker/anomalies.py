"""The anomaly finders of the checker, vectorised over numpy arrays (no Python loop per record).

Each finder looks at the acknowledged sends and the received records (two `Side`s) and returns a
`Found`: the anomalies of one type as column arrays. The tricks, used again and again:

- `pair_codes` numbers (partition, x) pairs densely, so "per partition and message id" or "per
  partition and offset" becomes an index into a flat numpy array instead of a groupby;
- "does this slot hold two different things?" is one scatter and one gather: write every row's
  value into its slot, read it back, and any row that reads another value proves a conflict (no
  matter which write numpy kept) — O(n), no sort;
- sorting is kept for the few rows involved in anomalies, where lists and texts are built with
  Arrow list arrays and string kernels.

Anomaly definitions (per partition, or per topic and partition) are in `verdict.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

I64_MIN = np.iinfo(np.int64).min
# The dense code layout is used while its table has at most max(DENSE_PER_ROW * rows, DENSE_MIN)
# slots: a few bytes per row, and far cheaper than sorting (tests set both to 0 to force a sort).
DENSE_PER_ROW = 4
DENSE_MIN = 1 << 16


@dataclass(frozen=True)
class Side:
    """Acknowledged sends or received records in stream order: grouped by stream (partition key,
    then process) and, within a stream, in time order (op_index, then position in the op)."""

    pk: np.ndarray  # dense partition key
    process: np.ndarray
    stream: np.ndarray  # dense code of (pk, process), non-decreasing
    op: np.ndarray
    offset: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.op)

    def steps(self) -> np.ndarray:
        """For each pair of consecutive rows: True when both belong to the same stream."""
        return self.stream[1:] == self.stream[:-1]


@dataclass(frozen=True)
class PairCodes:
    """Codes 0..size-1 of (group, key) int pairs, increasing with (group, key).

    Dense layout (span > 0): code = group * span + key - lo, a table lookup with no hashing, used
    when the table stays small (keys such as message ids and offsets are nearly contiguous).
    Sorted layout (span == 0): codes number the distinct pairs, found by one lexsort."""

    size: int
    span: int
    lo: int
    groups: np.ndarray | None = None
    keys: np.ndarray | None = None

    def decode(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.span:
            return codes // self.span, codes % self.span + self.lo
        return self.groups[codes], self.keys[codes]


def pair_codes(
    groups: list[np.ndarray], keys: list[np.ndarray]
) -> tuple[PairCodes, list[np.ndarray]]:
    """Codes for the pairs of several (group, key) arrays sharing one code space."""
    filled = [k for k in keys if len(k)]
    if not filled:
        return PairCodes(0, 1, 0), [np.zeros(0, np.int64) for _ in keys]
    n = sum(len(k) for k in filled)
    lo = min(int(k.min()) for k in filled)
    span = max(int(k.max()) for k in filled) - lo + 1  # Python ints: no overflow
    n_groups = max(int(g.max()) for g in groups if len(g)) + 1
    if n_groups * span <= max(DENSE_PER_ROW * n, DENSE_MIN):
        return PairCodes(n_groups * span, span, lo), [
            _dense_code(g, k, span, lo, n_groups) for g, k in zip(groups, keys, strict=True)
        ]
    g_all, k_all = np.concatenate(groups), np.concatenate(keys)
    order = np.lexsort((k_all, g_all))
    g_s, k_s = g_all[order], k_all[order]
    new = np.ones(n, bool)
    new[1:] = (g_s[1:] != g_s[:-1]) | (k_s[1:] != k_s[:-1])
    inverse = np.empty(n, np.int64)
    inverse[order] = np.cumsum(new) - 1
    split = np.cumsum([len(k) for k in keys])[:-1]
    return PairCodes(int(new.sum()), 0, 0, g_s[new], k_s[new]), np.split(inverse, split)


def _dense_code(g: np.ndarray, k: np.ndarray, span: int, lo: int, n_groups: int) -> np.ndarray:
    code = k - lo
    if n_groups > 1:  # one group (a single partition) needs no multiply: the common case
        code += g * span
    return code


@dataclass(frozen=True)
class Found:
    """Anomalies of one type, as equal-length columns."""

    pk: np.ndarray
    process: np.ndarray | None  # codes; None when the anomaly belongs to no process
    value: np.ndarray | None  # message ids; None when the anomaly is about offsets
    value_valid: np.ndarray | None  # where `value` holds an id, None meaning everywhere
    offsets: pa.Array | pa.ChunkedArray  # list<int64>
    op_indexes: pa.Array | pa.ChunkedArray  # list<int64>
    count: np.ndarray  # what each row adds to CheckReport.counts
    detail: pa.Array | pa.ChunkedArray  # string

    def __len__(self) -> int:
        return len(self.pk)


def empty_found() -> Found:
    none = np.zeros(0, np.int64)
    lists = pa.array([], pa.list_(pa.int64()))
    return Found(none, None, None, None, lists, lists, none, pa.array([], pa.string()))


def concat_found(parts: list[Found]) -> Found:
    """One Found with the rows of all `parts`, in order (one copy per column)."""

    def column(get, fill):
        got = [get(f) for f in parts]
        if all(g is None for g in got):
            return None
        return np.concatenate(
            [np.full(len(f), fill) if g is None else g for f, g in zip(parts, got, strict=True)]
        )

    return Found(
        pk=np.concatenate([f.pk for f in parts]),
        process=column(lambda f: f.process, 0),
        value=column(lambda f: f.value, 0),
        value_valid=np.concatenate([value_valid(f) for f in parts]),
        # Chunked, not concatenated: a million detail strings are not copied again.
        offsets=_chunked([f.offsets for f in parts]),
        op_indexes=_chunked([f.op_indexes for f in parts]),
        count=np.concatenate([f.count for f in parts]),
        detail=_chunked([f.detail for f in parts]),
    )


def _chunked(arrays: list[pa.Array | pa.ChunkedArray]) -> pa.ChunkedArray:
    chunks = [c for a in arrays for c in (a.chunks if isinstance(a, pa.ChunkedArray) else [a])]
    return pa.chunked_array([c for c in chunks if len(c)] or chunks[:1], type=chunks[0].type)


def in_partition_order(f: Found) -> Found:
    """`f`'s rows stably sorted by partition key, so that rows of one partition come together
    (an exact merge of per-partition checks relies on it: merge.py)."""
    if len(f) < 2 or bool(np.all(f.pk[1:] >= f.pk[:-1])):
        return f
    order = np.argsort(f.pk, kind="stable")
    take = pa.array(order)

    def pick(a):
        return None if a is None else a[order]

    return Found(
        pk=f.pk[order], process=pick(f.process), value=pick(f.value),
        value_valid=pick(f.value_valid), offsets=f.offsets.take(take),
        op_indexes=f.op_indexes.take(take), count=f.count[order], detail=f.detail.take(take),
    )  # fmt: skip


def head(f: Found, n: int) -> Found:
    """The first `n` rows of `f` (all of them when it has fewer)."""
    if len(f) <= n:
        return f

    def cut(a):
        return None if a is None else a[:n]

    return Found(
        pk=f.pk[:n], process=cut(f.process), value=cut(f.value), value_valid=cut(f.value_valid),
        offsets=f.offsets[:n], op_indexes=f.op_indexes[:n], count=f.count[:n], detail=f.detail[:n],
    )  # fmt: skip


def value_valid(f: Found) -> np.ndarray:
    if f.value is None:
        return np.zeros(len(f), bool)
    return np.ones(len(f), bool) if f.value_valid is None else f.value_valid


# --- building lists and texts without a Python loop per row ---------------------------------


def lists(group: np.ndarray, values: np.ndarray, n_groups: int) -> pa.Array:
    """The sorted distinct `values` of each group 0..n_groups-1, as an Arrow list<int64> array."""
    order = np.lexsort((values, group))
    g, v = group[order], values[order]
    keep = np.ones(len(g), bool)
    keep[1:] = (g[1:] != g[:-1]) | (v[1:] != v[:-1])
    g, v = g[keep], v[keep]
    bounds = np.zeros(n_groups + 1, np.int32)
    np.cumsum(np.bincount(g, minlength=n_groups), out=bounds[1:])
    return pa.ListArray.from_arrays(pa.array(bounds), pa.array(v, pa.int64()))


def tuples(*columns: np.ndarray) -> pa.Array:
    """Row i becomes the list [columns[0][i], columns[1][i], ...]."""
    width, n = len(columns), len(columns[0])
    flat = np.stack(columns, axis=1).ravel() if n else np.zeros(0, np.int64)
    bounds = np.arange(0, width * n + 1, width, dtype=np.int32)
    return pa.ListArray.from_arrays(pa.array(bounds), pa.array(flat, pa.int64()))


def text(*parts: str | np.ndarray | pa.Array) -> pa.Array:
    """Row-wise concatenation of constant strings, int arrays, and list arrays ("1, 2, 3")."""
    arrays = [p if isinstance(p, str) else _as_text(p) for p in parts]
    return pc.binary_join_element_wise(*arrays, "")


def _as_text(x: np.ndarray | pa.Array) -> pa.Array:
    if isinstance(x, np.ndarray):
        return pc.cast(pa.array(x), pa.string())
    if pa.types.is_list(x.type):
        joined = pc.binary_join(x.cast(pa.list_(pa.string())), ", ")
        return pc.if_else(pc.equal(pc.list_value_length(x), 0), "-", joined)
    return x


def span_text(start: np.ndarray, end: np.ndarray) -> pa.Array:
    """'offset 5' or 'offsets 5–9' for each row."""
    return pc.if_else(
        pa.array(start == end), text("offset ", start), text("offsets ", start, "–", end)
    )


# --- the finders ---------------------------------------------------------------------------


def conflicts(
    size: int, codes: list[np.ndarray], values: list[np.ndarray], first_alone: bool = False
) -> tuple[np.ndarray | None, np.ndarray]:
    """Per-slot masks of the slots whose rows carry two different values: among the rows of the
    first (codes, values) pair alone (only if `first_alone`, else None), and among all rows."""
    store = np.empty(size, np.int64)
    alone = None
    for i, (c, v) in enumerate(zip(codes, values, strict=True)):
        store[c] = v
        if i == 0 and first_alone:
            alone = np.zeros(size, bool)
            alone[c[store[c] != v]] = True
    bad = np.zeros(size, bool) if alone is None else alone.copy()
    for c, v in zip(codes, values, strict=True):
        bad[c[store[c] != v]] = True
    return alone, bad


def duplicates(recv: Side, pv: PairCodes, recv_pv: np.ndarray, is_dup: np.ndarray) -> Found:
    """Ids received at more than one offset; `is_dup` marks their (partition, id) slots."""
    rows = np.flatnonzero(is_dup[recv_pv])
    if not len(rows):
        return empty_found()
    slots, group = np.unique(recv_pv[rows], return_inverse=True)
    offsets = lists(group, recv.offset[rows], len(slots))
    n_offsets = pc.list_value_length(offsets).to_numpy().astype(np.int64)
    receipts = np.bincount(group, minlength=len(slots))
    pk, value = pv.decode(slots)
    detail = text("received ", receipts, " times at ", n_offsets, " offsets: ", offsets)
    ops = lists(group, recv.op[rows], len(slots))
    return Found(pk, None, value, None, offsets, ops, n_offsets - 1, detail)


def lost_and_unseen(
    sent: Side, sent_pv: np.ndarray, received: np.ndarray, n_pk: int
) -> tuple[Found, Found]:
    """Acknowledged ids never received: lost-write if a later acknowledged id was, else unseen.

    `received` is the per-slot mask of received (partition, id) pairs."""
    got = received[sent_pv]
    latest = np.full(n_pk, I64_MIN)  # highest acknowledged offset that was received
    np.maximum.at(latest, sent.pk[got], sent.offset[got])
    miss = np.flatnonzero(~got)
    # An id acknowledged twice (a retried send) is reported once, at its lowest offset.
    miss = miss[np.lexsort((sent.offset[miss], sent_pv[miss]))]
    first = np.ones(len(miss), bool)
    first[1:] = sent_pv[miss][1:] != sent_pv[miss][:-1]
    miss = miss[first]
    later = latest[sent.pk[miss]]
    lost = sent.offset[miss] < later
    lost_rows, unseen_rows = miss[lost], miss[~lost]
    lost_detail = text(
        "acknowledged at offset ", sent.offset[lost_rows], ", never received, though offset ",
        later[lost], " (acknowledged later) was",
    )  # fmt: skip
    unseen_detail = text(
        "acknowledged at offset ", sent.offset[unseen_rows], ", never received, nor anything after"
    )
    return _sent_found(sent, lost_rows, lost_detail), _sent_found(sent, unseen_rows, unseen_detail)


def _sent_found(sent: Side, rows: np.ndarray, detail: pa.Array) -> Found:
    """Anomalies about single acknowledged sends."""
    return Found(
        pk=sent.pk[rows], process=sent.process[rows], value=sent.value[rows], value_valid=None,
        offsets=tuples(sent.offset[rows]), op_indexes=tuples(sent.op[rows]),
        count=np.ones(len(rows), np.int64), detail=detail,
    )  # fmt: skip


def poll_skips(recv: Side) -> Found:
    """A process's next poll of a partition starting past the previous poll's last offset + 1."""
    new_poll = recv.steps() & (recv.op[1:] != recv.op[:-1])
    i = np.flatnonzero(new_poll & (recv.offset[1:] > recv.offset[:-1] + 1))
    prev, cur = recv.offset[i], recv.offset[i + 1]
    detail = text(
        "poll ", recv.op[i + 1], " started at offset ", cur, " after poll ", recv.op[i],
        " ended at offset ", prev, ": skipped ", span_text(prev + 1, cur - 1),
    )  # fmt: skip
    return _step_found(recv, i, detail, with_value=False)


def nonmonotonic(side: Side, what: str) -> Found:
    """A process's offsets on a partition going back or repeating (received or acknowledged)."""
    i = np.flatnonzero(side.steps() & (side.offset[1:] <= side.offset[:-1]))
    detail = text(what, " offset ", side.offset[i + 1], " after offset ", side.offset[i])
    return _step_found(side, i, detail, with_value=True)


def _step_found(side: Side, i: np.ndarray, detail: pa.Array, with_value: bool) -> Found:
    """Anomalies between rows i and i+1 of one stream."""
    return Found(
        pk=side.pk[i + 1], process=side.process[i + 1],
        value=side.value[i + 1] if with_value else None, value_valid=None,
        offsets=tuples(side.offset[i], side.offset[i + 1]),
        op_indexes=tuples(side.op[i], side.op[i + 1]),
        count=np.ones(len(i), np.int64), detail=detail,
    )  # fmt: skip


def inconsistent(
    sent: Side, recv: Side, codes: PairCodes, sc: np.ndarray, rc: np.ndarray, bad: np.ndarray,
    by: str,
) -> Found:  # fmt: skip
    """The `bad` slots (offsets when by="offset", ids when by="value") that hold two different
    things (ids, offsets) across acknowledged sends and received records."""
    other = "value" if by == "offset" else "offset"
    s_other, r_other = getattr(sent, other), getattr(recv, other)
    slots = np.flatnonzero(bad)
    if not len(slots):
        return empty_found()
    s_rows, r_rows = np.flatnonzero(bad[sc]), np.flatnonzero(bad[rc])
    sg, rg = np.searchsorted(slots, sc[s_rows]), np.searchsorted(slots, rc[r_rows])
    sent_lists = lists(sg, s_other[s_rows], len(slots))
    recv_lists = lists(rg, r_other[r_rows], len(slots))
    both_g = np.concatenate([sg, rg])
    ops = lists(both_g, np.concatenate([sent.op[s_rows], recv.op[r_rows]]), len(slots))
    pk, key = codes.decode(slots)
    if by == "offset":
        offsets, value = tuples(key), None
        head = text("offset ", key, " holds different ids: acknowledged ")
        detail = text(head, sent_lists, "; received ", recv_lists)
    else:
        offsets = lists(both_g, np.concatenate([s_other[s_rows], r_other[r_rows]]), len(slots))
        value, head = key, text("id ", key, " at different offsets: acknowledged at ")
        detail = text(head, sent_lists, "; received at ", recv_lists)
    count = np.ones(len(slots), np.int64)
    return Found(pk, None, value, None, offsets, ops, count, detail)


def offset_gaps(po: PairCodes, recv_po: np.ndarray) -> Found:
    """Offsets never received between the lowest and highest received offset of a partition."""
    present = np.zeros(po.size, bool)
    present[recv_po] = True
    pk, off = po.decode(np.flatnonzero(present))
    i = np.flatnonzero((pk[1:] == pk[:-1]) & (off[1:] > off[:-1] + 1))
    start, end = off[i] + 1, off[i + 1] - 1
    detail = text(span_text(start, end), " never received (", end - start + 1, " offsets)")
    no_ops = pa.ListArray.from_arrays(
        pa.array(np.zeros(len(i) + 1, np.int32)), pa.array([], pa.int64())
    )
    count = np.ones(len(i), np.int64)
    return Found(pk[i], None, None, None, tuples(start, end), no_ops, count, detail)
