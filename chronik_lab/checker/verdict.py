"""The checker: Jepsen's Kafka anomalies of a history, the pattern of what was received, and the
invariants of a log (`check_log`, in invariants.py). Like diskcache's `check()`, it reports
problems instead of raising; it raises `HistoryError` only when the history itself is unreadable.

The words duplicate, redelivered and lost (lost-write, unseen) are defined once, in counts.py,
with Jepsen's meanings; `stats` uses them and `outcome` gives the same numbers from the ids alone.

Anomaly types, per partition (per topic and partition when the history has a `topic` column).
"Acknowledged" means an ok send and its offset; "received" means a row of an ok poll.

- duplicate: an id received at more than one offset. Each extra offset counts once, so Chronik's
  seed (10 ids, each at two client offsets) counts 10. The same record delivered again at the
  same offset (a second consumer, a rewind) is not a duplicate, as in Jepsen: it is counted in
  `stats["redelivered"]`, and a rewind by one process shows up as nonmonotonic-poll.
- lost-write: an acknowledged id never received, while an id acknowledged at a higher offset of
  the same partition was received.
- unseen: an acknowledged id never received, and no id acknowledged later was received either
  (the consumer may simply not have got there).
- poll-skip: a process's next poll of a partition starts after the previous poll's last offset + 1.
- nonmonotonic-poll: a process receives an offset <= the offset it received before on that
  partition, within one poll or across polls.
- inconsistent-offsets: an offset that holds two different ids (across acknowledgements and
  receipts), or an id at two offsets that is not already a duplicate (acknowledged at one offset,
  received at another; acknowledged twice at different offsets).
- nonmonotonic-send: a process's successive acknowledged offsets on a partition not increasing.
- offset-gap: an offset never received between the lowest and highest received offset.

Time order is `op_index` then the row order within an op; rows of one poll arrive in row order.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from chronik_lab.checker import anomalies as an
from chronik_lab.checker.history import OK, POLL, SEND, HistoryArrays, history_arrays
from chronik_lab.checker.invariants import LogReport, check_log
from chronik_lab.checker.pattern import pattern_text as _pattern_text
from chronik_lab.checker.pattern import spans

__all__ = ["ANOMALY_TYPES", "LogReport", "CheckReport", "check", "check_log"]

ANOMALY_TYPES = (
    "duplicate",
    "lost-write",
    "unseen",
    "poll-skip",
    "nonmonotonic-poll",
    "inconsistent-offsets",
    "nonmonotonic-send",
    "offset-gap",
)


@dataclass(frozen=True, eq=False, repr=False)
class CheckReport:
    """What `check` found. `anomalies` has one row per anomaly: type, [topic], partition,
    process (nullable), value (message id, nullable), offsets and op_indexes (lists; for an
    offset-gap the first and last missing offset), count (what the row adds to `counts`), detail.
    `counts` has every type in ANOMALY_TYPES, zero included. `pattern` has one row per span of
    the received stream (see pattern.py). `stats`, in counts.py's vocabulary: sent (send ops'
    records, any outcome), acknowledged, received, distinct_received, duplicated
    (= counts["duplicate"]), redelivered (receipts of a record already received), lost
    (acknowledged, never received = lost_write + unseen), lost_write (= counts["lost-write"]),
    unseen (= counts["unseen"]); received = distinct_received + duplicated + redelivered.

    Bounded reports (`sample=N`): `anomalies` keeps the first N rows of each type and `pattern`
    the first N spans of each stream, in the checker's order (partitions by topic then number;
    merge.py); `rows` has how many anomaly rows of each type the full list has,
    `streams` each stream's total spans and receipts. Counts and stats are always exact."""

    anomalies: pd.DataFrame
    counts: dict[str, int]
    pattern: pd.DataFrame
    stats: dict[str, int]
    rows: dict[str, int] = field(default_factory=dict)
    streams: pd.DataFrame | None = None
    sample: int | None = None

    @property
    def ok(self) -> bool:
        return not any(self.counts.values())

    def pattern_text(self, limit: int | None = None) -> str:
        """The received spans as `0–3 ↦ 0–3, 4–13 ↦ 0–9`, one line per stream."""
        return _pattern_text(self.pattern, limit, self.streams)

    def summary(self, max_anomalies: int = 10, max_spans: int | None = 12) -> str:
        """Verdict, stats, the received pattern and the first anomalies, as readable lines
        (max_spans=None: every span)."""
        s = self.stats
        lines = [f"history check: {self.verdict}"]
        # A poll-only history (a consumer dump) says nothing about loss: say so, not "lost 0".
        lost = (
            f"lost {s['lost']:,} (lost-write {s['lost_write']:,}, unseen {s['unseen']:,})"
            if s["sent"]
            else "lost: not checked (no sends in the history)"
        )
        lines.append(
            f"sent {s['sent']:,}, acknowledged {s['acknowledged']:,}, received {s['received']:,} "
            f"({s['distinct_received']:,} distinct), duplicated {s['duplicated']:,}, "
            f"redelivered {s['redelivered']:,}, {lost}"
        )
        if not self.pattern.empty:
            lines.append("received (offset ↦ id):")
            lines += ["  " + line for line in self.pattern_text(max_spans).splitlines()]
        shown = self.anomalies.head(max_anomalies)
        if len(shown):
            lines.append("anomalies:")
            lines += ["  " + _anomaly_line(row) for row in shown.itertuples(index=False)]
            if self.total_anomalies > len(shown):
                lines.append(f"  … {self.total_anomalies - len(shown):,} more")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-serialisable: ok, counts, stats, and the pattern text."""
        return {
            "ok": self.ok,
            "counts": dict(self.counts),
            "stats": dict(self.stats),
            "pattern": self.pattern_text(),
        }

    def __repr__(self) -> str:
        return f"<CheckReport: {self.verdict}>"

    @property
    def total_anomalies(self) -> int:
        """Rows of the full anomaly list (`anomalies` may hold a sample of them)."""
        return sum(self.rows.values()) if self.rows else len(self.anomalies)

    @property
    def verdict(self) -> str:
        """The checker's verdict in one line: "ok, no anomalies" or "12 anomalies (duplicate 10,
        offset-gap 2)". (What the consumer got, in words, is counts.outcome_sentence.)"""
        if self.ok:
            return "ok, no anomalies"
        found = ", ".join(f"{t} {n:,}" for t, n in self.counts.items() if n)
        return f"{self.total_anomalies:,} anomalies ({found})"

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ok else "#cf222e"
        counts = "".join(
            f"<tr><td>{html.escape(t)}</td><td>{n}</td></tr>" for t, n in self.counts.items()
        )
        stats = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.stats.items())
        pattern = html.escape(self.pattern_text(12)).replace("\n", "<br>")
        return (
            f"<div><p style='color:{colour}'><b>{html.escape(self.verdict)}</b></p>"
            f"<p>{html.escape(stats)}</p><p>received (offset ↦ id): <code>{pattern}</code></p>"
            f"<details><summary>counts</summary><table>{counts}</table></details>"
            f"{self.anomalies.head(20).to_html(index=False) if len(self.anomalies) else ''}</div>"
        )


