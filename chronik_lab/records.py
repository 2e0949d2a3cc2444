"""The Arrow schema of a record, and helpers to build and slice record batches.

Every batch the engine handles -- a produce request, a pending batch, a buffer entry, a segment's
record batch -- holds records with *contiguous* offsets `base .. base+n-1` in its `offset` column.
The helpers rely on that to slice by arithmetic instead of scanning.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import InvalidArgumentError

SCHEMA = pa.schema(
    [
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("timestamp", pa.int64(), nullable=False),
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
    ]
)
# What fetch returns: the stored columns plus the offset the server stored, next to the offset
# the client sees (they differ only under the renumber_response_offsets bug).
FETCH_SCHEMA = SCHEMA.append(pa.field("server_offset", pa.int64(), nullable=False))

Payload = Sequence[bytes | str | None]


def _binary_column(items: object, what: str, n: int | None = None) -> pa.Array:
    """Values and keys: bytes, str (UTF-8) or None. Arrow does the type check in C."""
    if isinstance(items, (bytes, bytearray, str)) or not isinstance(items, Sequence):
        raise InvalidArgumentError(f"{what} must be a list of bytes, str or None")
    if n is not None and len(items) != n:
        raise InvalidArgumentError(f"{what} has {len(items)} items, values has {n}")
    try:
        return pa.array(items, type=pa.binary())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as exc:
        raise InvalidArgumentError(f"{what} must hold only bytes, str or None ({exc})") from None


def make_batch(
    base_offset: int, values: Payload, keys: Payload | None, timestamp: int
) -> pa.RecordBatch:
    """Build one produce request's records at offsets base_offset .. base_offset+len-1."""
    value_col = _binary_column(values, "values")
    n = len(value_col)
    if n == 0:
        raise InvalidArgumentError("a produce request needs at least one record")
    key_col = pa.nulls(n, pa.binary()) if keys is None else _binary_column(keys, "keys", n)
    offsets = pa.array(np.arange(base_offset, base_offset + n, dtype=np.int64))
    stamps = pa.array(np.full(n, timestamp, dtype=np.int64))
    return pa.RecordBatch.from_arrays([offsets, stamps, key_col, value_col], schema=SCHEMA)


def first_offset(batch: pa.RecordBatch) -> int:
    return batch.column(0)[0].as_py()


def last_offset(batch: pa.RecordBatch) -> int:
    return batch.column(0)[batch.num_rows - 1].as_py()


def slice_offsets(batch: pa.RecordBatch, lo: int, hi: int) -> pa.RecordBatch:
    """Records of a contiguous batch with lo <= offset < hi (zero-copy)."""
    base = first_offset(batch)
    start = max(0, lo - base)
    stop = min(batch.num_rows, hi - base)
    return batch.slice(start, max(0, stop - start))


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


def empty_batch(schema: pa.Schema = SCHEMA) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=schema)
