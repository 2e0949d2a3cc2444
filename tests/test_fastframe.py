"""The hand-rolled framing of list-form records (engine/fastframe.py) against pyarrow's own.

`fastframe.encode_entries` must write exactly the bytes `framing.encode(build_batch(...))` writes
(head with its CRC-32C digits, and body), for any requests a producer can send; and a broker
must leave byte-identical segment files with the fast path on or off.
"""

from __future__ import annotations

import os
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

import chronik_lab as cl
from chronik_lab.engine import fastframe, files, framing
from chronik_lab.engine.records import NO_PRODUCER, LazyBatch, build_batch, make_request

T = "t"
item = st.one_of(st.none(), st.binary(max_size=20))
# a request's producer fields: none, or any an idempotent producer can send
producers = st.one_of(
    st.just(NO_PRODUCER),
    st.tuples(st.integers(0, 2**63 - 1), st.integers(0, 2**15 - 1), st.integers(0, 2**31 - 1)),
)


@st.composite
def requests(draw) -> list[LazyBatch]:
    """Contiguous list-form entries, as pending produce requests hold them."""
    first = draw(st.integers(0, 2**40))
    entries = []
    for _ in range(draw(st.integers(1, 6))):
        n = draw(st.integers(1, 40))
        values = draw(st.lists(item, min_size=n, max_size=n))
        keys = draw(st.one_of(st.none(), st.lists(item, min_size=n, max_size=n)))
        stamp = draw(st.integers(0, 2**50))
        entries.append(make_request(first, values, keys, stamp, draw(producers)))
        first += n
    return entries


@st.composite
def unkeyed_requests(draw) -> list[LazyBatch]:
    """What the simulated producer sends: no keys, no null value (fastframe's template path)."""
    first = draw(st.integers(0, 2**40))
    entries = []
    for _ in range(draw(st.integers(1, 4))):
        n = draw(st.integers(1, 80))
        values = draw(st.lists(st.binary(max_size=12), min_size=n, max_size=n))
        stamp = draw(st.integers(0, 2**50))
        entries.append(make_request(first, values, None, stamp, draw(producers)))
        first += n
    return entries


def pyarrow_bytes(entries: list[LazyBatch]) -> tuple[bytes, bytes]:
    head, body = framing.encode(build_batch(entries))
    return head, body.to_pybytes()


# Three times the profile's examples (dev 60, ci 300, thorough 3,000): byte layouts have many
# corners; the edit loop keeps a fifth of them.
MANY = settings(max_examples=3 * settings().max_examples)


def test_the_fast_path_is_on_with_this_pyarrow() -> None:
    assert fastframe.ENABLED  # else the tests below would compare pyarrow with itself


@given(entries=requests())
@MANY
def test_list_entries_frame_byte_for_byte_as_pyarrow_writes_them(entries) -> None:
    assert all(e.lists() is not None for e in entries)  # make_request kept them as lists
    head, body = fastframe.encode_entries(entries)
    assert (head, bytes(body)) == pyarrow_bytes(entries)
    assert framing.message_length(head) == len(head) + len(body)  # its own checksums hold


@given(entries=unkeyed_requests())
@MANY
def test_unkeyed_flushes_frame_byte_for_byte_as_pyarrow_writes_them(entries) -> None:
    head, body = fastframe.encode_entries(entries)
    assert (head, bytes(body)) == pyarrow_bytes(entries)


