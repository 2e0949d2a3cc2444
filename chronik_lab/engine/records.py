"""The Arrow schema of a record, and helpers to build and slice record batches.

Every batch the engine handles -- a produce request, a pending batch, a buffer entry, a segment's
record batch -- holds records with *contiguous* offsets `base .. base+n-1` in its `offset` column.
The helpers rely on that to slice by arithmetic instead of scanning. Produce requests, pending
batches and buffer entries are `LazyBatch`es: short requests wait as Python lists, and a flush
converts all of its requests to Arrow in one go.

A binary column of an Arrow batch holds at most 2 GiB (int32 offsets). A produce request whose
keys or values pass that is refused, and a flush groups its requests into record batches of at
most `MAX_BATCH_BYTES` of keys and values each (`group_by_size`).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chronik_lab.errors import InvalidArgumentError

SCHEMA = pa.schema(
    [
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("timestamp", pa.int64(), nullable=False),
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
        # Kafka's idempotent producer fields of the produce request each record came with
        # (NO_PRODUCER's -1s for a non-idempotent one): per record, like the timestamp, so a
        # flush can merge requests from many producers into one record batch. Recovery reads
        # the producer state back from them; the wire re-encodes them into Kafka batches.
        pa.field("producer_id", pa.int64(), nullable=False),
        pa.field("producer_epoch", pa.int16(), nullable=False),
        pa.field("base_sequence", pa.int32(), nullable=False),
    ]
)
# (producer_id, producer_epoch, base_sequence) of a non-idempotent produce (Kafka's NO_*)
Producer = tuple[int, int, int]
NO_PRODUCER: Producer = (-1, -1, -1)
# What fetch returns: the stored columns plus the offset the server stored, next to the offset
# the client sees (they differ only under the renumber_response_offsets bug).
FETCH_SCHEMA = SCHEMA.append(pa.field("server_offset", pa.int64(), nullable=False))

Payload = Sequence[bytes | str | None]
# A flush writes one record batch per this many bytes of keys + values (at least one request
# each); under the 2 GiB a binary column can hold, with room for a request up to that size.
MAX_BATCH_BYTES = 1 << 30


def _binary_column(items: object, what: str, n: int | None = None) -> pa.Array:
    """Values and keys: bytes, str (UTF-8) or None, or an Arrow binary array as it is (the wire
    reads a long producer batch into one). Arrow does the type check in C."""
    if isinstance(items, pa.Array) and items.type == pa.binary():
        if n is not None and len(items) != n:
            raise InvalidArgumentError(f"{what} has {len(items)} items, values has {n}")
        return items
    if isinstance(items, (bytes, bytearray, str)) or not isinstance(items, Sequence):
        raise InvalidArgumentError(f"{what} must be a list of bytes, str or None")
    if n is not None and len(items) != n:
        raise InvalidArgumentError(f"{what} has {len(items)} items, values has {n}")
    try:
        column = pa.array(items, type=pa.binary())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as exc:
        raise InvalidArgumentError(f"{what} must hold only bytes, str or None ({exc})") from None
    except UnicodeEncodeError as exc:  # a lone surrogate such as "\ud800"
        raise InvalidArgumentError(f"{what} holds a str that is not valid UTF-8 ({exc})") from None
    if isinstance(column, pa.ChunkedArray):  # Arrow split it: over 2 GiB in one column
        raise InvalidArgumentError(f"{what} of one request exceed 2 GiB; split the request")
    return column


def make_batch(
    base_offset: int,
    values: Payload,
    keys: Payload | None,
    timestamp: int,
    producer: Producer = NO_PRODUCER,
) -> pa.RecordBatch:
    """Build one produce request's records at offsets base_offset .. base_offset+len-1."""
    value_col = _binary_column(values, "values")
    n = len(value_col)
    if n == 0:
        raise InvalidArgumentError("a produce request needs at least one record")
    key_col = pa.nulls(n, pa.binary()) if keys is None else _binary_column(keys, "keys", n)
    stamps = np.full(n, timestamp, dtype=np.int64)
    return _assemble(base_offset, stamps, key_col, value_col, [producer], [n])


_PRODUCER_TYPES = (np.int64, np.int16, np.int32)


def _assemble(
    base_offset: int,
    stamps: np.ndarray,
    key_col: pa.Array,
    value_col: pa.Array,
    producers: list[Producer],
    counts: list[int],
) -> pa.RecordBatch:
    """A record batch; `producers[i]` holds for the next `counts[i]` records."""
    n = len(value_col)
    offsets = pa.array(np.arange(base_offset, base_offset + n, dtype=np.int64))
    fields = [
        pa.array(np.repeat(np.array(column, dtype=kind), counts))
        for column, kind in zip(zip(*producers, strict=True), _PRODUCER_TYPES, strict=True)
    ]
    return pa.RecordBatch.from_arrays(
        [offsets, pa.array(stamps), key_col, value_col, *fields], schema=SCHEMA
    )


