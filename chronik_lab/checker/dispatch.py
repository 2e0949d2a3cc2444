"""`cl.check(path, engine=...)`: which engine checks a history on disk, and within what memory.

- "memory": read the history's columns whole and check them in memory (history.py's checker);
- "duckdb": out of core on this machine (outofcore.py): buckets of whole partitions, each
  checked in memory, within `memory_limit`;
- "dask": the same buckets on a Dask cluster (distributed.py), `client` a distributed Client;
- "auto": "dask" when a client is given, else "memory" when the in-memory check of the whole
  history fits `memory_limit` (rows x BYTES_PER_ROW, dataset.py), else "duckdb".

`memory_limit` is bytes or text ("2GB", "512MiB"); None means a quarter of this machine's
memory. Each engine honours it: "duckdb" as DuckDB's own limit (spilling) and the size of its
buckets, "dask" as the size of a bucket (one task's work); "memory" holds the history whole, so
a `memory_limit` given with engine="memory" that the history's estimate exceeds is refused
(HistoryTooLargeError) rather than passed; without one, "memory" reads the history whatever
its size. Every engine gives the same report (tests/test_check_engines.py); a path's report keeps
the first SAMPLE anomalies of each type and spans of each stream unless `sample` says otherwise.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from chronik_lab.checker.buckets import Job, check_piece, size_text
from chronik_lab.checker.columns import contiguous
from chronik_lab.checker.dataset import CorruptHistoryError, Dataset, open_dataset, text_chunks
from chronik_lab.checker.progress import Progress
from chronik_lab.checker.sent import LostIds, lost_in_arrays
from chronik_lab.checker.sink import AnomalyFile
from chronik_lab.checker.verdict import CheckReport
from chronik_lab.errors import HistoryError, InvalidArgumentError, one_line

__all__ = ["ENGINES", "SAMPLE", "CheckRun", "HistoryTooLargeError", "choose_engine",
           "default_memory_limit", "parse_memory", "run_check"]  # fmt: skip

ENGINES = ("auto", "memory", "duckdb", "dask")
SAMPLE = 1_000
LOST_SHOWN = 1_000  # lost ids kept beside the count (--sent)
MIN_MEMORY = 64 << 20
UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6,
         "mib": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12,
         "tib": 2**40}  # fmt: skip


def default_memory_limit() -> int:
    """A quarter of this machine's physical memory (1 GiB where it cannot be told)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (ValueError, OSError, AttributeError):
        return 1 << 30


def parse_memory(limit: int | str | None) -> int:
    """Bytes from 2000000000, "2GB", "1.5 GiB" or None (the default)."""
    if limit is None:
        return default_memory_limit()
    if isinstance(limit, bool) or not isinstance(limit, int | str):
        raise InvalidArgumentError(f"memory_limit must be bytes or text like '2GB', not {limit!r}")
    if isinstance(limit, int):
        number = limit
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", limit[:40])
        if not m or m.group(2).lower() not in UNITS:
            raise InvalidArgumentError(f"memory limit {limit[:40]!r}: give bytes, or 2GB, 512MiB")
        number = int(float(m.group(1)) * UNITS[m.group(2).lower()])
    if number < MIN_MEMORY:
        raise InvalidArgumentError(f"memory limit {number:,} bytes is below the least, 64 MiB")
    if number > 2**50:
        raise InvalidArgumentError(f"memory limit {number:,} bytes is beyond any machine (1 PiB)")
    return number


class HistoryTooLargeError(HistoryError):
    """engine="memory" was asked for with a memory limit that the in-memory check of the whole
    history needs more than (`needed`, an estimate, and `memory_limit`, in bytes)."""

    def __init__(self, path: Path, needed: int, memory_limit: int) -> None:
        self.path, self.needed, self.memory_limit = path, needed, memory_limit
        super().__init__(
            f"history {path} needs about {size_text(needed)} to be checked in memory, more than "
            f"the memory limit of {size_text(memory_limit)}: use engine duckdb (or auto), or a "
            "larger memory limit"
        )


def choose_engine(
    ds: Dataset, engine: str, memory_limit: int, client: object, limit_given: bool = False
) -> str:
    if engine not in ENGINES:
        raise InvalidArgumentError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    if engine == "memory" and limit_given and ds.memory_needed > memory_limit:
        raise HistoryTooLargeError(ds.path, ds.memory_needed, memory_limit)
    if engine != "auto":
        return engine
    if client is not None:
        return "dask"
    return "memory" if ds.memory_needed <= memory_limit else "duckdb"


