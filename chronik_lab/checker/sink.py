"""The full anomaly list of a check, written to Parquet as it is found (`--anomalies-out`).

A report keeps a bounded sample of anomalies; the file keeps all of them, written one part at a
time (one bucket's list, or the whole list of an in-memory check), so writing it never holds more
than one part's anomalies. Columns are the report's `anomalies` columns. Rows come in the order
found: an in-memory check's in the report's order, an out-of-core or Dask check's one bucket
(whole partitions, in partition order) at a time, so every engine writes the same rows and a
bucketed check groups them by partition first.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from chronik_lab.errors import HistoryError, one_line

__all__ = ["AnomalyFile"]


class AnomalyFile:
    """An open Parquet file taking anomaly frames in order; `close()` finishes it (a file with
    no anomaly still gets the schema). Not thread-safe: one check writes through one file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".parquet":
            raise HistoryError(f"--anomalies-out {self.path.name!r}: give a .parquet file name")
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._empty: pa.Schema | None = None

    def write(self, anomalies: pd.DataFrame) -> None:
        # Without pandas' metadata: pandas cannot read back the dtype name of Arrow lists.
        table = pa.Table.from_pandas(anomalies, preserve_index=False).replace_schema_metadata()
        if not len(table):
            self._empty = self._empty or table.schema
            return
        try:
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, table.schema)
            self._writer.write_table(table.cast(self._writer.schema))
        except (OSError, pa.ArrowException) as exc:
            raise HistoryError(f"cannot write anomalies to {self.path}: {one_line(exc)}") from exc
        self.rows += len(table)

    def close(self) -> None:
        try:
            if self._writer is None and self._empty is not None:
                pq.write_table(self._empty.empty_table(), self.path)
            elif self._writer is not None:
                self._writer.close()
        except (OSError, pa.ArrowException) as exc:
            raise HistoryError(f"cannot write anomalies to {self.path}: {one_line(exc)}") from exc
