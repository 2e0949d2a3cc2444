"""Frame records still held as Python lists straight into the bytes Arrow's IPC writer writes.

Through Arrow's machinery, a flush of a few small requests costs ~12 us to build a record batch
from the requests' lists and ~10 us for `ipc.new_stream` to serialize it. A pending
request's records are still Python lists (`records.LazyBatch`) and the schema is fixed, so the
message can be assembled directly:

- the body is the columns' buffers in schema order, each padded to 8 bytes: the offsets and the
  timestamps (int64, never null: an empty validity buffer each), then for key and value a
  validity bitmap (empty when the column has no null), int32 offsets, and the bytes themselves,
  then the producer fields (int64, int16, int32, never null), one value per request repeated;
- the metadata is pyarrow's own for a sample batch (`framing.LAYOUT.head`: the same length and
  field positions for every batch) with the row count, the four field nodes (length, null
  count), the ten buffers (offset, length) and the body length written in place at
  `framing.LAYOUT`'s positions, then the CRC-32C digits exactly as `framing.encode` writes them.

`encode_entries(entries)` is byte-identical to `framing.encode(records.build_batch(entries))`.
That is checked at import on sample batches (a pyarrow that lays a message out differently turns
the fast path off, `ENABLED`), and by a hypothesis test over random requests
(tests/test_fastframe.py). Entries a fetch already built as Arrow go through pyarrow.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Sequence
from itertools import accumulate, chain

import numpy as np
import pyarrow as pa

from chronik_lab.engine import framing
from chronik_lab.engine.records import LazyBatch, build_batch

_Q = struct.Struct("<q")
_I2 = struct.Struct("<ii")
_H1 = struct.Struct("<h")
_I1 = struct.Struct("<i")
_NODES = struct.Struct(f"<{2 * framing.NODE_COUNT}q")  # field nodes: (length, null_count)
_BUFFERS = struct.Struct(f"<{2 * framing.BUFFER_COUNT}q")  # buffers: (offset, length)
_PRODUCER_BUFFERS = struct.Struct("<12q")  # the last 6: the producer fields' buffers
_PAD = bytes(8)
_MAX_DATA = (1 << 31) - 1  # int32 offsets: past this, leave it to pyarrow (never reached)
# framing's fixed layout, as module constants: read once per flush, on the hot path
_TEMPLATE = framing.LAYOUT.head
_LENGTH_AT, _NODES_AT = framing.LAYOUT.rows_at, framing.LAYOUT.nodes_at
_BUFFERS_AT, _BODY_LEN_AT = framing.LAYOUT.buffers_at, framing.LAYOUT.body_len_at
_B, _H = framing.LAYOUT.body_crc, framing.LAYOUT.header_crc  # the two CRCs' digits
_VALUE_DATA_LEN_AT = _BUFFERS_AT + 19 * 8  # the length of buffer 9: the value bytes
_PRODUCER_BUFFERS_AT = _BUFFERS_AT + 20 * 8  # buffers 10-15: the producer fields


def encode_entries(entries: Sequence[LazyBatch]) -> tuple[bytes, bytes | pa.Buffer]:
    """The (head, body) of one record batch of contiguous entries, as `framing.encode` of
    their `build_batch` would return them (bytes-for-bytes the same)."""
    encoded = _encode_lists(entries) if ENABLED else None
    if encoded is not None:
        return encoded
    return framing.encode(build_batch(list(entries)))


def _encode_lists(entries: Sequence[LazyBatch]) -> tuple[bytes, bytes] | None:
    """None when an entry is already built as Arrow (or the data is too big)."""
    first = entries[0].first
    n = entries[-1].last - first + 1
    producer = _producer_columns(entries, n)
    if len(entries) == 1:
        held = entries[0].lists()
        if held is None:
            return None
        values, keys, stamp = held
        stamps = _Q.pack(stamp) * n
    else:  # one pass over the entries: this runs once per flush
        values, parts, key_lists, keyed = [], [], [], False
        for e in entries:
            held = e.lists()
            if held is None:
                return None
            entry_values, entry_keys, stamp = held
            values += entry_values
            parts.append(_Q.pack(stamp) * len(entry_values))
            key_lists.append(entry_keys)
            keyed = keyed or entry_keys is not None
        stamps = b"".join(parts)
        keys = None
        if keyed:
            pairs = zip(key_lists, entries, strict=True)
            keys = list(chain.from_iterable(k or [None] * e.num_rows for k, e in pairs))
    if keys is None and None not in values:  # type: ignore[operator]
        return _encode_unkeyed(first, n, stamps, values, producer)  # type: ignore[arg-type]
    return _encode_generic(first, n, stamps, values, keys, producer)  # type: ignore[arg-type]


def _producer_columns(entries: Sequence[LazyBatch], n: int) -> tuple[bytes, bytes, bytes]:
    """The producer fields' three buffers (unpadded): one value per request, repeated."""
    first = entries[0].producer
    if len(entries) == 1 or all(e.producer == first for e in entries):
        pid, epoch, seq = first  # one producer's batch, or none (all -1: 0xff bytes)
        return _Q.pack(pid) * n, _H1.pack(epoch) * n, _I1.pack(seq) * n
    # an idempotent producer's requests each have their own sequence
    ids, epochs, seqs = zip(*[e.producer for e in entries], strict=True)
    if n == len(entries):  # one record a request: one value each, no repeats
        # struct packs a tuple of ints in one call, twice as fast as array() iterating it
        return (
            struct.pack(f"<{n}q", *ids),
            struct.pack(f"<{n}h", *epochs),
            struct.pack(f"<{n}i", *seqs),
        )
    counts = [e.num_rows for e in entries]
    return tuple(  # type: ignore[return-value]
        np.repeat(np.array(column, dtype=kind), counts).tobytes()
        for column, kind in ((ids, "<i8"), (epochs, "<i2"), (seqs, "<i4"))
    )


