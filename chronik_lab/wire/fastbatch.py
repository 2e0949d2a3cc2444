"""The plain case of a v2 record batch, both ways, faster than kafka-python's record codec:
`plain_batch` encodes what every fetch of the lab's workloads returns (no key, no null value, no
header, no compression), `plain_records` decodes what producers usually send (no header, no
compression, keys and null values allowed). Anything else is left to the library (None).

Encoding: kafka-python's builder appends one record at a time in Python (~4 us a record), which
caps a fetch near 200,000 records/s before any socket work. Here numpy lays out every record of a
run at once: the zigzag varints (length, timestamp delta, offset delta, value length) become byte
matrices, the values are copied from the Arrow data buffer with one gather, and the header and
CRC-32C come from kafka-python's own struct and `calc_crc32c`. The output is byte-for-byte what
`DefaultRecordBatchBuilder` writes for the same records.

Decoding: kafka-python's reader builds a record object per record (~6 us each); here a tight loop
reads each record's key and value and checks every length against the batch's end. The batch's
CRC must have been checked already (wire/batches.py does).

tests/test_wire_fastbatch.py checks both against `kafka.record` with hypothesis.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.util import calc_crc32c

__all__ = ["plain_batch", "plain_records"]

_HEADER = DefaultRecordBatchBuilder.HEADER_STRUCT
_AFTER_LEN = DefaultRecordBatchBuilder.AFTER_LEN_OFFSET
_ATTRIBUTES = DefaultRecordBatchBuilder.ATTRIBUTES_OFFSET
_MAX_VARINT = 10


def plain_batch(offsets: np.ndarray, stamps: np.ndarray, values: pa.Array) -> bytearray | None:
    """One v2 batch (CRC-32C) of records at `offsets` (growing), or None when the records are
    not the plain case this encoder covers."""
    n = len(offsets)
    if n == 0 or values.null_count or pa.types.is_large_binary(values.type):
        return None
    base, first_ts = int(offsets[0]), int(stamps[0])
    ts_bytes, ts_len = _varints(stamps - first_ts)
    od_bytes, od_len = _varints(offsets - base)
    value_offsets = np.frombuffer(values.buffers()[1], np.int32, n + 1, values.offset * 4)
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
        first_ts, int(stamps.max()), -1, -1, -1, n,
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
    """Keys and values of one uncompressed v2 batch whose records carry no headers; None for
    anything else (compressed, control, headers), which the library then reads. The batch's
    CRC must have been checked already."""
    buf = bytes(batch)
    head = _HEADER.unpack_from(buf)
    attributes, count = head[5], head[12]
    if attributes & 0x27:  # a codec, or a control batch
        return None
    keys: list[bytes | None] = []
    values: list[bytes | None] = []
    pos = _HEADER.size
    end = len(buf)
    try:
        for _ in range(count):
            length, pos = _varint(buf, pos)
            stop = pos + length
            p = pos + 1  # attributes
            _, p = _varint(buf, p)  # timestamp delta
            _, p = _varint(buf, p)  # offset delta
            n, p = _varint(buf, p)
            key = None if n < 0 else buf[p : p + n]
            p += max(n, 0)
            n, p = _varint(buf, p)
            value = None if n < 0 else buf[p : p + n]
            p += max(n, 0)
            if buf[p] != 0 or p + 1 != stop or stop > end:  # headers, or a bad length
                return None
            keys.append(key)
            values.append(value)
            pos = stop
    except IndexError:
        return None
    return (keys, values) if pos == end else None


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
