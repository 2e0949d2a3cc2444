"""Record data on the wire: producer batches in, re-encoded fetch batches out.

The format itself is kafka-python's `kafka.record` (magic 0/1 message sets and magic 2 record
batches, CRC-32C through the `crc32c` extension). This module only decides what goes in and out:

- `decode_records` reads a producer's record data (any magic, compressed or not), checks each
  batch as a Kafka broker does, and returns keys and values for `Broker.produce` (lists, or
  for one plain batch of COLUMNS_MIN_RECORDS records or more, Arrow arrays), how many
  batches carried them and how many bytes they take decompressed, and an idempotent producer's
  fields (producer id, epoch, base sequence: Kafka's v3+ requests carry exactly one batch then).
  The producer's timestamps are dropped: the engine stamps its own time. What it refuses, with
  Kafka's error code: a bad CRC, a magic other than 0, 1, 2, data its codec cannot read
  (CORRUPT_MESSAGE); a batch larger than message.max.bytes (MESSAGE_TOO_LARGE); records that
  decompress past the partition's budget (RECORD_LIST_TOO_LARGE: decompress.py stops there,
  nothing larger is ever allocated); a control batch, which only a broker may write
  (INVALID_RECORD); a codec without its library (UNSUPPORTED_COMPRESSION_TYPE).
- `encode_batch` (and `encode_chunks`, the same a bounded step at a time) re-encodes the
  engine's Arrow records into v2 record batches: one batch per produce request's run of records,
  with its producer id, epoch and base sequence as the producer sent them (under
  `renumber_response_offsets`, chronik's `encode_kafka_records`: one batch, no producer id);
  no compression, `base_offset` = the first record's offset and each `offset_delta` = offset - base
  (the plain case -- no keys, no null values -- through fastbatch.py's vectorised encoder, which
  writes the same bytes as the library's builder).
  The engine's `offset` column is already what the client must see, so under
  `renumber_response_offsets` offset_delta is the record's position in the batch, exactly
  chronik's `kafka_records.rs`; a record whose offset does not follow the previous one (a buggy
  engine's repeat) starts a new batch, since a batch's deltas must grow.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatch
from kafka.record.memory_records import MemoryRecords
from kafka.record.util import calc_crc32

from chronik_lab.bugs import BugSet
from chronik_lab.wire.decompress import TooLarge, Undecodable, Unsupported, decompress
from chronik_lab.wire.fastbatch import plain_batch, plain_columns, plain_records
from chronik_lab.wire.limits import MAX_MESSAGE_BYTES

__all__ = ["BadRecordsError", "Decoded", "decode_records", "encode_batch", "encode_chunks"]

CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE = 2, 10, 18
UNSUPPORTED_COMPRESSION_TYPE, INVALID_RECORD = 76, 87
_NO_LIMIT = 2**31 - 1
ENCODE_CHUNK_ROWS = 16_384  # records per encoding step of a fetch (about 0.1 s at worst here)
_CRC_OFFSET = DefaultRecordBatchBuilder.CRC_OFFSET
_ATTRIBUTES_OFFSET = DefaultRecordBatchBuilder.ATTRIBUTES_OFFSET
_HEADER_SIZE = DefaultRecordBatchBuilder.HEADER_STRUCT.size
_RECORDS_COUNT = struct.Struct(">i")
_RECORDS_COUNT_OFFSET = DefaultRecordBatchBuilder.HEADER_STRUCT.size - 4
# From this many records a plain batch is read into Arrow arrays (~150 us whatever the size,
# then well under 1 us a record), below it into lists (~3 us a record): see _read_v2.
COLUMNS_MIN_RECORDS = 64
_LEGACY_KEY_AT = {0: LegacyRecordBatch.KEY_OFFSET_V0, 1: LegacyRecordBatch.KEY_OFFSET_V1}


class BadRecordsError(ValueError):
    """A producer's record data that is refused, with the Kafka error code that says why
    (CORRUPT_MESSAGE unless told otherwise)."""

    def __init__(self, message: str, error_code: int = CORRUPT_MESSAGE) -> None:
        super().__init__(message)
        self.error_code = error_code


class Decoded(NamedTuple):
    # lists; or, for one long plain batch, Arrow binary arrays (keys None when none has a key)
    keys: list[bytes | None] | pa.Array | None
    values: list[bytes | None] | pa.Array
    batches: int  # how many record batches (or magic 0/1 message sets' entries) held them
    size: int  # their bytes, decompressed (what counted against the budget)
    # an idempotent producer's (producer id, epoch, base sequence), None for any other data
    producer: tuple[int, int, int] | None = None


class _Reader:
    """The records read so far from one partition's data, and the budget they draw on. Each
    batch's records are a part: Python lists, or Arrow arrays for a long plain batch."""

    def __init__(self, max_message_bytes: int, budget: int) -> None:
        self.max_message_bytes, self.budget = max_message_bytes, budget
        self.parts: list[tuple[Any, Any]] = []  # (keys, values): lists, or (array|None, array)
        self.count = self.batches = self.size = 0
        self.producer: tuple[int, int, int] | None = None

    def room(self) -> int:
        return self.budget - self.size

    def take(self, size: int) -> None:
        if size > self.room():
            raise _too_large(self.budget)
        self.size += size

    def add(self, keys: Any, values: Any) -> None:
        self.parts.append((keys, values))
        self.count += len(values)

    def records(self) -> tuple[Any, Any]:
        """(keys, values): one batch's arrays as they are (keys None: no key), else lists."""
        if len(self.parts) == 1:
            return self.parts[0]
        keys: list[bytes | None] = []
        values: list[bytes | None] = []
        for k, v in self.parts:
            if isinstance(v, pa.Array):
                k = [None] * len(v) if k is None else k.to_pylist()
                v = v.to_pylist()
            keys += k
            values += v
        return keys, values


