"""A flushed record survives, a corrupted one is refused: issue 7's cases, one test each.

Two brokers on one data_dir, failed writes (injected, and a real full file system), close() with
failing partitions, symlinks, names the file system cannot hold, directory fsyncs, checksums and
the structure of recovered batches, and Broker.check().
"""

from __future__ import annotations

import errno
import gc
import os
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import chronik_lab as cl
from chronik_lab.engine import files, framing, records
from chronik_lab.engine.records import SCHEMA

T = "topic"


def values_of(b: cl.Broker, topic: str = T, partition: int = 0) -> list[str]:
    return [v.decode() for v in b.fetch(topic, partition).records.column("value").to_pylist()]


def segment_file(data_dir: Path, base: int = 0, topic: str = T) -> Path:
    return data_dir / f"{topic}-0" / f"{base:020d}.arrows"


def data_files(data_dir: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in data_dir.rglob("*") if p.is_file() and p.name != ".lock"}


# -- 1. two brokers on one data_dir ----------------------------------------------------------
def test_a_second_broker_on_a_data_dir_in_use_is_refused_naming_dir_and_pid(data_dir) -> None:
    a = cl.Broker(data_dir, flush_batches=1)
    a.produce(T, 0, ["a0", "a1"])
    with pytest.raises(cl.DataDirLockedError) as info:
        cl.Broker(data_dir, flush_batches=1)
    assert info.value.data_dir == data_dir and info.value.pid == os.getpid()
    assert str(data_dir) in str(info.value) and str(os.getpid()) in str(info.value)
    a.produce(T, 0, ["a2"])
    a.close()
    with cl.Broker(data_dir) as b:  # the lock is released by close()
        assert values_of(b) == ["a0", "a1", "a2"]


def test_a_broker_in_another_process_holds_the_lock_until_it_exits(data_dir) -> None:
    code = (
        "import sys, chronik_lab as cl; b = cl.Broker(sys.argv[1]); print('ready', flush=True);"
        " sys.stdin.read()"
    )
    args = [sys.executable, "-c", code, str(data_dir)]
    with subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as child:
        try:
            assert child.stdout.readline().strip() == b"ready"
            with pytest.raises(cl.DataDirLockedError) as info:
                cl.Broker(data_dir)
            assert info.value.pid == child.pid
        finally:
            child.kill()  # a killed holder leaves no stale lock: flock dies with the process
    cl.Broker(data_dir).close()


def test_the_lock_file_is_created_readable_not_executable(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        with cl.Broker(tmp_path / "d"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "d" / ".lock").stat().st_mode) == 0o644


def test_segment_files_are_created_exclusively_never_truncating_one(make_broker) -> None:
    b = make_broker(flush_batches=1)
    path = segment_file(b.data_dir)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"someone else's flushed bytes")
    with pytest.raises(cl.SegmentWriteError) as info:
        b.produce(T, 0, ["x"])
    assert info.value.path == path and isinstance(info.value.cause, FileExistsError)
    assert path.read_bytes() == b"someone else's flushed bytes"
    assert b.pending(T, 0).column("value").to_pylist() == [b"x"]  # kept for a retry
    path.unlink()
    b.flush()
    assert values_of(b) == ["x"]


# -- 2. a failed flush -----------------------------------------------------------------------
class FailingWrites:
    """files.pwrite_all that writes `partial` bytes of the call number `fail_at`, then raises
    ENOSPC there (and on every later call while `stuck`)."""

    def __init__(self, fail_at: int, partial: int = 7, stuck: bool = False) -> None:
        self.real = files.pwrite_all
        self.calls = 0
        self.fail_at, self.partial, self.stuck = fail_at, partial, stuck
        self.failures = 0

    def __call__(self, fd: int, parts, offset: int) -> int:
        self.calls += 1
        if self.calls == self.fail_at or (self.stuck and self.calls > self.fail_at):
            data = b"".join(bytes(memoryview(p).cast("B")) for p in parts)
            os.pwrite(fd, data[: self.partial], offset)  # a short write, then the error
            self.failures += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.real(fd, parts, offset)


