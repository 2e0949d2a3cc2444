"""The tables of a run, as the layers above read them: a `typing.Protocol`, not a class.

Charts (viz/), the notebooks' glue (notebook/) and the generated prose read a run's tables and
nothing else, so they take any object with these attributes: a `cl.Run`, or a Run-shaped
namespace a test builds from numpy (a million records without running the engine). The table
columns are those of `sim/recorder.py` (the trace; buffer, segment and offsets snapshots) and
`sim/clients.py` (sent, received). The snapshot tables hold the *kept* states: every state of
the run while they fit the recorder's budget, else the state at every k-th step
(`snapshots_stride` = k) plus the states the prose reads.

Below the protocol, the few facts several layers read from those tables (what the buffer held
before a step, what fetch read, the most copies of an offset, the spans of offsets a buffer
holds and how many offsets it covers): one definition each, so a chart, a summary and a
sentence of prose can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = [
    "CheckedTables",
    "PatternTables",
    "RunTables",
    "ScenarioLike",
    "buffer_at",
    "distinct_offsets",
    "fetch_reads",
    "max_buffer_copies",
    "read_spans",
    "segments_at",
    "sampling_text",
    "state_at",
]


class ScenarioLike(Protocol):
    """What the layers above read of a scenario: the broker version it ran (`bugs`, as given,
    and `bug_set`, resolved), and the same workload under other switches (`with_bugs`)."""

    @property
    def bugs(self) -> object: ...
    @property
    def bug_set(self) -> frozenset[str]: ...
    def with_bugs(self, bugs: str | Iterable[str] | None) -> Any: ...


class PatternTables(Protocol):
    """What the charts read of a check: the pattern table (partition, offset and value runs)."""

    @property
    def pattern(self) -> pd.DataFrame: ...


@runtime_checkable
class RunTables(Protocol):
    """A run's tables: what was sent and received, every step, and the snapshots after them.

    Read-only properties, so a frozen dataclass (`cl.Run`) satisfies it as well as a
    namespace does. `snapshots_stride` is 1 when the snapshot tables hold every state of the
    run, k when they hold the state at every k-th step (see sim/recorder.py);
    `offset_resets` counts the consumer's resets after OFFSET_OUT_OF_RANGE (0 when the client
    resets out of the lab's sight); `consumer_capped` is True when the consumer's hard cap (on
    polls or on resets) stopped it, rather than the log having nothing more; `segment_ms` is
    the age at which the run's broker sealed (rotated) a segment.
    """

    @property
    def scenario(self) -> ScenarioLike: ...
    @property
    def sent(self) -> pd.DataFrame: ...
    @property
    def received(self) -> pd.DataFrame: ...
    @property
    def trace(self) -> pd.DataFrame: ...
    @property
    def buffer_snapshots(self) -> pd.DataFrame: ...
    @property
    def segment_snapshots(self) -> pd.DataFrame: ...
    @property
    def offsets_snapshots(self) -> pd.DataFrame: ...
    @property
    def snapshots_stride(self) -> int: ...
    @property
    def offset_resets(self) -> int: ...
    @property
    def consumer_capped(self) -> bool: ...
    @property
    def segment_ms(self) -> int: ...


class CheckedTables(RunTables, Protocol):
    """A run's tables and the checker's report on them (`cl.Run` is one)."""

    @property
    def report(self) -> PatternTables: ...


# -- facts read from the tables (by charts, summaries and prose alike) -----------------------


def sampling_text(run: RunTables) -> str | None:
    """'the state at every 512th step' for thinned snapshots, else None: the one wording
    charts and prose use for it."""
    stride = run.snapshots_stride
    return None if stride == 1 else f"the state at every {_ordinal(stride)} step"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"


def max_buffer_copies(buffer_snapshots: pd.DataFrame) -> int:
    """The most copies of one offset any kept buffer snapshot held (0: the buffer never held
    any). With thinned snapshots, the most among the states kept (`snapshots_stride`).

    A sweep over each snapshot's entries: +1 at an entry's first offset, -1 past its last; at
    equal positions the ends come first, so entries that only touch do not count as overlapping.
    """
    if buffer_snapshots.empty:
        return 0
    first = buffer_snapshots["first_offset"].to_numpy(np.int64)
    stop = buffer_snapshots["last_offset"].to_numpy(np.int64) + 1
    keys = [buffer_snapshots[c].to_numpy(np.int64) for c in ("partition", "step_index")]
    events = pd.DataFrame(
        {
            "partition": np.concatenate([keys[0], keys[0]]),
            "step_index": np.concatenate([keys[1], keys[1]]),
            "pos": np.concatenate([first, stop]),
            "delta": np.concatenate([np.ones_like(first), -np.ones_like(stop)]),
        }
    ).sort_values(["partition", "step_index", "pos", "delta"], kind="stable")
    depth = events.groupby(["partition", "step_index"])["delta"].cumsum()
    return int(depth.max())


def read_spans(held: pd.DataFrame) -> list[tuple[int, int]]:
    """The buffer's entries, in buffer order, as the spans of consecutive offsets fetch reads:
    an entry that continues the previous one (its first offset = the last + 1) joins it."""
    spans: list[tuple[int, int]] = []
    firsts, lasts = held["first_offset"].astype(int), held["last_offset"].astype(int)
    for lo, hi in zip(firsts, lasts, strict=True):
        if spans and lo == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    return spans


def distinct_offsets(held: pd.DataFrame) -> int:
    """How many offsets buffer entries (first_offset, last_offset) cover, each counted once: the
    union of their ranges."""
    firsts, stops = held["first_offset"].astype(int), held["last_offset"].astype(int) + 1
    spans = sorted(zip(firsts, stops, strict=True))
    total, end = 0, None
    for lo, hi in spans:
        if end is None or lo > end:
            total, end = total + hi - lo, hi
        elif hi > end:
            total, end = total + hi - end, hi
    return total


def state_at(run: RunTables, partition: int, step: int) -> pd.Series | None:
    """The offsets row of the kept snapshot that was the partition's state just before
    `step`; an empty Series when no state precedes it (nothing happened yet); None when that
    state is not in the snapshots (it fell between kept ones).

    Exact by `held_until` (the step the state next changed: it held until then) where the
    table has it; without it (tables from before thinning), every change is a row."""
    off = run.offsets_snapshots
    off = off[(off["partition"] == partition).to_numpy(bool) & (off["step_index"] < step)]
    if off.empty:
        # Before the first kept state: nothing had happened, unless states were dropped.
        return pd.Series(dtype=object) if run.snapshots_stride == 1 else None
    row = off.iloc[-1]
    if "held_until" in off.columns and int(row["held_until"]) < step:
        return None  # the state changed again before `step`, and that one was not kept
    return row


def buffer_at(run: RunTables, partition: int, step: int) -> pd.DataFrame | None:
    """The buffer's entries (first_offset, last_offset, count; in buffer order) just before
    `step`; None when that state is not recorded (`state_at`). Snapshots are change-only: the
    last buffer rows before `step` hold, unless the offsets table says the buffer was emptied
    after them."""
    if state_at(run, partition, step) is None:
        return None
    buf = run.buffer_snapshots
    buf = buf[(buf["partition"] == partition).to_numpy(bool) & (buf["step_index"] < step)]
    off = run.offsets_snapshots
    off = off[(off["partition"] == partition).to_numpy(bool) & (off["step_index"] < step)]
    emptied = off.loc[off["buffer_entries"] == 0, "step_index"]
    last = int(buf["step_index"].max()) if len(buf) else -1
    if last < 0 or (len(emptied) and int(emptied.max()) > last):
        return buf.iloc[:0][["first_offset", "last_offset", "count"]].reset_index(drop=True)
    state = buf[buf["step_index"] == last].sort_values("position")
    return state[["first_offset", "last_offset", "count"]].reset_index(drop=True)


def segments_at(run: RunTables, partition: int, step: int) -> pd.DataFrame | None:
    """The segment list (base_offset, last_offset, record_count, visible, sealed) just before
    `step`, empty when none was written yet; None when that state is not recorded."""
    if state_at(run, partition, step) is None:
        return None
    seg = run.segment_snapshots
    seg = seg[(seg["partition"] == partition).to_numpy(bool) & (seg["step_index"] < step)]
    seg = seg[seg["step_index"] == seg["step_index"].max()]
    return seg.drop(columns=["step_index", "step", "partition"]).reset_index(drop=True)


def fetch_reads(run: RunTables, partition: int) -> dict[str, int]:
    """Records fetch read per source over the run (from_buffer, from_segments), the fetches,
    and the first fetch's step (-1 without one). Read from the trace, which is never cut."""
    t = run.trace
    t = t[(t["partition"] == partition).to_numpy(bool)]
    steps = t["step"].to_numpy(object)
    count = t["count"].to_numpy(np.int64)
    buffer_steps = np.isin(steps, ["fetch_buffer", "fetch_phase2"])
    segment_steps = np.isin(steps, ["fetch_segments", "fetch_phase1"])
    polls = t.loc[steps == "poll", "step_index"]
    return {
        "fetches": int((steps == "fetch_response").sum()),
        "from_buffer": int(count[buffer_steps].sum()),
        "from_segments": int(count[segment_steps].sum()),
        "buffer_first": bool((steps == "fetch_buffer").any()),
        "first_fetch_step": int(polls.min()) if len(polls) else -1,
    }
