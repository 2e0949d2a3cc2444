"""The write-ahead log (engine/wal.py): every acknowledged produce is in a file before it is
answered, recovery puts the unflushed ones back in the pending batches, a flush empties it, a
torn tail is cut, a failed append refuses the produce, and links are never followed.

A killed process is stood in for by copying its data_dir while the broker is still open (what
the files hold at that instant); tests/test_crash.py and tests/test_wire_sigkill.py kill real
processes."""

from __future__ import annotations

import errno
import os
import shutil
import warnings
from pathlib import Path

import pyarrow as pa
import pytest

import chronik_lab as cl
from chronik_lab.engine import wal

T = "t"


def killed_copy(b: cl.Broker, tmp_path: Path) -> Path:
    """The data_dir as a SIGKILL at this instant would leave it."""
    target = tmp_path / "after-kill"
    shutil.copytree(b.data_dir, target, ignore=shutil.ignore_patterns(".lock"))
    return target


def values(b: cl.Broker) -> list[bytes]:
    return b.fetch(T, 0).records.column("value").to_pylist()


def test_acknowledged_unflushed_records_survive_a_kill_and_stay_pending(
    make_broker, tmp_path
) -> None:
    b = make_broker(flush_batches=5)
    for i in range(7):  # one flush of 5, two acknowledged requests pending
        b.produce(T, 0, [b"%d" % i], acks=1)
    copy = killed_copy(b, tmp_path)
    recovered = make_broker(data_dir=copy, flush_batches=5)
    assert values(recovered) == [b"%d" % i for i in range(7)]
    assert recovered.pending(T, 0).num_rows == 2  # not flushed by the recovery itself
    for i in range(7, 10):  # flush_batches still counts: the 5th pending request flushes
        recovered.produce(T, 0, [b"%d" % i])
    assert recovered.pending(T, 0).num_rows == 0
    assert recovered.segments(T, 0)["last_offset"].tolist()[-1] == 9
    assert recovered.produce(T, 0, [b"10"]).base_offset == 10


def test_a_flush_cuts_the_log_back_to_its_header(make_broker, data_dir) -> None:
    b = make_broker(flush_batches=3)
    log = data_dir / f"{T}-0" / wal.FILE_NAME
    b.produce(T, 0, [b"a"])
    assert log.stat().st_size > len(wal.HEADER)
    b.produce(T, 0, [b"b"])
    b.produce(T, 0, [b"c"])  # the third request: a flush
    assert log.stat().st_size == len(wal.HEADER)


def test_a_torn_tail_is_cut_and_the_requests_before_it_kept(make_broker, tmp_path) -> None:
    b = make_broker(flush_batches=100)
    b.produce(T, 0, [b"x", b"y"])
    b.produce(T, 0, [b"z"])
    copy = killed_copy(b, tmp_path)
    log = copy / f"{T}-0" / wal.FILE_NAME
    with open(log, "r+b") as f:  # the second request's append was cut by the kill
        f.truncate(log.stat().st_size - 5)
    with pytest.warns(RuntimeWarning, match="torn tail"):
        recovered = make_broker(data_dir=copy)
    assert values(recovered) == [b"x", b"y"]
    assert recovered.produce(T, 0, [b"next"]).base_offset == 2


def test_a_corrupt_request_in_the_log_is_refused_not_cut(make_broker, tmp_path) -> None:
    b = make_broker(flush_batches=100)
    b.produce(T, 0, [b"value-0"])
    copy = killed_copy(b, tmp_path)
    log = copy / f"{T}-0" / wal.FILE_NAME
    data = bytearray(log.read_bytes())
    data[-3] ^= 0x40  # inside the value: the entry's CRC-32C catches it
    log.write_bytes(bytes(data))
    with pytest.raises(cl.CorruptSegmentError, match="checksum"):
        cl.Broker(copy)
    assert log.read_bytes() == bytes(data)  # left as found


def test_a_failed_append_refuses_the_produce_and_appends_nothing(make_broker, monkeypatch) -> None:
    b = make_broker(flush_batches=100)
    b.produce(T, 0, [b"a"])

    def full(fd, data, offset):
        os.pwrite(fd, b"partial", offset)  # a short write, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(wal, "_write", full)
    with pytest.raises(cl.WalWriteError) as info:
        b.produce(T, 0, [b"b"], producer_id=1, producer_epoch=0, base_sequence=0)
    assert info.value.cause.errno == errno.ENOSPC
    with pytest.raises(cl.WalWriteError):
        b.produce("new-topic", 0, [b"c"])
    assert b.log_end_offset(T, 0) == 1 and values(b) == [b"a"]
    assert b.partitions() == [(T, 0)]  # the refused request left no topic-partition
    monkeypatch.undo()
    # the retry succeeds, and is not taken for a duplicate: the refused batch never counted
    retry = b.produce(T, 0, [b"b"], producer_id=1, producer_epoch=0, base_sequence=0)
    assert (retry.base_offset, retry.duplicate) == (1, False)
    b.close()
    with cl.Broker(b.data_dir) as reopened:  # the partial bytes were cut before the retry
        assert values(reopened) == [b"a", b"b"]