def check(
    history: pd.DataFrame | pa.Table | str | os.PathLike,
    engine: str = "auto",
    memory_limit: int | str | None = None,
    client: object = None,
    sample: int | None = None,
    progress: bool = False,
) -> CheckReport:
    """Check a history (see history.py) for Jepsen's Kafka anomalies; raises HistoryError only
    when the history itself is malformed.

    A table in memory is checked here (`sample`: keep the first N anomalies of each type and
    spans of each stream; None keeps all). A path (a file, or a directory of Parquet files) is
    checked by `engine`: "memory", "duckdb" (out of core), "dask" (on `client`'s cluster) or
    "auto", which picks by the history's size against `memory_limit` (dispatch.py); a path's
    report keeps the first 1,000 of each unless `sample` says otherwise (every anomaly goes to
    a file with `chronik-lab check --anomalies-out`, or dispatch.run_check)."""
    if isinstance(history, str | os.PathLike):
        from chronik_lab.checker.dispatch import SAMPLE, run_check

        sample = SAMPLE if sample is None else sample
        return run_check(history, engine, memory_limit, client, sample, progress).report
    return check_table(history, sample)


def check_table(history: pd.DataFrame | pa.Table, sample: int | None = None) -> CheckReport:
    """The in-memory check of one history table (every engine's unit of work)."""
    h = history_arrays(history)
    parts, (pk,) = an.pair_codes([_topic_codes(h)], [h.partition])
    sent = _side(h, pk, np.flatnonzero((h.f == SEND) & (h.type == OK)))
    recv = _side(h, pk, np.flatnonzero((h.f == POLL) & (h.type == OK)))
    found, distinct = _find(sent, recv, parts.size)
    counts = {t: int(found[t].count.sum()) for t in ANOMALY_TYPES}
    stats = {
        "sent": int(np.count_nonzero(h.f == SEND)),
        "acknowledged": len(sent),
        "received": len(recv),
        "distinct_received": distinct,
        "duplicated": counts["duplicate"],
        "redelivered": len(recv) - distinct - counts["duplicate"],
        "lost": counts["lost-write"] + counts["unseen"],
        "lost_write": counts["lost-write"],
        "unseen": counts["unseen"],
    }
    rows = {t: len(found[t]) for t in ANOMALY_TYPES}
    if sample is not None:
        found = {t: an.head(f, sample) for t, f in found.items()}
    pattern, streams = _pattern_frame(recv, h, parts, sample)
    return CheckReport(_anomaly_frame(found, h, parts), counts, pattern, stats, rows, streams,
                       sample)  # fmt: skip


