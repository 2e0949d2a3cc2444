"""Sweep: how duplication and loss vary with the client's batch split and the flush threshold.

Each cell of the grid (batch split x flush threshold x preset) is one run of the workload; the
result is one row per cell, ready for a heatmap. Like `explain`, it runs without trace, snapshots
or checker, and only counts what the consumer received; like explain, the cells can run through
any `concurrent.futures.Executor` or a dask.distributed Client (chronik_lab.sim.executors).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait

import pandas as pd

from chronik_lab.checker.counts import outcome
from chronik_lab.sim.executors import Pool, progress_bar
from chronik_lab.sim.scenario import Scenario, received_records
from chronik_lab.sim.splits import split_label
from chronik_lab.validate import listed

__all__ = ["sweep"]

COLUMNS = [
    "preset",
    "batch_split",
    "flush_batches",
    "sent",
    "received",
    "duplicates",
    "redelivered",
    "lost",
    "duplication_rate",
    "loss_rate",
]


def sweep(
    messages: int = 10,
    batch_splits: Iterable[Sequence[int] | None] = (None, (10,), (5, 5), (4, 6), (2, 8)),
    flush_thresholds: Iterable[int] = (1, 2, 3, 5, 10),
    presets: Iterable[str] | str = ("v0.7.5", "v0.7.6", "v1.0"),
    *,
    acks: int = -1,
    partitions: int = 1,
    executor: object = None,
    max_workers: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """One row per (preset, batch split, flush threshold): what came back, and the rates.

    received, duplicates, redelivered, lost: `outcome`'s words (checker/counts.py);
    duplication_rate = duplicates / sent (extra copies per message sent);
    loss_rate = lost / sent (share of the messages never received).
    Every cell is validated (as a cl.Scenario) before the first one runs. `executor`,
    `max_workers` and `progress` as in `cl.explain`: None runs small grids in threads and large
    ones in a process pool; the table is the same whichever runs them.
    """
    splits = listed(batch_splits, "batch_splits")
    thresholds = listed(flush_thresholds, "flush_thresholds")
    labels = listed(presets, "presets", str_is_one=True)
    cells = [
        Scenario(
            messages=messages,
            batch_sizes=split,
            acks=acks,
            bugs=preset,
            flush_batches=flush,
            partitions=partitions,
            snapshots=False,
        )
        for preset in labels
        for split in splits
        for flush in thresholds
    ]
    presets_of = [preset for preset in labels for _ in range(len(splits) * len(thresholds))]
    results = _run_all(cells, executor, max_workers, progress)
    rows = []
    for preset, scenario, counts in zip(presets_of, cells, results, strict=True):
        rows.append(
            {
                "preset": preset,
                "batch_split": split_label(scenario.batch_sizes, messages),
                "flush_batches": scenario.flush_batches,
                "sent": messages,
                **{key: counts[key] for key in ("received", "duplicates", "redelivered", "lost")},
                "duplication_rate": counts["duplicates"] / messages,
                "loss_rate": counts["lost"] / messages,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def _cell_outcome(scenario: Scenario) -> dict[str, int]:
    return outcome(received_records(scenario), scenario.messages)


def _run_all(
    cells: list[Scenario], executor: object, max_workers: int | None, progress: bool
) -> list[dict[str, int]]:
    """Each cell's outcome, in the cells' order, whatever ran them."""
    out: list[dict[str, int] | None] = [None] * len(cells)
    pending: dict[Future, int] = {}
    with Pool(executor, max_workers) as pool, progress_bar(progress, len(cells), "cells") as bar:
        start = 0
        if not pool.decided:  # automatic: time the first cell here, then choose
            out[0], seconds = pool.time_first(_cell_outcome, cells[0])
            pool.decide(seconds * (len(cells) - 1))
            start = 1
            bar.update(1)
        try:
            queue = iter(range(start, len(cells)))
            for i in queue:
                pending[pool.submit(_cell_outcome, cells[i])] = i
                if len(pending) < pool.window:
                    continue
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    out[pending.pop(future)] = future.result()
                    bar.update(1)
            for future in list(pending):
                out[pending.pop(future)] = future.result()
                bar.update(1)
        finally:
            for future in pending:
                future.cancel()
    return out  # type: ignore[return-value]
