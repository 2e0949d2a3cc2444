"""The history table the checker reads: its columns, their validation, and file IO.

A history is Jepsen-style: one row per record touched by an operation. Columns (docs/DESIGN.md §3):
`op_index` (int, the operation's place in time), `process` (int or str), `f` ("send" | "poll"),
`type` ("ok" | "fail" | "info"), `partition` (int), `offset` (int, the offset as the client saw
it; for sends, the acknowledged offset), `value` (int message id), and optionally `topic`. One poll
op returns several rows, in the order received. `offset` may be empty on rows that are not ok (a
failed send has no offset); every other cell must be filled.

`history_arrays` validates a table and returns the numpy arrays the checker computes on, without
copying the big integer columns when they are already int64; `normalise_history` returns the
canonical DataFrame (categorical `f` and `type`, nullable `offset`) that `read_history` gives.
Validation is vectorised (a few passes over each column, no Python loop per row) and refuses, with
a `HistoryError` naming the column and the first bad row: cells that are not single values (lists,
dicts, bytes), negative partitions or offsets, and integers beyond int64 (a uint64 2**64-1, a float
1e300) that a cast would silently wrap. `read_history` also reads a consumer dump (dump.py).

Two kinds of rows are read but not checked: rows of the `nemesis` process (Jepsen's convention
for the faults a test injected: `f` any word such as "start-fault", `type` "info", partition,
offset and value optional) are kept for charts and ignored by the anomaly checks; and an optional
`time` column (int nanoseconds since the history began, Jepsen's `:time`) is validated and kept.
Label columns (topic, string processes) get codes in sorted label order, so that every reader of
the same history (in memory, out of core, on a cluster) orders partitions and processes alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from chronik_lab.errors import HistoryError, one_line

COLUMNS = ("op_index", "process", "f", "type", "partition", "offset", "value")
F_VALUES = ("send", "poll")
TYPE_VALUES = ("ok", "fail", "info")
F_DTYPE = pd.CategoricalDtype(list(F_VALUES))
TYPE_DTYPE = pd.CategoricalDtype(list(TYPE_VALUES))
SUFFIXES = (".csv", ".parquet", ".jsonl", ".json")
SEND, POLL = 0, 1  # codes of `f`
OK = 0  # code of `type`
NEMESIS = "nemesis"  # the process whose rows are faults, not operations (Jepsen's convention)
TIME = "time"  # the optional column of int nanoseconds since the history began


@dataclass(frozen=True)
class HistoryArrays:
    """A validated history as numpy arrays (codes for the label columns), one entry per row."""

    op: np.ndarray  # int64
    process: np.ndarray  # int64: the process itself when it is an int, else a code into labels
    process_labels: np.ndarray | None  # str labels of the codes, None for int processes
    f: np.ndarray  # int8 index into F_VALUES
    type: np.ndarray  # int8 index into TYPE_VALUES
    topic: np.ndarray | None  # int64 code into topic_labels, None without a topic column
    topic_labels: np.ndarray | None
    partition: np.ndarray  # int64
    offset: np.ndarray  # int64, 0 where the file had no offset
    offset_missing: np.ndarray | None  # bool, None when no offset is missing
    value: np.ndarray  # int64
    extra: pd.DataFrame  # columns beyond the history format, kept by normalise_history

    def __len__(self) -> int:
        return len(self.op)


def history_arrays(history: pd.DataFrame | pa.Table) -> HistoryArrays:
    """Validate `history` and return its columns as arrays; raise HistoryError if it is bad."""
    history, _ = split_nemesis(history)
    f = _label_codes(history["f"], "f", F_VALUES)
    type_ = _label_codes(history["type"], "type", TYPE_VALUES)
    offset, offset_missing = _int_column(history["offset"], "offset", nullable=True, minimum=0)
    if offset_missing is not None and (offset_missing & (type_ == OK)).any():
        raise HistoryError("history column 'offset' is empty on an ok row")
    process, process_labels = _process_codes(history["process"])
    topic, topic_labels = (None, None)
    if "topic" in history.columns:
        topic, topic_labels = _str_codes(history["topic"], "topic")
    if TIME in history.columns:
        _int_column(history[TIME], TIME, nullable=True, minimum=0)
    extra = history[[c for c in history.columns if c not in (*COLUMNS, "topic")]]
    return HistoryArrays(
        op=_int_column(history["op_index"], "op_index")[0],
        process=process,
        process_labels=process_labels,
        f=f,
        type=type_,
        topic=topic,
        topic_labels=topic_labels,
        partition=_int_column(history["partition"], "partition", minimum=0)[0],
        offset=offset,
        offset_missing=offset_missing,
        value=_int_column(history["value"], "value")[0],
        extra=extra,
    )


def split_nemesis(history: pd.DataFrame | pa.Table) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The operations of a history and its nemesis rows (None when it has none), each in row
    order; the nemesis rows are validated here (a `type`, an `f` word), the rest is not."""
    if isinstance(history, pa.Table):
        history = history.to_pandas()
    if not isinstance(history, pd.DataFrame):
        raise HistoryError(f"a history must be a pandas DataFrame, not {type(history).__name__}")
    missing = [c for c in COLUMNS if c not in history.columns]
    if missing:
        raise HistoryError(f"history is missing column(s) {', '.join(missing)}")
    process = history["process"]
    if process.dtype.kind in "iufb" or not len(history):
        return history, None
    is_nemesis = (process.astype(object) == NEMESIS).to_numpy(dtype=bool)
    if not is_nemesis.any():
        return history, None
    faults = history[is_nemesis]
    _label_codes(faults["type"], "type", TYPE_VALUES)
    words = faults["f"].astype(object)
    if not words.map(lambda w: isinstance(w, str) and w != "").all():
        raise HistoryError("history column 'f' must be a word on every nemesis row")
    return history[~is_nemesis].reset_index(drop=True), faults


