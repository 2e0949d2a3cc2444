"""Sweep: how duplication and loss vary with the client's batch split and the flush threshold.

Each cell of the grid (batch split x flush threshold x preset) is one run of the workload; the
result is one row per cell, ready for a heatmap. Like `explain`, it runs without trace, snapshots
or checker, and only counts what the consumer received.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from chronik_lab.checker.counts import outcome
from chronik_lab.errors import InvalidArgumentError
from chronik_lab.sim.scenario import Scenario, received_ids

__all__ = ["split_label", "sweep"]

COLUMNS = [
    "preset",
    "batch_split",
    "flush_batches",
    "sent",
    "received",
    "duplicates",
    "lost",
    "duplication_rate",
    "loss_rate",
]


def sweep(
    messages: int = 10,
    batch_splits: Iterable[Sequence[int] | None] = (None, (10,), (5, 5), (4, 6), (2, 8)),
    flush_thresholds: Iterable[int] = (1, 2, 3, 5, 10),
    presets: Iterable[str] = ("v0.7.5", "v0.7.6", "v1.0"),
    *,
    acks: int = -1,
    partitions: int = 1,
) -> pd.DataFrame:
    """One row per (preset, batch split, flush threshold): what came back, and the rates.

    duplication_rate = duplicates / sent (extra copies per message sent);
    loss_rate = lost / sent (share of the messages never received).
    """
    splits = _listed(batch_splits, "batch_splits")
    thresholds = _listed(flush_thresholds, "flush_thresholds")
    rows = []
    for preset in _listed(presets, "presets"):
        for split in splits:
            for flush in thresholds:
                scenario = Scenario(
                    messages=messages,
                    batch_sizes=split,
                    acks=acks,
                    bugs=preset,
                    flush_batches=flush,
                    partitions=partitions,
                    snapshots=False,
                )
                counts = outcome(received_ids(scenario), messages)
                rows.append(
                    {
                        "preset": preset,
                        "batch_split": split_label(scenario.batch_sizes, messages),
                        "flush_batches": flush,
                        "sent": messages,
                        **counts,
                        "duplication_rate": counts["duplicates"] / messages,
                        "loss_rate": counts["lost"] / messages,
                    }
                )
    return pd.DataFrame(rows, columns=COLUMNS)


def split_label(batch_sizes: Sequence[int] | None, messages: int) -> str:
    """ "4+6" for two requests of 4 and 6; "1×10" for ten single-message requests."""
    if batch_sizes is None:
        return f"1×{messages}"
    return "+".join(str(size) for size in batch_sizes)


def _listed(values: object, name: str) -> list:
    if isinstance(values, (str, bytes)) and name != "presets":
        raise InvalidArgumentError(f"{name} must be a list, not {values!r}")
    if isinstance(values, str):
        return [values]
    try:
        out = list(values)  # type: ignore[call-overload]
    except TypeError:
        raise InvalidArgumentError(f"{name} must be a list, not {values!r}") from None
    if not out:
        raise InvalidArgumentError(f"{name} must not be empty")
    return out
