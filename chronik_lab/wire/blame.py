"""Which fault caused what: a run's anomalies and indeterminate sends matched to its faults.

Faults are intervals (`fault_intervals`): a kill lasts until its restart, a pause until its
resume, a blackhole until its end; the request faults (drop-response, reset-before, reset-after,
delay) are instants. A send is blamed on the faults that overlap its life, from the moment the
client was handed its message to the moment its outcome was known -- a lost acknowledgement
happens inside that window, and a retry that duplicates it ends it. An anomaly with no send of
its own (a poll that went backwards) is blamed on the last fault before the poll.

Only time is used: with several producers, a fault inside one send's window may have hit
another's request. Nothing here changes the checker's verdict; it annotates it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["anomaly_causes", "fault_intervals", "info_sends", "run_end"]

# A fault's start kind -> the kind that ends it.
ENDS = {"kill": "restart", "pause": "resume", "blackhole": "blackhole-end"}
INTERVAL_COLUMNS = ["start_s", "end_s", "kind", "action", "spec"]
CAUSE_COLUMNS = ["type", "partition", "value", "cause", "fault_s", "spec", "action"]


def fault_intervals(faults: pd.DataFrame, run_end_s: float | None = None) -> pd.DataFrame:
    """One row per fault: when it started and ended (an instant: both the same). A fault never
    ended (the run stopped first) lasts until `run_end_s`, or its start."""
    rows, open_ = [], {}
    for e in faults.sort_values("time_s", kind="stable").itertuples(index=False):
        if e.kind in ENDS:
            open_[ENDS[e.kind]] = len(rows)
            rows.append([e.time_s, e.time_s if run_end_s is None else run_end_s, e.kind,
                         e.action, e.spec])  # fmt: skip
        elif e.kind in open_:
            rows[open_.pop(e.kind)][1] = e.time_s
        elif e.kind not in ENDS.values():
            rows.append([e.time_s, e.time_s, e.kind, e.action, e.spec])
    return pd.DataFrame(rows, columns=INTERVAL_COLUMNS)


def info_sends(rec) -> pd.DataFrame:
    """Each indeterminate send: whether any reader saw its id (`written`), and the fault that
    overlaps it (`cause`, None: unexplained)."""
    info = rec.sent[rec.sent["type"] == "info"].copy()
    seen = set(rec.received["message_id"].tolist())
    info["written"] = info["message_id"].isin(seen)
    intervals = fault_intervals(rec.faults, run_end(rec))
    causes = [_overlapping(intervals, s.invoked_s, s.completed_s) for s in info.itertuples()]
    info["cause"] = [None if c is None else c.kind for c in causes]
    info["fault_s"] = [np.nan if c is None else c.start_s for c in causes]
    return info.reset_index(drop=True)


def anomaly_causes(rec, report) -> pd.DataFrame:
    """Each anomaly of `report` (the checker's, on `rec.history`) with the fault that caused it:
    the first fault overlapping its message's send, else the last fault before the operation
    that shows it; `cause` None when no fault is near."""
    intervals = fault_intervals(rec.faults, run_end(rec))
    sends = rec.sent.groupby("message_id")
    ops = rec.history.set_index("op_index")["time"] / 1e9
    rows = []
    for a in report.anomalies.itertuples(index=False):
        fault = None
        if pd.notna(a.value) and int(a.value) in sends.groups:
            for s in sends.get_group(int(a.value)).itertuples():
                fault = fault or _overlapping(intervals, s.invoked_s, s.completed_s)
        if fault is None:
            times = [ops.get(op) for op in list(a.op_indexes) if op in ops.index]
            fault = _before(intervals, max(times)) if times else None
        rows.append([a.type, a.partition, a.value, None if fault is None else fault.kind,
                     np.nan if fault is None else fault.start_s,
                     None if fault is None else fault.spec,
                     None if fault is None else fault.action])  # fmt: skip
    return pd.DataFrame(rows, columns=CAUSE_COLUMNS)


def run_end(rec) -> float:
    """The time of the last send or read of `rec`, in seconds since the run began."""
    times = [rec.sent["completed_s"].max(), rec.received["time_s"].max()]
    return float(np.nanmax([t for t in times if pd.notna(t)] or [0.0]))


def _overlapping(intervals: pd.DataFrame, start: float, end: float):
    hit = intervals[(intervals["start_s"] <= end) & (intervals["end_s"] >= start)]
    return None if hit.empty else next(hit.itertuples(index=False))


def _before(intervals: pd.DataFrame, at: float):
    hit = intervals[intervals["start_s"] <= at]
    return None if hit.empty else next(hit.iloc[::-1].itertuples(index=False))