def _too_large(budget: int) -> BadRecordsError:
    return BadRecordsError(
        f"the records decompress to more than {budget:,} bytes", RECORD_LIST_TOO_LARGE
    )


def decode_records(
    data: bytes | memoryview | None,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    budget: int | None = None,
) -> Decoded:
    """Keys and values of every record in a producer's record data, in order. Each batch is
    at most `max_message_bytes` on the wire; all of them, decompressed, at most `budget`
    bytes (default: max_message_bytes)."""
    if not data:
        raise BadRecordsError("a produce request carried no records")
    out = _Reader(max_message_bytes, max_message_bytes if budget is None else budget)
    try:
        records = MemoryRecords(bytes(data))
        while (batch := records.next_batch()) is not None:
            _read_batch(batch, out)
    except BadRecordsError:
        raise
    except TooLarge:
        raise _too_large(out.budget) from None
    except Undecodable as exc:
        raise BadRecordsError(str(exc)) from None
    except Unsupported as exc:
        raise BadRecordsError(str(exc), UNSUPPORTED_COMPRESSION_TYPE) from None
    except Exception as exc:  # the library raises many kinds on bytes it cannot read
        raise BadRecordsError(f"unreadable record data: {exc!r}") from None
    if not out.count:
        raise BadRecordsError("a produce request carried no records")
    if out.producer is not None and out.batches != 1:
        # Kafka (ProduceRequest.validateRecords): an idempotent produce holds exactly one batch
        raise BadRecordsError("an idempotent produce with several record batches", INVALID_RECORD)
    return Decoded(*out.records(), out.batches, out.size, out.producer)


def _read_batch(batch: Any, out: _Reader) -> None:
    out.batches += 1
    magic = batch.magic
    if magic not in (0, 1, 2):
        raise BadRecordsError(f"a record batch with magic {magic}: only 0, 1 and 2 exist")
    if batch.size_in_bytes > out.max_message_bytes:
        raise BadRecordsError(
            f"a record batch of {batch.size_in_bytes:,} bytes, over message.max.bytes "
            f"({out.max_message_bytes:,})",
            MESSAGE_TOO_LARGE,
        )
    if not batch.validate_crc():
        raise BadRecordsError("a record batch failed its CRC check")
    codec = batch.compression_type
    if codec > 4:
        raise BadRecordsError(f"unknown compression codec {codec}", UNSUPPORTED_COMPRESSION_TYPE)
    if magic == 2:
        _read_v2(batch, codec, out)
    elif codec:
        _read_legacy_compressed(batch, codec, out)
    else:
        out.take(batch.size_in_bytes)
        _append_all(batch, out)


def _read_v2(batch: Any, codec: int, out: _Reader) -> None:
    if batch.is_control_batch:
        raise BadRecordsError("a control batch: only a broker writes those", INVALID_RECORD)
    if batch.producer_id >= 0:
        if batch.is_transactional:
            raise BadRecordsError("a transactional batch: not served here", INVALID_RECORD)
        if batch.producer_epoch < 0 or batch.base_sequence < 0:
            raise BadRecordsError("a producer id without epoch or sequence", INVALID_RECORD)
        out.producer = (batch.producer_id, batch.producer_epoch, batch.base_sequence)
    buffer = batch._buffer
    if codec:  # the header with no codec, then the records decompressed
        records = decompress(codec, memoryview(buffer)[_HEADER_SIZE:], out.room())
        head = bytearray(buffer[:_HEADER_SIZE])
        attributes = struct.unpack_from(">h", head, _ATTRIBUTES_OFFSET)[0] & ~0x07
        struct.pack_into(">h", head, _ATTRIBUTES_OFFSET, attributes)
        buffer = bytes(head) + records
        out.take(len(records))
    else:
        out.take(len(buffer))
    # The common case: plain records, as Arrow arrays when there are many (no Python object
    # per record; the engine takes them as they are), as lists when few (the engine keeps a
    # short request as lists until its flush, cheaper than building Arrow per request).
    many = _count(buffer) >= COLUMNS_MIN_RECORDS
    plain = (plain_columns if many else plain_records)(buffer)
    if plain is not None:
        out.add(*plain)
        return
    _append_all(DefaultRecordBatch(bytes(buffer)) if codec else batch, out)