# What a produce request may hold without being converted at once: pa.array accepts exactly
# these, so checking the types now validates the request as fully as building it would.
_PLAIN = frozenset({bytes, type(None)})
# Up to this many records a request waits as lists. Converting one at once has a fixed cost
# (~12 us) but the wait's type check costs ~20 ns a record and reads every value object a
# second time at the flush; past a few hundred records converting at once is cheaper.
LAZY_MAX_RECORDS = 256


def _plain(items: object) -> bool:
    return (
        type(items) in (list, tuple)
        and 0 < len(items) <= LAZY_MAX_RECORDS
        and set(map(type, items)) <= _PLAIN
    )


def _list_bytes(items: Sequence[bytes | None]) -> int:
    return sum(map(len, filter(None, items)))


class LazyBatch:
    """Records at contiguous offsets `first..last`: a record batch built on first use.

    A produce request is kept as the Python lists it came with. Building Arrow arrays and a
    record batch costs ~12 us whatever the size -- more than the whole rest of a single-record
    produce request -- so a flush builds one batch from all its pending requests at once
    (`build_batch`), and an entry builds (and caches) its own batch only if a fetch or a chart
    asks for it. Immutable: the lists are copies, so the caller may reuse theirs.

    The wire hands a long request over as Arrow binary arrays: held as they are in the same
    way (`columns()`), so a flush builds the offset, timestamp and producer columns once for
    all its requests, and the write-ahead log writes their buffers as it writes lists.

    Invariants: `first..last` are the offsets held, contiguous (last = first - 1: empty);
    `num_rows` of them. Its records never change; only their form does, lists or arrays to a
    record batch on first use (`batch()`), so it is not thread-safe.
    """

    __slots__ = ("first", "last", "nbytes", "producer", "_values", "_keys", "_timestamp", "_batch")

    def __init__(
        self,
        first: int,
        count: int,
        values: list | None = None,
        keys: list | None = None,
        timestamp: int = 0,
        batch: pa.RecordBatch | None = None,
        nbytes: int = 0,
        producer: Producer = NO_PRODUCER,
    ) -> None:
        self.first = first
        self.last = first + count - 1
        self.nbytes = nbytes  # bytes of keys + values (an upper bound for a sliced batch)
        # A request's producer fields (NO_PRODUCER: none); for a wrapped batch, which may hold
        # several requests, NO_PRODUCER too: its columns say, record by record.
        self.producer = producer
        self._values = values
        self._keys = keys
        self._timestamp = timestamp
        self._batch = batch

    @classmethod
    def wrap(cls, batch: pa.RecordBatch) -> LazyBatch:
        """An already built record batch (its offsets contiguous, as every batch here)."""
        if isinstance(batch, LazyBatch):
            return batch
        first = first_offset(batch) if batch.num_rows else 0
        return cls(first, batch.num_rows, batch=batch, nbytes=batch.get_total_buffer_size())

    @property
    def num_rows(self) -> int:
        return self.last - self.first + 1

    def lists(self) -> tuple[list, list | None, int] | None:
        """(values, keys, timestamp) while the records are still the request's lists (keys
        None: no key), None once they are built as Arrow (or held as Arrow arrays). The lists
        are this entry's own: read them, never change them."""
        if self._values is None or isinstance(self._values, pa.Array):
            return None
        return self._values, self._keys, self._timestamp

    def columns(self) -> tuple[pa.Array, pa.Array | None, int] | None:
        """(values, keys, timestamp) while the records are the request's Arrow binary arrays
        (keys None: no key), not yet a record batch; None otherwise."""
        if not isinstance(self._values, pa.Array):
            return None
        return self._values, self._keys, self._timestamp

    def batch(self) -> pa.RecordBatch:
        if self._batch is None:
            self._batch = build_batch([self])
            self._values = self._keys = None  # the batch holds the records now
        return self._batch

    def slice_offsets(self, lo: int, hi: int) -> LazyBatch:
        """The records with lo <= offset < hi: itself when they all are (no copy, no Arrow)."""
        start, stop = max(lo, self.first), min(hi, self.last + 1)
        if start <= self.first and stop > self.last:
            return self
        count = max(0, stop - start)
        if count == 0:
            return LazyBatch(start, 0, values=[])  # cheap: buffer reads make one per entry
        piece = self.batch().slice(start - self.first, count)
        return LazyBatch(start, count, batch=piece, nbytes=self.nbytes, producer=self.producer)

    def __repr__(self) -> str:
        state = "built" if self._batch is not None else "lists" if self.lists() else "arrays"
        return f"LazyBatch({self.first}..{self.last}, {state})"