@dataclass(frozen=True)
class CheckRun:
    """What one check of a path found: the report, the lost ids against what was sent (None
    unless `sent` was given), and the engine that ran."""

    report: CheckReport
    lost: LostIds | None
    engine: str


def run_check(
    path: str | os.PathLike,
    engine: str = "auto",
    memory_limit: int | str | None = None,
    client: object = None,
    sample: int | None = SAMPLE,
    progress: bool = False,
    sent: int | np.ndarray | None = None,
    anomalies_out: str | os.PathLike | None = None,
) -> CheckRun:
    """Check the history at `path` (see the module docstring); also count the lost ids
    against `sent` (ids 0..sent-1, or an array of ids), and write the full anomaly list to
    `anomalies_out` (.parquet) as it is found."""
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int)
                               or sample < 0):  # fmt: skip
        raise InvalidArgumentError(f"sample must be an int >= 0 or None, not {sample!r}")
    limit = parse_memory(memory_limit)
    ds = open_dataset(Path(path))
    chosen = choose_engine(ds, engine, limit, client, memory_limit is not None)
    bar = Progress(progress)
    bar.step(f"{chosen} engine, {ds.rows:,} rows{'' if ds.rows_exact else ' (estimated)'}")
    sink = AnomalyFile(anomalies_out) if anomalies_out is not None else None
    job = Job(sample, bar, sent, LOST_SHOWN, sink.write if sink is not None else None)
    if chosen == "memory":
        frame = read_whole(ds, limit, bar)
        dump = ds.dump and ds.kind == "parquet"
        if dump:  # a dump becomes a history in pandas (dump.py)
            frame = _to_pandas(frame)
        report = check_piece(frame, dump, sample, sink=job.sink)
        lost = None if sent is None else lost_in_arrays(received_ids(frame, dump), sent, job.keep)
    elif chosen == "duckdb":
        from chronik_lab.checker.outofcore import check_out_of_core

        report, lost = check_out_of_core(ds, limit, job)
    else:
        from chronik_lab.checker.distributed import check_on_dask

        report, lost = check_on_dask(ds, client, limit, job)
    if sink is not None:
        sink.close()
    return CheckRun(report, lost, chosen)


def received_ids(frame: pd.DataFrame | pa.Table, dump: bool) -> np.ndarray:
    """The received message ids of a checked history table (every row of a dump)."""
    if isinstance(frame, pa.Table):
        frame = frame.select(["f", "type", "value"]).to_pandas()
    if dump:
        column = "message_id" if "message_id" in frame.columns else "value"
        return frame[column].to_numpy(np.int64)
    received = (frame["f"].astype(str) == "poll") & (frame["type"].astype(str) == "ok")
    return frame.loc[received, "value"].to_numpy(np.int64)


def read_whole(ds: Dataset, memory_limit: int, progress: Progress) -> pd.DataFrame | pa.Table:
    """Every row of the history's columns, in file order: an Arrow table from Parquet (the
    checker reads it without pandas, columns.py), a DataFrame from text (normalised chunk by
    chunk)."""
    if ds.kind != "parquet":
        return pd.concat(list(progress.over(text_chunks(ds), "reading text")), ignore_index=True)
    try:
        # pyarrow reads plain files in their order with less memory than a DuckDB scan; one
        # column at a time, each made one array before the next is read, so the read's peak
        # is the table and one column's pieces (a whole read, then contiguous(), held twice).
        table = None if ds.hive else pa.table({c: _column(ds, c) for c in ds.columns})
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, KeyError):
        table = None  # files whose schemas differ: DuckDB reads them by name
    if table is None:
        from chronik_lab.checker.outofcore import connect, duckdb_errors, read_table, source_sql

        with connect(memory_limit) as con, duckdb_errors(ds.path):
            table = read_table(con, ds, source_sql(ds.paths, ds.hive, numbered=False), "TRUE")
    return contiguous(table)


def _column(ds: Dataset, name: str) -> pa.Array:
    """One column of every file, in file order, as one array. A file whose pages do not decode
    (IOError from pyarrow: corrupt compression, a cut-short page) is named in the error."""
    pieces = []
    for path in ds.paths:
        try:
            pieces.append(pq.read_table(path, columns=[name]).column(0))
        except OSError as exc:
            raise CorruptHistoryError(path, one_line(exc)) from exc
    return pa.chunked_array([c for p in pieces for c in p.chunks],
                            pieces[0].type).combine_chunks()  # fmt: skip


def _to_pandas(frame: pd.DataFrame | pa.Table) -> pd.DataFrame:
    if isinstance(frame, pd.DataFrame):
        return frame
    # self_destruct: each Arrow column is freed once converted, not after the whole table.
    return frame.to_pandas(self_destruct=True, split_blocks=True)
