"""`HistoryWriter`: a history written to Parquet as it happens, one row group at a time.

A recorder at load (`chronik-lab record`, the fault recorder) makes tens of millions of history
rows; it appends them here and never holds more than one row group (`row_group_rows`). Each row
group is validated as history.py validates a whole history before it is written, so a bad row
is refused (HistoryError, with the rest of its row group) while the row groups before it are kept;
`close()` (or leaving the `with` block, by an error, Ctrl-C or SIGTERM turned into one, too)
finishes the file, which `cl.check` then reads at any size.

A Parquet file is readable only once its footer is written, so a recorder killed mid-run (kill -9,
the machine's OOM killer) would lose a single growing file. Each row group is therefore written as
a complete Parquet file of its own into `PATH.parts/` (named by its first row's index, zero-padded
to 20 digits so that `ls` and the checker's sorted read keep the rows' order; written under a
temporary name and renamed, so a part is whole or absent), and `close()` joins the parts into
PATH and removes the directory. After a kill, `chronik-lab check PATH.parts` reads every row group
that was written (a directory of Parquet files is a history). The order of close matters: PATH is
renamed into place before the parts are removed, so at every moment one of them holds every row.

Columns: op_index, process (text: "producer", "consumer", "nemesis", ...), f, type, partition,
offset and value (empty where a row has none: a failed send's offset, a nemesis row's
partition), and optionally topic and time (int nanoseconds since the history began).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from chronik_lab.checker.history import COLUMNS, TIME, history_arrays, split_nemesis
from chronik_lab.errors import HistoryError, one_line

__all__ = ["HistoryWriter", "parts_dir"]

PARTS_SUFFIX = ".parts"

TYPES = {
    "op_index": pa.int64(), "process": pa.string(), "f": pa.string(), "type": pa.string(),
    "partition": pa.int64(), "offset": pa.int64(), "value": pa.int64(), "topic": pa.string(),
    TIME: pa.int64(),
}  # fmt: skip


class HistoryWriter:
    """Appends history rows to a Parquet file in row groups of `row_group_rows`.

    Invariants: `parts_dir(path)` holds every row appended before the last full row group, in
    order, each row group a complete Parquet file; at most `row_group_rows` rows wait in memory;
    after `close()` the file is a complete Parquet file holding them all, the parts directory is
    gone, and appending raises. Not thread-safe: one recorder thread appends."""

    def __init__(
        self,
        path: str | Path,
        *,
        topic: bool = False,
        time: bool = False,
        row_group_rows: int = 100_000,
    ) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".parquet":
            raise HistoryError(f"HistoryWriter writes Parquet: {self.path.name!r} is not .parquet")
        if row_group_rows < 1:
            raise HistoryError(f"row_group_rows must be >= 1, not {row_group_rows}")
        self.columns = [*COLUMNS, *(["topic"] if topic else []), *([TIME] if time else [])]
        self.schema = pa.schema([(c, TYPES[c]) for c in self.columns])
        self.row_group_rows = row_group_rows
        self.rows_written = 0
        self._pending: dict[str, list] = {c: [] for c in self.columns}
        self.parts = parts_dir(self.path)
        if self.parts.exists():  # an earlier run's rows: never overwritten
            raise HistoryError(
                f"{self.parts} holds the row groups of a run that did not finish: check them "
                f"(chronik-lab check {self.parts}) or remove the directory"
            )
        try:
            self.parts.mkdir()
        except OSError as exc:
            raise HistoryError(f"cannot write history {self.path}: {one_line(exc)}") from exc
        self._open = True

    def append(self, op_index: int, process: str, f: str, type: str, partition: int | None,
               offset: int | None, value: int | None, **optional: object) -> None:  # fmt: skip
        """One row (topic=..., time=... when the writer has those columns)."""
        row = dict(op_index=op_index, process=str(process), f=f, type=type,
                   partition=partition, offset=offset, value=value, **optional)  # fmt: skip
        if not self._open:
            raise HistoryError(f"history {self.path} is closed")
        for name in self.columns:
            self._pending[name].append(row.get(name))
        if len(self._pending["op_index"]) >= self.row_group_rows:
            self.flush()

    def flush(self) -> None:
        """Validate and write the rows waiting, as one row group."""
        if not self._open or not self._pending["op_index"]:
            return
        try:
            table = pa.table({c: pa.array(v, self.schema.field(c).type)
                              for c, v in self._pending.items()})  # fmt: skip
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise HistoryError(f"history {self.path}: a bad row: {one_line(exc)}") from None
        self._pending = {c: [] for c in self.columns}
        ops, _ = split_nemesis(table.to_pandas())
        history_arrays(ops if len(ops) else pd.DataFrame(columns=self.columns))
        part = self.parts / f"{self.rows_written:020d}.parquet"
        temporary = part.with_suffix(".tmp")
        try:
            pq.write_table(table, temporary)
            os.replace(temporary, part)
        except (OSError, pa.ArrowException) as exc:
            raise HistoryError(f"cannot write history {self.path}: {one_line(exc)}") from exc
        self.rows_written += len(table)

    def close(self) -> None:
        """Write what waits and join the parts into the file (idempotent)."""
        if not self._open:
            return
        try:
            self.flush()
        finally:
            self._open = False
            self._join_parts()

    def _join_parts(self) -> None:
        """One row group per part, in order, into PATH (via a temporary name); then the parts
        go. One part in memory at a time."""
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            with pq.ParquetWriter(temporary, self.schema) as out:
                for part in sorted(self.parts.glob("*.parquet")):
                    out.write_table(pq.read_table(part, schema=self.schema))
            os.replace(temporary, self.path)
        except (OSError, pa.ArrowException) as exc:
            raise HistoryError(
                f"cannot finish history {self.path}: {one_line(exc)} (its rows are in {self.parts})"
            ) from exc
        shutil.rmtree(self.parts, ignore_errors=True)

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
            return
        # Leaving on an error: keep what was written and what waits, and let the error go on.
        with contextlib.suppress(HistoryError):
            self.close()


def parts_dir(path: str | Path) -> Path:
    """Where a HistoryWriter writing `path` keeps its row groups until it closes."""
    path = Path(path)
    return path.with_name(path.name + PARTS_SUFFIX)