def test_a_symlink_in_place_of_the_log_is_never_followed(make_broker, data_dir, tmp_path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep")
    (data_dir / f"{T}-0").mkdir(parents=True)
    (data_dir / f"{T}-0" / wal.FILE_NAME).symlink_to(outside)
    with pytest.raises(cl.DataDirError, match="symlink"):
        cl.Broker(data_dir)
    (data_dir / f"{T}-0" / wal.FILE_NAME).unlink()
    b = make_broker()
    (data_dir / f"{T}-0" / wal.FILE_NAME).symlink_to(outside)  # planted while it runs
    with pytest.raises(cl.WalWriteError):
        b.produce(T, 0, [b"x"])
    assert outside.read_bytes() == b"keep"


def test_idempotent_batches_in_the_log_are_deduplicated_after_a_kill(make_broker, tmp_path) -> None:
    b = make_broker(flush_batches=100)
    for seq in range(3):
        b.produce(T, 0, [b"%d" % seq], producer_id=4, producer_epoch=0, base_sequence=seq)
    recovered = make_broker(data_dir=killed_copy(b, tmp_path))
    retry = recovered.produce(T, 0, [b"1"], producer_id=4, producer_epoch=0, base_sequence=1)
    assert (retry.base_offset, retry.duplicate) == (1, True)
    recovered.flush()
    assert recovered.fetch(T, 0).records.column("producer_id").to_pylist() == [4, 4, 4]


def test_a_log_cut_inside_its_header_is_started_anew(make_broker, tmp_path) -> None:
    b = make_broker(flush_batches=100)
    b.produce(T, 0, [b"a"])
    b.flush()
    copy = killed_copy(b, tmp_path)
    log = copy / f"{T}-0" / wal.FILE_NAME
    log.write_bytes(wal.HEADER[:5])  # a kill while the log was being created
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        recovered = make_broker(data_dir=copy)
    assert recovered.produce(T, 0, [b"b"]).base_offset == 1
    assert log.read_bytes().startswith(wal.HEADER)


def test_every_kind_of_request_replays_exactly(make_broker, tmp_path) -> None:
    b = make_broker(flush_batches=100)
    b.produce(T, 0, [b"a", None, b""], keys=[None, b"k", b"kk"])  # held as lists
    b.produce(T, 0, ["text", "é"])  # str values: built as Arrow at once
    b.produce(
        T, 0, [b"%d" % i for i in range(300)], producer_id=2, producer_epoch=1, base_sequence=7
    )  # a long request: built as Arrow too
    b.produce(T, 0, [b"last"], keys=[b"key"], producer_id=2, producer_epoch=1, base_sequence=307)
    # Arrow arrays (the wire's long requests): held as they are, logged as lists would be --
    # with keys and nulls, a slice of a larger array, and a null whose slot holds bytes
    whole = pa.array([b"skip", b"x", None, b"", b"yy"], pa.binary())
    b.produce(T, 0, whole.slice(1), pa.array([None, b"k", None, b"k2"], pa.binary()))
    odd = pa.Array.from_buffers(
        pa.binary(), 2, [pa.py_buffer(bytes([0b10])), pa.py_buffer(b"\0\0\0\0\3\0\0\0\4\0\0\0"),
                         pa.py_buffer(b"abcd")], 1,
    )  # fmt: skip
    b.produce(T, 0, odd)
    assert b.pending(T, 0).column("value").to_pylist()[-6:] == [b"x", None, b"", b"yy", None, b"d"]
    before = b.fetch(T, 0).records
    recovered = make_broker(data_dir=killed_copy(b, tmp_path))
    assert recovered.fetch(T, 0).records.equals(before)
    assert recovered.produce(
        T, 0, [b"last"], keys=[b"key"], producer_id=2, producer_epoch=1, base_sequence=307
    ).duplicate


def test_a_log_that_keeps_unflushed_batches_is_rewritten_with_just_those(
    make_broker, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(wal, "REWRITE_BYTES", 1)  # rewrite after every flush that leaves some
    clock = cl.SimClock()
    b = make_broker(flush_batches=2, flush_ms=10, clock=clock)
    log = b.data_dir / f"{T}-0" / wal.FILE_NAME
    for i in range(9):  # each flush stays in flight while the next requests arrive
        b.produce(T, 0, [b"%d" % i])
        clock.advance(6)
    unflushed = b.pending(T, 0).num_rows
    assert 0 < unflushed < 9
    copy = killed_copy(b, tmp_path)
    recovered = make_broker(data_dir=copy)
    assert values(recovered) == [b"%d" % i for i in range(9)]
    assert recovered.pending(T, 0).num_rows == unflushed  # only those were in the log
    assert log.stat().st_size < 9 * 40  # not every request ever made