@given(entries=requests(), built=st.data())
@settings(max_examples=settings().max_examples // 2)  # ci 50, dev 5
def test_entries_a_fetch_already_built_frame_the_same(entries, built) -> None:
    expected = pyarrow_bytes(entries)
    for e in entries:
        if built.draw(st.booleans()):
            e.batch()  # what a fetch of the buffer does to an entry
    head, body = fastframe.encode_entries(entries)
    assert (head, bytes(body)) == expected


@given(entries=requests())
def test_the_layout_positions_hold_each_messages_own_fields(entries) -> None:
    """framing.LAYOUT, read against what pyarrow wrote: the row count, each column's null
    count, each buffer's bytes in the body, and the body length."""
    batch = build_batch(entries)
    head, body = framing.encode(batch)
    body = body.to_pybytes()
    at = framing.LAYOUT

    def int64s(start: int, count: int) -> list[int]:
        return [
            int.from_bytes(head[start + 8 * i : start + 8 * i + 8], "little") for i in range(count)
        ]

    assert len(head) == len(at.head) == framing.HEAD_LEN
    assert int64s(at.rows_at, 1) == [batch.num_rows]
    nodes = int64s(at.nodes_at, 2 * framing.NODE_COUNT)
    assert nodes[::2] == [batch.num_rows] * framing.NODE_COUNT == [batch.num_rows] * 7
    assert nodes[1::2] == [column.null_count for column in batch.columns]
    spec = int64s(at.buffers_at, 2 * framing.BUFFER_COUNT)
    buffers = [b for column in batch.columns for b in column.buffers()]
    assert len(buffers) == framing.BUFFER_COUNT == 16
    for i, buffer in enumerate(buffers):
        start, length = spec[2 * i], spec[2 * i + 1]
        if buffer is not None and length:
            assert body[start : start + length] == buffer.to_pybytes()[:length]
    assert int64s(at.body_len_at, 1) == [len(body)]
    assert head[at.body_crc] == b"%08x" % framing.crc32c(body)


def test_a_long_flush_of_nulls_frames_the_same() -> None:
    entries, first = [], 0
    for i in range(40):
        values = [None if (i + j) % 3 else b"v%d" % j for j in range(200)]
        entries.append(make_request(first, values, [b"k"] * 200 if i % 2 else None, i))
        first += 200
    head, body = fastframe.encode_entries(entries)
    assert (head, bytes(body)) == pyarrow_bytes(entries)


def workload(data_dir: Path) -> dict[str, bytes]:
    """Small and large requests, str values, keys, fetches between flushes; the files."""
    with cl.Broker(data_dir, bugs="v1.0", flush_batches=3, segment_bytes=4000) as b:
        for i in range(60):
            values = [b'{"id": %d}' % i] * (1 + i % 4)
            keys = None if i % 5 else [b"%d" % i] * len(values)
            b.produce(T, 0, values if i % 7 else [str(v) for v in values], keys, acks=-1)
            if i % 11 == 0:
                b.fetch(T, 0, max(0, i - 3))  # builds some buffered entries as Arrow
        b.produce(T, 0, [b"x" * 10] * 300)  # over LAZY_MAX_RECORDS: built at once
    directory = data_dir / f"{T}-0"
    return {name: (directory / name).read_bytes() for name in sorted(os.listdir(directory))}


def test_a_broker_writes_identical_segment_files_with_the_fast_path_on_or_off(
    tmp_path, monkeypatch
) -> None:
    fast = workload(tmp_path / "fast")
    monkeypatch.setattr(fastframe, "ENABLED", False)
    slow = workload(tmp_path / "slow")
    assert len(fast) > 1 and fast == slow


@pytest.mark.parametrize("short", [0, 1, 7, 408, 409, 500])
def test_pwrite_all_finishes_a_short_vectored_write(tmp_path, monkeypatch, short) -> None:
    parts = [b"h" * 408, bytearray(b"b" * 100), memoryview(b"c" * 3)]
    real = os.pwritev

    def short_pwritev(fd, views, offset):  # the kernel may write less than asked
        data = b"".join(bytes(v) for v in views)[:short]
        return real(fd, [data], offset) if data else 0

    monkeypatch.setattr(os, "pwritev", short_pwritev)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        assert files.pwrite_all(fd, parts, 5) == 5 + 511
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == b"\0" * 5 + b"h" * 408 + b"b" * 100 + b"ccc"