def make_request(
    base_offset: int,
    values: Payload,
    keys: Payload | None,
    timestamp: int,
    producer: Producer = NO_PRODUCER,
) -> LazyBatch:
    """One produce request's records, validated now and built as Arrow when first needed.

    Short lists of bytes/None stay lists until a flush, and so do Arrow binary arrays (the
    wire's long requests: already checked); anything else (str values, other sequences, long
    lists) is built at once, so that conversion errors are raised here, before any state moves.
    """
    if _arrow_request(values, keys):
        # The wire's long requests: held as their arrays until a flush builds the batch (the
        # offset, timestamp and producer columns once per flush, not once per request).
        nbytes = _array_bytes(values) + (0 if keys is None else _array_bytes(keys))
        return LazyBatch(base_offset, len(values), values, keys, timestamp, None, nbytes, producer)
    if _plain(values) and (keys is None or (_plain(keys) and len(keys) == len(values))):
        value_bytes = _list_bytes(values)
        key_bytes = 0 if keys is None else _list_bytes(keys)
        if value_bytes <= MAX_BATCH_BYTES and key_bytes <= MAX_BATCH_BYTES:
            keys = None if keys is None else list(keys)
            nbytes = value_bytes + key_bytes
            return LazyBatch(
                base_offset, len(values), list(values), keys, timestamp, None, nbytes, producer
            )
    batch = LazyBatch.wrap(make_batch(base_offset, values, keys, timestamp, producer))
    batch.producer = producer
    return batch


def _arrow_request(values: object, keys: object) -> bool:
    """Arrow binary arrays (keys None, or as many), at least one record."""
    binary = pa.binary()
    if not isinstance(values, pa.Array) or values.type != binary or not len(values):
        return False
    return keys is None or (
        isinstance(keys, pa.Array) and keys.type == binary and len(keys) == len(values)
    )


def binary_offsets(column: pa.Array) -> np.ndarray:
    """A binary array's int32 item offsets (len + 1 of them), a view of its buffer: item i is
    data[offsets[i]:offsets[i + 1]]."""
    return np.frombuffer(column.buffers()[1], np.int32, len(column) + 1, column.offset * 4)


def _array_bytes(column: pa.Array) -> int:
    """Bytes of a binary array's items (the span of its offsets)."""
    offsets = binary_offsets(column)
    return int(offsets[-1] - offsets[0])


def group_by_size(entries: list[LazyBatch], limit: int | None = None) -> list[LazyBatch]:
    """The leading entries that fit in one record batch: at most `limit` bytes of keys and
    values (MAX_BATCH_BYTES by default), and always at least one entry."""
    limit = MAX_BATCH_BYTES if limit is None else limit
    total = 0
    for i, entry in enumerate(entries):
        total += entry.nbytes
        if total > limit and i:
            return entries[:i]
    return entries


def build_batch(entries: list[LazyBatch]) -> pa.RecordBatch:
    """One record batch of contiguous entries. Each run of entries still held as lists is
    converted in one go (a whole flush, usually); entries a fetch already built are reused."""
    parts: list[pa.RecordBatch] = []
    lists: list[LazyBatch] = []
    for entry in entries:
        if entry._batch is None:
            lists.append(entry)
            continue
        if lists:
            parts.append(_from_lists(lists))
            lists = []
        parts.append(entry._batch)
    if lists:
        parts.append(_from_lists(lists))
    return concat(parts)


def _from_lists(entries: list[LazyBatch]) -> pa.RecordBatch:
    """One record batch of entries held as lists or as Arrow arrays (not yet built)."""
    if any(isinstance(e._values, pa.Array) for e in entries):
        values, keys = _from_arrays(entries)
    else:
        values = pa.array(list(chain.from_iterable(e._values for e in entries)), pa.binary())
        if all(e._keys is None for e in entries):
            keys = pa.nulls(len(values), pa.binary())
        else:
            keys = pa.array(
                list(chain.from_iterable(e._keys or [None] * e.num_rows for e in entries)),
                type=pa.binary(),
            )
    counts = [e.num_rows for e in entries]
    stamps = np.repeat(np.array([e._timestamp for e in entries], dtype=np.int64), counts)
    producers = [e.producer for e in entries]
    return _assemble(entries[0].first, stamps, keys, values, producers, counts)


def _from_arrays(entries: list[LazyBatch]) -> tuple[pa.Array, pa.Array]:
    """The values and keys of entries some of which hold Arrow arrays, as one array each."""

    def array(items: object, n: int) -> pa.Array:
        if items is None:
            return pa.nulls(n, pa.binary())
        return items if isinstance(items, pa.Array) else pa.array(items, pa.binary())

    values = [array(e._values, e.num_rows) for e in entries]
    keys = [array(e._keys, e.num_rows) for e in entries]
    if len(entries) == 1:
        return values[0], keys[0]
    return pa.concat_arrays(values), pa.concat_arrays(keys)


def first_offset(batch: pa.RecordBatch) -> int:
    return batch.column(0)[0].as_py()


def last_offset(batch: pa.RecordBatch) -> int:
    return batch.column(0)[batch.num_rows - 1].as_py()


def concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    return pa.concat_batches(batches)


def record_sizes(batch: pa.RecordBatch) -> np.ndarray:
    """Bytes of key + value per record: what max_bytes counts."""
    sizes = np.zeros(batch.num_rows, dtype=np.int64)
    for name in ("key", "value"):
        col = batch.column(name)
        lengths = pc.binary_length(col).fill_null(0)
        sizes += lengths.to_numpy(zero_copy_only=False)
    return sizes
