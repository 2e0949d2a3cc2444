"""The plain case of a v2 record batch, both ways, faster than kafka-python's record codec:
`plain_batch` encodes what every fetch of the lab's workloads returns (no key, no null value, no
header, no compression), `plain_columns` decodes what producers usually send (no header, no
compression, keys and null values allowed) into Arrow binary arrays, `plain_records` the same
into lists. Anything else is left to the library (None).

Encoding: kafka-python's builder appends one record at a time in Python (~4 us a record), which
caps a fetch near 200,000 records/s before any socket work. Here numpy lays out every record of a
run at once: the zigzag varints (length, timestamp delta, offset delta, value length) become byte
matrices, the values are copied from the Arrow data buffer with one gather, and the header and
CRC-32C come from kafka-python's own struct and `calc_crc32c`. The output is byte-for-byte what
`DefaultRecordBatchBuilder` writes for the same records.

Decoding: kafka-python's reader builds a record object per record (~6 us each), and a tight
Python loop over the records still cost ~1.2 us each (a produce request of 595 records: ~700 us).
Here the records are placed by a walk over their length varints that jumps over runs of records
of one length (a producer's records mostly are), checked at once with numpy; numpy then reads
every record's fields (deltas, key and value lengths) and checks each against its record's end,
and the keys and values are gathered out of the buffer into Arrow arrays (~250 us for those 595).
The batch's CRC must have been checked already (wire/batches.py does).

tests/test_wire_fastbatch.py checks both against `kafka.record` with hypothesis.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.util import calc_crc32c
from numpy.lib.stride_tricks import as_strided

from chronik_lab.engine.records import binary_offsets

__all__ = ["plain_batch", "plain_columns", "plain_records"]

_HEADER = DefaultRecordBatchBuilder.HEADER_STRUCT
_AFTER_LEN = DefaultRecordBatchBuilder.AFTER_LEN_OFFSET
_ATTRIBUTES = DefaultRecordBatchBuilder.ATTRIBUTES_OFFSET
_MAX_VARINT = 10
_RUN_WINDOW = 32  # records of one length checked at once at first (see _record_bounds)
_SHORT_RUN = 8


def plain_batch(
    offsets: np.ndarray,
    stamps: np.ndarray,
    values: pa.Array,
    producer: tuple[int, int, int] = (-1, -1, -1),
) -> bytearray | None:
    """One v2 batch (CRC-32C) of records at `offsets` (growing), with the header's producer id,
    epoch and base sequence, or None when the records are not the plain case this encoder
    covers."""
    n = len(offsets)
    if n == 0 or values.null_count or pa.types.is_large_binary(values.type):
        return None
    base, first_ts = int(offsets[0]), int(stamps[0])
    ts_bytes, ts_len = _varints(stamps - first_ts)
    od_bytes, od_len = _varints(offsets - base)
    value_offsets = binary_offsets(values)
    value_len = np.diff(value_offsets).astype(np.int64)
    vl_bytes, vl_len = _varints(value_len)
    # body: attributes(1) ts od key(-1: 1 byte) value_len value headers(0: 1 byte)
    body = 1 + ts_len + od_len + 1 + vl_len + value_len + 1
    rl_bytes, rl_len = _varints(body)
    one = np.ones(n, np.int64)
    # Everything but the values, row by row: [length attrs ts od key value_len | headers].
    parts = [
        (rl_bytes, rl_len),
        (np.zeros((n, 1), np.uint8), one),
        (ts_bytes, ts_len),
        (od_bytes, od_len),
        (np.ones((n, 1), np.uint8), one),  # zigzag(-1): a null key
        (vl_bytes, vl_len),
        (np.zeros((n, 1), np.uint8), one),  # no headers
    ]
    matrix = np.hstack([m for m, _ in parts])
    keep = np.hstack([np.arange(m.shape[1])[None, :] < k[:, None] for m, k in parts])
    framing = matrix[keep]  # row-major: each record's bytes in order, records in order
    prefix = rl_len + 1 + ts_len + od_len + 1 + vl_len
    sizes = rl_len + body
    ends = np.cumsum(sizes)
    value_at = ends - sizes + prefix  # where each value starts, after the batch header
    edges = np.zeros(int(ends[-1]) + 1, np.int32)
    edges[value_at] += 1
    edges[value_at + value_len] -= 1
    is_value = np.cumsum(edges[:-1], dtype=np.int32) > 0
    records = np.empty(int(ends[-1]), np.uint8)
    records[~is_value] = framing
    if value_len.sum():
        data = np.frombuffer(values.buffers()[2], np.uint8)
        records[is_value] = data[value_offsets[0] : value_offsets[-1]]
    out = np.concatenate((np.zeros(_HEADER.size, np.uint8), records))
    buf = bytearray(out.tobytes())  # the headers count byte is already 0
    _HEADER.pack_into(
        buf, 0, base, len(buf) - _AFTER_LEN, 0, 2, 0, 0, int(offsets[-1]) - base,
        first_ts, int(stamps.max()), *producer, n,
    )  # fmt: skip
    crc = calc_crc32c(memoryview(buf)[_ATTRIBUTES:])
    buf[_ATTRIBUTES - 4 : _ATTRIBUTES] = crc.to_bytes(4, "big")
    return buf


def _varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zigzag varints of int64 values: a (n, 10) byte matrix and each one's length."""
    v = values.astype(np.int64)
    zz = ((v << 1) ^ (v >> 63)).view(np.uint64)
    lengths = np.ones(len(v), np.int64)
    for k in range(1, _MAX_VARINT):
        lengths += zz >= np.uint64(1) << np.uint64(7 * k)
    width = int(lengths.max())
    shifts = (np.arange(width, dtype=np.uint64) * np.uint64(7))[None, :]
    matrix = ((zz[:, None] >> shifts) & np.uint64(0x7F)).astype(np.uint8)
    matrix |= (np.arange(width)[None, :] < (lengths[:, None] - 1)).astype(np.uint8) << 7
    return matrix, lengths


