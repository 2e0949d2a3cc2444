"""Chart data about steps: which event each step was, what the snapshots cover, and the buffer
in the order fetch reads it.

- `event_lanes`: the trace's steps as three lanes (produce, flush, fetch) under a chart whose x
  axis is the step index, so a reader sees *what happened* at each step. Exact (one rectangle
  per run of consecutive steps of one kind) while that fits the budget; past it, the steps are
  binned and a bin is drawn in a lane when any step of that kind fell in it.
- `coverage_note`: how densely the snapshots cover the run. The recorder keeps every state
  while its tables fit a bound, and past it the state at every k-th step (`snapshots_stride`);
  a chart drawn from thinned snapshots must say so ("the state at every 512th step").
- `buffer_order`: the buffer's entries when the consumer first fetched, in buffer order -- the
  sequence a buffer-first fetch returns, renumbered by position into the client's offsets.
- `fault_marks`: the faults the scenario's schedule applied (the trace's "nemesis" rows: a lost
  response, a reorder, a broker restart, a consumer crash or rebalance), for a marker each on
  the step axis.
"""

from __future__ import annotations

import bisect

import numpy as np
import pandas as pd

from chronik_lab.sim.tables import (
    RunTables,
    buffer_at,
    sampling_text,
)

__all__ = [
    "BUFFER_LANES",
    "LANES",
    "buffer_events",
    "buffer_order",
    "coverage_note",
    "event_lanes",
    "fault_marks",
    "step_names",
]

LANES = ("produce", "flush", "fetch")
FLUSH_STEPS = frozenset({"flush_start", "segment_write", "mark_flushed", "flush_end"})


def _lane_of(trace: pd.DataFrame) -> np.ndarray:
    """Each trace row's lane: a flush step (or the flush's own update_buffer), a fetch step
    (the consumer's, or the broker's answer to it), else the produce path."""
    step = trace["step"].astype(object).to_numpy(object)
    source = trace["source"].astype(object).to_numpy(object)
    actor = trace["actor"].astype(object).to_numpy(object) if "actor" in trace else step
    cause = trace["cause"].astype(object).to_numpy(object) if "cause" in trace else step
    flush = np.isin(step, list(FLUSH_STEPS)) | ((step == "update_buffer") & (source == "flush"))
    fetch = (actor == "consumer") | (cause == "fetch")
    return np.where(flush, "flush", np.where(fetch, "fetch", "produce")).astype(object)


def _partition_trace(run: RunTables, partition: int, end: int) -> pd.DataFrame:
    t = run.trace
    mask = (t["partition"] == partition).to_numpy(bool) & (t["step_index"] < end).to_numpy(bool)
    return t[mask]


def event_lanes(run: RunTables, partition: int, end: int, budget: int = 600) -> pd.DataFrame:
    """The partition's steps before `end` as lanes produce / flush / fetch. Columns: lane,
    step_start, step_end (exclusive), steps (how many), what (the step names, or "binned")."""
    t = _partition_trace(run, partition, end)
    return _lanes(t, _lane_of(t), end, budget)


BUFFER_LANES = ("update_buffer from produce", "update_buffer from flush", "mark_flushed")


def buffer_events(run: RunTables, partition: int, end: int, budget: int = 600) -> pd.DataFrame:
    """The steps that changed the buffer: update_buffer (by caller) and mark_flushed, each in
    its own lane (`BUFFER_LANES`); columns as `event_lanes`, plus `detail` and `count` while
    every step is its own row."""
    t = _partition_trace(run, partition, end)
    step = t["step"].astype(object).to_numpy(object)
    source = t["source"].astype(object).to_numpy(object)
    lane = np.where(
        step == "mark_flushed",
        BUFFER_LANES[2],
        np.where(source == "flush", BUFFER_LANES[1], BUFFER_LANES[0]),
    ).astype(object)
    keep = np.isin(step, ["update_buffer", "mark_flushed"])
    t, lane = t[keep], lane[keep]
    if len(t) <= budget:
        index = t["step_index"].to_numpy(np.int64)
        return pd.DataFrame(
            {
                "lane": lane,
                "step_start": index,
                "step_end": index + 1,
                "steps": 1,
                "what": t["step"].astype(object).to_numpy(object),
                "detail": t["detail"].astype(object).fillna("").to_numpy(object),
                "count": t["count"].to_numpy(np.int64),
            }
        )
    return _lanes(t, lane, end, budget)


