"""The fixed broker against a plain Python list: no sequence of produce, flush, clock moves,
fetch, close-and-reopen and kill-and-recover ever loses, duplicates or reorders a record
(DESIGN section 4)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import chronik_lab as cl

T = "model"
# Small limits, so that flushes (by count, by linger, forced, on close) and rotations (by size
# and by age) all happen within a few steps.
# flush_ms: some flushes stay in flight across requests, the case mark_flushed must get right
CONFIG = dict(
    bugs="fixed", flush_batches=3, segment_bytes=1500, segment_ms=400, linger_ms=150, flush_ms=100
)

payload = st.one_of(st.none(), st.binary(max_size=12), st.text(max_size=6))
requests = st.integers(1, 5).flatmap(
    lambda n: st.tuples(
        st.lists(payload, min_size=n, max_size=n),
        st.one_of(st.none(), st.lists(payload, min_size=n, max_size=n)),
    )
)


def as_bytes(item: bytes | str | None) -> bytes | None:
    return item.encode() if isinstance(item, str) else item


class BrokerModel(RuleBasedStateMachine):
    """Model: the list of (key, value) records the log must hold, in offset order."""

    def __init__(self) -> None:
        super().__init__()
        self.data_dir = Path(tempfile.mkdtemp(prefix="chronik_model-"))
        self.broker = cl.Broker(self.data_dir, **CONFIG)
        self.model: list[tuple[bytes | None, bytes | None]] = []

    @initialize(request=requests)
    def first_produce(self, request) -> None:
        # the topic-partition exists from the first step on, so every rule can use it
        self.produce(request, -1)

    @rule(request=requests, acks=st.sampled_from([-1, 0, 1]))
    def produce(self, request, acks: int) -> None:
        values, keys = request
        result = self.broker.produce(T, 0, values, keys=keys, acks=acks)
        assert (result.base_offset, result.last_offset) == (
            len(self.model),
            len(self.model) + len(values) - 1,
        )
        keys = keys if keys is not None else [None] * len(values)
        self.model += [(as_bytes(k), as_bytes(v)) for k, v in zip(keys, values, strict=True)]
        assert result.high_watermark == len(self.model)

    @rule()
    def flush(self) -> None:
        self.broker.flush()
        assert self.broker.pending(T, 0).num_rows == 0

    @rule(ms=st.integers(0, 500))
    def advance(self, ms: int) -> None:
        self.broker.advance(ms)

    @rule(
        data=st.data(),
        max_records=st.one_of(st.none(), st.integers(1, 12)),
        max_bytes=st.one_of(st.none(), st.integers(1, 40)),
    )
    def fetch(self, data, max_records: int | None, max_bytes: int | None) -> None:
        hw = len(self.model)
        offset = data.draw(st.integers(0, hw + 2), label="offset")
        if offset > hw:
            with pytest.raises(cl.OffsetOutOfRangeError) as info:
                self.broker.fetch(T, 0, offset, max_records, max_bytes)
            assert (info.value.offset, info.value.log_end_offset) == (offset, hw)
            return
        f = self.broker.fetch(T, 0, offset, max_records, max_bytes)
        expected = self.model[offset : hw if max_records is None else offset + max_records]
        if max_bytes is not None and expected:
            expected = expected[: fitting(expected, max_bytes)]
        records = f.records
        assert records.column("offset").to_pylist() == list(range(offset, offset + len(expected)))
        assert records.column("server_offset").to_pylist() == records.column("offset").to_pylist()
        assert records.column("key").to_pylist() == [k for k, _ in expected]
        assert records.column("value").to_pylist() == [v for _, v in expected]
        assert f.high_watermark == hw

    @rule()
    def close_and_reopen(self) -> None:
        # close() flushes the pending records, so the model keeps every one of them
        self.broker.close()
        self.broker = cl.Broker(self.data_dir, **CONFIG)

    @rule()
    def kill_and_recover(self) -> None:
        # a SIGKILL leaves the files as they are now: every acknowledged record must come back,
        # the unflushed ones from the write-ahead log (issue 19)
        killed = Path(tempfile.mkdtemp(prefix="chronik_model-"))
        shutil.copytree(
            self.data_dir, killed, ignore=shutil.ignore_patterns(".lock"), dirs_exist_ok=True
        )
        self.broker.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir = killed
        self.broker = cl.Broker(self.data_dir, **CONFIG)

    @precondition(lambda self: len(self.model) > 0)
    @rule()
    def fetch_everything_in_pieces(self) -> None:
        seen, offset = [], 0
        while offset < len(self.model):
            records = self.broker.fetch(T, 0, offset, max_records=4).records
            assert records.num_rows > 0
            seen += records.column("value").to_pylist()
            offset += records.num_rows
        assert seen == [v for _, v in self.model]

    # -- invariants ------------------------------------------------------------------------
    @invariant()
    def offsets_match_the_model(self) -> None:
        assert self.broker.high_watermark(T, 0) == len(self.model)
        assert self.broker.log_end_offset(T, 0) == len(self.model)
        assert self.broker.log_start_offset(T, 0) == 0

    @invariant()
    def segments_are_contiguous_and_never_overlap(self) -> None:
        segments = self.broker.segments(T, 0)
        bases, lasts = segments["base_offset"].tolist(), segments["last_offset"].tolist()
        expected_base = 0
        for base, last in zip(bases, lasts, strict=True):
            assert base == expected_base
            assert last >= base
            expected_base = last + 1
        assert segments["visible"].all()
        assert segments["sealed"].iloc[:-1].all()

    @invariant()
    def buffer_is_above_the_segments_and_holds_each_offset_once(self) -> None:
        segments = self.broker.segments(T, 0)
        last_visible = int(segments["last_offset"].max()) if len(segments) else -1
        buffered = self.broker.buffer(T, 0).column("offset").to_pylist()
        assert buffered == sorted(set(buffered))
        assert all(o > last_visible for o in buffered)
        # together, the segments and the buffer hold every offset below the high watermark
        assert list(range(last_visible + 1, len(self.model))) == buffered

    @invariant()
    def pending_records_are_the_unflushed_tail(self) -> None:
        pending = self.broker.pending(T, 0).column("offset").to_pylist()
        segments = self.broker.segments(T, 0)
        flushed = int(segments["last_offset"].max()) + 1 if len(segments) else 0
        assert pending == list(range(flushed, len(self.model)))

    def teardown(self) -> None:
        self.broker.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def fitting(records: list[tuple[bytes | None, bytes | None]], max_bytes: int) -> int:
    """KIP-74: the leading records whose key + value bytes fit in max_bytes, at least one."""
    total, count = 0, 0
    for key, value in records:
        total += len(key or b"") + len(value or b"")
        if total > max_bytes:
            break
        count += 1
    return max(1, count)


BrokerModel.TestCase.settings = settings(
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBrokerModel = BrokerModel.TestCase
