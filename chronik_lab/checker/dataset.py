"""A history on disk, whatever its size: which files, which format, which columns, how many rows.

A history path is a file (.parquet, .csv, .jsonl/.json) or a directory of Parquet files (a
dataset, hive-partitioned or not: `partition=3/part-0.parquet` gives a `partition` column).
`Dataset` reads only what the checker needs: the history's columns (COLUMNS, and `topic` when
there), or a consumer dump's (dump.py); other columns are never decoded.

Text formats are read in bounded chunks (`text_chunks`): CSV through pyarrow's streaming reader
with every column read as text and typed per chunk (int64, else float64 for the validation to
judge, else text), JSON Lines line by line with Python's json (pyarrow's JSON reader crashed the
process on a `null` line and on deeply nested lines). Each chunk is normalised by history.py's
validation, so a bad cell is refused the same way whatever the file's size. Parquet is read by
DuckDB (`parquet_source`), which also reads hive partitions and numbers each row (file, row) so
that every engine sees the rows in the file's order.

Nothing here holds more than one chunk of a text file, or more than the columns asked for.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from chronik_lab.checker.dump import DUMP_COLUMNS, ID_COLUMNS, consumer_history
from chronik_lab.checker.history import COLUMNS, SUFFIXES, normalise_history, refuse_bytes
from chronik_lab.errors import HistoryError, one_line

__all__ = ["CorruptHistoryError", "Dataset", "open_dataset", "parquet_errors"]

CHUNK_ROWS = 1_000_000  # rows of a text file read at a time
CSV_BLOCK_BYTES = 16 << 20
HEADER_MAX_BYTES = 1 << 20  # a header line longer than this is not a history's
MAX_COLUMNS = 1_000  # a history has 7 or 8; a file with more is not one
LINE_MAX_BYTES = 1 << 20  # one JSON Lines record
DUMP_EXTRA = ("poll", "process", "topic")
# In-memory check cost per history row (bytes), measured on the 20M-row benchmark history:
# the arrays, the code tables and the sorted sides (benchmarks/README.md, "check").
BYTES_PER_ROW = 220
# Text files: bytes of file per row, to estimate rows before reading (a history row of CSV is
# 25-40 bytes, of JSON Lines 90-120): the estimate errs towards more rows, so towards out of core.
TEXT_BYTES_PER_ROW = {"csv": 20, "jsonl": 60}


PARQUET_MAGIC = b"PAR1"


class CorruptHistoryError(HistoryError):
    """A history file that does not read as what its name says: a Parquet file without its
    footer (its writer was killed before closing it, or the copy was cut short) or with pages
    that do not decode. `path` is the file itself (inside a directory dataset, the one file at
    fault), `reason` what is wrong with it."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot read history file {self.path}: {reason}")


def footer_missing(path: Path) -> str | None:
    """Why `path` has no Parquet footer (a writer killed before close() leaves the row groups
    but not the footer that indexes them), or None when the file ends as Parquet ends."""
    size = path.stat().st_size
    if size < 2 * len(PARQUET_MAGIC) + 4:
        return f"{size:,} bytes, too short for Parquet (empty, or cut short)"
    with open(path, "rb") as file:
        head = file.read(len(PARQUET_MAGIC))
        file.seek(-len(PARQUET_MAGIC), 2)
        tail = file.read(len(PARQUET_MAGIC))
    if head != PARQUET_MAGIC:
        return "not a Parquet file (it does not begin with PAR1)"
    if tail != PARQUET_MAGIC:
        return (
            f"no Parquet footer ({size:,} bytes): its writer was killed before closing it, "
            "or the file was cut short; a Parquet file without its footer cannot be read"
        )
    return None


@contextlib.contextmanager
def parquet_errors(path: Path) -> Iterator[None]:
    """pyarrow's errors on reading the Parquet file `path` as a CorruptHistoryError."""
    try:
        yield
    except (OSError, pa.ArrowException) as exc:
        raise CorruptHistoryError(path, one_line(exc)) from exc


