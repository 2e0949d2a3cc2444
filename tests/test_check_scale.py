"""Histories of any size: chosen engines, the out-of-core path for a file larger than the memory
limit, the full anomaly list on disk, histories written in row groups as they happen, the rows a
fault recorder adds (indeterminate sends, nemesis faults), and a check stopped by Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import test_check as hand
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from served import default_sigint

import chronik_lab as cl
from chronik_lab.checker import buckets
from chronik_lab.checker.dispatch import (
    MIN_MEMORY,
    HistoryTooLargeError,
    parse_memory,
    run_check,
)
from chronik_lab.checker.progress import Progress
from chronik_lab.checker.sent import lost_in_arrays, lost_in_duckdb
from chronik_lab.checker.writer import HistoryWriter
from chronik_lab.cli import main
from chronik_lab.errors import ChronikLabError, HistoryError, InvalidArgumentError

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def local_dask(protocol: str = "inproc"):
    """A one-worker Dask cluster in this process (reached over TCP on 127.0.0.1 by a child)."""
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    where = {"protocol": "tcp", "host": "127.0.0.1"} if protocol == "tcp" else {}
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                 dashboard_address="127.0.0.1:0", **where) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        yield client


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def big_history(messages: int, partitions: int = 4) -> pd.DataFrame:
    """Acknowledged sends then one consumer's polls; id 7 is written twice, id 11 is lost."""
    ids = np.arange(messages)
    part, offset = ids % partitions, ids // partitions
    sends = pd.DataFrame({"op_index": ids, "process": 0, "f": "send", "type": "ok",
                          "partition": part, "offset": offset, "value": ids})  # fmt: skip
    polls = sends.assign(op_index=messages + part, process=1, f="poll")
    polls = polls[polls["value"] != 11]
    extra = polls[polls["value"] == 7].assign(offset=messages)
    return pd.concat([sends, polls, extra], ignore_index=True)


# --- engines and memory ------------------------------------------------------------------------


def test_memory_limits_are_bytes_or_sizes_and_absurd_ones_are_refused():
    assert parse_memory("2GB") == 2 * 10**9 and parse_memory("512MiB") == 512 << 20
    assert parse_memory(1 << 30) == 1 << 30 and parse_memory(None) >= MIN_MEMORY
    for bad in ("lots", "1KB", "9" * 30 + "TB", -5, True):
        with pytest.raises(InvalidArgumentError):
            parse_memory(bad)


@pytest.mark.slow
def test_auto_checks_a_csv_larger_than_the_memory_limit_out_of_core(tmp_path):
    # 400,000 rows of CSV: the in-memory estimate passes 64 MiB, so auto goes out of core.
    path = tmp_path / "big.csv"
    big_history(200_000).to_csv(path, index=False)
    run = run_check(path, "auto", "64MiB", sample=2)
    assert run.engine == "duckdb"
    assert run.report.counts["duplicate"] == 1 and run.report.counts["lost-write"] == 1
    assert run.report.stats["received"] == 200_000
    same = run_check(path, "memory", sample=2).report
    assert same.counts == run.report.counts and same.stats == run.report.stats