def test_a_failed_flush_keeps_its_batches_pending_and_a_retry_writes_them(
    data_dir, monkeypatch
) -> None:
    b = cl.Broker(data_dir, flush_batches=2)
    b.produce(T, 0, ["0", "1"])
    b.produce(T, 0, ["2"])  # the first flush: offsets 0-2 in the segment
    size = segment_file(data_dir).stat().st_size
    fault = FailingWrites(fail_at=1, stuck=True)
    monkeypatch.setattr(files, "pwrite_all", fault)
    b.produce(T, 0, ["3"], acks=1)
    with pytest.raises(cl.SegmentWriteError) as info:
        b.produce(T, 0, ["4"], acks=1)  # its flush fails
    assert info.value.path == segment_file(data_dir) and "No space left" in str(info.value)
    assert segment_file(data_dir).stat().st_size == size  # the half-written batch is cut off
    with pytest.raises(cl.SegmentWriteError):  # each request's flush retries, and fails
        b.produce(T, 0, ["5"], acks=0)
    with pytest.raises(cl.SegmentWriteError):
        b.flush()
    assert fault.failures == 3
    assert b.pending(T, 0).column("value").to_pylist() == [b"3", b"4", b"5"]
    assert values_of(b) == [str(i) for i in range(6)]  # ...and fetch serves all of it
    monkeypatch.setattr(files, "pwrite_all", fault.real)  # the disk has room again
    b.flush()
    b.close()
    with cl.Broker(data_dir) as reopened:
        assert values_of(reopened) == [str(i) for i in range(6)]
        assert reopened.check() == []


def test_injected_write_failures_at_every_write_lose_no_acknowledged_record(
    tmp_path, monkeypatch
) -> None:
    """Fault injection: fail the k-th write of a workload for every k (a short write then
    ENOSPC, once), retry after each failure; every acknowledged record must survive a reopen,
    at its offset, once."""
    counting = FailingWrites(fail_at=0)
    monkeypatch.setattr(files, "pwrite_all", counting)
    _workload(tmp_path / "clean", seed=0)
    writes = counting.calls  # headers, batches and end markers of the fault-free run
    trials = failures = 0
    for k in range(1, writes + 1):
        data_dir = tmp_path / f"run{k}"
        fault = FailingWrites(fail_at=k, partial=k * 13 % 300)
        monkeypatch.setattr(files, "pwrite_all", fault)
        acked = _workload(data_dir, seed=0)
        monkeypatch.setattr(files, "pwrite_all", fault.real)
        with cl.Broker(data_dir) as b:
            got = b.fetch(T, 0).records
            offsets, stored = got.column("offset").to_pylist(), values_of(b)
            assert offsets == list(range(len(offsets))), k
            for offset, value in acked.items():
                assert stored[offset] == value, (k, offset)
            assert b.check() == []
        trials += 1
        failures += fault.failures
    print(f"fault injection: {trials} trials, {failures} injected write failures, 0 losses")
    assert writes >= 30 and failures == trials


def _workload(data_dir: Path, seed: int) -> dict[int, str]:
    """Produce with mixed acks, flushes and rotations; return offset -> value acknowledged."""
    rng = np.random.default_rng(seed)
    acked: dict[int, str] = {}
    b = cl.Broker(data_dir, flush_batches=3, segment_bytes=2_000)
    n = 0
    for _ in range(60):
        vals = [f"v{n + i}" for i in range(int(rng.integers(1, 5)))]
        n += len(vals)
        try:
            r = b.produce(T, 0, vals, acks=int(rng.choice([0, 1, -1])))
        except cl.SegmentWriteError:
            continue  # not acknowledged (it may still be written: at least once)
        acked.update({r.base_offset + i: v for i, v in enumerate(vals)})
    for _ in range(3):  # close retries after a failure, as a user would
        try:
            b.close()
            break
        except cl.BrokerCloseError:
            pass
    return acked