def _lanes(t: pd.DataFrame, lane: np.ndarray, end: int, budget: int) -> pd.DataFrame:
    """Runs of consecutive rows in one lane; binned steps past `budget` runs."""
    if t.empty:
        return pd.DataFrame(columns=["lane", "step_start", "step_end", "steps", "what"])
    index = t["step_index"].to_numpy(np.int64)
    new = np.concatenate([[True], lane[1:] != lane[:-1]])
    if int(new.sum()) > budget:
        return _binned_lanes(lane, index, end, max(1, budget // 3))
    names = t["step"].astype(object).to_numpy(object).tolist()
    # Runs are contiguous rows: slice them (a groupby with a Python lambda per run cost more).
    starts = np.flatnonzero(new)
    stops = np.append(starts[1:], len(index))
    what = [", ".join(dict.fromkeys(names[a:b])) for a, b in zip(starts, stops, strict=True)]
    return pd.DataFrame(
        {
            "lane": lane[starts].tolist(),  # lists of str: the str dtype groupby gave
            "step_start": index[starts],
            "step_end": index[stops - 1] + 1,
            "steps": stops - starts,
            "what": what,
        }
    )


def _binned_lanes(lane: np.ndarray, index: np.ndarray, end: int, bins: int) -> pd.DataFrame:
    width = max(1, -(-end // bins))
    df = pd.DataFrame({"lane": lane, "bin": index // width})
    counts = df.groupby(["lane", "bin"], as_index=False).size()
    counts = counts.sort_values(["lane", "bin"])
    new = counts["lane"].ne(counts["lane"].shift()) | counts["bin"].ne(counts["bin"].shift() + 1)
    runs = counts.groupby(new.cumsum())
    out = {"lane": runs["lane"].first(), "b0": runs["bin"].first(), "b1": runs["bin"].last()}
    out["steps"] = runs["size"].sum()
    return pd.DataFrame(
        {
            "lane": out["lane"].to_numpy(object),
            "step_start": out["b0"].to_numpy(np.int64) * width,
            "step_end": np.minimum(end, (out["b1"].to_numpy(np.int64) + 1) * width),
            "steps": out["steps"].to_numpy(np.int64),
            "what": f"binned: {width:,} steps per bin",
        }
    )


def step_names(run: RunTables, partition: int, end: int, limit: int = 40) -> dict[int, str]:
    """Step index -> step name, for naming the x axis of a short run; {} past `limit` steps."""
    t = _partition_trace(run, partition, end)
    if len(t) > limit:
        return {}
    return dict(zip(t["step_index"].astype(int), t["step"].astype(str), strict=True))


def fault_marks(run: RunTables, partition: int, end: int, budget: int = 50) -> pd.DataFrame:
    """The faults applied to the partition before `end` (trace rows of actor "nemesis"), the
    first `budget` of them. Columns: step_index, fault (the step's name), detail."""
    t = _partition_trace(run, partition, end)
    if "actor" not in t:  # a trace without actors (a synthetic one) has no faults either
        t = t.iloc[:0]
    t = t[(t["actor"] == "nemesis").to_numpy(bool)].head(budget) if len(t) else t
    return pd.DataFrame(
        {
            "step_index": t["step_index"].to_numpy(np.int64),
            "fault": t["step"].astype(object).to_numpy(object),
            "detail": t["detail"].astype(object).to_numpy(object),
        }
    )


# -- what the snapshots cover -----------------------------------------------------------------


def coverage_note(run: RunTables) -> str | None:
    """A subtitle for a chart drawn from the snapshots when they are thinned ("sampled: the
    state at every 512th of 140,005 steps, each drawn until the next"); None when they hold
    every state of the run."""
    sampled = sampling_text(run)
    if sampled is None:
        return None
    t = run.trace
    steps = int(t["step_index"].max()) + 1 if len(t) else 0
    return f"sampled: {sampled} (of {steps:,} steps), each drawn until the next"


# -- the buffer as fetch reads it -------------------------------------------------------------


def buffer_order(run: RunTables, partition: int, budget: int = 1_000) -> tuple[pd.DataFrame, str]:
    """The buffer's entries just before the consumer's first fetch, in buffer order, and a
    sentence saying what they are (or why there are none).

    Columns: position (where the entry starts in the sequence fetch reads), position_end,
    first_offset, offset_end (last + 1), count, repeat (the entry holds an offset an earlier
    entry already holds: the client gets it again), label ("0–3").
    """
    t = run.trace
    polls = t.loc[
        (t["step"] == "poll").to_numpy(bool) & (t["partition"] == partition).to_numpy(bool)
    ]
    columns = ["position", "position_end", "first_offset", "offset_end", "count", "repeat", "label"]
    if polls.empty:
        return pd.DataFrame(columns=columns), "the consumer never fetched"
    step = int(polls["step_index"].min())
    held = buffer_at(run, partition, step)
    if held is None:
        why = f"the snapshots keep {sampling_text(run)}, and not step {step:,}'s"
        return pd.DataFrame(columns=columns), f"not recorded: {why}"
    if held.empty:
        return pd.DataFrame(
            columns=columns
        ), f"the buffer was empty at the first fetch (step {step:,})"
    first = held["first_offset"].to_numpy(np.int64)
    last = held["last_offset"].to_numpy(np.int64)
    count = held["count"].to_numpy(np.int64)
    position = np.concatenate([[0], np.cumsum(count)[:-1]])
    repeat = _repeats(first, last)
    out = pd.DataFrame(
        {
            "position": position,
            "position_end": position + count,
            "first_offset": first,
            "offset_end": last + 1,
            "count": count,
            "repeat": repeat,
            "label": [f"{a}" if a == b else f"{a}–{b}" for a, b in zip(first, last, strict=True)],
        }
    )
    entries, records = len(out), int(count.sum())
    what = (
        f"{entries:,} {'entry' if entries == 1 else 'entries'}, {records:,} "
        f"record{'' if records == 1 else 's'}, at the first fetch (step {step:,})"
    )
    if len(out) > budget:
        out = out.iloc[:budget]
        what += f"; the first {budget:,} entries shown"
    return out, what


def _repeats(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """For each entry, whether an earlier entry already holds one of its offsets. Keeps the
    offsets read so far as sorted disjoint ranges (few: a buffer holds at most a few thousand
    entries, and in a correct one each continues the previous)."""
    starts: list[int] = []
    ends: list[int] = []  # inclusive
    out = np.zeros(len(first), bool)
    for i, (lo, hi) in enumerate(zip(first.tolist(), last.tolist(), strict=True)):
        k = bisect.bisect_right(starts, hi)  # ranges starting at or before hi
        out[i] = k > 0 and ends[k - 1] >= lo
        j = bisect.bisect_left(ends, lo - 1)  # first range that touches or passes lo
        new_lo = min(lo, starts[j]) if j < k else lo
        new_hi = max(hi, ends[k - 1]) if j < k else hi
        starts[j:k], ends[j:k] = [new_lo], [new_hi]
    return out
