"""The benchmarks' data and the digest every timed side computes on what it reads back.

Values carry their record id in their first 8 bytes (little-endian), so a digest can check that
every record came back once, in the right place, while touching every page of the value data.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TOPIC = "bench"
DIGEST_WINDOW = 10_000  # rows per step of the digest: the size of a fetched piece
_EIGHT = np.arange(8)


def make_values(start: int, count: int, size: int) -> list[bytes]:
    """Values of `size` bytes whose first 8 bytes are the ids start .. start+count-1."""
    pad = b"x" * (size - 8)
    return [i.to_bytes(8, "little") + pad for i in range(start, start + count)]


def digest(table: pa.Table) -> np.ndarray:
    """[rows, sum of offsets, sum of value ids, sum of value lengths] of a table of records.

    Reading every value's 8-byte id touches every page of the value data, so a memory-mapped
    side cannot skip the reads; the sums catch a lost, duplicated or wrong record. The work is
    done in windows of DIGEST_WINDOW rows, so one big table costs what many small ones do.
    """
    values = table.column("value")
    ids = 0
    for chunk in values.chunks:
        for start in range(0, len(chunk), DIGEST_WINDOW):
            ids += _id_sum(chunk.slice(start, DIGEST_WINDOW))
    lengths = pc.sum(pc.binary_length(values)).as_py() or 0
    offsets = pc.sum(table.column("offset")).as_py() or 0
    return np.array([table.num_rows, offsets, ids, lengths], dtype=np.int64)


def _id_sum(chunk: pa.BinaryArray) -> int:
    n = len(chunk)
    if n == 0:
        return 0
    _, offsets_buf, data_buf = chunk.buffers()
    starts = np.frombuffer(offsets_buf, dtype=np.int32)[chunk.offset : chunk.offset + n]
    data = np.frombuffer(data_buf, dtype=np.uint8)
    heads = data[starts[:, None] + _EIGHT]  # the first 8 bytes of every value
    return int(heads.view("<u8").sum())


def expected_digest(n: int, size: int) -> np.ndarray:
    """The digest of records 0..n-1 at offsets 0..n-1, each value `size` bytes."""
    total = n * (n - 1) // 2
    return np.array([n, total, total, n * size], dtype=np.int64)


def check(name: str, got: np.ndarray, want: np.ndarray) -> None:
    """Stop the run (exit status 1) if a side read back something else than was written."""
    if not np.array_equal(got, want):
        raise SystemExit(
            f"{name}: data read back is wrong: digest {got.tolist()} != {want.tolist()}"
        )
