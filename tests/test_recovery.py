"""Reopening a data_dir: a torn tail (the start of a message never finished) is cut back to the
last complete record batch (with a warning); anything else raises CorruptSegmentError naming the
file and leaves it byte for byte as it was -- a record is never served twice and a flushed record
is never lost."""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

import chronik_lab as cl

T = "topic"
PARTITION_DIR = f"{T}-0"


@dataclass
class CrashedLog:
    """A data_dir as a killed broker leaves it: the active segment has no end-of-stream marker."""

    data_dir: Path
    segment: Path  # the active (last) segment file
    batch_ends: list[int]  # byte position where each record batch of `segment` ends
    counts: list[int]  # records in each of those batches (the segment starts at offset 0)

    def records_before(self, size: int) -> int:
        """How many records the complete batches within the first `size` bytes hold."""
        return sum(c for c, end in zip(self.counts, self.batch_ends, strict=True) if end <= size)


def crashed_log(tmp_path: Path, counts: list[int]) -> CrashedLog:
    src, dst = tmp_path / "live", tmp_path / "crashed"
    b = cl.Broker(src, flush_batches=1)
    ends, offset = [], 0
    for n in counts:
        b.produce(T, 0, [str(offset + i) for i in range(n)])
        offset += n
        ends.append(Path(b.segments(T, 0)["path"][0]).stat().st_size)
    shutil.copytree(src, dst)  # a copy taken while the broker runs: what a SIGKILL leaves
    b.close()
    segment = dst / PARTITION_DIR / f"{0:020d}.arrows"
    return CrashedLog(dst, segment, ends, counts)