def test_a_full_file_system_loses_no_acknowledged_record_and_a_retry_succeeds(tmp_path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)])
    if done.returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        filler = mount / "filler"
        filler.write_bytes(b"\0" * 64 * 1024)
        b = cl.Broker(mount / "data", flush_batches=1, segment_bytes=32 * 1024)
        acked, failed, refused = [], 0, 0
        for i in range(400):
            value = f"{i:05d}" + "x" * 995
            try:
                b.produce(T, 0, [value])
                acked.append(value)
            except cl.WalWriteError as exc:  # refused before anything was appended
                assert exc.cause.errno == errno.ENOSPC and str(mount) in str(exc)
                refused += 1
            except cl.SegmentWriteError as exc:  # appended, its flush failed: still pending
                assert exc.cause.errno == errno.ENOSPC and str(mount) in str(exc)
                failed += 1
            if failed + refused == 5:
                break
        assert failed + refused == 5 and len(acked) > 50
        filler.unlink()  # room again: the pending batches are written by the retry
        b.close()
        with cl.Broker(mount / "data") as reopened:
            stored = values_of(reopened)
            assert [v for v in stored if v in set(acked)] == acked
            assert len(stored) == len(acked) + failed  # the failed flushes, written later
            assert reopened.check() == []
    finally:
        gc.collect()
        subprocess.run(["umount", "-l", str(mount)])


def test_a_flush_over_one_arrow_batch_is_split_into_several(data_dir, monkeypatch) -> None:
    monkeypatch.setattr(records, "MAX_BATCH_BYTES", 25)  # stands for the 2 GiB column limit
    with cl.Broker(data_dir, flush_batches=100) as b:
        for i in range(10):
            b.produce(T, 0, [f"{i}".encode() * 10])
        b.flush()
        assert b.segments(T, 0)["batch_count"].tolist() == [5]  # 2 requests (20 B) a batch
    with cl.Broker(data_dir) as b:
        assert values_of(b) == [f"{i}" * 10 for i in range(10)]


def test_a_flush_over_the_batch_limit_writes_big_values_in_several_batches(
    data_dir, monkeypatch
) -> None:
    # The real limit (1 GiB, under the 2 GiB a binary column holds) stood for by 8 MiB: the same
    # split as two 1.2 GiB values would make, in megabytes of memory instead of 9 GiB.
    assert 2 * records.MAX_BATCH_BYTES <= 2**31  # a batch (at most the limit) fits int32 offsets
    monkeypatch.setattr(records, "MAX_BATCH_BYTES", 8 << 20)
    big = b"v" * (5 << 20)  # two of these exceed the limit
    with cl.Broker(data_dir, flush_batches=100) as b:
        b.produce(T, 0, [big])
        b.produce(T, 0, [big, b"end"])
        b.flush()
        assert b.segments(T, 0)["batch_count"].sum() == 2
    with cl.Broker(data_dir) as b:
        got = b.fetch(T, 0).records.column("value")
        assert got[2].as_py() == b"end" and len(got) == 3 and got[0].as_py() == big


def test_a_request_whose_values_exceed_a_binary_column_is_refused(broker, monkeypatch) -> None:
    monkeypatch.setattr(records, "MAX_BATCH_BYTES", 4)  # the lazy path: too big to wait
    original = pa.array

    def chunking(items, type=None):  # what pa.array returns past 2 GiB: a ChunkedArray
        column = original(items, type=type)
        return pa.chunked_array([column.slice(0, 1), column.slice(1)])

    monkeypatch.setattr(pa, "array", chunking)
    with pytest.raises(cl.InvalidArgumentError, match="2 GiB"):
        broker.produce(T, 0, [b"12345", b"6"])
    monkeypatch.undo()
    assert broker.partitions() == []


def test_a_name_whose_directory_exceeds_the_file_system_limit_is_refused_at_produce(
    broker,
) -> None:
    topic = "t" * 249  # legal for Kafka; with "-2147483647" its directory is 260 bytes
    with pytest.raises(cl.InvalidTopicError, match="limit of 255"):
        broker.produce(topic, 2**31 - 1, ["x"])
    assert broker.partitions() == []
    broker.produce(topic, 7, ["x"])  # 251 bytes: fine
    broker.flush()
    assert values_of(broker, topic, 7) == ["x"]


