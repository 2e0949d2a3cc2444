"""The run's trace: one row per client or broker step, never cut or sampled; and `frame`,
which turns recorded rows into a DataFrame with the same dtypes whether there are rows or not.

The simulated clients call `Trace.client_row` before and after each request, which sets the
*context* (which produce request or poll the broker steps that follow belong to); the broker's
tracer gives `Trace.broker_row` one event per handler step; each fault the scenario's schedule
applies (a lost response, a reorder, a broker restart, a consumer crash or rebalance) is a row
of actor "nemesis" (Jepsen's name for the fault injector), `fault_row`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["TRACE_COLUMNS", "Trace", "frame"]

TRACE_COLUMNS = [
    "step_index",
    "request",
    "poll",
    "actor",
    "cause",
    "step",
    "topic",
    "partition",
    "first_offset",
    "last_offset",
    "count",
    "detail",
    "source",
    "fetch_offset",
    "time_ms",
]
_NULLABLE = {"request", "poll", "first_offset", "last_offset", "fetch_offset"}
_STRINGS = {"actor", "cause", "step", "topic", "detail", "source"}
_BOOLS = {"visible", "sealed"}


class Trace:
    """Every step of one run, in order, as tuples of `TRACE_COLUMNS` values.

    Invariants: `rows[i]` is step i (its first value is i); rows are only appended; every broker
    row carries the context -- (cause, request, poll) -- set by the last client row or
    `set_cause`. Not thread-safe.
    """

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.rows: list[tuple[Any, ...]] = []
        self.context: tuple[str, int | None, int | None] = ("setup", None, None)
        self.now: Callable[[], int] = lambda: 0  # the broker's clock, once attached

    def set_cause(self, cause: str) -> None:
        """Broker steps that follow belong to `cause` (e.g. "linger"), keeping the request."""
        self.context = (cause, self.context[1], self.context[2])

    def client_row(
        self,
        actor: str,
        step: str,
        ref: int,
        partition: int,
        span: tuple[int | None, int | None] | None,
        count: int,
        detail: str,
    ) -> None:
        """A producer (`ref` = request) or consumer (`ref` = poll) step; sets the context."""
        self.context = ("produce", ref, None) if actor == "producer" else ("fetch", None, ref)
        first, last = span if span is not None else (None, None)
        cause, request, poll = self.context
        row = (len(self.rows), request, poll, actor, cause, step, self.topic, partition)
        self.rows.append((*row, first, last, count, detail, None, None, self.now()))

    def fault_row(
        self, step: str, request: int | None, poll: int | None, partition: int, detail: str
    ) -> int:
        """A fault of the schedule (`step`: lost_ack, reorder, broker_restart, consumer_crash,
        rebalance), naming the request or poll it hit; returns the step's index."""
        index = len(self.rows)
        row = (index, request, poll, "nemesis", "fault", step, self.topic, partition)
        self.rows.append((*row, None, None, 0, detail, None, None, self.now()))
        return index

    def broker_row(self, event: dict[str, Any]) -> int:
        """The broker's step `event` (its tracer's dict); returns the step's index."""
        index = len(self.rows)
        cause, request, poll = self.context
        self.rows.append(
            (
                index,
                request,
                poll,
                "broker",
                cause,
                event["step"],
                self.topic,
                event["partition"],
                event["first_offset"],
                event["last_offset"],
                event["count"],
                event["detail"],
                event.get("source"),
                event.get("fetch_offset"),
                event["time_ms"],
            )
        )
        return index

    def frame(self) -> pd.DataFrame:
        return frame(TRACE_COLUMNS, self.rows)


def frame(columns: list[str], rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """A DataFrame with the same dtypes whether the run produced rows or not."""
    # One list comprehension per column: zip(*rows) would build the same columns but keeps the
    # cyclic GC busy with a tuple of every row (4x slower on a 100,000-step trace).
    values = [[row[i] for row in rows] for i in range(len(columns))]
    data: dict[str, Any] = {}
    for name, column in zip(columns, values, strict=True):
        if name in _NULLABLE:
            data[name] = _nullable_ints(column)
        elif name in _STRINGS:  # through Arrow: pd.array() checks each value (10x slower)
            data[name] = pd.array(pa.array(column, type=pa.large_string()), dtype="str")
        elif name in _BOOLS:
            data[name] = np.array(column, dtype=bool)
        else:
            data[name] = np.array(column, dtype=np.int64)
    return pd.DataFrame(data, copy=False)


def _nullable_ints(column: list[Any]) -> pd.api.extensions.ExtensionArray:
    """An Int64 array (None -> <NA>), built with numpy: pd.array() checks each value."""
    values = np.array(column, dtype=object)
    missing = np.equal(values, None)
    return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64), missing)