def plain_records(batch: bytes | bytearray | memoryview) -> tuple[list, list] | None:
    """Keys and values of one uncompressed v2 batch whose records carry no headers, as lists;
    None for anything else (compressed, control, headers), which the library then reads. The
    batch's CRC must have been checked already."""
    columns = plain_columns(batch)
    if columns is None:
        return None
    keys, values = columns
    return [None] * len(values) if keys is None else keys.to_pylist(), values.to_pylist()


def plain_columns(batch: bytes | bytearray | memoryview) -> tuple[pa.Array | None, pa.Array] | None:
    """`plain_records` as Arrow binary arrays (keys None when no record has a key), read
    without a Python object per record: a walk over the records' lengths (a step per run of
    records of one length) finds where each record is, then numpy reads every record's fields
    at once and gathers the keys and values out of the buffer."""
    buf = bytes(batch)
    if len(buf) < _HEADER.size:
        return None
    head = _HEADER.unpack_from(buf)
    attributes, count = head[5], head[12]
    if attributes & 0x27 or count <= 0:  # a codec, or a control batch; or nothing to read
        return None
    u = np.frombuffer(buf + bytes(_MAX_VARINT), np.uint8)  # varints never read past the pad
    starts, ends = _record_bounds(buf, u, count)
    if starts is None:
        return None
    p = _skip_varint(u, starts + 1)  # after the attributes: the timestamp delta
    p = _skip_varint(u, p) if p is not None else None  # the offset delta
    if p is None or (p >= ends).any():
        return None
    key_len, p = _zigzag32(u, p)  # a negative length other than -1 is refused below
    key_at, p = p, p + np.maximum(key_len, 0)
    if (p >= ends).any():
        return None
    value_len, p = _zigzag32(u, p)
    value_at, p = p, p + np.maximum(value_len, 0)
    # what is left of each record must be exactly its header count, 0 (one byte): no headers
    if (p + 1 != ends).any() or u[p].any() or (key_len < -1).any() or (value_len < -1).any():
        return None
    keys = None if (key_len == -1).all() else _binary(u, key_at, key_len)
    return keys, _binary(u, value_at, value_len)


