"""How one record batch is framed in a segment file, and the CRC-32C that guards it.

A segment is an Arrow IPC *stream*: the schema message (`HEADER`), then one message per record
batch, then (once sealed) the 8-byte end-of-stream marker. Each record batch message is

    ff ff ff ff | metadata length (int32 LE) | metadata (flatbuffer) | body (the column buffers)

and carries its checksums in the message's own custom metadata (Arrow's `custom_metadata`), under
the key "chronik_lab", as the fixed-width ASCII value `crc32c:HHHHHHHH:BBBBBBBB`:

- B, the CRC-32C (Castagnoli, as in Kafka's record batches) of the body;
- H, the CRC-32C of the 8-byte prefix and the metadata, computed with H's own eight digits as
  "0" (B included), so it covers the row count, every buffer's offset and length, and the body
  length that says where the next message starts.

No sidecar file: a batch and its checksum are written by the same `write`, so they cannot
disagree after a crash. Because the schema is fixed, the metadata of every batch has the same
length and layout (flatbuffers omit only fields equal to their default, and a batch here never
has zero rows or a zero-length body); the positions of the checksum digits, the body length, the
row count, the field nodes and the buffers (`LAYOUT`, which fastframe writes and fastread reads)
are found once at import from sample batches, and the checksum's are checked at every encode.

That fixed layout is what tells a torn tail from corruption: a crash can only leave a *prefix* of
the last message, so the bytes present must match the only possible prefix (`ff ff ff ff`, then
`META_LEN`), and once the whole metadata is present its checksum must hold. Only then is the body
length trusted, and only a file that ends before that length is a torn tail. A flipped bit in the
length prefix, in the metadata or in the body is corruption, never a "torn tail" to cut.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import google_crc32c
import numpy as np
import pyarrow as pa

from chronik_lab.engine.records import SCHEMA

KEY = "chronik_lab"
_PLACEHOLDER = "crc32c:00000000:00000000"
CONTINUATION = b"\xff\xff\xff\xff"
EOS = CONTINUATION + b"\x00\x00\x00\x00"  # the end-of-stream marker of a sealed segment


class FrameError(Exception):
    """A message that is not a record batch exactly as chronik_lab wrote it (internal)."""


def crc32c(data: object) -> int:
    """CRC-32C of a bytes-like object (a pa.Buffer is read in place, not copied)."""
    return google_crc32c.value(data)


def _stream_header() -> bytes:
    """The bytes every segment starts with: the schema message of an IPC stream."""
    sink = pa.BufferOutputStream()
    pa.ipc.new_stream(sink, SCHEMA).close()
    return sink.getvalue().to_pybytes()[: -len(EOS)]


def _serialize(batch: pa.RecordBatch) -> pa.Buffer:
    """One batch message (with the placeholder), from Arrow's stream writer. Written into a
    buffer allocated at its final size: one copy of the data, no growing and re-copying."""
    room = len(HEADER) + pa.ipc.get_record_batch_size(batch) + 1024 + len(EOS)
    buf = pa.allocate_buffer(room)
    sink = pa.FixedSizeBufferWriter(buf)
    with pa.ipc.new_stream(sink, SCHEMA) as writer:
        writer.write_batch(batch, custom_metadata={KEY: _PLACEHOLDER})
    return buf.slice(len(HEADER), sink.tell() - len(HEADER) - len(EOS))


class Layout(NamedTuple):
    """Where a record batch message keeps each field it does not share with every other one:
    the same positions for every batch here (the schema is fixed), found at import. Positions
    count from the start of the message (its `ff ff ff ff` prefix); integers are little-endian
    int64. `head` is a sample message's prefix and metadata, checksum digits "0": a template
    where writing the fields below makes any batch's head (fastframe does). Immutable."""

    head: bytes  # HEAD_LEN bytes
    rows_at: int  # the row count (RecordBatch.length)
    nodes_at: int  # 4 field nodes, in schema order: (length, null count) each
    buffers_at: int  # the body's 10 buffers, in schema order: (offset, length) each
    body_len_at: int  # the body length (Message.bodyLength): where the next message starts
    header_crc: slice  # H's eight hex digits (see the module docstring)
    body_crc: slice  # B's eight hex digits


def _layout() -> Layout:
    """The layout of sample messages, which must agree (else this pyarrow is not supported)."""
    found = set()
    for n in (1, 3):
        sample = pa.RecordBatch.from_arrays(
            [pa.array(np.arange(n, dtype=np.int64)), pa.array(np.zeros(n, dtype=np.int64))]
            + [pa.array([b"k" * 5] * n, pa.binary()), pa.array([None] * n, pa.binary())],
            schema=SCHEMA,
        )
        message = _serialize(sample)
        meta_len = struct.unpack_from("<i", message.slice(4, 4).to_pybytes())[0]
        head = message.slice(0, 8 + meta_len).to_pybytes()
        value_at = head.index(_PLACEHOLDER.encode())
        body_len_at = head.index(struct.pack("<q", message.size - len(head)), 8)
        rows_at, nodes_at, buffers_at = (8 + at for at in _batch_fields(head[8:]))
        found.add((meta_len, value_at, body_len_at, rows_at, nodes_at, buffers_at))
        template = head  # any sample's: every field that differs between batches is listed
    if len(found) != 1:
        raise RuntimeError(f"this pyarrow lays out record batch metadata unevenly: {found}")
    _, value_at, body_len_at, rows_at, nodes_at, buffers_at = found.pop()
    return Layout(
        template,
        rows_at,
        nodes_at,
        buffers_at,
        body_len_at,
        header_crc=slice(value_at + 7, value_at + 15),
        body_crc=slice(value_at + 16, value_at + 24),
    )


