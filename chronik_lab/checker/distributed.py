"""The check on a Dask cluster: the same buckets of whole partitions as out of core, checked on
the cluster's workers (`cl.check(path, engine="dask", client=Client(...))`,
`chronik-lab check PATH --dask SCHEDULER_ADDRESS`).

The task graph, for a history of F Parquet files (a text history is first staged as Parquet on
this machine, outofcore.staged: a remote cluster needs the files on storage every worker reads):
1. F `sizes` tasks count each file's rows per (topic, partition); the client adds them up and
   plans the buckets (buckets.py), each within `memory_limit` (the budget of one task);
2. F `split` tasks read a file's checker columns (DuckDB, as the other engines read them) and cut
   it into its bucket pieces, in file order: the shuffle, since bucket k's check task fetches
   piece k of every file from wherever it was made;
3. one `check` task per bucket concatenates its pieces in file order and checks them in memory;
   the client merges the reports in partition order (merge.py).
Only counts (step 1) and bounded reports (step 3) come back to the client.
"""

from __future__ import annotations

import operator
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

from chronik_lab.checker.buckets import Job, check_piece, plan_buckets
from chronik_lab.checker.dataset import Dataset
from chronik_lab.checker.merge import cut_report, merge_reports
from chronik_lab.checker.sent import LostIds, lost_in_duckdb
from chronik_lab.checker.verdict import CheckReport
from chronik_lab.errors import InvalidArgumentError

__all__ = ["check_on_dask", "connect_client"]

# How often the client looks at a task it waits for. Short: a bucket's check often takes tens
# of milliseconds, and a 50 ms poll added a third to a small check (4 partitions, 1,000
# messages: 0.11 -> 0.08 s); a look reads one attribute, so 200 a second cost nothing.
POLL_S = 0.005


def connect_client(address: str) -> object:
    """A dask.distributed Client for the scheduler at `address` (e.g. tcp://10.0.0.5:8786)."""
    try:
        from distributed import Client
    except ImportError:
        raise InvalidArgumentError("--dask needs `pip install chronik_lab[dask]`") from None
    try:
        return Client(address, timeout="10s")
    except OSError as exc:
        raise InvalidArgumentError(f"cannot reach the Dask scheduler {address}: {exc}") from None


def check_on_dask(
    ds: Dataset, client: object, memory_limit: int, job: Job
) -> tuple[CheckReport, LostIds | None]:
    """Check `ds` on `client`'s cluster (see the module docstring). The lost ids against
    `job.sent` (a global question, sent.py) are answered by DuckDB on this machine."""
    sample, progress, sent, keep, sink = job.sample, job.progress, job.sent, job.keep, job.sink
    if client is None or not hasattr(client, "submit"):
        raise InvalidArgumentError("engine='dask' needs client=, a dask.distributed Client")
    from chronik_lab.checker.outofcore import (
        connect,
        duckdb_errors,
        received_sql,
        source_sql,
        staged,
    )

    with staged(ds, progress) as (ds, int_process):
        lost = None
        if sent is not None:
            with connect(memory_limit) as con, duckdb_errors(ds.path):
                src = received_sql(ds, source_sql(ds.paths, ds.hive))
                lost = lost_in_duckdb(con, src, sent, keep)
        files = [str(p) for p in ds.paths]
        sizing = client.map(_sizes, files, ds=ds, pure=False)
        try:
            counted = list(_in_order(sizing))
        except BaseException:
            client.cancel(sizing)
            raise
        total: Counter = Counter()
        for part in counted:
            total.update(part)
        keys = sorted(total, key=_order)
        names = [f"{k[0]}-{k[1]}" if len(k) == 2 else f"partition {k[0]}" for k in keys]
        bucket = plan_buckets([total[k] for k in keys], names, memory_limit)
        plan = dict(zip(keys, bucket.tolist(), strict=True))
        n = int(bucket.max()) + 1 if len(bucket) else 1
        splits = client.map(_split, files, ds=ds, plan=plan, n=n, pure=False)
        # Every future is held until the end: the scheduler, cancelling a split, also cancels
        # the pieces cut from it, and asserts that someone still wants each (a released piece
        # drops the client's connection, and its reconnect prints a traceback on Ctrl-C).
        pieces = [[client.submit(operator.getitem, s, k) for s in splits] for k in range(n)]
        checks = [
            client.submit(
                _check, pieces[k], ds.dump, None if sink else sample, int_process, pure=False
            )
            for k in range(n)
        ]
        try:
            reports = []
            for report in progress.over(_in_order(checks), "checking buckets", len(checks)):
                if sink is not None:  # the full list came back: one bucket's at a time
                    sink(report.anomalies)
                    report = cut_report(report, sample)
                reports.append(report)
        except BaseException:  # Ctrl-C or a failed bucket: stop the rest of the graph
            client.cancel([*checks, *(p for bucket in pieces for p in bucket), *splits])
            raise
    return merge_reports(reports, sample), lost


