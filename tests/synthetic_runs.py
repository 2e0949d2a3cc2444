"""The tail shared by the synthetic million-record runs of the chart tests: the seed-shaped
pattern (ids 0..m-1 once, then the first half again) and the Run-like namespace the charts read."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd


def seed_shaped_run(
    messages: int,
    n_received: int,
    *,
    stride: int = 1,
    **tables: pd.DataFrame,
) -> SimpleNamespace:
    """A v0.7.5 Run stand-in over `tables` (sent, received, trace, buffer_snapshots,
    segment_snapshots, offsets_snapshots) whose pattern is 0..m-1 then 0..m/2-1 again.
    `stride`: thinned (the recorder's `snapshots_stride`)."""
    pattern = pd.DataFrame(
        {
            "partition": [0, 0],
            "offset_start": [0, messages],
            "offset_end": [messages - 1, n_received - 1],
            "value_start": [0, 0],
            "value_end": [messages - 1, messages // 2 - 1],
            "count": [messages, messages // 2],
        }
    )
    return SimpleNamespace(
        scenario=SimpleNamespace(bugs="v0.7.5"),
        report=SimpleNamespace(pattern=pattern),
        snapshots_stride=stride,
        offset_resets=0,
        consumer_capped=False,
        segment_ms=30_000,
        **tables,
    )
