"""The history table the checker reads: its columns, their validation, and file IO.

A history is Jepsen-style: one row per record touched by an operation. Columns (DESIGN.md §3):
`op_index` (int, the operation's place in time), `process` (int or str), `f` ("send" | "poll"),
`type` ("ok" | "fail" | "info"), `partition` (int), `offset` (int, the offset as the client saw
it; for sends, the acknowledged offset), `value` (int message id), and optionally `topic`. One poll
op returns several rows, in the order received. `offset` may be empty on rows that are not ok (a
failed send has no offset); every other cell must be filled.

`history_arrays` validates a table and returns the numpy arrays the checker computes on, without
copying the big integer columns when they are already int64; `normalise_history` returns the
canonical DataFrame (categorical `f` and `type`, nullable `offset`) that `read_history` gives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from chronik_lab.errors import HistoryError

COLUMNS = ("op_index", "process", "f", "type", "partition", "offset", "value")
F_VALUES = ("send", "poll")
TYPE_VALUES = ("ok", "fail", "info")
F_DTYPE = pd.CategoricalDtype(list(F_VALUES))
TYPE_DTYPE = pd.CategoricalDtype(list(TYPE_VALUES))
SUFFIXES = (".csv", ".parquet", ".jsonl", ".json")
SEND, POLL = 0, 1  # codes of `f`
OK = 0  # code of `type`


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
    if isinstance(history, pa.Table):
        history = history.to_pandas()
    if not isinstance(history, pd.DataFrame):
        raise HistoryError(f"a history must be a pandas DataFrame, not {type(history).__name__}")
    missing = [c for c in COLUMNS if c not in history.columns]
    if missing:
        raise HistoryError(f"history is missing column(s) {', '.join(missing)}")
    f = _label_codes(history["f"], "f", F_VALUES)
    type_ = _label_codes(history["type"], "type", TYPE_VALUES)
    offset, offset_missing = _int_column(history["offset"], "offset", nullable=True)
    if offset_missing is not None and (offset_missing & (type_ == OK)).any():
        raise HistoryError("history column 'offset' is empty on an ok row")
    process, process_labels = _process_codes(history["process"])
    topic, topic_labels = (None, None)
    if "topic" in history.columns:
        topic, topic_labels = _str_codes(history["topic"], "topic")
    extra = history[[c for c in history.columns if c not in (*COLUMNS, "topic")]]
    return HistoryArrays(
        op=_int_column(history["op_index"], "op_index")[0],
        process=process,
        process_labels=process_labels,
        f=f,
        type=type_,
        topic=topic,
        topic_labels=topic_labels,
        partition=_int_column(history["partition"], "partition")[0],
        offset=offset,
        offset_missing=offset_missing,
        value=_int_column(history["value"], "value")[0],
        extra=extra,
    )


def normalise_history(history: pd.DataFrame | pa.Table) -> pd.DataFrame:
    """The canonical form of a history: int64 columns, categorical f/type, nullable offset."""
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
    """Read a history from .csv, .parquet or JSON Lines (.jsonl/.json) and normalise it."""
    path = Path(path)
    suffix = _suffix(path)
    if not path.is_file():
        raise HistoryError(f"no history file at {path}")
    try:
        if suffix == ".csv":
            # The pyarrow engine reads large CSVs several times faster than the C parser.
            df = pd.read_csv(path, engine="pyarrow")
        elif suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            df = pa_json.read_json(path).to_pandas()
    except (OSError, ValueError, pa.ArrowException, json.JSONDecodeError) as exc:
        raise HistoryError(f"cannot read history {path}: {_one_line(exc)}") from exc
    return normalise_history(df)


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
        raise HistoryError(f"cannot write history {path}: {_one_line(exc)}") from exc
    return path


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise HistoryError(f"unknown history file type {path.name!r}; use {', '.join(SUFFIXES)}")
    return suffix


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _int_column(
    s: pd.Series, name: str, nullable: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """The column as int64 (zero-copy when it already is) and its missing-value mask, if any."""
    dtype = s.dtype
    if s.dtype == object:
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind not in ("integer", "floating", "mixed-integer-float", "empty"):
            raise HistoryError(f"history column {name!r} must hold integers, not {kind} values")
        s = pd.to_numeric(s)
        dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise HistoryError(f"history column {name!r} must hold integers, not {dtype}")
    if dtype.kind in "iu" and isinstance(dtype, np.dtype):
        return s.to_numpy(dtype=np.int64, copy=False), None  # no missing values possible
    missing = s.isna().to_numpy()
    has_missing = bool(missing.any())
    if has_missing and not nullable:
        raise HistoryError(f"history column {name!r} has empty cells")
    values = s.to_numpy(dtype=np.float64 if dtype.kind == "f" else np.int64, na_value=0)
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.all(values == np.floor(values)):
            raise HistoryError(f"history column {name!r} must hold integers, found fractions")
        values = values.astype(np.int64)
    return values, (missing if has_missing else None)


def _label_codes(s: pd.Series, name: str, allowed: tuple[str, ...]) -> np.ndarray:
    """Codes into `allowed` (int8). Categorical columns map through their categories; string
    columns go through Arrow's index_in, about twice as fast as making them categorical."""
    if not isinstance(s.dtype, pd.CategoricalDtype):
        try:
            arr = pa.array(s, from_pandas=True)  # zero-copy for pandas' Arrow-backed str
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: let pandas sort them out
            arr = None
        if arr is not None and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            codes = pc.index_in(arr, value_set=pa.array(allowed, arr.type))
            if codes.null_count:
                bad = pc.unique(pc.filter(arr, pc.is_null(codes))).to_pylist()
                _bad_labels(name, allowed, bad)
            return codes.to_numpy(zero_copy_only=False).astype(np.int8)
        s = s.astype("category")  # missing cells get code -1
    cats = list(s.cat.categories)
    # Position len(cats) receives code -1 (a missing value) and maps to -1 like an unknown label.
    table = np.array([allowed.index(c) if c in allowed else -1 for c in cats] + [-1], np.int8)
    codes = table[s.cat.codes.to_numpy()]
    if (codes < 0).any():
        used = np.unique(s.cat.codes.to_numpy()[codes < 0])
        _bad_labels(name, allowed, [cats[c] if c >= 0 else None for c in used])
    return codes


def _bad_labels(name: str, allowed: tuple[str, ...], bad: list[object]) -> None:
    found = ", ".join("an empty cell" if b is None else repr(b) for b in bad[:5])
    raise HistoryError(f"history column {name!r} must be one of {'/'.join(allowed)}, found {found}")


def _process_codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray | None]:
    if pd.api.types.is_integer_dtype(s.dtype) or pd.api.types.infer_dtype(s) == "integer":
        return _int_column(s, "process")[0], None
    return _str_codes(s, "process")


def _str_codes(s: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes and str labels of a label column (str, categorical, or mixed ints and strs)."""
    if s.isna().any():
        raise HistoryError(f"history column {name!r} has empty cells")
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_float_dtype(s.dtype):
        raise HistoryError(f"history column {name!r} must hold ints or strings, not {s.dtype}")
    codes, labels = pd.factorize(s)
    return codes.astype(np.int64), np.asarray(labels.astype(str), dtype=object)


def _process_column(h: HistoryArrays) -> np.ndarray | pd.api.extensions.ExtensionArray:
    if h.process_labels is None:
        return h.process
    return pd.array(h.process_labels[h.process], dtype="str")
