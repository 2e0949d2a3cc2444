"""The fetch-side buffer's read against a plain list of (offset, value) in buffer order.

`PartitionBuffer.read` bisects when its entries are sorted and disjoint and scans them all
otherwise (after a blind append); either way it must return what a scan of the whole buffer,
record by record, returns: the first `limit` records with lo <= offset < hi, in buffer order.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronik_lab.bugs import BugSet
from chronik_lab.engine.buffer import PartitionBuffer
from chronik_lab.engine.records import LazyBatch

OTHER_SWITCHES = ["buffer_keeps_last_1000", "mark_flushed_clears_all"]


def _entry(first: int, count: int) -> LazyBatch:
    values = [b"%d" % offset for offset in range(first, first + count)]
    return LazyBatch(first, count, values, None, 0, None, sum(map(len, values)))


def _records(buffer: PartitionBuffer) -> list[tuple[int, bytes]]:
    """Every buffered record in buffer order: the reference the read is checked against."""
    return [record for batch in buffer.batches for record in _pairs(batch)]


def _pairs(batch) -> list[tuple[int, bytes]]:
    return list(
        zip(batch.column("offset").to_pylist(), batch.column("value").to_pylist(), strict=True)
    )


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 30), st.integers(1, 8)),
        st.tuples(st.just("add"), st.integers(0, 30), st.integers(1, 8)),
        st.tuples(st.just("flushed"), st.integers(0, 30), st.just(0)),
    ),
    max_size=30,
)
reads = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(1, 40)), max_size=8)


@pytest.mark.parametrize("blind", [True, False], ids=["blind_append", "dedup"])
@given(st.sets(st.sampled_from(OTHER_SWITCHES)), operations, reads)
def test_read_returns_what_a_scan_of_the_whole_buffer_returns(blind, switches, ops, probes):
    buffer = PartitionBuffer(BugSet(switches | ({"blind_append_buffer"} if blind else set())))
    for op, offset, count in ops:
        if op == "add":
            buffer.update_buffer([_entry(offset, count)])
        else:
            buffer.mark_flushed(offset)
        everything = _records(buffer)
        assert len(buffer) == len(everything)
        for lo, hi, limit in probes:
            got = [record for batch in buffer.read(lo, hi, limit) for record in _pairs(batch)]
            assert got == [r for r in everything if lo <= r[0] < hi][:limit]