# -- 3. close() tries every partition --------------------------------------------------------
def test_close_tries_every_partition_and_raises_one_error_listing_the_failures(data_dir) -> None:
    b = cl.Broker(data_dir, flush_batches=100)
    for topic in ("a", "b", "c"):
        b.produce(topic, 0, [f"{topic}0"])
    states = b.partition_states
    real = {t: states[(t, 0)].writer.append for t in ("a", "c")}

    def failing(batch):
        raise cl.SegmentWriteError("somewhere", OSError(errno.EIO, "I/O error"))

    for topic in real:
        states[(topic, 0)].writer.append = failing
    with pytest.raises(cl.BrokerCloseError) as info:
        b.close()
    assert sorted(info.value.failures) == [("a", 0), ("c", 0)]
    assert "a-0" in str(info.value) and "c-0" in str(info.value) and "I/O error" in str(info)
    assert segment_file(data_dir, topic="b").exists()  # the one in between was flushed
    for topic, append in real.items():
        states[(topic, 0)].writer.append = append
    b.close()  # still open after a failed close: a second close finishes the job
    with cl.Broker(data_dir) as reopened:
        assert [values_of(reopened, t) for t in "abc"] == [["a0"], ["b0"], ["c0"]]


# -- 4. torn tails and corruption ------------------------------------------------------------
def _log(data_dir: Path, counts: list[int]) -> Path:
    b = cl.Broker(data_dir, flush_batches=1)
    n = 0
    for k in counts:
        b.produce(T, 0, [str(n + i) for i in range(k)])
        n += k
    b.close()
    return segment_file(data_dir)


@pytest.mark.parametrize("bit", range(32))
def test_a_flipped_bit_in_the_last_batch_length_prefix_is_corruption_not_a_torn_tail(
    data_dir, bit
) -> None:
    path = _log(data_dir, [2, 3])
    data = bytearray(path.read_bytes())
    head = data[len(framing.HEADER) :][: framing.HEAD_LEN]
    last = len(framing.HEADER) + framing.message_length(head)
    assert data[last : last + 4] == framing.CONTINUATION  # the second batch's message
    data[last + 4 + bit // 8] ^= 1 << (bit % 8)
    path.write_bytes(bytes(data))
    with pytest.raises(cl.CorruptSegmentError) as info:
        cl.Broker(data_dir)
    assert info.value.batch == 1 and info.value.path == path
    assert path.read_bytes() == bytes(data)  # nothing cut, nothing removed


def test_a_flipped_body_byte_of_an_earlier_segment_is_refused_at_its_first_read(
    data_dir,
) -> None:
    with cl.Broker(data_dir, flush_batches=1, segment_bytes=1) as b:
        b.produce(T, 0, ["aaaa", "bbbb"])
        b.produce(T, 0, ["cccc"])
    first = segment_file(data_dir)
    data = bytearray(first.read_bytes())
    data[data.index(b"bbbb")] ^= 0x01  # "cbbb": a silent change without the checksum
    first.write_bytes(bytes(data))
    with cl.Broker(data_dir) as b:  # opening reads only metadata of sealed segments
        with pytest.raises(cl.CorruptSegmentError, match="body checksum") as info:
            b.fetch(T, 0, offset=0)
        assert info.value.path == first and info.value.batch == 0
        assert b.fetch(T, 0, offset=2).records.column("value").to_pylist() == [b"cccc"]
        assert [(p.path, p.batch) for p in b.check()] == [(str(first), 0)]


def _hand_made(path: Path, offsets: list[int | None], checksum: bool = True) -> None:
    n = len(offsets)
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(offsets, pa.int64()),
            pa.array(np.zeros(n, dtype=np.int64)),
            pa.nulls(n, pa.binary()),
            pa.array([b"v"] * n, pa.binary()),
            *(pa.array(np.full(n, -1, dtype=kind)) for kind in (np.int64, np.int16, np.int32)),
        ],
        schema=SCHEMA,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if checksum:
        head, body = framing.encode(batch)
        path.write_bytes(framing.HEADER + head + body.to_pybytes())
    else:
        with pa.ipc.new_stream(str(path), SCHEMA) as writer:
            writer.write_batch(batch)


