"""The out-of-core check: DuckDB cuts a history larger than memory into buckets of whole
partitions, and each bucket is checked in memory (buckets.py, merge.py).

Steps, each bounded by `memory_limit` (DuckDB's own limit, spilling to a private temporary
directory that is removed afterwards):
1. a text history (CSV, JSON Lines) is first staged as Parquet, one normalised chunk per file
   (dataset.py): the one pass over text, validated as it goes;
2. DuckDB counts each (topic, partition)'s rows (one scan of two columns), and `plan_buckets`
   packs consecutive partitions into buckets that fit the budget;
3. one large history is rewritten once, hive-partitioned by bucket (DuckDB's COPY ...
   PARTITION_BY: a spilling shuffle), each row keeping its place in the input (file, row);
4. each bucket is read back in input order and checked in memory; the reports are merged in
   partition order. Nemesis rows are left out at step 2 (history.py: never checked).

A history that fits the budget skips 3: it is read once, in order, and checked whole.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chronik_lab.checker.buckets import Job, check_piece, plan_buckets, rows_within
from chronik_lab.checker.dataset import Dataset, text_chunks
from chronik_lab.checker.history import NEMESIS
from chronik_lab.checker.merge import cut_report, merge_reports
from chronik_lab.checker.progress import Progress
from chronik_lab.checker.sent import LostIds, lost_in_duckdb
from chronik_lab.checker.verdict import CheckReport
from chronik_lab.errors import HistoryError, one_line

__all__ = ["check_out_of_core", "connect", "read_table", "staged"]

WORKERS = 2  # buckets checked at once, at most


@contextlib.contextmanager
def connect(memory_limit: int, threads: int | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private in-memory DuckDB limited to `memory_limit` bytes, spilling to a temporary
    directory removed on exit."""
    spill = tempfile.mkdtemp(prefix="chronik-check-")
    con = duckdb.connect(config={"memory_limit": f"{max(memory_limit >> 20, 64)}MB",
                                 "temp_directory": spill})  # fmt: skip
    try:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        yield con
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def source_sql(files: tuple[Path, ...] | list[Path], hive: bool, numbered: bool = True) -> str:
    """DuckDB's view of Parquet files, each row numbered by (file, row in file) unless the
    files already carry their numbers (the buckets)."""
    names = ", ".join(_literal(str(f)) for f in files)
    read = (
        f"read_parquet([{names}], hive_partitioning = {str(hive).lower()}, "
        f"file_row_number = {str(numbered).lower()}, union_by_name = true)"
    )
    if not numbered:
        return read
    return f"(SELECT *, file_index AS _file, file_row_number AS _row FROM {read})"


def _columns(ds: Dataset) -> str:
    return ", ".join(f'"{c}"' for c in ds.columns)


def _not_nemesis(ds: Dataset) -> str:
    if ds.dump:
        return "TRUE"
    return f"CAST(process AS VARCHAR) IS DISTINCT FROM {_literal(NEMESIS)}"


@contextlib.contextmanager
def duckdb_errors(path: Path) -> Iterator[None]:
    """DuckDB's errors as the library's: an interrupted query (Ctrl-C reached DuckDB) as the
    KeyboardInterrupt it was, anything else as a HistoryError about `path`."""
    try:
        yield
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except RuntimeError as exc:
        if "interrupted" in str(exc).lower():
            raise KeyboardInterrupt from None
        raise
    except duckdb.Error as exc:
        raise HistoryError(f"cannot read history {path}: {one_line(exc)}") from exc


def read_table(con: duckdb.DuckDBPyConnection, ds: Dataset, src: str, where: str) -> pa.Table:
    """The rows of `src` that `where` picks, with the checker's columns only, in the files'
    order: a scan keeps it (DuckDB's preserve_insertion_order, on by default)."""
    with duckdb_errors(ds.path):
        return con.sql(f"SELECT {_columns(ds)} FROM {src} WHERE {where}").to_arrow_table()


def _partition_keys(ds: Dataset) -> list[str]:
    return ['"topic"', '"partition"'] if "topic" in ds.columns else ['"partition"']


