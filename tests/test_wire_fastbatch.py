"""The vectorised v2 record batch codec (chronik_lab/wire/fastbatch.py) against kafka-python's own
(`kafka.record`), both ways: `plain_batch` writes the library builder's bytes, which the library
reads back; `plain_records` reads what the library's builder wrote as the library reads it, and
declines (None) every batch outside its plain case."""

from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from chronik_lab.wire.fastbatch import plain_batch, plain_records

stamps = st.integers(0, 2**50)
payloads = st.binary(max_size=300)


@st.composite
def plain_runs(draw) -> tuple[list[int], list[int], list[bytes]]:
    """What a fetch response re-encodes: growing offsets (gaps allowed), any timestamps, no key,
    no null value."""
    n = draw(st.integers(1, 60))
    base = draw(st.integers(0, 2**62))
    gaps = draw(st.lists(st.integers(1, 2**20), min_size=n - 1, max_size=n - 1))
    offsets = [base]
    for gap in gaps:
        offsets.append(offsets[-1] + gap)
    return (
        offsets,
        draw(st.lists(stamps, min_size=n, max_size=n)),
        draw(st.lists(payloads, min_size=n, max_size=n)),
    )


def library_batch(offsets, times, keys, values, headers=None, compression=0) -> bytes:
    """kafka-python's builder, as a broker without idempotence writes a batch."""
    builder = DefaultRecordBatchBuilder(2, compression, False, -1, -1, -1, 2**31 - 1)
    for i, (offset, time) in enumerate(zip(offsets, times, strict=True)):
        builder.append(offset - offsets[0], time, keys[i], values[i], headers[i] if headers else [])
    buf = builder.build()
    struct.pack_into(">q", buf, 0, offsets[0])  # the builder counts from 0
    return bytes(buf)


def library_read(buf: bytes) -> list[tuple]:
    batch = DefaultRecordBatch(buf)
    assert batch.validate_crc()
    return [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in batch]


@given(run=plain_runs(), sliced=st.booleans())
def test_plain_batch_writes_the_library_builders_bytes(run, sliced) -> None:
    offsets, times, values = run
    column = pa.array(values, pa.binary())
    if sliced:  # a slice of a larger array, as encode_batch passes
        column = pa.array([b"before", *values, b"after"], pa.binary()).slice(1, len(values))
    ours = plain_batch(np.array(offsets), np.array(times), column)
    assert ours is not None
    assert bytes(ours) == library_batch(offsets, times, [None] * len(values), values)


@given(run=plain_runs())
def test_the_library_reads_plain_batch_output_back(run) -> None:
    offsets, times, values = run
    ours = bytes(plain_batch(np.array(offsets), np.array(times), pa.array(values, pa.binary())))
    expected = [(o, t, None, v, []) for o, t, v in zip(offsets, times, values, strict=True)]
    assert library_read(ours) == expected
    assert plain_records(ours) == ([None] * len(values), values)


@given(run=plain_runs(), nulls=st.data())
def test_plain_batch_declines_null_values(run, nulls) -> None:
    offsets, times, values = run
    at = nulls.draw(st.integers(0, len(values) - 1))
    values[at] = None
    assert plain_batch(np.array(offsets), np.array(times), pa.array(values, pa.binary())) is None


@st.composite
def producer_batches(draw) -> tuple[list[int], list[int], list, list, list | None]:
    """What a producer sends: keys or not, null values, sometimes headers."""
    n = draw(st.integers(1, 40))
    offsets = list(range(n))  # a producer's batch counts from 0
    times = draw(st.lists(stamps, min_size=n, max_size=n))
    item = st.one_of(st.none(), payloads)
    keys = draw(st.lists(item, min_size=n, max_size=n))
    values = draw(st.lists(item, min_size=n, max_size=n))
    header = st.tuples(st.text(max_size=8), st.binary(max_size=8))
    headers = draw(
        st.one_of(st.none(), st.lists(st.lists(header, max_size=2), min_size=n, max_size=n))
    )
    return offsets, times, keys, values, headers