@pytest.mark.parametrize(
    ("offsets", "reason"),
    [
        ([0, 1, 0], "not contiguous"),
        ([0, 1, -5], "not contiguous"),
        ([0, None, 2], "null offset"),
        ([3, 4, 5], "starts at offset 3, expected 0"),
    ],
    ids=["repeat", "negative", "null", "wrong-start"],
)
def test_hand_made_segments_with_bad_offsets_are_refused_by_name(data_dir, offsets, reason) -> None:
    path = segment_file(data_dir)
    _hand_made(path, offsets)
    before = path.read_bytes()
    with pytest.raises(cl.CorruptSegmentError, match=reason):
        cl.Broker(data_dir)
    assert path.read_bytes() == before


def test_a_segment_without_chronik_lab_checksums_is_refused(data_dir) -> None:
    _hand_made(segment_file(data_dir), [0, 1, 2], checksum=False)
    with pytest.raises(cl.CorruptSegmentError, match="not a record batch written by chronik_lab"):
        cl.Broker(data_dir)


def test_a_segment_cut_short_under_an_open_broker_is_an_error_not_a_crash(data_dir) -> None:
    with cl.Broker(data_dir, flush_batches=1, segment_bytes=1) as b:
        b.produce(T, 0, ["0"])
        b.produce(T, 0, ["1"])
        os.truncate(segment_file(data_dir), 100)
        with pytest.raises(cl.CorruptSegmentError, match="index ends at"):
            b.fetch(T, 0)


def test_a_segment_removed_under_an_open_broker_is_an_error_naming_it(data_dir) -> None:
    with cl.Broker(data_dir, flush_batches=1) as b:
        b.produce(T, 0, ["0"])
        segment_file(data_dir).unlink()
        with pytest.raises(cl.CorruptSegmentError, match="cannot be opened") as info:
            b.fetch(T, 0)
        assert info.value.path == segment_file(data_dir)
        assert "not on disk" in b.check()[0].reason


def test_a_directory_named_like_a_segment_is_a_corrupt_segment(data_dir) -> None:
    segment_file(data_dir).mkdir(parents=True)
    with pytest.raises(cl.CorruptSegmentError, match="not a regular file"):
        cl.Broker(data_dir)


# -- Broker.check() --------------------------------------------------------------------------
def test_check_reports_problems_without_raising_or_repairing(data_dir) -> None:
    b = cl.Broker(data_dir, flush_batches=1, segment_bytes=1)
    for i in range(3):
        b.produce(T, 0, [str(i)])
    b.produce("other", 0, ["x"])
    assert b.check() == []
    first, last = segment_file(data_dir, 0), segment_file(data_dir, 2)
    data = bytearray(first.read_bytes())
    data[-20] ^= 0x10
    first.write_bytes(bytes(data))
    torn = last.read_bytes()[:-20]  # the end marker and the end of its batch
    last.write_bytes(torn)
    segment_file(data_dir, 0, topic="other").unlink()
    (data_dir / "stray-dir").mkdir()
    problems = b.check()
    reasons = {(Path(p.path).name, p.batch): p.reason for p in problems}
    assert "checksum" in reasons[(first.name, 0)]
    assert "torn at byte" in reasons[(last.name, 0)]
    assert "not on disk" in reasons[(segment_file(data_dir, 0, "other").name, None)]
    assert "does not own" in reasons[("stray-dir", None)]
    assert last.read_bytes() == torn  # check() repairs nothing
    b.close()


# -- 7. symlinks -----------------------------------------------------------------------------
def test_a_symlinked_partition_directory_is_refused_and_its_target_untouched(tmp_path) -> None:
    data_dir, outside = tmp_path / "data", tmp_path / "outside"
    _log(outside, [2])
    (data_dir).mkdir()
    (data_dir / f"{T}-0").symlink_to(outside / f"{T}-0")
    before = data_files(outside)
    with pytest.raises(cl.DataDirError, match="symlink"):
        cl.Broker(data_dir)
    assert data_files(outside) == before