def cut(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


def reopen_expecting_warning(data_dir: Path, match: str = "torn tail") -> cl.Broker:
    with pytest.warns(RuntimeWarning, match=match):
        return cl.Broker(data_dir)


def reopen_without_warning(data_dir: Path) -> cl.Broker:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return cl.Broker(data_dir)


def fetched_values(b: cl.Broker) -> list[str]:
    return [v.decode() for v in b.fetch(T, 0).records.column("value").to_pylist()]


def assert_exact_log(b: cl.Broker, n: int) -> None:
    """The log holds exactly the values "0" .. str(n-1) at offsets 0 .. n-1."""
    assert b.high_watermark(T, 0) == b.log_end_offset(T, 0) == n
    f = b.fetch(T, 0)
    assert f.records.column("offset").to_pylist() == list(range(n))
    assert fetched_values(b) == [str(i) for i in range(n)]


def data_files(data_dir: Path) -> dict[Path, bytes]:
    """Every file's bytes, but the broker's .lock (which opening creates)."""
    return {p: p.read_bytes() for p in data_dir.rglob("*") if p.is_file() and p.name != ".lock"}


def assert_untouched_and_corrupt(data_dir: Path, bad: Path, reason: str | None = None) -> None:
    files = data_files(data_dir)
    with pytest.raises(cl.CorruptSegmentError, match=reason) as info:
        cl.Broker(data_dir)
    assert info.value.path == bad
    assert str(bad) in str(info.value)
    assert data_files(data_dir) == files


# -- torn tails ----------------------------------------------------------------------------
def test_a_crashed_log_with_complete_batches_reopens_without_warning(tmp_path) -> None:
    log = crashed_log(tmp_path, [3, 2, 4])
    with reopen_without_warning(log.data_dir) as b:
        assert_exact_log(b, 9)
        assert b.segments(T, 0)["sealed"].tolist() == [True]


@pytest.mark.parametrize("into_last_batch", [1, 4, 8, 12, 100, -1], ids=lambda n: f"+{n}")
def test_torn_tail_is_cut_back_to_the_last_complete_batch(tmp_path, into_last_batch) -> None:
    log = crashed_log(tmp_path, [3, 2, 4])
    start, end = log.batch_ends[1], log.batch_ends[2]
    size = end - 1 if into_last_batch == -1 else start + into_last_batch
    cut(log.segment, size)
    with reopen_expecting_warning(log.data_dir) as b:
        assert_exact_log(b, 5)
        assert log.segment.stat().st_size == start
        # offsets continue right after the complete batches: nothing skipped, nothing twice
        assert b.produce(T, 0, ["5", "6"]).base_offset == 5
        assert_exact_log(b, 7)
    with reopen_without_warning(log.data_dir) as b:
        assert_exact_log(b, 7)


@pytest.mark.slow
def test_every_cut_position_serves_exactly_the_complete_batches(tmp_path) -> None:
    log = crashed_log(tmp_path, [2, 3, 1])
    intact = log.segment.read_bytes()
    for size in range(log.batch_ends[0], len(intact)):
        log.segment.write_bytes(intact[:size])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            b = cl.Broker(log.data_dir)
        n = log.records_before(size)
        assert b.high_watermark(T, 0) == n, size
        assert fetched_values(b) == [str(i) for i in range(n)], size
        assert bool(caught) is (size not in log.batch_ends), size
        b.close()


def test_torn_first_batch_leaves_an_empty_log_whose_file_is_removed(tmp_path) -> None:
    log = crashed_log(tmp_path, [3])
    cut(log.segment, log.batch_ends[0] - 10)
    with pytest.warns(RuntimeWarning) as caught:
        b = cl.Broker(log.data_dir)
    messages = " / ".join(str(w.message) for w in caught)
    assert "torn tail" in messages and "no complete record batch" in messages
    with b:
        assert not log.segment.exists()
        assert_exact_log(b, 0)
        assert b.produce(T, 0, ["0"]).base_offset == 0


def test_torn_end_of_stream_marker_of_a_sealed_segment_is_cut(tmp_path) -> None:
    data_dir = tmp_path / "data"
    with cl.Broker(data_dir, flush_batches=1) as b:
        b.produce(T, 0, ["0", "1"])
    segment = data_dir / PARTITION_DIR / f"{0:020d}.arrows"
    cut(segment, segment.stat().st_size - 3)
    with reopen_expecting_warning(data_dir) as b:
        assert_exact_log(b, 2)


def test_a_sealed_segment_reopens_without_warning(tmp_path) -> None:
    data_dir = tmp_path / "data"
    with cl.Broker(data_dir, flush_batches=1, segment_bytes=1) as b:
        for i in range(4):
            b.produce(T, 0, [str(i)])
    with reopen_without_warning(data_dir) as b:
        assert_exact_log(b, 4)
        assert len(b.segments(T, 0)) == 4
        assert b.segments(T, 0)["visible"].all()


def test_garbage_appended_to_the_active_segment_is_corrupt_not_a_torn_tail(tmp_path) -> None:
    # Garbage is not the start of a message chronik_lab wrote: cutting it could hide a flipped
    # length prefix, so it is reported and the file left as it is.
    log = crashed_log(tmp_path, [3, 2])
    with open(log.segment, "ab") as f:
        f.write(b"garbage!" * 10)
    assert_untouched_and_corrupt(log.data_dir, log.segment, "bad message prefix")


def test_garbage_appended_after_the_end_of_stream_marker_is_corrupt(tmp_path) -> None:
    data_dir = tmp_path / "data"
    with cl.Broker(data_dir, flush_batches=1) as b:
        b.produce(T, 0, ["0", "1"])
    segment = data_dir / PARTITION_DIR / f"{0:020d}.arrows"
    with open(segment, "ab") as f:
        f.write(b"\x00garbage" * 3)
    assert_untouched_and_corrupt(data_dir, segment, "after the end-of-stream marker")


# -- files that cannot be read -------------------------------------------------------------
def test_a_file_of_garbage_is_corrupt_and_left_untouched(tmp_path) -> None:
    data_dir = tmp_path / "data"
    bad = data_dir / PARTITION_DIR / f"{0:020d}.arrows"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"this is not an Arrow IPC stream at all" * 20)
    assert_untouched_and_corrupt(data_dir, bad, "not an Arrow IPC stream")


