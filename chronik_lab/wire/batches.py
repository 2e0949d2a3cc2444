"""Record data on the wire: producer batches in, re-encoded fetch batches out.

The format itself is kafka-python's `kafka.record` (magic 0/1 message sets and magic 2 record
batches, every codec it has a library for, CRC-32C through the `crc32c` extension). This module
only decides what goes in and out:

- `decode_records` reads a producer's record data (any magic, compressed or not), checks each
  batch's CRC as a Kafka broker does, and returns keys and values for `Broker.produce`, and how
  many batches carried them. The producer's timestamps, producer id and sequence are dropped:
  the engine stamps its own time.
- `encode_batch` re-encodes the engine's Arrow records into v2 record batches, as chronik's
  `encode_kafka_records` did (it never served the producer's bytes): no producer id, no
  compression, `base_offset` = the first record's offset and each `offset_delta` = offset - base
  (the plain case -- no keys, no null values -- through fastbatch.py's vectorised encoder, which
  writes the same bytes as the library's builder).
  The engine's `offset` column is already what the client must see, so under
  `renumber_response_offsets` offset_delta is the record's position in the batch, exactly
  chronik's `kafka_records.rs`; a record whose offset does not follow the previous one (a buggy
  engine's repeat) starts a new batch, since a batch's deltas must grow.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import numpy as np
import pyarrow as pa
from kafka.errors import CorruptRecordError, UnsupportedCodecError
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from kafka.record.util import calc_crc32

from chronik_lab.bugs import BugSet
from chronik_lab.wire.fastbatch import plain_batch, plain_records

__all__ = ["BadRecordsError", "Decoded", "decode_records", "encode_batch"]

_NO_LIMIT = 2**31 - 1
_CRC_OFFSET = DefaultRecordBatchBuilder.CRC_OFFSET
_ATTRIBUTES_OFFSET = DefaultRecordBatchBuilder.ATTRIBUTES_OFFSET


class BadRecordsError(ValueError):
    """A producer's record data could not be read: Kafka's CORRUPT_MESSAGE (or an unknown
    codec: UNSUPPORTED_COMPRESSION_TYPE)."""

    def __init__(self, message: str, error_code: int = 2) -> None:
        super().__init__(message)
        self.error_code = error_code


class Decoded(NamedTuple):
    keys: list[bytes | None]
    values: list[bytes | None]
    batches: int  # how many record batches (or magic 0/1 message sets' entries) held them


def decode_records(data: bytes | None) -> Decoded:
    """Keys and values of every record in a producer's record data, in order."""
    if not data:
        raise BadRecordsError("a produce request carried no records")
    keys: list[bytes | None] = []
    values: list[bytes | None] = []
    batches = 0
    try:
        records = MemoryRecords(bytes(data))
        while True:
            batch = records.next_batch()
            if batch is None:
                break
            batches += 1
            if not batch.validate_crc():
                raise BadRecordsError("a record batch failed its CRC check")
            plain = plain_records(batch._buffer) if batch.magic == 2 else None
            if plain is not None:  # the common case, read in a tight loop
                keys += plain[0]
                values += plain[1]
                continue
            for record in batch:
                keys.append(record.key)
                values.append(record.value)
    except UnsupportedCodecError as exc:
        raise BadRecordsError(str(exc), error_code=76) from None
    except (CorruptRecordError, struct.error, ValueError, IndexError, AssertionError) as exc:
        if isinstance(exc, BadRecordsError):
            raise
        raise BadRecordsError(f"unreadable record data: {exc}") from None
    if not values:
        raise BadRecordsError("a produce request carried no records")
    return Decoded(keys, values, batches)


def encode_batch(records: pa.Table, bugs: BugSet) -> bytes:
    """The engine's fetched records as v2 record batches (b"" when there are none)."""
    n = records.num_rows
    if n == 0:
        return b""
    offsets = records.column("offset").to_numpy()
    stamps = records.column("timestamp").to_numpy()
    keys = records.column("key").combine_chunks()
    values = records.column("value").combine_chunks()
    # a new batch wherever an offset does not grow (a buggy engine's repeat)
    ends = [*(np.flatnonzero(np.diff(offsets) <= 0) + 1).tolist(), n]
    out = bytearray()
    start = 0
    for end in ends:
        piece = None
        if keys.null_count == n:  # the plain case: vectorised, byte-identical to the library
            piece = plain_batch(offsets[start:end], stamps[start:end], values[start:end])
        if piece is None:
            piece = _one_batch(offsets, stamps, keys, values, start, end)
        out += _crc(piece, bugs)
        start = end
    return bytes(out)


def _crc(buf: bytearray, bugs: BugSet) -> bytearray:
    if bugs.crc32_ieee_batches:
        # kafka_records.rs `calculate_crc32` (every tag through v1.0.0, and later): crc32fast,
        # the IEEE polynomial, over the same bytes where Kafka's format needs CRC-32C.
        crc = calc_crc32(memoryview(buf)[_ATTRIBUTES_OFFSET:])
        struct.pack_into(">I", buf, _CRC_OFFSET, crc)
    return buf


def _one_batch(offsets, stamps, keys, values, start: int, end: int) -> bytearray:
    """Records start..end-1 as one batch, through kafka-python's builder (any keys, nulls)."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=_NO_LIMIT,
    )
    base = int(offsets[start])
    append = builder.append
    key_list = keys[start:end].to_pylist()
    value_list = values[start:end].to_pylist()
    for i, offset in enumerate(offsets[start:end].tolist()):
        append(offset - base, int(stamps[start + i]), key_list[i], value_list[i], ())
    buf = builder.build()
    struct.pack_into(">q", buf, 0, base)  # base_offset sits before the CRC'd range
    return buf