def test_a_symlinked_torn_segment_is_refused_not_repaired_through_the_link(tmp_path) -> None:
    data_dir, outside = tmp_path / "data", tmp_path / "outside.arrows"
    path = _log(data_dir, [2, 2])
    outside.write_bytes(path.read_bytes()[:-13])  # torn: repair would cut the target
    path.unlink()
    path.symlink_to(outside)
    before = outside.read_bytes()
    with pytest.raises(cl.DataDirError, match="symlink"):
        cl.Broker(data_dir)
    assert outside.read_bytes() == before


def test_a_symlink_where_a_new_partition_directory_goes_is_not_written_through(
    tmp_path,
) -> None:
    data_dir, outside = tmp_path / "data", tmp_path / "outside"
    outside.mkdir()
    with cl.Broker(data_dir, flush_batches=1) as b:
        (data_dir / f"{T}-0").symlink_to(outside)
        with pytest.raises(cl.DataDirError, match="symlink"):
            b.produce(T, 0, ["x"])
        (data_dir / f"{T}-0").unlink()
    assert list(outside.iterdir()) == []


# -- 8. paths from exact str / int -----------------------------------------------------------
class SneakyTopic(str):
    def __format__(self, spec: str) -> str:
        return "../escaped"

    def __str__(self) -> str:
        return "../escaped"


class SneakyPartition(int):
    def __format__(self, spec: str) -> str:
        return "../../escaped"


def test_paths_are_built_from_the_validated_name_not_a_subclass_format(tmp_path) -> None:
    data_dir = tmp_path / "data"
    with cl.Broker(data_dir, flush_batches=1) as b:
        b.produce(SneakyTopic("safe"), SneakyPartition(3), ["x"])
        assert b.partitions() == [("safe", 3)]
        assert type(b.partitions()[0][0]) is str and type(b.partitions()[0][1]) is int
    assert (data_dir / "safe-3").is_dir()
    assert not (tmp_path / "escaped").exists() and not (data_dir / "escaped").exists()


# -- 9. fsync of directories -----------------------------------------------------------------
def test_fsync_also_fsyncs_the_directories_of_new_files(data_dir, monkeypatch) -> None:
    synced: list[Path] = []
    real = files.fsync_dir
    monkeypatch.setattr(files, "fsync_dir", lambda path: (synced.append(path), real(path)))
    with cl.Broker(data_dir, flush_batches=1, fsync=True, segment_bytes=1) as b:
        b.produce(T, 0, ["0"])
        b.produce(T, 0, ["1"])
    assert synced.count(data_dir) == 1  # the new partition directory's entry
    # each new segment file's entry, and the write-ahead log's
    assert synced.count(data_dir / f"{T}-0") == 3
    synced.clear()
    with cl.Broker(data_dir, flush_batches=1, fsync=False) as b:
        b.produce(T, 0, ["2"])
    assert synced == []


# -- a broker never closed ------------------------------------------------------------------
def test_a_broker_never_closed_removes_its_temporary_directory_when_collected() -> None:
    b = cl.Broker()
    path = b.data_dir
    assert path.is_dir()
    del b
    gc.collect()
    assert not path.exists()


def test_a_broker_never_closed_removes_its_temporary_directory_at_exit(tmp_path) -> None:
    code = "import chronik_lab as cl; b = cl.Broker(); b.produce('t', 0, ['x']); print(b.data_dir)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert not Path(out.stdout.strip()).exists()


def test_a_persistent_broker_never_closed_releases_its_lock_when_collected(data_dir) -> None:
    b = cl.Broker(data_dir)
    with pytest.raises(cl.DataDirLockedError):
        cl.Broker(data_dir)
    del b
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cl.Broker(data_dir).close()
    assert data_dir.is_dir()  # a persistent data_dir is never removed
