"""What each bug switch did in a run, read from its trace and snapshots; and, for small runs,
the same workload without each switch (the counterfactual that says which made the difference).

One function per switch in `EVIDENCE`: it returns a sentence when the run's tables show the
switch's guard acting ("the flush called update_buffer 1 time with 10 records the produce path
had already buffered"), or None when they do not -- a switch that is on may do nothing in a
given workload. A switch with no rule here is reported as leaving no visible trace.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from chronik_lab.checker.counts import outcome
from chronik_lab.sim.scenario import received_records
from chronik_lab.sim.tables import RunTables, fetch_reads, max_buffer_copies, sampling_text

__all__ = [
    "COUNTERFACTUAL_LIMIT",
    "EVIDENCE",
    "counterfactuals",
    "plural",
    "span_text",
    "switch_evidence",
]

COUNTERFACTUAL_LIMIT = 5_000  # messages; above it a page does not rerun the workload per switch


def step_rows(run: RunTables, step: str, partition: int | None = None) -> pd.DataFrame:
    t = run.trace
    mask = (t["step"] == step).to_numpy(bool)
    if partition is not None:
        mask &= (t["partition"] == partition).to_numpy(bool)
    return t[mask]


def plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else plural or word + 's'}"


def span_text(lo: object, hi: object, sep: str = "–") -> str:
    lo, hi = int(lo), int(hi)  # type: ignore[call-overload]
    return f"{lo:,}" if lo == hi else f"{lo:,}{sep}{hi:,}"


def _cumulative(run: RunTables) -> str | None:
    rows = step_rows(run, "update_buffer")
    flush = rows[(rows["source"] == "flush").to_numpy(bool) & (rows["count"] > 0).to_numpy(bool)]
    if flush.empty:
        return None
    return (
        f"the flush called `update_buffer` {plural(len(flush), 'time')} with "
        f"{int(flush['count'].sum()):,} records the produce path had already buffered"
    )


def _blind_append(run: RunTables) -> str | None:
    copies = max_buffer_copies(run.buffer_snapshots)
    if copies < 2:
        return None
    sampled = sampling_text(run)
    return (
        "`update_buffer` appended without a check: "
        f"the buffer held up to {copies} copies of an offset"
        + (f" (in the states recorded: {sampled})" if sampled else "")
    )


def _no_mark_flushed(run: RunTables) -> str | None:
    flushes = len(step_rows(run, "flush_start"))
    if not flushes or len(step_rows(run, "mark_flushed")):
        return None
    flushed = plural(flushes, "flush", "flushes")
    return f"{flushed}, and no step removed the flushed records from the buffer"


def _clears_all(run: RunTables) -> str | None:
    marks = step_rows(run, "mark_flushed")
    if marks.empty:
        return None
    off = run.offsets_snapshots
    at = off[off["step_index"].isin(marks["step_index"]).to_numpy(bool)]
    cleared = int((at["buffer_entries"] == 0).sum())
    if not cleared:
        return None
    if sampling_text(run) and len(at) < len(marks):  # thinned: some states after a mark
        return (
            f"`mark_flushed` ran {plural(len(marks), 'time')}; the buffer was empty right after "
            f"{cleared:,} of the {len(at):,} the snapshots recorded ({sampling_text(run)}), "
            "keeping no record above the flushed offset"
        )
    return (
        f"`mark_flushed` cleared the whole buffer {plural(cleared, 'time')}, keeping no record "
        "above the flushed offset"
    )


def _invisible(run: RunTables) -> str | None:
    seg = run.segment_snapshots
    hidden = seg[~seg["visible"].to_numpy(bool)]
    if hidden.empty:
        return None
    reads = sum(fetch_reads(run, p)["from_segments"] for p in sorted(set(seg["partition"])))
    last = hidden.drop_duplicates(["partition", "base_offset"], keep="last")
    ranges = ", ".join(span_text(r.base_offset, r.last_offset) for r in last.head(3).itertuples())
    more = f" and {len(last) - 3:,} more" if len(last) > 3 else ""
    return (
        f"segments were written but not visible to fetch (offsets {ranges}{more}); "
        f"fetch read {reads:,} records from segments"
    )


def _buffer_first(run: RunTables) -> str | None:
    rows = step_rows(run, "fetch_buffer")
    if rows.empty:
        return None
    return f"fetch read {int(rows['count'].sum()):,} records from the buffer first, in buffer order"


def _renumber(run: RunTables) -> str | None:
    rec = run.received
    moved = rec["offset"].to_numpy(np.int64) != rec["server_offset"].to_numpy(np.int64)
    if not moved.any():
        return None
    return (
        f"the response numbered records by position: {int(moved.sum()):,} records reached the "
        "client at an offset other than the one the broker stored them at"
    )


def _hw_acks(run: RunTables) -> str | None:
    off = run.offsets_snapshots
    if off.empty:
        return None
    last = off.groupby("partition").tail(1)
    behind = last[last["high_watermark"] < last["log_end_offset"]]
    if behind.empty:
        return None
    gap = int((behind["log_end_offset"] - behind["high_watermark"]).sum())
    return (
        f"the high watermark stayed {plural(gap, 'offset')} below the log end: "
        "those records stayed unreadable"
    )


def _fetch_range(run: RunTables) -> str | None:
    """Polls from past the log end that got an empty answer instead of OFFSET_OUT_OF_RANGE."""
    polls = step_rows(run, "poll")
    sent = run.sent.dropna(subset=["offset"])
    if polls.empty or sent.empty:
        return None
    ends = sent.groupby("partition")["offset"].max() + 1
    start = polls["first_offset"].astype("Int64")
    past = polls[(start > polls["partition"].map(ends)).fillna(False).to_numpy(bool)]
    if past.empty:
        return None
    first = past.iloc[0]
    return (
        f"{plural(len(past), 'fetch', 'fetches')} from past the log end (the first from offset "
        f"{int(first['first_offset']):,}, the log ending at "
        f"{int(ends[first['partition']]):,}) got an empty answer, not OFFSET_OUT_OF_RANGE"
    )


def _resent(run: RunTables) -> str | None:
    rows = step_rows(run, "resend")
    if rows.empty:
        return None
    return (
        f"the application sent {plural(int(rows['count'].sum()), 'record')} again after the "
        "producer gave up on them with their outcome unknown"
    )


def _epoch_bump(run: RunTables) -> str | None:
    rows = step_rows(run, "epoch_bump")
    if rows.empty:
        return None
    return (
        f"the producer bumped its epoch {plural(len(rows), 'time')} on an out-of-order "
        "sequence error and sent its unacknowledged batches again under new sequence numbers"
    )


EVIDENCE: dict[str, Callable[[RunTables], str | None]] = {
    "retry_on_ambiguous_error": _resent,
    "epoch_bump_on_out_of_order": _epoch_bump,
    "chronik_fetch_range": _fetch_range,
    "cumulative_update_buffer": _cumulative,
    "blind_append_buffer": _blind_append,
    "no_mark_flushed": _no_mark_flushed,
    "mark_flushed_clears_all": _clears_all,
    "active_segment_invisible": _invisible,
    "buffer_first_fetch": _buffer_first,
    "renumber_response_offsets": _renumber,
    "hw_only_acks_all": _hw_acks,
}


def switch_evidence(run: RunTables) -> dict[str, str | None]:
    """Each switch that is on in the run -> what the trace shows it did (None: nothing here)."""
    on = sorted(run.scenario.bug_set)
    return {name: (EVIDENCE[name](run) if name in EVIDENCE else None) for name in on}


def counterfactuals(run: RunTables) -> dict[str, dict[str, int]] | None:
    """Each switch that is on -> the outcome of the same workload without it; None above
    `COUNTERFACTUAL_LIMIT` messages (the explain notebook runs every combination)."""
    scenario = run.scenario
    if len(run.sent) > COUNTERFACTUAL_LIMIT:
        return None
    on = sorted(scenario.bug_set)
    out = {}
    for name in on:
        records = received_records(scenario.with_bugs([b for b in on if b != name]))
        out[name] = outcome(records, len(run.sent))  # offsets too: a re-read is no duplicate
    return out