def _topic_codes(h: HistoryArrays) -> np.ndarray:
    return h.topic if h.topic is not None else np.zeros(len(h), np.int64)


def _side(h: HistoryArrays, pk: np.ndarray, rows: np.ndarray) -> an.Side:
    """The given rows in stream order (see Side)."""
    op, side_pk, process = h.op[rows], pk[rows], h.process[rows]
    _, (stream,) = an.pair_codes([side_pk], [process])
    order = _stream_order(stream, op)
    if order is not None:
        rows, op, side_pk, process, stream = (
            a[order] for a in (rows, op, side_pk, process, stream)
        )
    return an.Side(side_pk, process, stream, op, h.offset[rows], h.value[rows])


def _stream_order(stream: np.ndarray, op: np.ndarray) -> np.ndarray | None:
    """A permutation grouping rows by stream, in time order within a stream; None if in order.

    Histories are usually written in op order, so the op sort is skipped when it is, and the
    stable sort by stream keeps that order; with fewer than 2**16 streams it is a radix sort."""
    order = None if np.all(op[1:] >= op[:-1]) else np.argsort(op, kind="stable")
    s = stream if order is None else stream[order]
    if np.all(s[1:] >= s[:-1]):
        return order
    by_stream = np.argsort(s.astype(np.uint16) if s.max() < 1 << 16 else s, kind="stable")
    return by_stream if order is None else order[by_stream]


def _find(sent: an.Side, recv: an.Side, n_pk: int) -> tuple[dict[str, an.Found], int]:
    """Every anomaly type, and the number of distinct (partition, id) pairs received."""
    pv, (sent_pv, recv_pv) = an.pair_codes([sent.pk, recv.pk], [sent.value, recv.value])
    po, (sent_po, recv_po) = an.pair_codes([sent.pk, recv.pk], [sent.offset, recv.offset])
    # One pass per code space: the received rows alone give the duplicates, all rows the
    # inconsistencies (an id at two offsets that is not a duplicate; an offset with two ids).
    is_dup, id_moved = an.conflicts(
        pv.size, [recv_pv, sent_pv], [recv.offset, sent.offset], first_alone=True
    )
    _, offset_shared = an.conflicts(po.size, [recv_po, sent_po], [recv.value, sent.value])
    received = np.zeros(pv.size, bool)
    received[recv_pv] = True
    lost, unseen = an.lost_and_unseen(sent, sent_pv, received, n_pk)
    by_offset = an.inconsistent(sent, recv, po, sent_po, recv_po, offset_shared, "offset")
    by_value = an.inconsistent(sent, recv, pv, sent_pv, recv_pv, id_moved & ~is_dup, "value")
    found = {
        "duplicate": an.duplicates(recv, pv, recv_pv, is_dup),
        "lost-write": lost,
        "unseen": unseen,
        "poll-skip": an.poll_skips(recv),
        "nonmonotonic-poll": an.nonmonotonic(recv, "received"),
        "inconsistent-offsets": an.in_partition_order(an.concat_found([by_offset, by_value])),
        "nonmonotonic-send": an.nonmonotonic(sent, "acknowledged"),
        "offset-gap": an.offset_gaps(po, recv_po),
    }
    return found, int(np.count_nonzero(received))