def _read_legacy_compressed(batch: Any, codec: int, out: _Reader) -> None:
    """A magic 0/1 wrapper message: its value is a compressed message set of plain messages."""
    buffer = memoryview(batch._buffer)
    pos = _LEGACY_KEY_AT[batch.magic]
    (key_size,) = struct.unpack_from(">i", buffer, pos)
    pos += 4 + max(key_size, 0)
    (value_size,) = struct.unpack_from(">i", buffer, pos)
    if value_size < 0 or pos + 4 + value_size > len(buffer):
        raise BadRecordsError("a compressed message without its value")
    inner = decompress(codec, buffer[pos + 4 : pos + 4 + value_size], out.room())
    out.take(len(inner))
    messages = MemoryRecords(inner)
    while (message := messages.next_batch()) is not None:
        if message.magic != batch.magic or message.compression_type:
            raise BadRecordsError("a compressed message set inside another, or mixed magics")
        if not message.validate_crc():
            raise BadRecordsError("a message inside a compressed set failed its CRC check")
        _append_all(message, out)


def _append_all(batch: Any, out: _Reader) -> None:
    keys, values = [], []
    for record in batch:
        keys.append(record.key)
        values.append(record.value)
    out.add(keys, values)


def _count(buffer: Any) -> int:
    """A v2 batch's record count, from its header."""
    return _RECORDS_COUNT.unpack_from(buffer, _RECORDS_COUNT_OFFSET)[0]


def encode_chunks(records: pa.Table, bugs: BugSet) -> Iterator[bytes]:
    """`encode_batch` of the records ENCODE_CHUNK_ROWS at a time, so that a server can serve
    other clients between chunks of a large fetch (encoding costs some microseconds a record).
    The client reads the same records at the same offsets, in more batches."""
    for start in range(0, records.num_rows, ENCODE_CHUNK_ROWS):
        yield encode_batch(records.slice(start, ENCODE_CHUNK_ROWS), bugs)


def encode_batch(records: pa.Table, bugs: BugSet) -> bytes:
    """The engine's fetched records as v2 record batches (b"" when there are none)."""
    n = records.num_rows
    if n == 0:
        return b""
    offsets = records.column("offset").to_numpy()
    stamps = records.column("timestamp").to_numpy()
    keys = records.column("key").combine_chunks()
    values = records.column("value").combine_chunks()
    # a new batch wherever an offset does not grow (a buggy engine's repeat) ...
    cuts = np.diff(offsets) <= 0
    fields = None
    if _PRODUCER_FIELDS[0] in records.schema.names and not bugs.renumber_response_offsets:
        # ... and wherever the producer fields change: each produce request's records are one
        # batch again, with its producer id, epoch and base sequence. chronik's
        # encode_kafka_records put every record in one batch with no producer id.
        fields = [records.column(name).to_numpy() for name in _PRODUCER_FIELDS]
        for column in fields:
            cuts |= np.diff(column) != 0
    ends = [*(np.flatnonzero(cuts) + 1).tolist(), n]
    out = bytearray()
    start = 0
    for end in ends:
        producer = _NO_PRODUCER if fields is None else tuple(int(c[start]) for c in fields)
        piece = None
        if keys.null_count == n:  # the plain case: vectorised, byte-identical to the library
            piece = plain_batch(offsets[start:end], stamps[start:end], values[start:end], producer)
        if piece is None:
            piece = _one_batch(offsets, stamps, keys, values, start, end, producer)
        out += _crc(piece, bugs)
        start = end
    return bytes(out)


_PRODUCER_FIELDS = ("producer_id", "producer_epoch", "base_sequence")
_NO_PRODUCER = (-1, -1, -1)


def _crc(buf: bytearray, bugs: BugSet) -> bytearray:
    if bugs.crc32_ieee_batches:
        # kafka_records.rs `calculate_crc32` (every tag through v1.0.0, and later): crc32fast,
        # the IEEE polynomial, over the same bytes where Kafka's format needs CRC-32C.
        crc = calc_crc32(memoryview(buf)[_ATTRIBUTES_OFFSET:])
        struct.pack_into(">I", buf, _CRC_OFFSET, crc)
    return buf


def _one_batch(
    offsets, stamps, keys, values, start: int, end: int, producer: tuple[int, int, int]
) -> bytearray:
    """Records start..end-1 as one batch, through kafka-python's builder (any keys, nulls)."""
    pid, epoch, seq = producer
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=False,
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
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