def _record_bounds(
    buf: bytes, u: np.ndarray, count: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Where each of `count` records' bodies starts (after its length varint) and ends; None
    when the lengths do not tile the batch exactly.

    A record's place depends on every length before it, so this walks the records -- but a
    producer's records mostly share one length (the same value size, deltas of the same width),
    so each step reads one record's length, then checks at once (numpy) how many of the records
    that follow, were they all that long, start with that same length: those are a run of equal
    records, and the walk jumps past them. By induction each record of the run is where the
    check looked (its predecessors all had that length)."""
    runs: list[tuple[int, int, int, int]] = []  # (position, records, record size, varint size)
    pos, end, i = _HEADER.size, len(buf), 0
    # How many records one check looks at: doubles while runs fill it. After a short run the
    # next records are walked one by one (for longer and longer), so that a hostile batch of
    # short runs costs about what a plain loop does, never a check over the whole batch.
    window, skip, patience = _RUN_WINDOW, 0, _SHORT_RUN
    try:
        while i < count:
            length, body = _varint(buf, pos)
            if length < 6:  # attributes, timestamp, offset, key and value lengths, headers
                return None, None
            head, size = body - pos, body - pos + length
            same = 1
            if skip:
                skip -= 1
            elif i + 1 < count and buf[pos + size : pos + size + head] == buf[pos:body]:
                fit = min(count - i, (end - pos) // size, window)  # records that'd fit whole
                at = pos + size * np.arange(fit)
                match = u[at] == buf[pos]
                for k in range(1, head):
                    match &= u[at + k] == buf[pos + k]
                same = fit if match.all() else int(match.argmin())
                window = window * 2 if same == fit else _RUN_WINDOW
                if same < _SHORT_RUN:
                    skip, patience = patience, min(patience * 2, 1024)
                else:
                    patience = _SHORT_RUN
            runs.append((pos, same, size, head))
            i += same
            pos += same * size
    except IndexError:
        return None, None
    if pos != end:
        return None, None
    r = np.array(runs, np.int64)  # one row per run: every record's place at once
    counts = r[:, 1]
    within = np.arange(count) - np.repeat(np.cumsum(counts) - counts, counts)
    starts = np.repeat(r[:, 0] + r[:, 3], counts) + within * np.repeat(r[:, 2], counts)
    return starts, starts + np.repeat(r[:, 2] - r[:, 3], counts)


_WIDTH = np.arange(_MAX_VARINT)
_MAX_RUNS = 32  # more runs of one stride than this: the general gather


def _varint_bytes(u: np.ndarray, at: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The `width` bytes from each position, and how long each varint there is (width + 1
    when it does not end within `width` bytes)."""
    cols = u[at[:, None] + _WIDTH[None, :width]]
    last = cols < 0x80
    length = np.where(last.any(axis=1), last.argmax(axis=1) + 1, width + 1)
    return cols, length


def _short_varints(u: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The unsigned varints at each position and the positions after them, when every one is
    1 or 2 bytes long (lengths under 8 KB, deltas under 8,192: nearly always); else None."""
    b0 = u[at].astype(np.int64)
    more = b0 >= 0x80
    if not more.any():
        return b0, at + 1
    b1 = u[at + 1].astype(np.int64)
    if (more & (b1 >= 0x80)).any():
        return None
    return np.where(more, (b0 & 0x7F) | (b1 << 7), b0), at + 1 + more


def _skip_varint(u: np.ndarray, at: np.ndarray) -> np.ndarray | None:
    """The positions after a varlong at each position; None when one is longer than 10 bytes."""
    short = _short_varints(u, at)
    if short is not None:
        return short[1]
    _, length = _varint_bytes(u, at, _MAX_VARINT)
    if (length > _MAX_VARINT).any():
        return None
    return at + length


def _zigzag32(u: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The zigzag varint32 at each position and the positions after them; a varint longer than
    5 bytes reads as -2, which the caller's bounds checks refuse (a length is never < -1)."""
    short = _short_varints(u, at)
    if short is not None:
        zz, after = short
        return (zz >> 1) ^ -(zz & 1), after
    cols, length = _varint_bytes(u, at, 5)
    used = _WIDTH[None, :5] < length[:, None]
    raw = ((cols.astype(np.int64) & 0x7F) << (7 * _WIDTH[None, :5])) * used
    zz = raw.sum(axis=1)
    value = (zz >> 1) ^ -(zz & 1)
    value[(length > 5) | (value < -1)] = -2
    return value, at + np.minimum(length, 5)


def _binary(u: np.ndarray, at: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """An Arrow binary array of the byte ranges at `at` of `lengths` (-1: null)."""
    n = len(at)
    even = _evenly_spaced(u, at, lengths)
    if even is not None:
        return even
    sizes = np.maximum(lengths, 0)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(sizes, out=offsets[1:])
    total = int(offsets[-1])
    if total:  # each byte's source: its range's start, plus its place within the range
        source = np.arange(total, dtype=np.int64) + np.repeat(at - offsets[:-1], sizes)
        data = pa.py_buffer(u[source].tobytes())
    else:
        data = pa.py_buffer(b"")
    nulls = int((lengths < 0).sum())
    validity = None
    if nulls:
        validity = pa.py_buffer(np.packbits(lengths >= 0, bitorder="little").tobytes())
    return pa.Array.from_buffers(
        pa.binary(), n, [validity, pa.py_buffer(offsets.tobytes()), data], nulls
    )


def _evenly_spaced(u: np.ndarray, at: np.ndarray, lengths: np.ndarray) -> pa.Array | None:
    """`_binary` when every range has one length and they lie in a few runs, each one stride
    apart (a producer's records of one size: a run per width of the offset and timestamp
    deltas' varints), else None: each run's ranges are the rows of a strided view, copied out
    in one step, where the general gather builds an index per byte (~50x slower)."""
    n = len(at)
    size = int(lengths[0]) if n else 0
    if n < 2 or size <= 0 or (lengths != size).any():
        return None
    gaps = np.diff(at)
    cuts = (np.flatnonzero(np.diff(gaps)) + 1).tolist()  # a run starts where the gap changes
    if len(cuts) > _MAX_RUNS or gaps.min() < size:
        return None
    parts = []
    # in bounds: the caller checked every range ends within its record, inside the buffer
    for start, end in zip([0, *cuts], [*cuts, n], strict=True):
        stride = int(gaps[start]) if end - start > 1 else size
        rows = as_strided(u[int(at[start]) :], (end - start, size), (stride, 1), writeable=False)
        parts.append(rows.tobytes())
    offsets = np.arange(0, (n + 1) * size, size, dtype=np.int32)
    data = pa.py_buffer(b"".join(parts))
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets.tobytes()), data], 0)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """One zigzag varint at pos; the one-byte case first (most lengths and deltas)."""
    b = buf[pos]
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos + 1
    value, shift = b & 0x7F, 7
    while True:
        pos += 1
        b = buf[pos]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return (value >> 1) ^ -(value & 1), pos + 1
        shift += 7
