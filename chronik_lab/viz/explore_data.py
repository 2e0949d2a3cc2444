"""The tables behind the linked charts of interactive.py, with every tooltip field filled in.

Built on chartdata's reductions (so a million-record run stays within the row budget) and on
the run's own tables for what those reductions drop: the broker's offset and the poll of each
received record, the segment file that holds a buffer range, and the step that put each state
there. Column names are shared across panels on purpose: `lo` / `hi` (broker offsets, hi
exclusive) in the buffer and segment tables, `server_offset` and `message_id` in the record
tables, so one selection's fields mean the same thing in every panel.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from chronik_lab.engine.segment import SUFFIX
from chronik_lab.errors import InvalidArgumentError
from chronik_lab.sim.tables import sampling_text
from chronik_lab.viz import chartdata as cd

__all__ = ["panel_data", "received_records", "restrict"]

MAX_FETCH_RULES = 50
MAX_COPIES = 5  # the colour scale's last step means "5 or more copies"
AGGREGATED = " -- aggregated: zoom into a range with explore(run, offsets=(lo, hi))"


def panel_data(
    run: Any, partition: int, max_rows: int, offsets: tuple[int, int] | None = None
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The five tables of the linked charts (received, lost, buffer, segments, fetches), and a
    title note per panel ("" or why it is aggregated). Shares: received 40%, lost 10%,
    buffer 30%, segments 15%, fetches 5%. `offsets`: the range `run` was restricted to; the
    segments are drawn clipped to it (their file and base offset stay the real ones)."""
    received = received_records(run, partition, max_rows * 2 // 5)
    lost = cd.lost_points(run, partition, max_rows // 10)
    lost = lost.assign(server_offset=lost["offset"])  # the offset the producer got back
    spans, _ = cd.buffer_spans(run, partition, max_rows * 3 // 10)
    buffer = _buffer_rows(spans, run, partition)
    seg_budget = max_rows * 3 // 20
    seg_spans = cd.segment_spans(run, partition, seg_budget)
    segments = _segment_rows(seg_spans, run, partition)
    if offsets is not None:
        segments["lo"] = segments["lo"].clip(lower=offsets[0])
        segments["hi"] = segments["hi"].clip(upper=offsets[1] + 1)
    fetches = _fetch_rows(run, partition, max_rows // 20)
    trace = run.trace
    polls = int(((trace["step"] == "fetch_response") & (trace["partition"] == partition)).sum())
    if polls > MAX_FETCH_RULES:  # hundreds of dashed rules would grey the panel out
        fetches = fetches.iloc[:0]
    binned = bool(len(buffer)) and bool(spans["binned"].any())
    # Thinned snapshots (the recorder kept the state at every k-th step) are said in both
    # panels drawn from it, whether or not the chart aggregated it further.
    sampled = sampling_text(run)
    notes = {
        "received": AGGREGATED if "count" in received or "count" in lost else "",
        "buffer": _note(["aggregated (binned steps and offsets)" if binned else "", sampled]),
        "segments": _note(
            ["aggregated (sampled steps)" if len(seg_spans) >= seg_budget else "", sampled]
        ),
        "fetches": f" ({polls:,} fetches: too many to draw)" if polls > MAX_FETCH_RULES else "",
    }
    data = {
        "received": received,
        "lost": lost,
        "buffer": buffer,
        "segments": segments,
        "fetches": fetches,
    }
    return data, notes


def _note(parts: list[str | None]) -> str:
    """' -- aggregated (...); the state at every 512th step', or '' when nothing to say."""
    said = "; ".join(p for p in parts if p)
    return f" -- {said}" if said else ""


def received_records(run: Any, partition: int, budget: int) -> pd.DataFrame:
    """One row per received record of `partition`: offset (as the client saw it),
    server_offset, message_id, poll, status ("first" | "duplicate" | "redelivered"); past
    `budget` rows chartdata's offset x id grid (offset_end, id_end, count, duplicates)."""
    rec = run.received
    mask = (rec["partition"] == partition).to_numpy(bool)
    if int(mask.sum()) > budget:
        return cd.received_points(run, partition, budget)
    status = cd.receipt_status(rec)[mask]
    return pd.DataFrame(
        {
            "offset": rec["offset"].to_numpy(np.int64)[mask],
            "server_offset": rec["server_offset"].to_numpy(np.int64)[mask],
            "message_id": rec["message_id"].to_numpy(np.int64)[mask],
            "poll": rec["poll"].to_numpy(np.int64)[mask],
            "status": status,
        }
    )


def restrict(run: Any, lo: int, hi: int) -> Any:
    """The run cut to broker offsets lo..hi (inclusive): received and sent records in it,
    buffer entries clipped to it, segments overlapping it. A new Run; `run` is untouched."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi)) or not (
        0 <= lo <= hi
    ):
        raise InvalidArgumentError(f"offsets must be two ints 0 <= lo <= hi, not {(lo, hi)!r}")
    rec, sent, buf, seg = run.received, run.sent, run.buffer_snapshots, run.segment_snapshots
    buf = buf[(buf["last_offset"] >= lo) & (buf["first_offset"] <= hi)].copy()
    buf["first_offset"] = buf["first_offset"].clip(lower=lo)
    buf["last_offset"] = buf["last_offset"].clip(upper=hi)
    seg_last = seg["last_offset"].fillna(seg["base_offset"]).astype("int64")
    return dataclasses.replace(
        run,
        received=rec[rec["server_offset"].between(lo, hi)].reset_index(drop=True),
        sent=sent[sent["offset"].between(lo, hi)].reset_index(drop=True),
        buffer_snapshots=buf.reset_index(drop=True),
        segment_snapshots=seg[(seg_last >= lo) & (seg["base_offset"] <= hi)].reset_index(drop=True),
    )


def _buffer_rows(spans: pd.DataFrame, run: Any, partition: int) -> pd.DataFrame:
    rows = spans.rename(columns={"offset_start": "lo", "offset_end": "hi"})
    rows = _with_segment(rows, run, partition)
    rows["binned"] = rows["binned"].map({True: "yes (max of the bin)", False: "no"})
    rows["multiplicity"] = rows["multiplicity"].clip(upper=MAX_COPIES)
    return _with_step_label(rows, run)


def _segment_rows(spans: pd.DataFrame, run: Any, partition: int) -> pd.DataFrame:
    rows = spans.rename(columns={"base_offset": "lo", "end_offset": "hi"})
    rows["segment_base"] = rows["lo"]
    rows["segment_file"] = [_file(run, partition, b) for b in rows["lo"].tolist()]
    rows["segment_visible"] = rows["visible"]
    return _with_step_label(rows, run)


def _fetch_rows(run: Any, partition: int, budget: int) -> pd.DataFrame:
    trace = run.trace
    rows = trace[(trace["step"] == "fetch_response") & (trace["partition"] == partition)]
    out = pd.DataFrame(
        {
            "step_index": rows["step_index"].to_numpy(np.int64),
            "poll": rows["poll"].to_numpy("float64", na_value=np.nan),
            "fetch_offset": rows["first_offset"].to_numpy("float64", na_value=np.nan),
            "count": rows["count"].to_numpy(np.int64),
            "step_label": "fetch",
        }
    )
    return cd.fit_rows(out, budget)


def _with_segment(spans: pd.DataFrame, run: Any, partition: int) -> pd.DataFrame:
    """Add the segment holding each span's first offset when the span starts: segment_file,
    segment_base, segment_visible ("not flushed" / NaN when no segment holds it yet)."""
    seg = run.segment_snapshots
    seg = seg[seg["partition"] == partition]
    # The snapshot rows as arrays grouped by step (stable: a step keeps its row order), searched
    # per span with numpy: a pandas filter per span cost ~0.3 ms, thousands of spans a redraw.
    by_step = np.argsort(seg["step_index"].to_numpy(np.int64), kind="stable")
    steps = seg["step_index"].to_numpy(np.int64)[by_step]
    base = seg["base_offset"].to_numpy(np.int64)[by_step]
    last = seg["last_offset"].fillna(seg["base_offset"] - 1).to_numpy(np.int64)[by_step]
    visible = seg["visible"].to_numpy(bool)[by_step]
    snaps = np.unique(steps)
    starts = spans["step_start"].to_numpy(np.int64)
    # The segment snapshot in force at each span's start (snapshots are change-only).
    at = np.searchsorted(snaps, starts, side="right") - 1
    held = snaps[np.maximum(at, 0)] if len(snaps) else starts
    first = np.searchsorted(steps, held, side="left")
    stop = np.searchsorted(steps, held, side="right")
    files, bases, shown = [], [], []
    for i, lo, a, b in zip(
        at.tolist(), spans["lo"].tolist(), first.tolist(), stop.tolist(), strict=True
    ):
        cover = np.flatnonzero((base[a:b] <= lo) & (last[a:b] >= lo)) if i >= 0 else ()
        if len(cover) == 0:
            files.append("not flushed")
            bases.append(np.nan)
            shown.append("-")
            continue
        hit = a + int(cover[0])
        files.append(_file(run, partition, base[hit]))
        bases.append(float(base[hit]))
        shown.append("yes" if visible[hit] else "no")
    return spans.assign(segment_file=files, segment_base=bases, segment_visible=shown)


def _with_step_label(rows: pd.DataFrame, run: Any) -> pd.DataFrame:
    """Name the step that put each state there, from the trace row at its first step:
    "update_buffer (from flush)", "mark_flushed (from produce)", "segment_write (from linger)"."""
    trace = run.trace
    index = trace["step_index"].to_numpy(np.int64)
    starts = rows["step_start"].to_numpy(np.int64)
    # The last trace row of each start step, found by binary search; only those rows' columns
    # are turned into Python strings (the whole trace's took most of a big run's redraw).
    order = np.argsort(index, kind="stable")
    pos = np.searchsorted(index[order], starts, side="right") - 1
    found = pos >= 0
    found[found] = index[order[pos[found]]] == starts[found]
    hits = trace.iloc[order[pos[found]]]
    steps = hits["step"].astype(str).to_numpy(object)
    source = hits["source"].astype(object).where(hits["source"].notna(), None).to_numpy(object)
    cause = hits["cause"].astype(str).to_numpy(object)
    labels = [""] * len(starts)
    for j, row in enumerate(np.flatnonzero(found).tolist()):
        via = source[j] if isinstance(source[j], str) and source[j] else cause[j]
        labels[row] = f"{steps[j]} (from {via})"
    out = rows.assign(step_label=labels)
    if "visible" in out:
        out["visible"] = out["visible"].astype(bool)
    return out


def _file(run: Any, partition: int, base: Any) -> str:
    return f"{run.scenario.topic}-{partition}/{int(base):020d}{SUFFIX}"