def normalise_history(history: pd.DataFrame | pa.Table) -> pd.DataFrame:
    """The canonical form of a history: int64 columns, categorical f/type, nullable offset.
    Nemesis rows stay in their place, with their own `f` words among f's categories."""
    ops, faults = split_nemesis(history)
    out = _normalise_ops(ops)
    if faults is None:
        return out
    from chronik_lab.checker.faults import with_faults

    return with_faults(out, faults, history)


def _normalise_ops(history: pd.DataFrame) -> pd.DataFrame:
    h = history_arrays(history)
    cols: dict[str, object] = {"op_index": h.op, "process": _process_column(h)}
    cols["f"] = pd.Categorical.from_codes(h.f, dtype=F_DTYPE)
    cols["type"] = pd.Categorical.from_codes(h.type, dtype=TYPE_DTYPE)
    if h.topic is not None:
        cols["topic"] = pd.array(h.topic_labels[h.topic], dtype="str")
    cols["partition"] = h.partition
    mask = h.offset_missing if h.offset_missing is not None else np.zeros(len(h), bool)
    cols["offset"] = pd.arrays.IntegerArray(h.offset, mask)
    cols["value"] = h.value
    out = pd.DataFrame(cols)
    for name in h.extra.columns:
        out[name] = h.extra[name].to_numpy()
    return out


def read_history(path: str | Path) -> pd.DataFrame:
    """Read a history from .csv, .parquet or JSON Lines (.jsonl/.json) and normalise it.

    A consumer dump (partition, offset, message_id columns, see dump.py) becomes a poll-only
    history."""
    from chronik_lab.checker.dump import consumer_history, is_consumer_dump

    path = Path(path)
    suffix = _suffix(path)
    if not path.is_file():
        raise HistoryError(f"no history file at {path}")
    try:
        if suffix == ".csv":
            # The pyarrow engine reads large CSVs several times faster than the C parser.
            df = pd.read_csv(path, engine="pyarrow")
        elif suffix == ".parquet":
            from chronik_lab.checker.dataset import CorruptHistoryError, footer_missing

            if missing := footer_missing(path):
                raise CorruptHistoryError(path, missing)
            df = pd.read_parquet(path)
        else:
            # Not pyarrow's JSON reader: it crashed the process on a `null` line and on deeply
            # nested lines; dataset.py's reader refuses them with a HistoryError.
            from chronik_lab.checker.dataset import read_jsonl

            df = read_jsonl(path)
            df = df.infer_objects() if len(df) else df
    except HistoryError:
        raise
    except (OSError, ValueError, pa.ArrowException, json.JSONDecodeError) as exc:
        raise HistoryError(f"cannot read history {path}: {one_line(exc)}") from exc
    if len(df) == 0:
        raise HistoryError(f"history {path} has no rows (only a header): nothing to check")
    refuse_bytes(df, path)
    if is_consumer_dump(df):
        return consumer_history(df)
    return normalise_history(df)


