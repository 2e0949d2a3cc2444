"""The pattern of a received stream: maximal spans where offset and message id both step by one.

Chronik v0.7.5's seed (docs/DESIGN.md §1) received ids `0 1 2 3 0 1 2 3 4 5 6 7 8 9 4 5 6 7 8 9` at
client offsets 0..19, which reads as three spans: `0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9`. A clean
stream is one span per consumer and partition; every duplication or loss starts a new span, so
the spans are the shortest faithful description of what the consumer saw. ("Span", never "run":
a run is what `cl.run` does.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from chronik_lab.checker.anomalies import Side

SPAN_COLUMNS = ("offset_start", "offset_end", "value_start", "value_end", "count")


def spans(recv: Side) -> dict[str, np.ndarray]:
    """Spans of the received records, per stream (partition and process), in stream order.

    Returns the row index of each span's first record (`first`) and the SPAN_COLUMNS."""
    n = len(recv)
    starts = np.ones(n, bool)
    starts[1:] = (
        ~recv.steps()
        | (recv.offset[1:] != recv.offset[:-1] + 1)
        | (recv.value[1:] != recv.value[:-1] + 1)
    )
    first = np.flatnonzero(starts)
    last = np.append(first[1:] - 1, n - 1) if n else first
    return {
        "first": first,
        "offset_start": recv.offset[first],
        "offset_end": recv.offset[last],
        "value_start": recv.value[first],
        "value_end": recv.value[last],
        "count": last - first + 1,
    }


def pattern_text(
    pattern: pd.DataFrame, limit: int | None = None, streams: pd.DataFrame | None = None
) -> str:
    """`0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9`: one line per stream, prefixed by the partition
    (and process) when there is more than one stream; at most `limit` (>= 1) spans per stream.
    `streams` (a report's stream totals) counts the spans a sampled pattern left out."""
    if pattern.empty:
        return ""
    keys = [c for c in ("topic", "partition", "process") if c in pattern.columns]
    # The spans are few next to the records (one per duplication or loss), and a report's
    # pattern is usually a handful of them: plain lists, not a groupby per call (~5 ms).
    o_start, o_end, v_start, v_end = (pattern[col].tolist() for col in SPAN_COLUMNS[:4])
    columns = [pattern[k].tolist() for k in keys]
    rows: dict[tuple, list[int]] = {}  # stream key -> its spans' rows, in stream order
    for row, key in enumerate(zip(*columns, strict=True) if keys else [()] * len(pattern)):
        rows.setdefault(key, []).append(row)
    total: dict[tuple, int] = {}  # spans per stream where a sampled pattern holds fewer
    if streams is not None and len(streams):
        stream_keys = zip(*(streams[k].tolist() for k in keys), strict=True)
        total = dict(zip(stream_keys, streams["spans"].tolist(), strict=True))
    lines = {}
    for key, spans in rows.items():
        shown = spans if limit is None else spans[:limit]
        line = ", ".join(_span(o_start[i], o_end[i], v_start[i], v_end[i]) for i in shown)
        if limit is not None or streams is not None:
            # Say how many spans were left out, so a cut line is never mistaken for the whole.
            hidden = total.get(key, len(spans)) - len(shown)
            line += f", … {hidden:,} more spans" if hidden else ""
        lines[key] = line
    if len(lines) == 1:
        return next(iter(lines.values()))
    several = "process" in keys and pattern["process"].nunique() > 1
    return "\n".join(f"{_label(key, keys, several)}: {line}" for key, line in lines.items())


def span_labels(pattern: pd.DataFrame) -> pd.Series:
    """`4–13 ↦ 0–9` for each span (a single number where a span has one record), as in
    pattern_text; charts use it to label the bands."""
    columns = (pattern[c].tolist() for c in SPAN_COLUMNS[:4])
    labels = [_span(*ends) for ends in zip(*columns, strict=True)]
    return pd.Series(labels, index=pattern.index, dtype=object)


def _span(offset_start: object, offset_end: object, value_start: object, value_end: object) -> str:
    return f"{_range(offset_start, offset_end)} ↦ {_range(value_start, value_end)}"


def _range(start: object, end: object) -> str:
    return str(start) if start == end else f"{start}–{end}"


def _label(key: object, keys: list[str], with_process: bool) -> str:
    values = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
    where = f"partition {values['partition']}"
    if "topic" in values:
        where = f"{values['topic']}-{values['partition']}"
    return f"{where} process {values['process']}" if with_process else where
