"""A streamed history survives its recorder: kill -9 leaves every row group written in PATH.parts/
(each a whole Parquet file, read by `chronik-lab check` as a directory history), Ctrl-C and
SIGTERM finish PATH, and a second writer never overwrites what a killed one left."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest
from served import ENV, run_cli, served

import chronik_lab as cl
from chronik_lab.checker.writer import HistoryWriter, parts_dir
from chronik_lab.errors import HistoryError


def _rows(writer: HistoryWriter, start: int, count: int) -> None:
    for i in range(start, start + count):
        writer.append(i, "producer-0", "send", "ok", 0, i, i, time=i * 1000)


def test_row_groups_are_whole_files_in_order_before_close_and_one_file_after(tmp_path):
    path = tmp_path / "h.parquet"
    writer = HistoryWriter(path, row_group_rows=10, time=True)
    _rows(writer, 0, 25)
    parts = sorted(parts_dir(path).iterdir())
    assert [p.name for p in parts] == [f"{0:020d}.parquet", f"{10:020d}.parquet"]
    assert not path.exists()  # a reader never meets a file without its footer
    # what a kill -9 now would leave: the two row groups, readable as a directory history
    report = cl.check(parts_dir(path))
    assert report.stats["sent"] == 20
    writer.close()
    assert not parts_dir(path).exists()
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    assert pd.read_parquet(path)["value"].tolist() == list(range(25))


def test_a_second_writer_refuses_the_parts_a_killed_one_left(tmp_path):
    path = tmp_path / "h.parquet"
    writer = HistoryWriter(path, row_group_rows=5)
    _rows(writer, 0, 5)  # one part on disk; the writer is abandoned as a kill would
    with pytest.raises(HistoryError, match=r"h\.parquet\.parts holds the row groups of a run"):
        HistoryWriter(path)
    assert len(pd.read_parquet(parts_dir(path))) == 5


def test_an_error_inside_the_with_block_still_finishes_the_file(tmp_path):
    path = tmp_path / "h.parquet"
    with pytest.raises(KeyboardInterrupt), HistoryWriter(path, row_group_rows=4) as writer:
        _rows(writer, 0, 6)
        raise KeyboardInterrupt
    assert len(pd.read_parquet(path)) == 6 and not parts_dir(path).exists()


@pytest.mark.slow
def test_record_killed_with_sigkill_mid_run_leaves_a_history_check_reads(tmp_path):
    out = tmp_path / "h.parquet"
    with served("--partitions", "1") as (_, bootstrap):
        args = [sys.executable, "-m", "chronik_lab", "record", "--bootstrap", bootstrap,
                "--messages", "1000000", "--fault", "lost-acks", "--producer-config",
                "request_timeout_ms=1000", "-o", str(out)]  # fmt: skip
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
        try:
            deadline = time.monotonic() + 60
            while len(list(parts_dir(out).glob("*.parquet"))) < 2:  # FLUSH_S apart
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "no row group written in 60 s"
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL and not out.exists()
    checked = run_cli("check", str(parts_dir(out)))
    assert checked.returncode in (0, 1), checked.stderr  # 1: the duplicates the lost acks made
    history = pd.read_parquet(parts_dir(out))
    assert "drop-response" in set(history.loc[history["process"] == "nemesis", "f"])
    assert (history["f"] == "send").sum() > 0


@pytest.mark.slow
def test_record_stopped_with_sigterm_finishes_its_parquet_file(tmp_path):
    out = tmp_path / "h.parquet"
    with served("--partitions", "1") as (_, bootstrap):
        args = [sys.executable, "-m", "chronik_lab", "record", "--bootstrap", bootstrap,
                "--messages", "1000000", "--consumers", "1", "-o", str(out)]  # fmt: skip
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
        try:
            deadline = time.monotonic() + 60
            while not list(parts_dir(out).glob("*.parquet")):
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "no row group written in 60 s"
                time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 130
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()
    assert not parts_dir(out).exists()
    history = cl.read_history(out)
    assert (history["f"] == "send").sum() > 0