def _anomaly_frame(
    found: dict[str, an.Found], h: HistoryArrays, parts: an.PairCodes
) -> pd.DataFrame:
    items = [found[t] for t in ANOMALY_TYPES]
    sizes = [len(f) for f in items]
    merged = an.concat_found(items)
    # Decoding a dictionary array builds the str column in C: no Python string per row.
    codes = pa.array(np.repeat(np.arange(len(items), dtype=np.int8), sizes))
    types = pa.DictionaryArray.from_arrays(codes, pa.array(ANOMALY_TYPES)).cast(pa.string())
    cols: dict[str, object] = {"type": pd.array(types, dtype="str")}
    cols.update(_where_columns(h, parts, merged.pk))
    has_process = np.repeat([f.process is not None for f in items], sizes)
    cols["process"] = _process_array(h, merged.process, has_process)
    value = merged.value if merged.value is not None else np.zeros(len(merged.pk), np.int64)
    cols["value"] = pd.arrays.IntegerArray(value, ~an.value_valid(merged))
    cols["offsets"] = pd.arrays.ArrowExtensionArray(merged.offsets)
    cols["op_indexes"] = pd.arrays.ArrowExtensionArray(merged.op_indexes)
    cols["count"] = merged.count
    cols["detail"] = pd.array(merged.detail, dtype="str")
    # copy=False: the arrays are ours, and copying them into 2-D blocks costs ~0.1 s per 1M rows.
    return pd.DataFrame(cols, copy=False)


def _pattern_frame(
    recv: an.Side, h: HistoryArrays, parts: an.PairCodes, sample: int | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The spans (the first `sample` of each stream) and each stream's totals."""
    r = spans(recv)
    first = r.pop("first")
    stream = recv.stream[first]
    heads = np.flatnonzero(np.r_[True, stream[1:] != stream[:-1]]) if len(first) else first
    per_stream = np.diff(np.r_[heads, len(first)])
    if sample is not None:
        keep = np.arange(len(first)) - np.repeat(heads, per_stream) < sample
        first, r = first[keep], {k: v[keep] for k, v in r.items()}
    cols = _where_columns(h, parts, recv.pk[first])
    cols["process"] = _process_array(h, recv.process[first])
    cols.update(r)
    starts = recv.stream[1:] != recv.stream[:-1]
    stream_first = np.flatnonzero(np.r_[True, starts]) if len(recv) else np.zeros(0, np.int64)
    totals = _where_columns(h, parts, recv.pk[stream_first])
    totals["process"] = _process_array(h, recv.process[stream_first])
    totals["spans"] = per_stream.astype(np.int64)
    totals["received"] = np.diff(np.r_[stream_first, len(recv)]).astype(np.int64)
    # copy=False: the arrays are ours, and copying them into 2-D blocks costs ~0.1 s per 1M rows.
    return pd.DataFrame(cols, copy=False), pd.DataFrame(totals, copy=False)


def _where_columns(h: HistoryArrays, parts: an.PairCodes, pk: np.ndarray) -> dict[str, object]:
    topic, partition = parts.decode(pk)
    cols: dict[str, object] = {}
    if h.topic_labels is not None:
        cols["topic"] = pd.array(h.topic_labels[topic], dtype="str")
    cols["partition"] = partition
    return cols


def _process_array(
    h: HistoryArrays, codes: np.ndarray | None, valid: np.ndarray | None = None
) -> object:
    """The processes of `codes` as the history named them; missing where not `valid`."""
    if codes is None:
        codes, valid = np.zeros(len(valid), np.int64), np.zeros(len(valid), bool)
    if h.process_labels is None:
        return codes if valid is None else pd.arrays.IntegerArray(codes, ~valid)
    labels = h.process_labels[codes]
    return pd.array(labels if valid is None else np.where(valid, labels, None), dtype="str")


def _anomaly_line(row: tuple) -> str:
    where = (
        f"{row.topic}-{row.partition}" if hasattr(row, "topic") else f"partition {row.partition}"
    )
    who = f" process {row.process}" if not pd.isna(row.process) else ""
    what = f" id {row.value}" if not pd.isna(row.value) else ""
    return f"{row.type:<20} {where}{who}{what}: {row.detail}"
