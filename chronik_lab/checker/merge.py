"""One report from the reports of disjoint parts of a history (the out-of-core and Dask checks).

Every anomaly the checker reports lives in one (topic, partition): duplicate, lost-write,
unseen and inconsistent-offsets compare ids and offsets of one partition; poll-skip and the
nonmonotonic types follow one process in one partition; offset gaps are holes in one partition's
offsets. So a history split by (topic, partition) into parts, each part holding whole partitions,
is checked exactly by checking each part alone: counts and stats add up (distinct ids are
distinct per partition), and the anomaly lists and spans are the parts' lists, one after another.

The parts come in the checker's partition order (topic text, then partition number: the order of
the in-memory check, whose topic codes follow sorted labels), so the first N anomalies of a type
over the whole history are the first N of the concatenated parts' first N.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from chronik_lab.checker.verdict import ANOMALY_TYPES, CheckReport

__all__ = ["cut_report", "merge_reports"]


def merge_reports(parts: list[CheckReport], sample: int | None) -> CheckReport:
    """The report of the whole history from its parts' reports, in partition order."""
    if len(parts) == 1:
        return parts[0]
    counts = {t: sum(p.counts[t] for p in parts) for t in ANOMALY_TYPES}
    stats = {k: sum(p.stats[k] for p in parts) for k in parts[0].stats}
    rows = {t: sum(p.rows[t] for p in parts) for t in ANOMALY_TYPES}
    anomalies = _concat([p.anomalies for p in parts])
    if len(anomalies):
        # Stable: within a type the parts' rows stay in partition order.
        order = pd.Categorical(anomalies["type"], categories=list(ANOMALY_TYPES)).codes
        anomalies = anomalies.iloc[pd.Series(order).argsort(kind="stable").to_numpy()]
        if sample is not None:
            anomalies = anomalies.groupby("type", sort=False).head(sample)
        anomalies = anomalies.reset_index(drop=True)
    pattern = _concat([p.pattern for p in parts])
    streams = _concat([p.streams for p in parts if p.streams is not None])
    return CheckReport(anomalies, counts, pattern, stats, rows, streams, sample)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if f is not None]
    filled = [f for f in frames if len(f)] or frames[:1]
    if len(filled) == 1:
        return filled[0].reset_index(drop=True)
    return pd.concat(filled, ignore_index=True)


def cut_report(report: CheckReport, sample: int | None) -> CheckReport:
    """`report` keeping the first `sample` anomalies of each type and spans of each stream."""
    if sample is None:
        return report
    keys = [c for c in ("topic", "partition", "process") if c in report.pattern.columns]
    pattern = report.pattern
    if len(pattern):
        pattern = pattern.groupby(keys, sort=False, dropna=False).head(sample)
    anomalies = report.anomalies
    if len(anomalies):
        anomalies = anomalies.groupby("type", sort=False).head(sample)
    return dataclasses.replace(
        report, anomalies=anomalies.reset_index(drop=True),
        pattern=pattern.reset_index(drop=True), sample=sample,
    )  # fmt: skip
