"""The out-of-core shuffle: a history's rows streamed once, in input order, into a file per bucket.

DuckDB reads the history (plain or hive-partitioned Parquet, files whose schemas differ) and
hands over record batches in the files' order (its preserve_insertion_order, on by default), a
few at a time. `KeyMap` gives each row its bucket from its (topic, partition); `BucketFiles`
appends each batch's rows to their bucket's file in the order they came, so a bucket file holds
its rows in input order and is checked as it is read back, with no sort and no row numbers.

The files are Arrow IPC: writing and reading them copies buffers, where Parquet would encode and
decode every value. Their buffers are LZ4-compressed: a third of the bytes (a 200M-row history
shuffles into ~3.4 GB instead of ~10 GB, which the page cache holds instead of the disk) for
~0.4 s of CPU per 20M rows each way; zstd makes a seventh, for twice that CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chronik_lab.errors import HistoryError

__all__ = ["BucketFiles", "KeyMap"]

COMPRESSION = "lz4"
DENSE_KEYS = 1 << 22  # key tables up to this many slots are looked up directly


class KeyMap:
    """Each row's bucket from its key columns. `keys` is a table of the distinct keys (nulls
    included) with the stream's column types, one row per key; `bucket[i]` is key i's bucket.
    Every row streamed must have one of the keys (they are counted from the same rows).
    Immutable after construction; thread-safe."""

    def __init__(self, keys: pa.Table, bucket: np.ndarray) -> None:
        self.names = keys.column_names
        self.direct = self._direct(keys, bucket)
        self.values = [pc.unique(keys.column(c).combine_chunks()) for c in self.names]
        self.sizes = [len(v) for v in self.values]
        code = self._code([keys.column(c) for c in self.names])
        slots = int(np.prod(self.sizes, dtype=np.int64)) if self.sizes else 1
        if slots <= DENSE_KEYS:
            self.table = np.full(slots, -1, np.int64)
            self.table[code] = bucket
            self.sorted = None
        else:  # many topics x partitions: a sorted lookup instead of a huge table
            order = np.argsort(code)
            self.table, self.sorted = np.asarray(bucket)[order], code[order]

    def _code(self, columns: list) -> np.ndarray:
        """One int per row for its combination of key values (mixed radix over the values)."""
        code = np.zeros(len(columns[0]) if columns else 0, np.int64)
        for column, values, size in zip(columns, self.values, self.sizes, strict=True):
            index = pc.index_in(column, value_set=values)  # null matches a null key
            if index.null_count:  # a key the count did not see
                _changed()
            code = code * size + index.to_numpy(zero_copy_only=False).astype(np.int64)
        return code

    def _direct(self, keys: pa.Table, bucket: np.ndarray) -> tuple[int, np.ndarray] | None:
        """(least key, bucket by key - least) for the common keys: one int column of
        partitions, none empty, in a range of at most DENSE_KEYS."""
        if keys.num_columns != 1 or not pa.types.is_integer(keys.schema.types[0]):
            return None
        column = keys.column(0)
        if column.null_count or not len(column):
            return None
        values = column.to_numpy().astype(np.int64)
        low, high = int(values.min()), int(values.max())
        if high - low >= DENSE_KEYS:
            return None
        table = np.full(high - low + 1, -1, np.int64)
        table[values - low] = bucket
        return low, table

    def buckets(self, batch: pa.RecordBatch) -> np.ndarray:
        if self.direct is not None:
            column = batch.column(self.names[0])
            if not column.null_count:  # else the general lookup, which knows the empty key
                low, table = self.direct
                key = column.to_numpy().astype(np.int64, copy=False) - low
                if len(key) and (key.min() < 0 or key.max() >= len(table)):
                    _changed()
                return _known(table[key])
        code = self._code([batch.column(c) for c in self.names])
        if self.sorted is None:
            return _known(self.table[code])
        return self.table[np.searchsorted(self.sorted, code)]


def _known(bucket: np.ndarray) -> np.ndarray:
    if len(bucket) and bucket.min() < 0:
        _changed()
    return bucket


def _changed() -> None:
    """A row whose key the count did not see: the files changed between the two reads."""
    raise HistoryError("the history's files changed while it was being checked")


class BucketFiles:
    """One Arrow IPC file per bucket under `directory` (which the caller owns and removes).

    Invariants: bucket k's file holds, in the order written, every row written so far whose
    bucket is k; after `close()` every file is complete and `read(k)` returns it whole (an empty
    table for a bucket no row went to). Writing is not thread-safe (one shuffle writes);
    `read` and `remove` of different buckets may run on different threads after `close()`."""

    def __init__(self, directory: Path, schema: pa.Schema) -> None:
        self.directory, self.schema = directory, schema
        self.rows = 0
        self._writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
        self._options = pa.ipc.IpcWriteOptions(compression=COMPRESSION)

    def path(self, k: int) -> Path:
        return self.directory / f"bucket-{k:06d}.arrow"

    def write(self, batch: pa.RecordBatch, bucket: np.ndarray) -> None:
        """Append each row of `batch` to bucket `bucket[row]`'s file, rows keeping their order."""
        if not batch.num_rows:
            return
        self.rows += batch.num_rows
        first, last = int(bucket.min()), int(bucket.max())
        if first == last:  # a batch of one bucket (files written partition by partition)
            self._writer(first).write_batch(batch)
            return
        # A stable sort keeps each bucket's rows in input order; small ints sort by radix.
        small = bucket.astype(np.uint16) if last < 1 << 16 else bucket
        order = np.argsort(small, kind="stable")
        counts = np.bincount(bucket, minlength=last + 1)
        grouped = batch.take(pa.array(order))
        start = 0
        for k in np.flatnonzero(counts):
            self._writer(int(k)).write_batch(grouped.slice(start, int(counts[k])))
            start += int(counts[k])

    def _writer(self, k: int) -> pa.ipc.RecordBatchFileWriter:
        writer = self._writers.get(k)
        if writer is None:
            writer = pa.ipc.new_file(str(self.path(k)), self.schema, options=self._options)
            self._writers[k] = writer
        return writer

    def close(self) -> None:
        writers, self._writers = self._writers, {}
        for writer in writers.values():
            writer.close()

    def read(self, k: int) -> pa.Table:
        """Bucket k's rows in input order, each column one contiguous array."""
        path = self.path(k)
        if not path.exists():
            return self.schema.empty_table()
        with pa.OSFile(str(path)) as file:
            table = pa.ipc.open_file(file).read_all()
        return table.combine_chunks()

    def remove(self, k: int) -> None:
        self.path(k).unlink(missing_ok=True)