def test_a_stream_of_another_schema_is_corrupt_and_left_untouched(tmp_path) -> None:
    data_dir = tmp_path / "data"
    bad = data_dir / PARTITION_DIR / f"{0:020d}.arrows"
    bad.parent.mkdir(parents=True)
    table = pa.table({"offset": pa.array([0, 1], pa.int64()), "payload": ["a", "b"]})
    with pa.ipc.new_stream(str(bad), table.schema) as writer:
        writer.write_table(table)
    assert_untouched_and_corrupt(data_dir, bad)


def test_a_batch_that_does_not_start_at_the_file_base_offset_is_corrupt(tmp_path) -> None:
    data_dir = tmp_path / "data"
    with cl.Broker(data_dir, flush_batches=1) as b:
        b.produce(T, 0, ["0", "1"])
    good = data_dir / PARTITION_DIR / f"{0:020d}.arrows"
    bad = good.with_name(f"{7:020d}.arrows")  # holds offsets 0..1, named as if from 7
    good.rename(bad)
    assert_untouched_and_corrupt(data_dir, bad, "starts at offset 0, expected 7")


def test_a_complete_message_that_does_not_decode_is_corrupt(tmp_path) -> None:
    log = crashed_log(tmp_path, [2, 2])
    data = bytearray(log.segment.read_bytes())
    start = log.batch_ends[0]
    # keep the frame (continuation marker and length) of the second batch, wreck its metadata
    data[start + 8 : log.batch_ends[1]] = b"\x5a" * (log.batch_ends[1] - start - 8)
    log.segment.write_bytes(bytes(data))
    assert_untouched_and_corrupt(log.data_dir, log.segment)


def test_a_segment_file_with_a_bad_name_is_corrupt(tmp_path) -> None:
    data_dir = tmp_path / "data"
    with cl.Broker(data_dir, flush_batches=1) as b:
        b.produce(T, 0, ["0"])
    bad = data_dir / PARTITION_DIR / "first.arrows"
    (data_dir / PARTITION_DIR / f"{0:020d}.arrows").rename(bad)
    assert_untouched_and_corrupt(data_dir, bad, "20-digit")


def test_an_empty_segment_file_is_removed(tmp_path) -> None:
    # A crash right after the active segment was created and before its first batch completed.
    data_dir = tmp_path / "data"
    with cl.Broker(data_dir, flush_batches=1, segment_bytes=1) as b:
        b.produce(T, 0, ["0", "1"])
    empty = data_dir / PARTITION_DIR / f"{2:020d}.arrows"
    empty.touch()
    with reopen_expecting_warning(data_dir, match="no complete record batch") as b:
        assert not empty.exists()
        assert_exact_log(b, 2)
        assert b.produce(T, 0, ["2"]).base_offset == 2
    with reopen_without_warning(data_dir) as b:
        assert_exact_log(b, 3)


def test_a_gap_between_segment_files_is_corrupt_and_left_untouched(tmp_path) -> None:
    data_dir = tmp_path / "data"
    with cl.Broker(data_dir, flush_batches=1, segment_bytes=1) as b:
        for lo in (0, 2, 4):
            b.produce(T, 0, [str(lo), str(lo + 1)])
    middle = data_dir / PARTITION_DIR / f"{2:020d}.arrows"
    middle.unlink()
    assert_untouched_and_corrupt(data_dir, data_dir / PARTITION_DIR / f"{4:020d}.arrows", "4")