def _encode_generic(
    first: int,
    n: int,
    stamps: bytes,
    values: list[bytes | None],
    keys: list | None,
    producer: tuple[bytes, bytes, bytes],
) -> tuple[bytes, bytes] | None:
    """Any list-form records: every buffer laid out in turn (None: too big for int32
    offsets, which a flush's grouping never lets happen; pyarrow then takes it)."""
    key_nulls, *key_bufs = _nulls(n) if keys is None else _binary(keys)
    value_nulls, *value_bufs = _binary(values)
    if len(key_bufs[2]) > _MAX_DATA or len(value_bufs[2]) > _MAX_DATA:
        return None
    offsets = array("q", range(first, first + n)).tobytes()
    spec: list[int] = []
    parts: list[bytes] = []
    position = 0
    ids, epochs, seqs = producer
    for buf in (
        b"",
        offsets,
        b"",
        stamps,
        *key_bufs,
        *value_bufs,
        b"",
        ids,
        b"",
        epochs,
        b"",
        seqs,
    ):
        size = len(buf)
        spec += (position, size)
        parts.append(buf)
        pad = -size % 8
        if pad:
            parts.append(_PAD[:pad])
        position += size + pad
    body = b"".join(parts)
    head = bytearray(_TEMPLATE)
    _Q.pack_into(head, _LENGTH_AT, n)
    _NODES.pack_into(head, _NODES_AT, n, 0, n, 0, n, key_nulls, n, value_nulls, *_fixed_nodes(n))
    _BUFFERS.pack_into(head, _BUFFERS_AT, *spec)
    _Q.pack_into(head, _BODY_LEN_AT, position)
    head[_B] = b"%08x" % framing.crc32c(body)
    head[_H] = b"%08x" % framing.crc32c(bytes(head))  # H's digits are still zeros
    return bytes(head), body


def _encode_unkeyed(
    first: int, n: int, stamps: bytes, values: list[bytes], producer: tuple[bytes, bytes, bytes]
) -> tuple[bytes, bytes] | None:
    """`_encode_generic` for the usual flush -- no key, no null value -- whose layout depends
    on n and the value bytes alone: everything else is precomputed per row count."""
    data = b"".join(values)
    size = len(data)
    if size > _MAX_DATA:
        return None
    head_shape, key_bytes, offsets_pad, value_data_at = _UNKEYED.get(n) or _unkeyed_shape(n)
    head = bytearray(head_shape)
    if n == 1:  # a single-record flush (v0.7.4's, one request a message): no arrays at all
        lengths, offsets = _I2.pack(0, size), _Q.pack(first)
    else:
        lengths = array("i", accumulate(map(len, values), initial=0)).tobytes()
        offsets = array("q", range(first, first + n)).tobytes()
    ids, epochs, seqs = producer
    ids_at = value_data_at + size + -size % 8
    epochs_at = ids_at + 8 * n
    seqs_at = epochs_at + _pad8(2 * n)
    body = b"".join(
        (offsets, stamps, key_bytes, lengths, offsets_pad, data, _PAD[: -size % 8])
        + (ids, epochs, _PAD[: -2 * n % 8], seqs, _PAD[: -4 * n % 8])
    )
    _Q.pack_into(head, _VALUE_DATA_LEN_AT, size)
    _PRODUCER_BUFFERS.pack_into(
        head,
        _PRODUCER_BUFFERS_AT,
        ids_at,
        0,
        ids_at,
        8 * n,
        epochs_at,
        0,
        epochs_at,
        2 * n,
        seqs_at,
        0,
        seqs_at,
        4 * n,
    )
    _Q.pack_into(head, _BODY_LEN_AT, len(body))
    head[_B] = b"%08x" % framing.crc32c(body)
    head[_H] = b"%08x" % framing.crc32c(bytes(head))  # H's digits are still zeros
    return bytes(head), body


