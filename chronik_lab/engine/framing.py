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
has zero rows or a zero-length body); the positions of the checksum digits and of the body length
are found once at import from sample batches and checked again at every encode.

That fixed layout is what tells a torn tail from corruption: a crash can only leave a *prefix* of
the last message, so the bytes present must match the only possible prefix (`ff ff ff ff`, then
`META_LEN`), and once the whole metadata is present its checksum must hold. Only then is the body
length trusted, and only a file that ends before that length is a torn tail. A flipped bit in the
length prefix, in the metadata or in the body is corruption, never a "torn tail" to cut.
"""

from __future__ import annotations

import struct

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


def _layout() -> tuple[bytes, int, int, int]:
    """META_LEN, and the positions (in a message) of the checksum value and the body length."""
    found = set()
    for n in (1, 3):
        sample = pa.RecordBatch.from_arrays(
            [pa.array(np.arange(n, dtype=np.int64)), pa.array(np.zeros(n, dtype=np.int64))]
            + [pa.array([b"k" * 5] * n, pa.binary()), pa.array([None] * n, pa.binary())],
            schema=SCHEMA,
        )
        message = _serialize(sample)
        head = message.to_pybytes()
        meta_len = struct.unpack_from("<i", head, 4)[0]
        body_len = message.size - 8 - meta_len
        value_at = head.index(_PLACEHOLDER.encode())
        body_len_at = head.index(struct.pack("<q", body_len), 8)
        found.add((meta_len, value_at, body_len_at))
    if len(found) != 1:
        raise RuntimeError(f"this pyarrow lays out record batch metadata unevenly: {found}")
    return found.pop()


HEADER = _stream_header()
META_LEN, _VALUE_AT, _BODY_LEN_AT = _layout()
HEAD_LEN = 8 + META_LEN  # prefix + metadata: everything before the body
PREFIX = CONTINUATION + struct.pack("<i", META_LEN)
_H = slice(_VALUE_AT + 7, _VALUE_AT + 15)  # the header CRC's digits
_B = slice(_VALUE_AT + 16, _VALUE_AT + 24)  # the body CRC's digits


def encode(batch: pa.RecordBatch) -> tuple[bytes, pa.Buffer]:
    """One record batch as (head, body): the bytes to append to a segment, in that order."""
    message = _serialize(batch)
    head = bytearray(message.slice(0, HEAD_LEN).to_pybytes())
    if bytes(head[:8]) != PREFIX or head[_VALUE_AT : _VALUE_AT + 24] != _PLACEHOLDER.encode():
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
    (body_len,) = struct.unpack_from("<q", head, _BODY_LEN_AT)
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