def test_a_gap_before_a_torn_last_segment_is_corrupt_and_left_untouched(tmp_path) -> None:
    # The torn last segment is not repaired when the log is already known to be broken.
    live, crashed = tmp_path / "live", tmp_path / "crashed"
    b = cl.Broker(live, flush_batches=1)
    for lo in (0, 2):
        b.produce(T, 0, [str(lo), str(lo + 1)])
        b.advance(30_000)  # rotation by age: one segment per request
    b.produce(T, 0, ["4", "5"])
    b.produce(T, 0, ["6", "7"])
    shutil.copytree(live, crashed)
    b.close()
    (crashed / PARTITION_DIR / f"{2:020d}.arrows").unlink()
    last = crashed / PARTITION_DIR / f"{4:020d}.arrows"
    cut(last, last.stat().st_size - 5)
    assert_untouched_and_corrupt(crashed, last, "starts at 4, expected 2")


def test_overlapping_segment_files_are_corrupt(tmp_path) -> None:
    data_dir = tmp_path / "data"
    with cl.Broker(data_dir, flush_batches=1, segment_bytes=1) as b:
        b.produce(T, 0, ["0", "1", "2"])
        b.produce(T, 0, ["3"])
    segments = data_dir / PARTITION_DIR
    second = segments / f"{3:020d}.arrows"
    second.unlink()
    overlapping = segments / f"{1:020d}.arrows"
    with cl.Broker(tmp_path / "other", flush_batches=1) as other:
        other.produce(T, 0, ["x"])
        shutil.copy(other.segments(T, 0)["path"][0], overlapping)
    assert_untouched_and_corrupt(data_dir, overlapping)


def test_a_torn_tail_in_a_segment_that_is_not_the_last_is_corrupt(tmp_path) -> None:
    # Only the last segment can be torn by a crash: an earlier one was sealed before the next
    # was created. Cutting it would drop records for good, so it is reported, not repaired.
    data_dir = tmp_path / "data"
    with cl.Broker(data_dir, flush_batches=1, segment_bytes=10**9) as b:
        b.produce(T, 0, ["0", "1"])
        b.produce(T, 0, ["2"])
        first = Path(b.segments(T, 0)["path"][0])
        b.advance(30_000)  # rotation by age
        b.produce(T, 0, ["3"])
    cut(first, first.stat().st_size - 20)
    assert_untouched_and_corrupt(data_dir, first, "not the last segment")


def test_foreign_files_and_directories_are_left_alone_with_a_warning(tmp_path) -> None:
    data_dir = tmp_path / "data"
    with cl.Broker(data_dir, flush_batches=1) as b:
        b.produce(T, 0, ["0"])
    (data_dir / "README.txt").write_text("notes")
    foreign = ["not-a-partition", "bad name-0", f"{T}-01", f"{T}-\u00b2", f"{T}-\u0661"]
    for name in foreign:
        (data_dir / name).mkdir()
    (data_dir / PARTITION_DIR / "index.tmp").write_text("sidecar")
    with pytest.warns(RuntimeWarning) as caught:
        b = cl.Broker(data_dir)
    warned = " / ".join(str(w.message) for w in caught)
    assert all(name in warned for name in foreign)
    with b:
        assert b.partitions() == [(T, 0)]  # t-01 and t-² are never taken for partition 1 or 2
        assert_exact_log(b, 1)
        b.produce(T, 1, ["x"])
        b.produce(T, 2, ["y"])
    assert not [p for name in foreign for p in (data_dir / name).iterdir()]
    assert (data_dir / "README.txt").read_text() == "notes"
    assert (data_dir / PARTITION_DIR / "index.tmp").exists()


def test_recovered_segments_are_sealed_and_new_writes_start_a_new_segment(tmp_path) -> None:
    log = crashed_log(tmp_path, [2, 3])
    with reopen_without_warning(log.data_dir) as b:
        b.produce(T, 0, ["5"])
        b.flush()
        segments = b.segments(T, 0)
        assert segments["base_offset"].tolist() == [0, 5]
        assert segments["sealed"].tolist() == [True, False]
        assert log.segment.stat().st_size == log.batch_ends[-1]  # the old file is not touched
        assert_exact_log(b, 6)