def _batch_fields(meta: bytes) -> tuple[int, int, int]:
    """Where, in the metadata flatbuffer, the row count, the first field node and the first
    buffer are (Message: version, header_type, header, ...; RecordBatch: length, nodes,
    buffers)."""

    def u32(at: int) -> int:
        return struct.unpack_from("<I", meta, at)[0]

    def fields(table: int) -> list[int]:
        vtable = table - struct.unpack_from("<i", meta, table)[0]
        count = (struct.unpack_from("<H", meta, vtable)[0] - 4) // 2
        return [table + struct.unpack_from("<H", meta, vtable + 4 + 2 * i)[0] for i in range(count)]

    message = fields(u32(0))
    header = fields(message[2] + u32(message[2]))
    nodes, buffers = header[1] + u32(header[1]), header[2] + u32(header[2])
    if (u32(nodes), u32(buffers)) != (4, 10):
        raise RuntimeError("unexpected record batch metadata")
    return header[0], nodes + 4, buffers + 4


HEADER = _stream_header()
LAYOUT = _layout()
HEAD_LEN = len(LAYOUT.head)  # prefix + metadata: everything before the body
META_LEN = HEAD_LEN - 8
PREFIX = CONTINUATION + struct.pack("<i", META_LEN)
_H, _B = LAYOUT.header_crc, LAYOUT.body_crc
_PLACEHOLDER_AT = slice(_H.start - 7, _B.stop)


def encode(batch: pa.RecordBatch) -> tuple[bytes, pa.Buffer]:
    """One record batch as (head, body): the bytes to append to a segment, in that order."""
    message = _serialize(batch)
    head = bytearray(message.slice(0, HEAD_LEN).to_pybytes())
    if bytes(head[:8]) != PREFIX or head[_PLACEHOLDER_AT] != _PLACEHOLDER.encode():
        raise RuntimeError("record batch metadata is not laid out as at import")  # never seen
    body = message.slice(HEAD_LEN)
    head[_B] = b"%08x" % crc32c(body)
    head[_H] = b"%08x" % crc32c(bytes(head))  # H's digits are still "00000000" here
    return bytes(head), body


def message_length(head: bytes) -> int | None:
    """The length of the message whose first bytes are `head` (up to HEAD_LEN of them), 0 for
    the end-of-stream marker, or None if `head` is too short: a torn tail. Raises FrameError
    when the bytes cannot be the start of a message chronik_lab wrote."""
    head = bytes(head[:HEAD_LEN])
    if len(head) >= 8 and head[:8] == EOS:
        return 0
    if len(head) < 8 and head == EOS[: len(head)]:
        return None  # a marker cut while a segment was being sealed
    if head[:8] != PREFIX[: len(head)]:
        raise FrameError("not a record batch written by chronik_lab (bad message prefix)")
    if len(head) < HEAD_LEN:
        return None
    stored = head[_H]
    zeroed = head[: _H.start] + b"00000000" + head[_H.stop : HEAD_LEN]
    if stored != b"%08x" % crc32c(zeroed):
        raise FrameError("metadata checksum mismatch")
    (body_len,) = struct.unpack_from("<q", head, LAYOUT.body_len_at)
    if body_len <= 0 or body_len % 8:
        raise FrameError(f"impossible body length {body_len}")  # guarded by the CRC; belt too
    return HEAD_LEN + body_len


def verify_body(message: pa.Buffer) -> None:
    """Check the body against the CRC in its (already verified) metadata."""
    stored = message.slice(_B.start, 8).to_pybytes()
    if stored != b"%08x" % crc32c(message.slice(HEAD_LEN)):
        raise FrameError("body checksum mismatch")


def decode(message: pa.Buffer) -> pa.RecordBatch:
    """The record batch of a message whose metadata checksum holds (so its layout is safe)."""
    try:
        return pa.ipc.read_record_batch(pa.ipc.read_message(message), SCHEMA)
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        raise FrameError(f"unreadable record batch: {exc}") from None


def check_structure(batch: pa.RecordBatch, first: int) -> None:
    """A verified batch's structure: Arrow's full validation, no null offset or timestamp, and
    offsets first, first+1, ... (contiguous and increasing, as every batch here)."""
    try:
        batch.validate(full=True)
    except pa.ArrowInvalid as exc:
        raise FrameError(f"invalid record batch: {exc}") from None
    if batch.num_rows == 0:
        raise FrameError("empty record batch")
    offsets, stamps = batch.column(0), batch.column(1)
    if offsets.null_count or stamps.null_count:
        raise FrameError("null offset or timestamp")
    values = offsets.to_numpy()
    if values[0] != first:
        raise FrameError(f"starts at offset {values[0]}, expected {first}")
    if not np.array_equal(values, np.arange(first, first + len(values), dtype=np.int64)):
        raise FrameError(f"offsets are not contiguous from {first}")
