"""Consumer dumps: what any consumer can export (partition, offset, message id), read as a history.

A dump has `partition`, `offset` and `message_id` (or `value`) columns, one row per record in the
order received, and optionally `poll` (which poll returned the row), `process` (which consumer)
and `topic`; `data/observed/chronik_v0.7.5_seed.csv` is one. It becomes a poll-only history: every
row an ok poll, `op_index` from `poll` (0 without it), `process` 0 unless given. Without sends the
checker can still find duplicates (an id at two offsets), redeliveries, offsets going back
(nonmonotonic-poll), poll skips and offset gaps; loss needs to know what was sent, which
`lost_ids` (counts.py) takes as a list of ids (e.g. `chronik-lab check --sent N`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from chronik_lab.checker.history import normalise_history
from chronik_lab.errors import HistoryError, one_line

__all__ = ["consumer_history", "is_consumer_dump", "read_ids"]

DUMP_COLUMNS = ("partition", "offset")
ID_COLUMNS = ("message_id", "value")


def is_consumer_dump(table: pd.DataFrame) -> bool:
    """A table with a dump's columns and without a history's `f` and `type`."""
    cols = set(table.columns)
    return set(DUMP_COLUMNS) <= cols and bool(cols & set(ID_COLUMNS)) and not cols & {"f", "type"}


def consumer_history(dump: pd.DataFrame) -> pd.DataFrame:
    """The poll-only history of a consumer dump (see the module docstring), normalised."""
    if not is_consumer_dump(dump):
        raise HistoryError(
            "a consumer dump needs partition, offset and message_id (or value) columns, "
            f"and no f/type columns; found {', '.join(map(str, dump.columns))}"
        )
    n = len(dump)
    ids = dump["message_id"] if "message_id" in dump.columns else dump["value"]
    cols: dict[str, object] = {
        "op_index": dump["poll"] if "poll" in dump.columns else np.zeros(n, np.int64),
        "process": dump["process"] if "process" in dump.columns else np.zeros(n, np.int64),
        "f": pd.Categorical.from_codes(np.ones(n, np.int8), categories=["send", "poll"]),
        "type": pd.Categorical.from_codes(np.zeros(n, np.int8), categories=["ok", "fail", "info"]),
    }
    if "topic" in dump.columns:
        cols["topic"] = dump["topic"]
    cols.update(partition=dump["partition"], offset=dump["offset"], value=ids)
    table = pd.DataFrame({k: _values(v) for k, v in cols.items()})
    return normalise_history(table)


def _values(column: object) -> object:
    return column.to_numpy() if isinstance(column, pd.Series) and column.dtype == object else column


def read_ids(path: str | Path) -> list[int]:
    """Message ids from a file: a CSV with a message_id (or value) column, or ints separated by
    commas or whitespace."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".csv":
            table = pd.read_csv(path)
            column = next((c for c in ID_COLUMNS if c in table.columns), None)
            if column is None:
                raise HistoryError(f"{path} has no message_id or value column")
            parts = table[column].tolist()
        else:
            parts = [p for p in re.split(r"[,\s]+", path.read_text(encoding="utf-8")) if p]
        return [_as_id(p, path) for p in parts]
    except UnicodeDecodeError:
        raise HistoryError(f"{path} is not UTF-8 text (a binary file?)") from None
    except (OSError, ValueError) as exc:
        raise HistoryError(f"cannot read ids from {path}: {one_line(exc)}") from exc


def _as_id(part: object, path: Path) -> int:
    try:
        value = int(part)
    except (TypeError, ValueError):
        raise HistoryError(f"{path}: {part!r} is not a message id (an int)") from None
    if not -(2**63) <= value < 2**63:
        raise HistoryError(f"{path}: message id {value} is beyond int64")
    return value
