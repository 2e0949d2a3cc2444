"""A history's arrays read straight from Arrow columns: the checker's input without pandas.

The engines that read a history from disk (the in-memory path of a file, each bucket out of
core or on Dask) get Arrow tables. history.py's `history_arrays` validates a pandas DataFrame;
going through pandas costs a conversion of every column and, for an int column with empty
cells, a detour through float64. `arrow_arrays` takes the common shapes directly, zero-copy
where Arrow allows: int64 `op_index`, `partition`, `value` without empty cells, int64 `offset`
(empty cells allowed), text `f` and `type`, an int64 or text `process`, a text `topic`.

It gives exactly what `history_arrays` gives for the same table, and refuses what it refuses
with the same message: anything else (other types, empty cells where the pandas path refuses
them, nemesis rows, extra columns, offsets a float cannot hold) returns None and the caller
takes the pandas path, which then decides as it always has.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from chronik_lab.checker.history import (
    COLUMNS,
    F_VALUES,
    FLOAT_EXACT,
    NEMESIS,
    OK,
    TYPE_VALUES,
    HistoryArrays,
    bad_labels,
    check_minimum,
)
from chronik_lab.errors import HistoryError

__all__ = ["arrow_arrays", "contiguous"]

TEXT = (pa.string(), pa.large_string())


def arrow_arrays(table: pa.Table) -> HistoryArrays | None:
    """`table` as HistoryArrays (see the module docstring), or None for the pandas path."""
    if not _simple(table):
        return None
    f = _label_codes(table.column("f"), "f", F_VALUES)
    type_ = _label_codes(table.column("type"), "type", TYPE_VALUES)
    offset, offset_missing = _offsets(table.column("offset"))
    if offset is None:
        return None
    if offset_missing is not None and (offset_missing & (type_ == OK)).any():
        raise HistoryError("history column 'offset' is empty on an ok row")
    process, process_labels = _process(table.column("process"))
    topic, topic_labels = (None, None)
    if "topic" in table.column_names:
        topic, topic_labels = _text_codes(table.column("topic"))
    partition = _ints(table.column("partition"))
    check_minimum(partition, None, "partition", 0)
    return HistoryArrays(
        op=_ints(table.column("op_index")),
        process=process,
        process_labels=process_labels,
        f=f,
        type=type_,
        topic=topic,
        topic_labels=topic_labels,
        partition=partition,
        offset=offset,
        offset_missing=offset_missing,
        value=_ints(table.column("value")),
        extra=pd.DataFrame(index=pd.RangeIndex(table.num_rows)),
    )


def contiguous(table: pa.Table) -> pa.Table:
    """`table` with each column in one chunk, so that the checker's arrays are views of it.
    Column by column: a column's chunks are freed once copied, never the whole table twice
    (the caller lets go of the table it passed)."""
    combined = False
    for i, name in enumerate(table.column_names):
        if table.column(i).num_chunks > 1:
            table = table.set_column(i, name, table.column(i).combine_chunks())
            combined = True
    if combined:  # the chunks' memory back to the system, not kept for later Arrow buffers
        pa.default_memory_pool().release_unused()
    return table


def _simple(table: pa.Table) -> bool:
    """Whether every column is of a shape this module reads exactly as the pandas path does."""
    names = set(table.column_names)
    if not set(COLUMNS) <= names or names - {*COLUMNS, "topic"}:
        return False
    kinds = {c: table.schema.field(c).type for c in names}
    if any(kinds[c] != pa.int64() or table.column(c).null_count
           for c in ("op_index", "partition", "value")):  # fmt: skip
        return False
    if kinds["offset"] != pa.int64() or not (_text(kinds["f"]) and _text(kinds["type"])):
        return False
    process = table.column("process")
    if process.null_count or kinds["process"] not in (pa.int64(), *TEXT):
        return False
    if kinds["process"] in TEXT and pc.any(pc.equal(process, NEMESIS)).as_py():
        return False  # nemesis rows: the pandas path sets them apart
    topic = table.column("topic") if "topic" in names else None
    return topic is None or (kinds["topic"] in TEXT and not topic.null_count)


def _text(kind: pa.DataType) -> bool:
    """Text, or text as a dictionary (how pandas writes a categorical column to Parquet)."""
    return kind in TEXT or (pa.types.is_dictionary(kind) and kind.value_type in TEXT)


def _ints(column: pa.ChunkedArray) -> np.ndarray:
    """An int64 column without empty cells as numpy (zero-copy when it is one chunk)."""
    if column.num_chunks == 1:
        return column.chunk(0).to_numpy()
    return column.to_numpy()


def _offsets(column: pa.ChunkedArray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Offsets and where they are empty (None: nowhere); (None, None) when the pandas path must
    judge them (it reads an int column with empty cells as floats, exact only within 2**53)."""
    if not column.null_count:
        values = _ints(column)
        check_minimum(values, None, "offset", 0)
        return values, None
    missing = column.is_null().to_numpy(zero_copy_only=False)
    values = pc.fill_null(column, 0).to_numpy()
    if len(values) and max(abs(int(values.min())), abs(int(values.max()))) > FLOAT_EXACT:
        return None, None
    check_minimum(values, missing, "offset", 0)
    return values, missing


def _label_codes(column: pa.ChunkedArray, name: str, allowed: tuple[str, ...]) -> np.ndarray:
    """Codes into `allowed` (int8), refusing other labels as history.py does."""
    arr = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    codes = pc.index_in(arr, value_set=pa.array(allowed, arr.type))
    if codes.null_count:
        bad_labels(name, allowed, pc.unique(pc.filter(arr, pc.is_null(codes))).to_pylist())
    return codes.to_numpy(zero_copy_only=False).astype(np.int8)


def _process(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray | None]:
    if column.type == pa.int64():
        return _ints(column), None
    return _text_codes(column)


def _text_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Codes in sorted label order and the labels, as history.py's _str_codes gives them."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    labels, rank = np.unique(
        np.asarray(encoded.dictionary.to_pylist(), dtype=object), return_inverse=True
    )
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    return rank.astype(np.int64)[indices], labels
