"""Invariants of one partition's log, checked from the outside through the broker's public surface.

`check_log` uses only four broker methods, so it can check any broker that has them:
`segments(topic, partition)` (DataFrame: base_offset, last_offset, record_count, visible, ...),
`buffer(topic, partition)` (pyarrow Table with an int64 `offset` column),
`high_watermark(topic, partition)` and `log_end_offset(topic, partition)` (ints).

Invariants (Kafka's log layer; docs/DESIGN.md §5):
- segments-overlap: no two segments share an offset;
- segments-contiguous: each segment starts right after the previous one (base = last + 1);
- buffer-above-segments: every buffered record lies above the last visible segment's last offset,
  because fetch serves offsets up to there from segments (Chronik v0.7.6 phase 1) and a buffered
  copy at or below it is served twice or shadows the segment;
- buffer-unique: no offset is buffered twice (Chronik v0.7.5's cumulative update_buffer);
- high-watermark: the high watermark is at most the log end offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from chronik_lab.errors import InvalidArgumentError

SEGMENT_COLUMNS = ("base_offset", "last_offset", "visible")


@dataclass(frozen=True, eq=False, repr=False)
class LogReport:
    """Violations of the log invariants of one topic-partition (an empty table when all hold)."""

    topic: str
    partition: int
    violations: pd.DataFrame  # columns: invariant, detail
    facts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.violations.empty

    def summary(self) -> str:
        facts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.facts.items())
        head = f"log {self.topic}-{self.partition}: "
        head += "ok" if self.ok else f"{len(self.violations)} violation(s)"
        lines = [f"{head} ({facts})"]
        lines += [f"  {r.invariant}: {r.detail}" for r in self.violations.itertuples(index=False)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<LogReport: {self.summary().splitlines()[0]}>"

    def _repr_html_(self) -> str:
        table = self.violations.to_html(index=False) if not self.ok else ""
        return f"<pre>{self.summary()}</pre>{table}"


def check_log(broker: Any, topic: str, partition: int) -> LogReport:
    """Check the log invariants of `topic`-`partition` of `broker`; report, never raise on a
    violation (raise InvalidArgumentError only if the broker's answers have the wrong shape)."""
    listed = broker.segments(topic, partition)
    segments = _segments(listed)
    buffered = _buffer_offsets(broker.buffer(topic, partition))
    hw = int(broker.high_watermark(topic, partition))
    leo = int(broker.log_end_offset(topic, partition))
    found = [
        *_segment_violations(segments),
        *_buffer_violations(segments, buffered),
    ]
    if hw > leo:
        found.append(("high-watermark", f"high watermark {hw} > log end offset {leo}"))
    violations = pd.DataFrame(found, columns=["invariant", "detail"]).astype("str")
    facts = {
        "segments": len(listed),
        "visible_segments": int(listed["visible"].sum()),
        "buffered": len(buffered),
        "high_watermark": hw,
        "log_end_offset": leo,
    }
    return LogReport(topic, partition, violations, facts)


def _segments(segments: object) -> pd.DataFrame:
    if not isinstance(segments, pd.DataFrame):
        raise InvalidArgumentError("broker.segments() must return a pandas DataFrame")
    missing = [c for c in SEGMENT_COLUMNS if c not in segments.columns]
    if missing:
        raise InvalidArgumentError(f"broker.segments() lacks column(s) {', '.join(missing)}")
    out = segments[list(SEGMENT_COLUMNS)].sort_values("base_offset", kind="stable")
    # An empty segment (no last offset yet) holds no offset, so it cannot overlap or leave a hole.
    out = out[out["last_offset"].notna()]
    return out.astype({"base_offset": "int64", "last_offset": "int64", "visible": "bool"})


def _buffer_offsets(buffer: object) -> np.ndarray:
    names = getattr(buffer, "column_names", None)
    if names is None or "offset" not in names:
        raise InvalidArgumentError(
            "broker.buffer() must return a pyarrow Table with an offset column"
        )
    return buffer.column("offset").to_numpy().astype(np.int64)


def _segment_violations(segments: pd.DataFrame) -> list[tuple[str, str]]:
    base = segments["base_offset"].to_numpy()
    last = segments["last_offset"].to_numpy()
    prev_last, next_base = last[:-1], base[1:]
    found = []
    for i in np.flatnonzero(next_base <= prev_last):
        found.append(
            (
                "segments-overlap",
                f"segment {base[i + 1]}–{last[i + 1]} overlaps {base[i]}–{last[i]}",
            )
        )
    for i in np.flatnonzero(next_base > prev_last + 1):
        a, b = last[i] + 1, base[i + 1] - 1
        hole = f"offset {a} is" if a == b else f"offsets {a}–{b} are"
        found.append(
            (
                "segments-contiguous",
                f"segment {base[i + 1]}–{last[i + 1]} starts after "
                f"{base[i]}–{last[i]}: {hole} in no segment",
            )
        )
    return found


def _buffer_violations(segments: pd.DataFrame, buffered: np.ndarray) -> list[tuple[str, str]]:
    found = []
    visible = segments.loc[segments["visible"], "last_offset"]
    if len(visible) and len(buffered):
        top = int(visible.max())
        low = np.unique(buffered[buffered <= top])
        if len(low):
            found.append(
                (
                    "buffer-above-segments",
                    f"buffered {_ranges(low)} at or below the last visible segment offset {top}",
                )
            )
    values, copies = np.unique(buffered, return_counts=True)
    twice = values[copies > 1]
    if len(twice):
        extra = int((copies[copies > 1] - 1).sum())
        found.append(
            ("buffer-unique", f"buffered more than once: {_ranges(twice)} ({extra} extra)")
        )
    return found


def _ranges(offsets: object, limit: int = 8) -> str:
    """'0–3, 7, 9–12' for sorted distinct offsets (at most `limit` ranges, then '…')."""
    o = np.unique(np.asarray(offsets, dtype=np.int64))
    if not len(o):
        return "none"
    starts = np.flatnonzero(np.r_[True, o[1:] != o[:-1] + 1])
    ends = np.r_[starts[1:] - 1, len(o) - 1]
    parts = [f"{o[s]}" if s == e else f"{o[s]}–{o[e]}" for s, e in zip(starts, ends, strict=True)]
    more = f", … (+{len(parts) - limit} ranges)" if len(parts) > limit else ""
    return ", ".join(parts[:limit]) + more