@dataclass(frozen=True)
class Dataset:
    """A history on disk. `paths` are its files in read order (sorted, so rows have one order
    across runs and engines); `columns` the columns the checker reads; `dump` whether it is a
    consumer dump; `rows` the exact row count (Parquet metadata) or an upper estimate (text)."""

    path: Path
    kind: str  # "parquet" | "csv" | "jsonl"
    paths: tuple[Path, ...]
    columns: tuple[str, ...]
    dump: bool
    rows: int
    rows_exact: bool
    hive: bool

    @property
    def memory_needed(self) -> int:
        """Bytes an in-memory check of the whole history needs (an estimate)."""
        return self.rows * BYTES_PER_ROW

    def file_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.paths)


def open_dataset(path: str | Path) -> Dataset:
    """Look at a history path without reading its rows; raise HistoryError if it is not one."""
    path = Path(path)
    if path.is_dir():
        return _parquet_dir(path)
    if not path.exists():
        raise HistoryError(f"no history file at {path}")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise HistoryError(f"unknown history file type {path.name!r}; use {', '.join(SUFFIXES)}")
    if suffix == ".parquet":
        return _parquet([path], path, hive=False)
    kind = "csv" if suffix == ".csv" else "jsonl"
    names = csv_header(path) if kind == "csv" else jsonl_header(path)
    columns, dump = needed_columns(names, path)
    size = path.stat().st_size
    return Dataset(path, kind, (path,), columns, dump, max(size // TEXT_BYTES_PER_ROW[kind], 1),
                   False, False)  # fmt: skip


def needed_columns(names: list[str], path: Path) -> tuple[tuple[str, ...], bool]:
    """The columns the checker reads from a file with columns `names`, and whether it is a dump."""
    if len(names) > MAX_COLUMNS:
        raise HistoryError(
            f"history {path} has {len(names):,} columns; a history has 7 or 8 (at most "
            f"{MAX_COLUMNS:,} are read)"
        )
    have = set(names)
    if set(COLUMNS) <= have:
        return (*COLUMNS, *(["topic"] if "topic" in have else [])), False
    id_column = next((c for c in ID_COLUMNS if c in have), None)
    if set(DUMP_COLUMNS) <= have and id_column and not have & {"f", "type"}:
        extra = [c for c in DUMP_EXTRA if c in have]
        return (*DUMP_COLUMNS, id_column, *extra), True
    missing = [c for c in COLUMNS if c not in have]
    raise HistoryError(f"history {path} is missing column(s) {', '.join(missing)}")


def _parquet_dir(path: Path) -> Dataset:
    files = sorted(p for p in path.rglob("*.parquet") if p.is_file())
    if not files:
        raise HistoryError(f"no Parquet files in the directory {path}")
    hive = any("=" in part for f in files for part in f.relative_to(path).parts[:-1])
    return _parquet(files, path, hive)


def _parquet(files: list[Path], path: Path, hive: bool) -> Dataset:
    names: list[str] = []
    rows = 0
    for f in files:
        try:
            missing = footer_missing(f)
        except OSError as exc:
            raise HistoryError(f"cannot read history {f}: {one_line(exc)}") from exc
        if missing:
            raise CorruptHistoryError(f, missing)
        with parquet_errors(f):
            meta = pq.read_metadata(f)
        rows += meta.num_rows
        for name in meta.schema.names:
            if name not in names:
                names.append(name)
    if hive:
        names += [p.split("=", 1)[0] for p in files[0].relative_to(path).parts[:-1] if "=" in p]
    columns, dump = needed_columns(names, path)
    return Dataset(path, "parquet", tuple(files), columns, dump, rows, True, hive)


# --- text formats: headers and bounded chunks --------------------------------------------------


def csv_header(path: Path) -> list[str]:
    """The column names on a CSV's first line, read without reading further."""
    with open(path, "rb") as file:
        line = file.readline(HEADER_MAX_BYTES + 1)
    if len(line) > HEADER_MAX_BYTES:
        raise HistoryError(f"history {path}: the header line is longer than {HEADER_MAX_BYTES:,} "
                           "bytes; not a history")  # fmt: skip
    try:
        text = line.decode("utf-8").lstrip("\ufeff").rstrip("\r\n")
    except UnicodeDecodeError:
        raise HistoryError(f"history {path} is not UTF-8 text (a binary file?)") from None
    if not text.strip():
        raise HistoryError(f"history {path} is empty: no header line")
    return [name.strip().strip('"') for name in text.split(",")]


def jsonl_header(path: Path) -> list[str]:
    """The keys of the first record of a JSON Lines file."""
    with open(path, "rb") as file:
        for number, line in enumerate(_lines(file, path), 1):
            if line.strip():
                return list(_record(line, number, path))
    raise HistoryError(f"history {path} has no rows: nothing to check")


def text_chunks(ds: Dataset) -> Iterator[pd.DataFrame]:
    """The rows of a CSV or JSON Lines history in chunks of up to CHUNK_ROWS, each normalised
    (validated, typed) as history.py does; a dump's chunks become poll-only histories."""
    raw = _csv_chunks(ds) if ds.kind == "csv" else _jsonl_chunks(ds)
    empty = True
    for frame in raw:
        if not len(frame):
            continue
        empty = False
        refuse_bytes(frame, ds.path)
        yield consumer_history(frame) if ds.dump else normalise_history(frame)
    if empty:
        raise HistoryError(f"history {ds.path} has no rows (only a header): nothing to check")


def _csv_chunks(ds: Dataset) -> Iterator[pd.DataFrame]:
    read = pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES)
    convert = pa_csv.ConvertOptions(
        include_columns=list(ds.columns),
        column_types={c: pa.string() for c in ds.columns},
        strings_can_be_null=True,
    )
    try:
        reader = pa_csv.open_csv(ds.path, read_options=read, convert_options=convert)
        for batch in reader:
            yield pd.DataFrame({name: _typed(batch.column(name)) for name in ds.columns})
    except (OSError, pa.ArrowException) as exc:
        message = one_line(exc)
        if "UTF8" in message or "UTF-8" in message:
            raise HistoryError(f"history {ds.path} is not UTF-8 text: {message}") from None
        raise HistoryError(f"cannot read history {ds.path}: {message}") from exc


