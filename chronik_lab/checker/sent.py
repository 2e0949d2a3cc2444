"""Lost ids against what was sent (`chronik-lab check --sent N | --sent-file F`), in bounded memory.

A history's sends say what was acknowledged; a consumer dump has none, so the user says what was
sent: ids 0..N-1, or a file of ids. Lost (counts.py's word) is then a sent id never received, in
any partition: the one check that needs a global view (every partition's received ids at once).
The count is exact and the ids kept are the first `keep` in ascending order, so `--sent
3000000000` costs what the received ids cost, not 3 billion of anything. In memory the received
ids are a numpy array; out of core DuckDB answers from the files (`lost_in_duckdb`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from chronik_lab.errors import HistoryError

__all__ = ["LostIds", "lost_in_arrays", "lost_in_duckdb", "read_sent_ids"]

MAX_SENT_IDS = 200_000_000  # ids a --sent-file may hold (1.6 GB as int64)
TOKEN_MAX = 20  # characters of an int64, sign included
READ_BYTES = 1 << 20


@dataclass(frozen=True)
class LostIds:
    """Sent ids never received: how many (exact), and the first ones in ascending order."""

    count: int
    first: np.ndarray


def read_sent_ids(path: str | Path) -> np.ndarray:
    """The ids in a file: ints separated by commas or whitespace, or a CSV with a message_id
    (or value) column. Read 1 MB at a time; a word longer than an int64 or more than
    MAX_SENT_IDS ids is refused, so an endless file (/dev/zero) stops within its first MB."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        from chronik_lab.checker.dump import read_ids

        return np.asarray(read_ids(path), np.int64)
    parts: list[np.ndarray] = []
    total, rest = 0, ""
    try:
        with open(path, encoding="utf-8") as file:
            while chunk := file.read(READ_BYTES):
                words = re.split(r"[,\s]+", rest + chunk)
                rest = words.pop()  # may continue in the next chunk
                ids = _ids(words, path)
                total += len(ids)
                if total > MAX_SENT_IDS:
                    raise HistoryError(f"{path} has more than {MAX_SENT_IDS:,} ids")
                parts.append(ids)
                _word(rest, path)
            parts.append(_ids([rest], path))
    except UnicodeDecodeError:
        raise HistoryError(f"{path} is not UTF-8 text (a binary file?)") from None
    except OSError as exc:
        raise HistoryError(f"cannot read ids from {path}: {exc.strerror or exc}") from None
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _word(word: str, path: Path) -> None:
    if len(word) > TOKEN_MAX:
        raise HistoryError(f"{path}: {word[:TOKEN_MAX]!r}… is not a message id (an int)")


def _ids(words: list[str], path: Path) -> np.ndarray:
    out = np.empty(len(words), np.int64)
    n = 0
    for word in words:
        if not word:
            continue
        _word(word, path)
        try:
            value = int(word)
        except ValueError:
            raise HistoryError(f"{path}: {word!r} is not a message id (an int)") from None
        if not -(2**63) <= value < 2**63:
            raise HistoryError(f"{path}: message id {value} is beyond int64")
        out[n] = value
        n += 1
    return out[:n]


def lost_in_arrays(received: np.ndarray, sent: int | np.ndarray, keep: int) -> LostIds:
    """Sent ids (0..sent-1, or the ids given) not among `received`."""
    got = np.unique(np.asarray(received, np.int64))
    if not isinstance(sent, int | np.integer):
        missing = np.setdiff1d(np.asarray(sent, np.int64), got)
        return LostIds(len(missing), missing[:keep])
    sent = int(sent)
    got = got[(got >= 0) & (got < sent)]
    # Below got[i] lie got[i] ids, i of them received: got[i] - i are missing.
    before = got - np.arange(len(got))
    first = np.empty(0, np.int64)
    if keep:
        # The k-th missing id (0-based) is k plus the received ids below it.
        ks = np.arange(min(keep, sent - len(got)), dtype=np.int64)
        first = ks + np.searchsorted(before, ks, side="right")
    return LostIds(sent - len(got), first)


def lost_in_duckdb(con, received_sql: str, sent: int | np.ndarray, keep: int) -> LostIds:
    """The same from DuckDB: `received_sql` selects the received ids as a column `value`."""
    if not isinstance(sent, int | np.integer):
        con.register("_sent", pa.table({"value": np.unique(np.asarray(sent, np.int64))}))
        got = f"(SELECT DISTINCT value FROM {received_sql})"
        count = con.sql(f"SELECT count(*) FROM _sent ANTI JOIN {got} g USING (value)").fetchall()
        first = con.sql(
            f"SELECT value FROM _sent ANTI JOIN {got} g USING (value) ORDER BY value LIMIT {keep}"
        ).fetchnumpy()["value"]
        return LostIds(int(count[0][0]), np.asarray(first, np.int64))
    sent = int(sent)
    got = f"(SELECT DISTINCT value FROM {received_sql} WHERE value >= 0 AND value < {sent})"
    count = sent - con.sql(f"SELECT count(*) FROM {got}").fetchall()[0][0]
    # The first missing ids: walk the received ids in order (DuckDB sorts them, spilling if it
    # must) until `keep` gaps' worth are found, never listing 0..sent-1.
    reader = con.sql(f"SELECT value FROM {got} ORDER BY value").to_arrow_reader(1 << 20)
    found: list[np.ndarray] = []
    need, expect = min(keep, count), 0
    for batch in reader:
        if need <= 0:
            break
        values = batch.column(0).to_numpy()
        ids = _gaps(np.r_[expect, values[:-1] + 1], values, need)
        found.append(ids)
        need -= len(ids)
        expect = int(values[-1]) + 1 if len(values) else expect
    if need > 0:
        found.append(np.arange(expect, expect + need, dtype=np.int64))
    first = np.concatenate(found) if found else np.zeros(0, np.int64)
    return LostIds(int(count), first[:keep])


def _gaps(starts: np.ndarray, ends: np.ndarray, limit: int) -> np.ndarray:
    """The ids in [starts[i], ends[i]) for each i, in order, at most `limit` of them."""
    lengths = np.maximum(ends - starts, 0)
    room = np.cumsum(lengths)
    last = int(np.searchsorted(room, limit)) + 1
    starts, lengths = starts[:last], lengths[:last]
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return (np.repeat(starts, lengths) + offsets)[:limit].astype(np.int64)