def refuse_bytes(df: pd.DataFrame, path: Path) -> None:
    """Text that is not UTF-8 arrives as bytes cells (pyarrow keeps them as binary)."""
    for name in df.columns:
        if df[name].dtype == object and pd.api.types.infer_dtype(df[name]) == "bytes":
            raise HistoryError(
                f"history {path} is not UTF-8 text: column {name!r} holds undecodable bytes "
                "(a Latin-1 file? convert it, e.g. iconv -f latin1 -t utf-8)"
            )


def write_history(history: pd.DataFrame | pa.Table, path: str | Path) -> Path:
    """Write a history (normalised first) as .csv, .parquet or JSON Lines, chosen by suffix."""
    path = Path(path)
    suffix = _suffix(path)
    df = normalise_history(history)
    try:
        if suffix == ".csv":
            df.to_csv(path, index=False)
        elif suffix == ".parquet":
            df.to_parquet(path, index=False)
        else:
            df.to_json(path, orient="records", lines=True)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise HistoryError(f"cannot write history {path}: {one_line(exc)}") from exc
    return path


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise HistoryError(f"unknown history file type {path.name!r}; use {', '.join(SUFFIXES)}")
    return suffix


INT64_MAX = np.iinfo(np.int64).max
# Floats at or beyond 2**63 do not fit int64 (the cast gives int64 min); beyond 2**53 they are not
# exact integers anyway, so a float column must stay within +-2**53.
FLOAT_EXACT = float(2**53)