def _unkeyed_shape(n: int) -> tuple[bytes, bytes, bytes, int]:
    """For n unkeyed records without a null value: the head with every field that depends
    only on n filled in, the key column's bytes (all zero), the padding after the value
    offsets, and where the value bytes start. Cached: a run has a handful of request sizes."""
    head = bytearray(_TEMPLATE)
    key_bytes = _pad8((n + 7) // 8) + _pad8(4 * (n + 1))
    value_data_at = 16 * n + key_bytes + _pad8(4 * (n + 1))
    spec = [0, 0, 0, 8 * n, 8 * n, 0, 8 * n, 8 * n]  # offset and timestamp columns
    spec += [16 * n, (n + 7) // 8, 16 * n + _pad8((n + 7) // 8), 4 * (n + 1), 16 * n + key_bytes, 0]
    spec += [16 * n + key_bytes, 0, 16 * n + key_bytes, 4 * (n + 1), value_data_at, 0]
    _Q.pack_into(head, _LENGTH_AT, n)
    _NODES.pack_into(head, _NODES_AT, n, 0, n, 0, n, n, n, 0, *_fixed_nodes(n))
    _BUFFERS.pack_into(head, _BUFFERS_AT, *spec, *[0] * 12)  # the producer's: per flush
    shape = (bytes(head), bytes(key_bytes), _PAD[: -4 * (n + 1) % 8], value_data_at)
    if len(_UNKEYED) < 256:
        _UNKEYED[n] = shape
    return shape


def _pad8(size: int) -> int:
    return size + -size % 8


def _fixed_nodes(n: int) -> tuple[int, ...]:
    """The producer fields' three field nodes: n records, no null."""
    return (n, 0, n, 0, n, 0)


_UNKEYED: dict[int, tuple[bytes, bytes, bytes, int]] = {}


def _nulls(n: int) -> tuple[int, bytes, bytes, bytes]:
    """An all-null binary column (`pa.nulls`): a zeroed bitmap, zeroed offsets, no data."""
    return n, bytes((n + 7) // 8), bytes(4 * (n + 1)), b""


def _binary(items: list[bytes | None]) -> tuple[int, bytes, bytes, bytes]:
    """(null count, validity bitmap, int32 offsets, data) of a binary column."""
    if None in items:
        present = np.fromiter((v is not None for v in items), dtype=bool, count=len(items))
        validity = np.packbits(present, bitorder="little").tobytes()
        nulls = len(items) - int(present.sum())
        lengths = [0 if v is None else len(v) for v in items]
        data = b"".join(filter(None, items))
    else:
        validity, nulls, lengths, data = b"", 0, map(len, items), b"".join(items)  # type: ignore[arg-type]
    return nulls, validity, array("i", accumulate(lengths, initial=0)).tobytes(), data


def _self_check() -> bool:
    """The fast path agrees with pyarrow on sample batches (run once, at import)."""
    if sys.byteorder != "little" or array("i").itemsize != 4 or array("q").itemsize != 8:
        return False
    samples = [
        [LazyBatch(0, 1, [b'{"id": 0}'], None, 0)],
        [LazyBatch(7, 3, [b"a", b"", None], [b"k", None, b""], 5), LazyBatch(10, 1, [b"x"])],
        [LazyBatch(3, 9, [None] * 9, None, 2), LazyBatch(12, 2, [b"yz", b"w"], [b"1", b"2"], 9)],
        [LazyBatch(0, 2, [b"ab", b"c"], producer=(7, 1, 2**31 - 1)), LazyBatch(2, 1, [b"d"])],
    ]
    try:
        return all(_encode_lists(s) == _pyarrow_bytes(s) for s in samples)
    except (struct.error, ValueError, TypeError):
        return False


def _pyarrow_bytes(entries: list[LazyBatch]) -> tuple[bytes, bytes]:
    head, body = framing.encode(build_batch(entries))
    return head, body.to_pybytes()


ENABLED = _self_check()  # tests turn it off to compare both paths