def _in_order(futures):
    """Each future's result in order. Waiting is a sleep in this thread, not inside the
    client's event loop: Ctrl-C lands here, and no gather left pending in the loop prints a
    traceback when the client closes ("Task exception was never retrieved")."""
    for future in futures:
        while not future.done():
            time.sleep(POLL_S)
        yield future.result()


def _order(key: tuple) -> tuple:
    """The checker's partition order: topic as text, then partition."""
    return (str(key[0]), key[1]) if len(key) == 2 else key


def _names(ds: Dataset) -> list[str]:
    return [c for c in ("topic", "partition") if c in ds.columns]


def _sizes(path: str, ds: Dataset) -> Counter:
    """Rows per (topic, partition) of one file (nemesis rows left out)."""
    from chronik_lab.checker.outofcore import _not_nemesis, connect, duckdb_errors, source_sql

    keys = ", ".join(f'"{c}"' for c in _names(ds))
    with connect(1 << 30, threads=1) as con, duckdb_errors(ds.path):
        got = con.sql(
            f"SELECT {keys}, count(*) FROM {source_sql([Path(path)], ds.hive)} "
            f"WHERE {_not_nemesis(ds)} GROUP BY ALL"
        ).fetchall()
    return Counter({tuple(r[:-1]): int(r[-1]) for r in got})


def _split(path: str, ds: Dataset, plan: dict, n: int) -> list[pa.Table]:
    """The file's rows cut into bucket pieces, each in file order."""
    from chronik_lab.checker.outofcore import _not_nemesis, connect, duckdb_errors, source_sql

    names = _names(ds)
    keys = list(plan)
    table = pa.table({c: [k[i] for k in keys] for i, c in enumerate(names)})
    table = table.append_column("_bucket", pa.array([plan[k] for k in keys], pa.int64()))
    on = " AND ".join(f's."{c}" IS NOT DISTINCT FROM p."{c}"' for c in names)
    columns = ", ".join(f's."{c}"' for c in ds.columns)
    where = _not_nemesis(ds).replace("process", "s.process")
    with connect(2 << 30, threads=1) as con, duckdb_errors(ds.path):
        con.register("_plan", table)
        rows = con.sql(
            f"SELECT {columns}, s._row, p._bucket FROM {source_sql([Path(path)], ds.hive)} s "
            f"JOIN _plan p ON {on} WHERE {where}"
        ).to_arrow_table()
    place = rows.column("_row").to_numpy()
    if len(place) > 1 and not bool(np.all(place[1:] > place[:-1])):  # a join reorders rows
        rows = rows.take(pa.array(np.argsort(place, kind="stable")))
    bucket = rows.column("_bucket").to_numpy()
    rows = rows.drop_columns(["_bucket", "_row"])
    return [rows.filter(pa.array(bucket == k)) for k in range(n)]


def _check(pieces: list[pa.Table], dump: bool, sample: int | None, int_process: bool):
    table = pa.concat_tables(pieces, promote_options="permissive")
    return check_piece(table, dump, sample, int_process)