def _typed(column: pa.Array) -> object:
    """A text column as int64 if every cell is an int, else float64 (whole floats pass the
    validation), else the text itself (which the validation refuses where ints are needed)."""
    for target in (pa.int64(), pa.float64()):
        try:
            return column.cast(target).to_pandas()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return column.to_pandas()


def _jsonl_chunks(ds: Dataset) -> Iterator[pd.DataFrame]:
    rows: list[dict] = []
    with open(ds.path, "rb") as file:
        for number, line in enumerate(_lines(file, ds.path), 1):
            if not line.strip():
                continue
            record = _record(line, number, ds.path)
            rows.append({c: record.get(c) for c in ds.columns})
            if len(rows) >= CHUNK_ROWS:
                yield pd.DataFrame(rows, columns=list(ds.columns), dtype=object)
                rows = []
    yield pd.DataFrame(rows, columns=list(ds.columns), dtype=object)


def read_jsonl(path: Path) -> pd.DataFrame:
    """Every record of a JSON Lines file, every key a column (read_history's whole-file read)."""
    rows = []
    with open(path, "rb") as file:
        for number, line in enumerate(_lines(file, path), 1):
            if line.strip():
                rows.append(_record(line, number, path))
    return pd.DataFrame(rows, dtype=object) if rows else pd.DataFrame()


def _lines(file, path: Path) -> Iterator[bytes]:
    while True:
        line = file.readline(LINE_MAX_BYTES + 1)
        if not line:
            return
        if len(line) > LINE_MAX_BYTES and not line.endswith(b"\n"):
            raise HistoryError(f"history {path}: a line longer than {LINE_MAX_BYTES:,} bytes")
        yield line


def _record(line: bytes, number: int, path: Path) -> dict:
    try:
        record = json.loads(line)
    except UnicodeDecodeError:
        raise HistoryError(f"history {path} is not UTF-8 text (line {number})") from None
    except (ValueError, RecursionError) as exc:
        raise HistoryError(
            f"cannot read history {path}: line {number} is not JSON: {one_line(exc)}"
        ) from None
    if not isinstance(record, dict):
        kind = "null" if record is None else type(record).__name__
        raise HistoryError(f"cannot read history {path}: line {number} is a JSON {kind}, "
                           "not an object")  # fmt: skip
    return record
