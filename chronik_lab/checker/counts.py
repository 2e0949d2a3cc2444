"""The lab's vocabulary for what a consumer got, defined once (Jepsen's meanings), and `outcome`.

Every layer above (charts, tables, sweep, explain, the report, the CLI) uses these words with
these meanings, and `cl.check`'s counts and stats use the same ones:

- **received**: every record the consumer got, counted once per receipt.
- **distinct**: the distinct message ids received (per partition).
- **duplicate** (Jepsen's `:duplicate`): a message id received at more than one offset, i.e.
  written to the log more than once. It counts once per extra offset: an id at offsets 0 and 4
  counts 1; Chronik's seed (10 ids, each at two offsets) counts 10.
- **redelivered**: the same record (same partition, offset and id) received again: a second
  consumer, a rewind, a reset to the earliest offset after OFFSET_OUT_OF_RANGE. It counts once
  per extra receipt. It is not a duplicate and not an anomaly by itself (Kafka delivers at least
  once); when one consumer process goes back to an offset it already had, the checker also
  reports it as `nonmonotonic-poll`.
- **lost**: a message id sent and never received. A history check (`cl.check`), which knows
  which sends were acknowledged, splits the acknowledged ones as Jepsen does: **lost-write**
  (a later acknowledged id of the same partition was received, so the consumer got past it) and
  **unseen** (nothing acknowledged later was received: the consumer may not have got there).
  A send that was never acknowledged (failed, or acks=0's "info") is not lost by the checker's
  count, since the broker may rightly have dropped it; `outcome`, which knows only how many ids
  were sent, counts every sent id never received.

So `received = distinct + duplicates + redelivered`, always. `outcome(...)["duplicates"]` equals
`cl.check(...).counts["duplicate"]` and `.stats["duplicated"]`, `["redelivered"]` equals
`.stats["redelivered"]`, and `["lost"]` equals `.stats["lost"]` (lost-write + unseen) when every
send was acknowledged.

An outcome is said in one word (`outcome_word`: duplicates, loss, duplicates and loss, exact)
and in one sentence (`outcome_sentence`: "10 sent, 20 received: 10 duplicated"), the same on a
notebook's heading, in the report's index and on the switchboard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from chronik_lab.errors import HistoryError

__all__ = ["OUTCOME_KEYS", "lost_ids", "outcome", "outcome_sentence", "outcome_word"]

OUTCOME_KEYS = ("received", "distinct", "duplicates", "redelivered", "lost")


def outcome(
    received: Sequence[int] | np.ndarray | pd.DataFrame,
    sent: int,
    offsets: Sequence[int] | np.ndarray | None = None,
    partitions: Sequence[int] | np.ndarray | None = None,
) -> dict[str, int]:
    """Received, distinct, duplicates, redelivered and lost counts (see the module's definitions).

    `received` is the ids in the order received, or a received table (a run's `received`, with
    `message_id` or `value`, `offset` and optionally `partition` columns). Ids 0..sent-1 were sent.
    Without offsets a re-read cannot be told from a duplicate: every extra receipt of an id counts
    as a duplicate and `redelivered` is 0, so pass them whenever they are known."""
    if isinstance(received, pd.DataFrame):
        received, offsets, partitions = _columns(received)
    ids = np.asarray(received, dtype=np.int64)
    part = np.zeros(len(ids), np.int64) if partitions is None else np.asarray(partitions, np.int64)
    n_ids = _distinct_rows(part, ids)
    if offsets is None:
        n_records = len(ids)  # every receipt taken as its own record
    else:
        n_records = _distinct_rows(part, np.asarray(offsets, dtype=np.int64), ids)
    got = np.unique(ids)
    lost = int(sent) - int(np.count_nonzero((got >= 0) & (got < sent)))
    return {
        "received": len(ids),
        "distinct": n_ids,
        "duplicates": n_records - n_ids,
        "redelivered": len(ids) - n_records,
        "lost": lost,
    }


def outcome_word(counts: Mapping[str, int]) -> str:
    """'duplicates', 'loss', 'duplicates and loss' or 'exact' (no id duplicated, none lost) for
    an outcome's counts (`outcome`'s; only "duplicates" and "lost" are read)."""
    kinds = [word for word, key in (("duplicates", "duplicates"), ("loss", "lost")) if counts[key]]
    return " and ".join(kinds) or "exact"


def outcome_sentence(sent: int, counts: Mapping[str, int]) -> str:
    """'10 sent, 20 received: 10 duplicated', '10 sent, 80 received: 10 duplicated, 60
    redelivered', '10 sent, 0 received: all 10 lost', '10 sent, 10 received: each exactly once'
    for `sent` ids and an outcome's counts (`outcome`'s; "redelivered" may be absent)."""
    parts = []
    if counts["duplicates"]:
        parts.append(f"{counts['duplicates']:,} duplicated")
    if counts.get("redelivered"):  # re-read after a reset: the same records again, not duplicates
        parts.append(f"{counts['redelivered']:,} redelivered")
    lost = counts["lost"]
    if lost:
        parts.append(f"all {lost:,} lost" if lost == sent else f"{lost:,} lost")
    said = ", ".join(parts) if parts else "each exactly once"
    return f"{sent:,} sent, {counts['received']:,} received: {said}"


def _columns(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    id_column = "message_id" if "message_id" in table.columns else "value"
    if id_column not in table.columns:
        raise HistoryError("a received table needs a message_id (or value) column")
    offsets = table["offset"].to_numpy(np.int64) if "offset" in table.columns else None
    parts = table["partition"].to_numpy(np.int64) if "partition" in table.columns else None
    return table[id_column].to_numpy(np.int64), offsets, parts


def _distinct_rows(*columns: np.ndarray) -> int:
    """How many distinct rows the columns hold together. A lexsort and one comparison per
    column: np.unique(axis=0) gives the same count but took 3 s on 1.5 million rows."""
    n = len(columns[0])
    if not n:
        return 0
    order = np.lexsort(columns[::-1])
    change = np.zeros(n - 1, dtype=bool)
    for column in columns:
        ordered = column[order]
        change |= ordered[1:] != ordered[:-1]
    return int(np.count_nonzero(change)) + 1


def lost_ids(received: Sequence[int] | np.ndarray, sent: Sequence[int] | np.ndarray) -> np.ndarray:
    """The sent ids never received (lost, in the outcome sense: sent, never received), sorted."""
    return np.setdiff1d(np.asarray(sent, dtype=np.int64), np.asarray(received, dtype=np.int64))