def check_out_of_core(
    ds: Dataset, memory_limit: int, job: Job
) -> tuple[CheckReport, LostIds | None]:
    """Check the history `ds` within `memory_limit` bytes (see the module docstring), and the
    lost ids against `job.sent` when asked (sent.py)."""
    sample, progress, sent, keep, sink = job.sample, job.progress, job.sent, job.keep, job.sink
    with (
        staged(ds, progress) as (ds, int_process),
        connect(memory_limit) as con,
        duckdb_errors(ds.path),
    ):
        src = source_sql(ds.paths, ds.hive)
        lost = None if sent is None else lost_in_duckdb(con, received_sql(ds, src), sent, keep)
        keys = _partition_keys(ds)
        sizes = _sizes(con, ds, src, keys)
        if sum(n for _, n in sizes) <= rows_within(memory_limit):
            table = read_table(con, ds, src, _not_nemesis(ds))
            progress.step("checking")
            return check_piece(table, ds.dump, sample, int_process, sink), lost
        workers = _workers([n for _, n in sizes], memory_limit)
        bucket = plan_buckets([n for _, n in sizes], [w for w, _ in sizes],
                              memory_limit // workers)  # fmt: skip
        out = Path(tempfile.mkdtemp(prefix="chronik-buckets-"))
        try:
            _shuffle(con, ds, src, keys, bucket, out, progress)
            con.execute("SET memory_limit = '64MB'")  # the buckets are read by pyarrow

            def check_bucket(k: int) -> CheckReport:
                table = read_bucket(sorted((out / f"_bucket={k}").glob("*.parquet")), ds)
                return check_piece(table, ds.dump, None if sink else sample, int_process)

            numbers = sorted(set(bucket.tolist()))
            reports = []
            with ThreadPoolExecutor(workers, thread_name_prefix="check-bucket") as pool:
                done = pool.map(check_bucket, numbers)
                for report in progress.over(done, "checking buckets", len(numbers)):
                    if sink is not None:  # in partition order, one bucket's list at a time
                        sink(report.anomalies)
                        report = cut_report(report, sample)
                    reports.append(report)
            return merge_reports(reports, sample), lost
        finally:
            shutil.rmtree(out, ignore_errors=True)


def _workers(sizes: list[int], memory_limit: int) -> int:
    """Buckets checked at once: one per core (numpy and pyarrow release the GIL for most of a
    check), at most 2, and 1 when a partition needs the whole budget."""
    workers = max(1, min(WORKERS, os.cpu_count() or 1))
    if sizes and max(sizes) > rows_within(memory_limit // workers):
        return 1
    return workers


def read_bucket(files: list[Path], ds: Dataset) -> pa.Table:
    """One bucket's rows, in the input's order (the shuffle may have interleaved them)."""
    table = pq.read_table([str(f) for f in files], columns=[*ds.columns, "_pos"])
    pos = table.column("_pos").to_numpy()
    table = table.drop_columns(["_pos"])
    if len(pos) > 1 and not bool(np.all(pos[1:] > pos[:-1])):
        table = table.take(pa.array(np.argsort(pos, kind="stable")))
    return table


def received_sql(ds: Dataset, src: str) -> str:
    """The received message ids of `src` as a column `value` (every row of a dump)."""
    if ds.dump:
        column = "message_id" if "message_id" in ds.columns else "value"
        return f'(SELECT "{column}" AS value FROM {src})'
    return f"(SELECT value FROM {src} WHERE f = 'poll' AND type = 'ok')"


def _sizes(con, ds: Dataset, src: str, keys: list[str]) -> list[tuple[str, int]]:
    """(where, rows) of each (topic, partition), in the checker's partition order (kept in
    the table _sizes, numbered by _rank, for the shuffle)."""
    order = ", ".join(f"CAST({k} AS VARCHAR)" if k == '"topic"' else k for k in keys)
    con.execute(
        f"CREATE TEMP TABLE _sizes AS SELECT *, row_number() OVER (ORDER BY {order}) - 1 "
        f"AS _rank FROM (SELECT {', '.join(keys)}, count(*) AS _n FROM {src} "
        f"WHERE {_not_nemesis(ds)} GROUP BY ALL)"
    )
    got = con.sql(f"SELECT {', '.join(keys)}, _n FROM _sizes ORDER BY _rank").fetchall()
    names = [f"{r[0]}-{r[1]}" if len(r) == 3 else f"partition {r[0]}" for r in got]
    return list(zip(names, (int(r[-1]) for r in got), strict=True))


def _shuffle(con, ds: Dataset, src: str, keys: list[str], bucket, out: Path, progress) -> None:
    """Rewrite the history's rows into out/_bucket=k/, with their (file, row) place."""
    plan = pa.table({"_rank": pa.array(range(len(bucket)), pa.int64()), "_bucket": bucket})
    con.register("_plan", plan)
    on = " AND ".join(f"s.{k} IS NOT DISTINCT FROM m.{k}" for k in keys)
    columns = ", ".join(f's."{c}"' for c in ds.columns)
    where = _not_nemesis(ds).replace("process", "s.process")
    progress.step("partitioning")
    try:
        con.execute(f"""
            COPY (
                SELECT {columns}, (s._file::BIGINT << 40) | s._row AS _pos, p._bucket
                FROM {src} s JOIN _sizes m ON {on} JOIN _plan p ON p._rank = m._rank
                WHERE {where}
            ) TO {_literal(str(out))} (FORMAT parquet, PARTITION_BY (_bucket),
                                       COMPRESSION uncompressed)
        """)  # fmt: skip
    finally:
        con.unregister("_plan")


@contextlib.contextmanager
def staged(ds: Dataset, progress: Progress) -> Iterator[tuple[Dataset, bool]]:
    """`ds` as Parquet: itself, or its text staged chunk by chunk into a temporary directory
    (removed on exit), with whether its processes are all ints (staged as text)."""
    if ds.kind == "parquet":
        yield ds, False
        return
    out = Path(tempfile.mkdtemp(prefix="chronik-staged-"))
    try:
        files, all_int, columns = [], True, None
        for i, chunk in enumerate(progress.over(text_chunks(ds), "reading text")):
            all_int &= chunk["process"].dtype.kind == "i"
            chunk["process"] = chunk["process"].astype(str)
            path = out / f"chunk-{i:08d}.parquet"
            pq.write_table(pa.Table.from_pandas(chunk, preserve_index=False), path)
            files.append(path)
            columns = tuple(chunk.columns)
        rows = sum(pq.read_metadata(f).num_rows for f in files)
        yield Dataset(ds.path, "parquet", tuple(files), columns, False, rows, True, False), all_int
    finally:
        shutil.rmtree(out, ignore_errors=True)