def _int_column(
    s: pd.Series, name: str, nullable: bool = False, minimum: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The column as int64 (zero-copy when it already is) and its missing-value mask, if any.

    Refuses what a cast would silently change: unsigned values above int64's max, floats that are
    fractions or not exact integers, and (with `minimum`) values below it on filled rows."""
    dtype = s.dtype
    if s.dtype == object:
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind not in ("integer", "floating", "mixed-integer-float", "empty"):
            _refuse_cells(s, name, f"must hold integers, not {kind} values")
        if kind == "mixed-integer-float":
            # to_numeric turns [0, 2.0**53 + 2] into int64 and the float's check below would
            # never see it: test the float cells here (object columns are rare and small).
            cells = s.to_numpy()
            big = np.array([isinstance(c, float) and abs(c) > FLOAT_EXACT for c in cells])
            if big.any():
                why = "beyond the integers a float holds exactly (2**53)"
                _first_bad(name, big, np.array(cells, dtype=float), why)
        try:
            s = pd.to_numeric(s)
        except (ValueError, TypeError, OverflowError) as exc:
            raise HistoryError(
                f"history column {name!r} must hold integers: {one_line(exc)}"
            ) from None
        dtype = s.dtype
        if s.dtype == np.dtype(object):  # Python ints beyond int64 and uint64
            raise HistoryError(f"history column {name!r} holds integers beyond int64")
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise HistoryError(f"history column {name!r} must hold integers, not {dtype}")
    if dtype.kind == "i" and isinstance(dtype, np.dtype):
        values = s.to_numpy(dtype=np.int64, copy=False)  # no missing values possible
        check_minimum(values, None, name, minimum)
        return values, None
    missing = s.isna().to_numpy()
    has_missing = bool(missing.any())
    if has_missing and not nullable:
        raise HistoryError(f"history column {name!r} has empty cells")
    if dtype.kind == "u":
        raw = s.to_numpy(dtype=np.uint64, na_value=0)
        if len(raw) and raw.max() > INT64_MAX:
            _first_bad(name, raw > INT64_MAX, raw, "beyond int64 (2**63-1)")
        values = raw.astype(np.int64)
    elif dtype.kind == "f":
        raw = s.to_numpy(dtype=np.float64, na_value=0)
        whole = np.isfinite(raw) & (raw == np.floor(raw))
        if not whole.all():
            _first_bad(name, ~whole, raw, "not an integer (a fraction, inf or NaN)")
        exact = np.abs(raw) <= FLOAT_EXACT
        if not exact.all():
            _first_bad(name, ~exact, raw, "beyond the integers a float holds exactly (2**53)")
        values = raw.astype(np.int64)
    else:
        values = s.to_numpy(dtype=np.int64, na_value=0)
    check_minimum(values, missing if has_missing else None, name, minimum)
    return values, (missing if has_missing else None)


def check_minimum(
    values: np.ndarray, missing: np.ndarray | None, name: str, minimum: int | None
) -> None:
    if minimum is None or not len(values) or values.min() >= minimum:
        return
    low = values < minimum
    if missing is not None:
        low &= ~missing
    if low.any():
        _first_bad(name, low, values, f"negative ({name}s start at {minimum})")


def _first_bad(name: str, bad: np.ndarray, values: np.ndarray, why: str) -> None:
    row = int(np.argmax(bad))
    value = values[row].item()
    if isinstance(value, float) and value.is_integer() and abs(value) <= FLOAT_EXACT:
        value = int(value)
    raise HistoryError(f"history column {name!r} must hold integers; row {row}: {value!r} is {why}")


# infer_dtype's kinds that hold only single values ("mixed-integer" may hide a list among ints).
SCALAR_KINDS = ("string", "integer", "floating", "mixed-integer-float", "empty")


def _single_values(s: pd.Series, name: str) -> None:
    """Refuse an object column holding a list, dict, bytes or other non-scalar cell, naming the
    first; one C pass (infer_dtype) decides whether to look at all."""
    if s.dtype != object or pd.api.types.infer_dtype(s, skipna=True) in SCALAR_KINDS:
        return
    for row, cell in enumerate(s.to_numpy()):  # rare: a mixed column, or the error path
        if cell is None or cell is pd.NA or isinstance(cell, str | int | float | np.number):
            continue
        raise HistoryError(
            f"history column {name!r}, row {row}: a {_kind(cell)} cell "
            f"({_short(cell)}); each cell must be a single value"
        )


def _kind(cell: object) -> str:
    return "list" if isinstance(cell, np.ndarray) else type(cell).__name__  # Arrow lists


def _short(cell: object) -> str:
    text = repr(cell.tolist() if isinstance(cell, np.ndarray) else cell)
    return text if len(text) <= 40 else text[:37] + "..."


def _refuse_cells(s: pd.Series, name: str, why: str) -> None:
    _single_values(s, name)
    raise HistoryError(f"history column {name!r} {why}")


def _label_codes(s: pd.Series, name: str, allowed: tuple[str, ...]) -> np.ndarray:
    """Codes into `allowed` (int8). Categorical columns map through their categories; string
    columns go through Arrow's index_in, about twice as fast as making them categorical."""
    _single_values(s, name)
    if not isinstance(s.dtype, pd.CategoricalDtype):
        try:
            arr = pa.array(s, from_pandas=True)  # zero-copy for pandas' Arrow-backed str
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: let pandas sort them out
            arr = None
        if arr is not None and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            codes = pc.index_in(arr, value_set=pa.array(allowed, arr.type))
            if codes.null_count:
                bad = pc.unique(pc.filter(arr, pc.is_null(codes))).to_pylist()
                bad_labels(name, allowed, bad)
            return codes.to_numpy(zero_copy_only=False).astype(np.int8)
        s = s.astype("category")  # missing cells get code -1
    cats = list(s.cat.categories)
    # Position len(cats) receives code -1 (a missing value) and maps to -1 like an unknown label.
    table = np.array([allowed.index(c) if c in allowed else -1 for c in cats] + [-1], np.int8)
    codes = table[s.cat.codes.to_numpy()]
    if (codes < 0).any():
        used = np.unique(s.cat.codes.to_numpy()[codes < 0])
        bad_labels(name, allowed, [cats[c] if c >= 0 else None for c in used])
    return codes


def bad_labels(name: str, allowed: tuple[str, ...], bad: list[object]) -> None:
    found = ", ".join("an empty cell" if b is None else repr(b) for b in bad[:5])
    raise HistoryError(f"history column {name!r} must be one of {'/'.join(allowed)}, found {found}")


def _process_codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray | None]:
    _single_values(s, "process")
    if (
        len(s) == 0
        or pd.api.types.is_integer_dtype(s.dtype)
        or pd.api.types.infer_dtype(s) == "integer"
    ):
        return _int_column(s, "process")[0], None
    return _str_codes(s, "process")


def _str_codes(s: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes and str labels of a label column (str, categorical, or mixed ints and strs)."""
    _single_values(s, name)
    if s.isna().any():
        raise HistoryError(f"history column {name!r} has empty cells")
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_float_dtype(s.dtype):
        raise HistoryError(f"history column {name!r} must hold ints or strings, not {s.dtype}")
    codes, uniques = pd.factorize(s)
    # Sorted labels: the codes order labels as text whatever the rows' order or the reader.
    labels, rank = np.unique(np.asarray(uniques.astype(str), dtype=object), return_inverse=True)
    return rank.astype(np.int64)[codes], labels


def _process_column(h: HistoryArrays) -> np.ndarray | pd.api.extensions.ExtensionArray:
    if h.process_labels is None:
        return h.process
    return pd.array(h.process_labels[h.process], dtype="str")