@given(batch=producer_batches())
def test_plain_records_reads_what_the_library_reads_or_declines(batch) -> None:
    offsets, times, keys, values, headers = batch
    buf = library_batch(offsets, times, keys, values, headers)
    read = library_read(buf)
    ours = plain_records(buf)
    if headers and any(headers):
        assert ours is None  # records with headers: the library reads them
    else:
        assert ours == ([r[2] for r in read], [r[3] for r in read])


@given(batch=producer_batches())
def test_plain_records_declines_a_compressed_batch(batch) -> None:
    offsets, times, keys, _, _ = batch
    values = [b"compressible " * 20] * len(offsets)  # gzip keeps only what it makes smaller
    buf = library_batch(offsets, times, keys, values, compression=1)
    assert DefaultRecordBatch(buf).compression_type == 1
    assert [r[3] for r in library_read(buf)] == values
    assert plain_records(buf) is None


@given(batch=producer_batches(), extra=st.integers(64, 200))
def test_a_long_producer_batch_decodes_to_arrow_arrays_holding_what_the_library_reads(
    batch, extra
) -> None:
    from chronik_lab.wire.batches import decode_records

    _, times, keys, values, _ = batch
    keys, values = keys + [None] * extra, values + [b"v" * 100] * extra  # past COLUMNS_MIN
    values[-1] = b"w" * 20_000  # a length of 3 varint bytes; the times' deltas reach 8 bytes
    n = len(values)
    buf = library_batch(list(range(n)), times + [7] * extra, keys, values)
    read = library_read(buf)
    decoded = decode_records(buf)
    assert isinstance(decoded.values, pa.Array)
    assert decoded.values.to_pylist() == [r[3] for r in read]
    if all(k is None for k in keys):
        assert decoded.keys is None
    else:
        assert decoded.keys.to_pylist() == [r[2] for r in read]
    assert decoded.batches == 1 and decoded.size == len(buf)


def test_plain_columns_declines_a_record_whose_lengths_overrun_it() -> None:
    from chronik_lab.wire.fastbatch import plain_columns

    buf = bytearray(library_batch(list(range(70)), [7] * 70, [None] * 70, [b"ab"] * 70))
    at = DefaultRecordBatchBuilder.HEADER_STRUCT.size
    assert plain_columns(bytes(buf)) is not None
    # the first record: length, attributes, timestamp delta, offset delta, key length (-1),
    # value length (2 -> zigzag 4): make the value claim 3 bytes, past its record's end
    assert buf[at + 5] == 4
    buf[at + 5] = 6
    assert plain_columns(bytes(buf)) is None
    buf[at + 5] = 0x80 | 6  # a value length that runs on into the value's bytes
    assert plain_columns(bytes(buf)) is None


def test_runs_of_every_length_decode_exactly() -> None:
    # runs of 1, 2, 3... records of one length, then a long run: the walk's window shrinks and
    # grows, and every record is still read where it is
    values = []
    for run in range(1, 12):
        values += [b"r" * (run % 3 + 1)] * run
    values += [b"long"] * 500
    n = len(values)
    buf = library_batch(list(range(n)), [7] * n, [None] * n, values)
    assert plain_records(buf) == ([None] * n, values)


@given(
    n=st.integers(2, 700),
    size=st.integers(1, 200),
    keyed=st.booleans(),
    odd=st.one_of(st.none(), st.integers(0, 699)),
)
def test_records_of_one_size_decode_through_the_strided_copy_as_the_library_reads(
    n, size, keyed, odd
) -> None:
    from chronik_lab.wire import fastbatch

    values = [bytes([i % 251]) * size for i in range(n)]
    odd = odd if odd is not None and odd < n else None
    if odd is not None:  # one record of another size: the general gather
        values[odd] = b"o" * (size + 1)
    keys = [b"k%04d" % i for i in range(n)] if keyed else [None] * n
    buf = library_batch(list(range(n)), [7] * n, keys, values)
    read = library_read(buf)
    strided = []
    real = fastbatch._evenly_spaced

    def spy(u, at, lengths):
        column = real(u, at, lengths)
        strided.append(column is not None)
        return column

    fastbatch._evenly_spaced = spy
    try:
        assert plain_records(buf) == ([r[2] for r in read], [r[3] for r in read])
    finally:
        fastbatch._evenly_spaced = real
    # the values took the strided copy exactly when they were all of one size
    assert strided[-1] == (odd is None)
