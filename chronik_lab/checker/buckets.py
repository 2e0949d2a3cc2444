"""How a history larger than memory is cut into parts that each fit: buckets of whole partitions.

Every anomaly lives in one (topic, partition) (merge.py), so a part holding whole partitions is
checked exactly on its own. `plan_buckets` takes each partition's row count, in the checker's
partition order, and fills buckets one after another up to a row budget (the memory budget over
the in-memory check's cost per row): bucket k holds only partitions that come before bucket
k+1's, so the buckets' reports concatenate in order. A partition larger than the budget cannot be
checked without holding it whole: `PartitionTooLargeError` says which and what it needs.

`check_piece` is the unit of work of every engine: one part's rows (a table in file order) into
a CheckReport.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from chronik_lab.checker.dataset import BYTES_PER_ROW
from chronik_lab.checker.dump import consumer_history
from chronik_lab.checker.merge import cut_report
from chronik_lab.checker.progress import Progress
from chronik_lab.checker.verdict import CheckReport, check_table
from chronik_lab.errors import HistoryError

__all__ = [
    "Job",
    "PartitionTooLargeError",
    "check_piece",
    "plan_buckets",
    "rows_within",
    "size_text",
]


@dataclass(frozen=True)
class Job:
    """What a check of a path is asked besides its history, the same for every engine:
    `sample` (anomalies kept per type), `progress`, `sent` (ids 0..sent-1 or an array, to count
    lost ids against; None: not asked), `keep` (lost ids kept) and `sink` (takes each part's
    full anomaly list, in partition order; None: not asked)."""

    sample: int | None
    progress: Progress
    sent: int | np.ndarray | None = None
    keep: int = 0
    sink: Callable[[pd.DataFrame], None] | None = None


class PartitionTooLargeError(HistoryError):
    """One (topic, partition) has more rows than a check may hold in `memory_limit` bytes."""

    def __init__(self, where: str, rows: int, memory_limit: int) -> None:
        self.where, self.rows, self.memory_limit = where, rows, memory_limit
        super().__init__(
            f"{where} has {rows:,} history rows; checking a partition holds it whole, about "
            f"{size_text(rows * BYTES_PER_ROW)}, more than the memory limit of "
            f"{size_text(memory_limit)}: give a larger memory limit (--memory-limit)"
        )


def size_text(n: int) -> str:
    """Bytes as an error message gives them: GiB with one decimal from 1 GiB, else MiB."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.0f} MiB"


def rows_within(memory_limit: int) -> int:
    """History rows an in-memory check can take within `memory_limit` bytes."""
    return max(memory_limit // BYTES_PER_ROW, 1)


def plan_buckets(sizes: Sequence[int], names: Sequence[str], memory_limit: int) -> np.ndarray:
    """The bucket of each partition (sizes and names in partition order): consecutive
    partitions share a bucket while their rows fit the budget."""
    budget = rows_within(memory_limit)
    bucket = np.zeros(len(sizes), np.int64)
    current, filled = 0, 0
    for i, n in enumerate(sizes):
        if n > budget:
            raise PartitionTooLargeError(names[i], int(n), memory_limit)
        if filled and filled + n > budget:
            current, filled = current + 1, 0
        bucket[i] = current
        filled += n
    return bucket


def check_piece(
    table: pa.Table | pd.DataFrame,
    dump: bool,
    sample: int | None,
    int_process: bool = False,
    sink: Callable[[pd.DataFrame], None] | None = None,
) -> CheckReport:
    """Check one part of a history. `dump`: its rows are a consumer dump's; `int_process`: its
    process column was staged as text from a file whose processes are all ints; `sink` takes
    the part's full anomaly list before the report keeps its sample."""
    if int_process:
        table = _int_process(table)
    if dump and isinstance(table, pa.Table):
        table = table.to_pandas(self_destruct=True, split_blocks=True)
    history = consumer_history(table) if dump else table
    if sink is None:
        return check_table(history, sample)
    report = check_table(history, None)
    sink(report.anomalies)
    return cut_report(report, sample)


def _int_process(table: pa.Table | pd.DataFrame) -> pa.Table | pd.DataFrame:
    """The process column, staged as text from a file of int processes, as ints again."""
    if isinstance(table, pd.DataFrame):
        table["process"] = table["process"].astype("int64")
        return table
    i = table.column_names.index("process")
    return table.set_column(i, "process", table.column(i).cast(pa.int64()))
