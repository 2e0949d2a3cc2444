"""Decode a run of small record batch messages of one segment into a single record batch.

Runs of many small produce requests leave segments of many small record batches (one per
flush: a single record each under v0.7.4's flush-every-request). Decoding a message costs ~3 us
in pyarrow however small it is: 1.5 ms for a fetch of 500 single-record batches. The
messages all have framing's fixed layout (`framing.LAYOUT`), so the buffers of every message in
a run can be read at once from their metadata and gathered with numpy into the four columns of
one batch:

- offsets and timestamps: each message's int64 buffer, concatenated;
- key and value: the bytes concatenated, the int32 offsets rebased onto them; the validity
  bitmap only in the two cases the lab writes -- no null in the column in any message, or
  only nulls (unkeyed requests). Any other run is left to the per-message decode (`None`).

Only messages already verified in this process are taken (segment.py decides), so the layout
is trusted; each message's offsets must also start at 0 and end at its data length, as Arrow's
IPC writer writes them, or the run is left to pyarrow. The result equals the per-message
batches concatenated (tests/test_fastread.py), but it is a copy: segment.py uses it for small
messages only, where zero-copy saves nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from chronik_lab.engine.framing import HEAD_LEN, LAYOUT
from chronik_lab.engine.records import SCHEMA

_SPEC = LAYOUT.buffers_at + np.arange(160)  # the 10 (offset, length) pairs, as bytes
_NODES = LAYOUT.nodes_at + np.arange(64)  # the 4 (length, null count) pairs


def decode_run(data: pa.Buffer, positions: Sequence[int]) -> pa.RecordBatch | None:
    """The records of the messages at `positions` (consecutive, verified) as one batch."""
    raw = np.frombuffer(data, dtype=np.uint8)
    starts = np.asarray(positions, dtype=np.int64)
    spec = _int64s(raw[starts[:, None] + _SPEC], 20)  # columns: offset0, length0, ...
    nodes = _int64s(raw[starts[:, None] + _NODES], 8)
    rows = nodes[:, 0]
    total = int(rows.sum())
    body = starts + HEAD_LEN
    columns = [
        pa.array(_int64s(_gather(raw, body + spec[:, 2], spec[:, 3]))),
        pa.array(_int64s(_gather(raw, body + spec[:, 6], spec[:, 7]))),
    ]
    for first_buffer, nulls in ((4, nodes[:, 5]), (7, nodes[:, 7])):
        column = _binary(raw, body, spec, first_buffer, rows, nulls, total)
        if column is None:
            return None
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=SCHEMA)


def _binary(
    raw: np.ndarray,
    body: np.ndarray,
    spec: np.ndarray,
    b: int,
    rows: np.ndarray,
    nulls: np.ndarray,
    total: int,
) -> pa.Array | None:
    """A binary column from buffers b (validity), b+1 (int32 offsets), b+2 (data)."""
    if not (nulls == 0).all() and not (nulls == rows).all():
        return None  # some nulls, some not: a bitmap to splice bit by bit, left to pyarrow
    offsets = _gather(raw, body + spec[:, 2 * b + 2], spec[:, 2 * b + 3]).view("<i4")
    data_lengths = spec[:, 2 * b + 5]
    ends = np.cumsum(rows + 1)  # each message's offsets: rows + 1 of them
    firsts, lasts = offsets[ends - rows - 1], offsets[ends - 1]
    if len(offsets) != ends[-1] or (firsts != 0).any() or (lasts != data_lengths).any():
        return None
    data = _gather(raw, body + spec[:, 2 * b + 4], data_lengths)
    # Rebase: message j's offsets shift by the data of the messages before it; its leading 0
    # is the previous message's end, so only the first message keeps it.
    shift = np.repeat(np.cumsum(data_lengths) - data_lengths, rows + 1)
    keep = np.ones(len(offsets), dtype=bool)
    keep[(ends - rows - 1)[1:]] = False
    rebased = (offsets.astype(np.int64) + shift)[keep]
    if rebased[-1] > np.iinfo(np.int32).max:
        return None
    null_count = int(nulls.sum())
    validity = pa.py_buffer(bytes((total + 7) // 8)) if null_count else None
    buffers = [validity, pa.py_buffer(rebased.astype("<i4")), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.binary(), total, buffers, null_count=null_count)


def _gather(raw: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """raw[s:s+n] for every (s, n), concatenated (bytes)."""
    size = int(lengths.sum())
    if not size:
        return np.empty(0, dtype=np.uint8)
    before = np.cumsum(lengths) - lengths
    return raw[np.repeat(starts - before, lengths) + np.arange(size)]


def _int64s(values: np.ndarray, width: int | None = None) -> np.ndarray:
    """Little-endian int64s from gathered bytes (a row of `width` per message, or flat)."""
    out = np.ascontiguousarray(values).view("<i8")
    return out.reshape(-1, width) if width else out