@pytest.mark.parametrize("engine", ["duckdb", "dask"])
def test_a_partition_larger_than_the_memory_limit_is_refused_naming_it(
    engine, tmp_path, monkeypatch
):
    path = cl.write_history(big_history(1_000, partitions=2), tmp_path / "h.parquet")
    monkeypatch.setattr(buckets, "BYTES_PER_ROW", MIN_MEMORY // 600)  # 600 rows a bucket
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(local_dask()) if engine == "dask" else None
        with pytest.raises(buckets.PartitionTooLargeError,
                           match="partition 0 has 1,000 history rows"):  # fmt: skip
            run_check(path, engine, MIN_MEMORY, client)


def test_a_history_beyond_the_memory_limit_is_checked_out_of_core_never_in_memory(tmp_path):
    path = cl.write_history(big_history(200_000), tmp_path / "h.parquet")  # ~88 MB to check
    with pytest.raises(HistoryTooLargeError) as caught:
        run_check(path, "memory", "64MiB")
    assert caught.value.memory_limit == 64 << 20 and caught.value.needed > 64 << 20
    assert run_check(path, "memory").engine == "memory"  # no limit given: read whole
    assert run_check(path, "auto", "64MiB", sample=1).engine == "duckdb"
    result = invoke("check", str(path), "--engine", "memory", "--memory-limit", "64MiB")
    assert result.exit_code == 2 and "use engine duckdb" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    result = invoke("check", str(path), "--memory-limit", "64MiB", "--json")  # auto
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["engine"] == "duckdb" and data["stats"]["received"] == 200_000
    assert data["counts"]["duplicate"] == 1 and data["counts"]["lost-write"] == 1


def test_progress_shows_the_stages_and_each_bucket_within_the_limit(tmp_path, monkeypatch):
    path = cl.write_history(big_history(4_000), tmp_path / "h.parquet")  # 4 x 2,000 rows
    monkeypatch.setattr(buckets, "BYTES_PER_ROW", MIN_MEMORY // 2_500)  # 2,500 rows a bucket
    args = ["check", str(path), "--engine", "duckdb", "--memory-limit", "64MiB"]
    shown = invoke(*args, "--progress")
    assert shown.exit_code == 1, shown.output
    for stage in ("check: duckdb engine, 8,000 rows", "check: partitioning", "checking buckets"):
        assert stage in shown.stderr
    assert "0/4 " in shown.stderr  # 4 buckets: 2,000 rows fit 2,500, two partitions do not
    quiet = invoke(*args, "--no-progress")
    assert quiet.stderr == "" and quiet.stdout == shown.stdout


def test_anomalies_out_holds_every_anomaly_while_the_report_keeps_a_sample(tmp_path):
    rows = [hand.poll(i, [2 * (i // 3), 2 * (i // 3) + 1], [i, i], partition=i % 3)
            for i in range(30)]  # fmt: skip
    path = cl.write_history(hand.frame(*rows), tmp_path / "dups.parquet")
    out = tmp_path / "anomalies.parquet"
    result = invoke("check", str(path), "--sample", "2", "--anomalies-out", str(out))
    assert result.exit_code == 1, result.output
    written = pd.read_parquet(out)
    assert len(written) == 30 and set(written["type"]) == {"duplicate"}
    assert "… 28 more" in result.output


def test_a_directory_of_parquet_files_hive_partitioned_is_one_history(tmp_path):
    history = big_history(1_000)
    for p, part in history.groupby("partition"):
        folder = tmp_path / "ds" / f"partition={p}"
        folder.mkdir(parents=True)
        part.drop(columns="partition").to_parquet(folder / "part-0.parquet", index=False)
    report = cl.check(tmp_path / "ds", engine="duckdb")
    assert report.counts["duplicate"] == 1 and report.counts["lost-write"] == 1
    assert report.stats["sent"] == 1_000


# --- what a fault recorder writes ----------------------------------------------------------


def test_indeterminate_sends_are_never_lost_and_may_appear_later():
    history = hand.frame(
        hand.sends([0, 1]),
        hand.sends([2], [None], first_op=2, type_="info"),  # timed out: maybe written
        hand.sends([3], [None], first_op=3, type_="info"),  # timed out: never seen
        hand.poll(4, [0, 1, 2], [0, 1, 2]),
    )
    report = cl.check(history)
    assert report.ok, report.summary()
    assert report.stats["sent"] == 4 and report.stats["acknowledged"] == 2
    assert report.stats["lost"] == 0


def test_nemesis_rows_are_kept_and_never_checked(tmp_path):
    base = hand.frame(hand.sends([0, 1, 2]), hand.poll(3, [0, 1, 2])).astype({"process": str})
    faults = pd.DataFrame(
        {
            "op_index": [1, 2],
            "process": "nemesis",
            "f": ["start-fault", "stop-fault"],
            "type": "info",
            "partition": None,
            "offset": None,
            "value": None,
        }  # fmt: skip
    )
    history = pd.concat([base.iloc[:1], faults.iloc[:1], base.iloc[1:3], faults.iloc[1:],
                         base.iloc[3:]], ignore_index=True)  # fmt: skip
    history["time"] = np.arange(len(history)) * 1_000_000
    clean = cl.check(base)
    report = cl.check(history)
    assert report.ok and report.stats == clean.stats
    path = cl.write_history(history, tmp_path / "faults.parquet")
    back = cl.read_history(path)
    assert back["f"].astype(str).tolist()[1] == "start-fault"
    assert back["process"].tolist().count("nemesis") == 2 and "time" in back.columns
    for engine in ("memory", "duckdb"):
        assert cl.check(path, engine=engine).stats == clean.stats


def test_a_nemesis_row_without_a_type_is_refused():
    history = hand.frame(hand.poll(1, [0])).astype({"process": str})
    fault = {"op_index": 0, "process": "nemesis", "f": "kill", "type": "boom",
             "partition": None, "offset": None, "value": None}  # fmt: skip
    with pytest.raises(HistoryError, match="type"):
        cl.check(pd.concat([history, pd.DataFrame([fault])]))


# --- HistoryWriter ---------------------------------------------------------------------------


def test_history_writer_writes_row_groups_as_it_goes(tmp_path):
    path = tmp_path / "h.parquet"
    with HistoryWriter(path, row_group_rows=10, time=True) as writer:
        for i in range(25):
            writer.append(i, "producer", "send", "ok", 0, i, i, time=i * 1000)
        assert writer.rows_written == 20  # two row groups on disk, five rows waiting
        writer.append(25, "nemesis", "start-fault", "info", None, None, None, time=25_000)
        for i in range(25):
            writer.append(26 + i, "consumer", "poll", "ok", 0, i, i, time=(26 + i) * 1000)
    assert pq.ParquetFile(path).metadata.num_row_groups == 6
    report = cl.check(path)
    assert report.ok and report.stats["received"] == 25


def test_history_writer_refuses_a_bad_row_and_keeps_the_groups_before_it(tmp_path):
    path = tmp_path / "h.parquet"
    with pytest.raises(HistoryError), HistoryWriter(path, row_group_rows=5) as writer:
        for i in range(5):
            writer.append(i, "producer", "send", "ok", 0, i, i)
        writer.append(5, "producer", "shout", "ok", 0, 5, 5)
        writer.flush()
    assert len(pd.read_parquet(path)) == 5


# --- Ctrl-C ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["duckdb", "memory", "dask"])
def test_ctrl_c_stops_a_check_within_seconds_and_cleans_up(engine, tmp_path):
    path = cl.write_history(big_history(1_500_000, partitions=32), tmp_path / "big.parquet")
    with contextlib.ExitStack() as stack:
        where = ["--engine", engine]
        if engine == "dask":  # a cluster in this process, reached by address as a remote one
            client = stack.enter_context(local_dask("tcp"))
            where = ["--dask", client.scheduler.address]
        limit = "4GB" if engine == "memory" else "64MiB"
        interrupt_check(tmp_path, [str(path), *where, "--memory-limit", limit], engine)
        if engine == "dask":  # the interrupted client cancelled its tasks
            deadline = time.monotonic() + 20
            while any(client.processing().values()):
                assert time.monotonic() < deadline, client.processing()
                time.sleep(0.2)


def test_a_dask_check_stopped_between_buckets_cancels_its_graph_cleanly(
    tmp_path, monkeypatch, caplog
):
    """Stopped after its first bucket, the check cancels the rest of its graph in one message
    the scheduler accepts: a scheduler that met a released piece while cancelling would log an
    error, drop the client's connection, and the client's reconnect would print a traceback."""
    paths = [tmp_path / f"h{i}.parquet" for i in range(3)]
    for i, path in enumerate(paths):
        cl.write_history(big_history(2_000).assign(op_index=lambda d, i=i: d.op_index + i), path)
    monkeypatch.setattr(buckets, "BYTES_PER_ROW", MIN_MEMORY // 3_200)  # a partition a bucket

    def over(self, items, name, total=None):
        yield next(iter(items))
        raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "over", over)
    with local_dask() as client, pytest.raises(KeyboardInterrupt):
        run_check(tmp_path, "dask", MIN_MEMORY, client)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def interrupt_check(tmp_path: Path, args: list[str], engine: str) -> None:
    """`chronik-lab check ARGS --progress` in a child, interrupted (SIGINT) once it started."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(private_tmp)}
    args = [sys.executable, "-m", "chronik_lab", "check", *args, "--progress"]
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        preexec_fn=default_sigint,  # the test's Ctrl-C reaches it however pytest was started
    ) as proc:  # fmt: skip
        try:
            ready, _, _ = select.select([proc.stderr], [], [], 60)
            first = proc.stderr.readline().decode() if ready else ""
            assert first.startswith(f"check: {engine} engine"), first  # the check has started
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            stopped = time.monotonic()
            code = proc.wait(timeout=30)
            assert time.monotonic() - stopped < 10
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err, out = proc.stderr.read().decode(), proc.stdout.read().decode()
    assert code == 130, err
    assert "Traceback" not in err and "history check" not in out  # stopped before its end
    assert list(private_tmp.iterdir()) == []  # spill, shuffle and staging directories removed


def test_library_errors_stay_chronik_lab_errors(tmp_path):
    with pytest.raises(ChronikLabError):
        cl.check(tmp_path / "nowhere.parquet")
    with pytest.raises(InvalidArgumentError, match="unknown engine"):
        cl.check(REPO / "data" / "observed" / "chronik_v0.7.5_seed.csv", engine="spark")


# --- lost ids against what was sent ----------------------------------------------------------


@settings(max_examples=settings().max_examples * 3 // 5, deadline=None)  # ci 60, dev 6
@given(
    received=st.lists(st.integers(-3, 60), max_size=40),
    sent=st.integers(0, 70) | st.lists(st.integers(-5, 70), max_size=30),
    keep=st.integers(0, 12),
)
def test_lost_ids_in_memory_and_in_duckdb_match_a_set_difference(received, sent, keep):
    import duckdb

    want = sorted(set(range(sent) if isinstance(sent, int) else sent) - set(received))
    given_sent = sent if isinstance(sent, int) else np.array(sent, np.int64)
    con = duckdb.connect()
    con.register("r", pd.DataFrame({"value": np.array(received, np.int64)}))
    for lost in (lost_in_arrays(np.array(received, np.int64), given_sent, keep),
                 lost_in_duckdb(con, "r", given_sent, keep)):  # fmt: skip
        assert lost.count == len(want)
        assert lost.first.tolist() == want[:keep]
    con.close()


# --- the CLI's engine flags ------------------------------------------------------------------


def test_check_cli_runs_on_a_dask_scheduler_given_by_address(tmp_path):
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    path = cl.write_history(hand.seed_history(), tmp_path / "seed.parquet")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address="127.0.0.1:0") as cluster:  # fmt: skip
        result = invoke("check", str(path), "--dask", cluster.scheduler_address, "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["engine"] == "dask" and data["counts"]["duplicate"] == 10


@pytest.mark.parametrize(
    "args, message",
    [
        (["--memory-limit", "lots"], "memory limit 'lots'"),
        (["--engine", "dask"], "--engine dask needs --dask ADDRESS"),
        (["--engine", "memory", "--dask", "tcp://127.0.0.1:1"], "cannot go with --engine memory"),
        (["--anomalies-out", "out.csv"], "give a .parquet file name"),
    ],
)
def test_check_cli_refuses_bad_engine_flags_in_one_line(args, message):
    seed = REPO / "data" / "observed" / "chronik_v0.7.5_seed.csv"
    result = invoke("check", str(seed), *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
