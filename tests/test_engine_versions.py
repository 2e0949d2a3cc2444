"""Each engine structure reports its own changes: a version that moves whenever what it holds
changes, and only then, so that an observer (the run recorder) compares ints instead of states.

- `PartitionBuffer.version`: the buffer's entries;
- `SegmentLog.version`: the segment list, each segment's extent, seal and visibility to fetch;
- `Partition.unflushed_version`: `pending_batches` and `inflight`.

Random produce / flush / fetch / clock / mark_flushed / rotate / close sequences, with segment
writes that fail, under random bug switches: after every step each state is read in full and
compared with the one before, and must have changed exactly when its version moved. Reads move
no version.
"""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chronik_lab as cl
from chronik_lab.engine import files
from chronik_lab.engine.partition import Partition
from chronik_lab.errors import SegmentWriteError

T = "t"

steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("produce"), st.sampled_from([1, 1, 2, 3, 5, 400]), st.sampled_from([-1, 0, 1])
        ),
        st.tuples(st.just("flush"), st.just(0), st.just(0)),
        st.tuples(st.just("fetch"), st.integers(0, 60), st.sampled_from([None, 1, 3])),
        st.tuples(st.just("advance"), st.sampled_from([0, 10, 60, 200]), st.just(0)),
        st.tuples(st.just("mark_flushed"), st.integers(-1, 60), st.just(0)),
        st.tuples(st.just("roll"), st.just(0), st.just(0)),
        st.tuples(st.just("fail_a_write"), st.integers(1, 2), st.just(0)),
        st.tuples(st.just("read"), st.integers(0, 60), st.integers(0, 60)),
    ),
    min_size=1,
    max_size=25,
)
configs = st.fixed_dictionaries(
    {
        "bugs": st.sets(st.sampled_from(sorted(cl.BUGS))).map(sorted),
        "flush_batches": st.integers(1, 4),
        "segment_bytes": st.sampled_from([600, 5000]),
        "segment_ms": st.sampled_from([50, 30_000]),
        "linger_ms": st.sampled_from([None, 20]),
        "flush_ms": st.sampled_from([0, 15]),
    }
)


def versions(p: Partition) -> tuple[int, int, int]:
    return p.buffer.version, p.writer.version, p.unflushed_version


def states(p: Partition) -> tuple[object, object, object]:
    """The buffer, the segments and the unflushed batches, each read in full."""
    buffer = ([(e.first, e.last) for e in p.buffer.entries], p.buffer.to_table().to_pylist())
    segments = [
        (s.path, s.base_offset, s.next_offset, s.batch_count, s.size_bytes, s.sealed)
        + (p.registry.is_visible(s),)
        for s in p.writer.segments
    ]
    flight = p.inflight
    unflushed = (
        [(b.first, b.last, b.batch().to_pylist()) for b in p.pending_batches],
        None if flight is None else ([(b.first, b.last) for b in flight.batches], flight[1:]),
    )
    return buffer, segments, unflushed


class FailingDisk:
    """files.pwrite_all that raises ENOSPC on its `countdown`-th next call (a new segment's
    header is one call, each batch another), then writes again."""

    def __init__(self) -> None:
        self.real = files.pwrite_all
        self.countdown = 0

    def __call__(self, fd, parts, offset):
        self.countdown -= 1
        if self.countdown == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.real(fd, parts, offset)


def reads_only(broker: cl.Broker, p: Partition, lo: int, hi: int) -> None:
    """Every read of the three structures, public and internal."""
    broker.buffer(T, 0)
    broker.segments(T, 0)
    broker.pending(T, 0)
    broker.check()
    broker.high_watermark(T, 0)
    p.buffer.read(lo, hi, 5)
    p.buffer.spans()
    p.buffer.batches  # noqa: B018 -- builds (and caches) each entry's Arrow batch
    len(p.buffer)
    p.buffer.high_offset()
    p.unflushed_batches  # noqa: B018
    p.writer.should_roll()
    for segment in p.registry.segments_from(lo):
        segment.read(lo, 4)


def run_step(broker: cl.Broker, p: Partition, disk: FailingDisk, step: tuple) -> None:
    op, a, b = step
    try:
        if op == "produce":
            broker.produce(T, 0, [b"v%d" % i for i in range(a)], acks=b)
        elif op == "flush":
            broker.flush()
        elif op == "fetch":
            broker.fetch(T, 0, min(a, p.log_end_offset), max_records=b)
        elif op == "advance":
            broker.advance(a)
        elif op == "mark_flushed":
            p.buffer.mark_flushed(a)
        elif op == "roll":
            p.writer.roll()
        elif op == "fail_a_write":
            disk.countdown = a
        else:
            reads_only(broker, p, a, b)
    except SegmentWriteError:
        pass  # what the write did not do stays as it was; the versions must say so too


class Checkpoints:
    """The versions and states at every checkpoint -- each trace event (where the recorder
    looks) and the end of each step -- each compared with the previous one."""

    def __init__(self) -> None:
        self.partition: Partition | None = None
        self.last: tuple | None = None

    def __call__(self, event: dict) -> None:  # the broker's tracer
        self.check(event["step"])

    def check(self, where: object) -> None:
        p = self.partition
        if p is None:
            return
        now = versions(p), states(p)
        assert versions(p) == now[0], "reading the state moved a version"
        if self.last is not None:
            (v0, before), (v1, after) = self.last, now
            for i, name in enumerate(("buffer", "segments", "unflushed")):
                changed = before[i] != after[i]
                moved = v0[i] != v1[i]
                assert changed == moved, f"{name} at {where}: changed {changed}, moved {moved}"
        self.last = now


@given(config=configs, script=steps)
@settings(max_examples=3 * settings().max_examples, deadline=None)
def test_a_version_moves_exactly_when_its_structure_changes(config, script) -> None:
    disk, checkpoints = FailingDisk(), Checkpoints()
    with tempfile.TemporaryDirectory() as data_dir, pytest.MonkeyPatch.context() as m:
        m.setattr(files, "pwrite_all", disk)
        broker = cl.Broker(Path(data_dir), tracer=checkpoints, **config)
        broker.produce(T, 0, [b"first"])
        p = checkpoints.partition = broker.partition_states[(T, 0)]
        checkpoints.check("start")
        for step in script:
            before = versions(p)
            run_step(broker, p, disk, step)
            checkpoints.check(step)
            if step[0] == "read":
                assert versions(p) == before, "a read moved a version"
        disk.countdown = 0
        broker.close()
        checkpoints.check("close")
        # a reopened partition: recovery lists the flushed segments, and that is a change
        with cl.Broker(Path(data_dir), **config) as again:
            q = again.partition_states[(T, 0)]
            assert (q.writer.version != 0) == bool(q.writer.segments)
            assert (q.buffer.version, q.unflushed_version) == (0, 0)
