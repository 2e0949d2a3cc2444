"""Loss and duplication per chronik version, measured: the same workloads on every preset.

`measure_versions()` runs each workload of `WORKLOADS` (or yours) under each version and counts
what the consumer received; `describe_versions(table)` turns the counts into one sentence per
workload, so a notebook's prose states measured numbers, not the project notes' ("v0.7.4: 70%
loss, v0.7.5: 80% duplication, v0.7.6: 90% loss", for which no run log exists).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import pandas as pd

from chronik_lab.checker.counts import outcome
from chronik_lab.sim.scenario import COMPAT, SEED, VERSIONS, Scenario, received_records

__all__ = ["WORKLOADS", "describe_versions", "measure_versions"]

_SINGLE = dict(batch_sizes=None, bugs="fixed")
WORKLOADS: dict[str, Scenario] = {
    "seed (4+6, acks=-1, flush at 2 batches)": SEED,
    "compat test (10 single sends, acks=1, flush at 10)": COMPAT,
    "10 single sends, acks=-1, flush at 10": Scenario(
        messages=10, acks=-1, flush_batches=10, **_SINGLE
    ),
    "10 single sends, acks=-1, flush at 3": Scenario(
        messages=10, acks=-1, flush_batches=3, **_SINGLE
    ),
    "33 single sends, acks=-1, flush at 5": Scenario(
        messages=33, acks=-1, flush_batches=5, **_SINGLE
    ),
    # the release flush policy (100 batches): 1980 records wait, more than the buffer keeps
    "99 requests of 20, acks=1, flush at 100": Scenario(
        messages=1980, batch_sizes=(20,) * 99, acks=1, flush_batches=100, bugs="fixed"
    ),
}


def measure_versions(
    workloads: Mapping[str, Scenario] | None = None, versions: Iterable[str] = VERSIONS
) -> pd.DataFrame:
    """One row per (workload, version): sent, received, duplicates, lost and the two rates.

    duplication_rate = duplicates / sent; loss_rate = lost / sent; exact = ids 0..n-1, in order.
    """
    rows = []
    for name, scenario in (WORKLOADS if workloads is None else workloads).items():
        for version in versions:
            run = dataclasses.replace(scenario, bugs=version, snapshots=False)
            records = received_records(run)
            ids = records["message_id"].tolist()
            counts = outcome(records, run.messages)
            rows.append(
                {
                    "workload": name,
                    "version": version,
                    "sent": run.messages,
                    **counts,
                    "duplication_rate": counts["duplicates"] / run.messages,
                    "loss_rate": counts["lost"] / run.messages,
                    "exact": ids == list(range(run.messages)),
                }
            )
    return pd.DataFrame(rows)


def describe_versions(table: pd.DataFrame) -> str:
    """Markdown: one line per workload saying what each version lost or duplicated."""
    lines = []
    for workload, rows in table.groupby("workload", sort=False):
        parts = [f"{r.version} {_result(r)}" for r in rows.itertuples()]
        lines.append(f"- **{workload}**: " + "; ".join(parts) + ".")
    return "\n".join(lines)


def _result(row) -> str:
    if row.exact:
        return "exact"
    said = []
    if row.lost:
        said.append(f"loses {row.lost} of {row.sent} ({row.loss_rate:.0%})")
    if row.duplicates:
        said.append(f"duplicates {row.duplicates} ({row.duplication_rate:.0%})")
    return " and ".join(said) or "reorders"
