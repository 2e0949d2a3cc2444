"""The run recorder: every client and broker step of a run (trace.py), and the partition states
between them (snapshots.py).

The broker's tracer calls `Recorder.broker_step` from inside its handlers; the simulated clients
call `Recorder.client_step` before and after each request, which sets the context the broker
steps that follow belong to. A broker step that changes a partition's buffer, segments or
offsets gives that partition a new state, kept as a snapshot (see snapshots.py for which ones
and how the budget thins them).
"""

from __future__ import annotations

from typing import Any

from chronik_lab.sim.snapshots import Snapshots
from chronik_lab.sim.trace import Trace

__all__ = ["Recorder"]


class Recorder:
    """A run's trace and snapshots, fed by the clients' hook and the broker's tracer.

    Invariants: every step is one trace row, never cut; a broker step is observed for a
    snapshot right after its row, so a snapshot's step index is its row's. While `enabled` is
    False, broker steps are not recorded (a closing broker's flushes are not the workload's).
    Not thread-safe: the wire server calls it under its request lock.
    """

    def __init__(self, topic: str, snapshots: bool = True, limit: int = 100_000) -> None:
        self.topic = topic
        self.enabled = True
        self.trace = Trace(topic)
        self.snapshots = Snapshots(topic, limit) if snapshots else None

    def attach(self, broker: Any) -> None:
        """Read `broker`'s clock and partitions (a live read-only view: `partition_states`);
        again after a restart, for the new broker that recovered the same data_dir."""
        if self.snapshots is not None:
            self.snapshots.attach(broker.partition_states)
        clock = broker.clock
        self.trace.now = lambda: clock.now_ms

    def fault(
        self,
        step: str,
        partition: int,
        detail: str,
        request: int | None = None,
        poll: int | None = None,
    ) -> None:
        """A fault of the scenario's schedule, as a trace row; after a broker restart (step
        "broker_restart", once the new broker is attached) the recovered state is a snapshot."""
        index = self.trace.fault_row(step, request, poll, partition, detail)
        if step == "broker_restart" and self.snapshots is not None:
            self.snapshots.observe((self.topic, partition), index, step)

    def set_cause(self, cause: str) -> None:
        """Broker steps that follow belong to `cause` (e.g. "linger"), keeping the request."""
        self.trace.set_cause(cause)

    def client_step(
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
        if step == "poll" and actor == "consumer" and self.snapshots is not None:
            self.snapshots.first_poll(partition, len(self.trace.rows))
        self.trace.client_row(actor, step, ref, partition, span, count, detail)

    def broker_step(self, event: dict[str, Any]) -> None:
        """The broker's tracer: one trace row, then a snapshot if the step changed the state."""
        if not self.enabled:
            return
        index = self.trace.broker_row(event)
        if self.snapshots is not None:
            self.snapshots.observe((event["topic"], event["partition"]), index, event["step"])

    def tables(self) -> dict[str, Any]:
        """The trace and the three snapshot tables (DataFrames), and `snapshots_stride`: the
        Run's fields from the recorder."""
        end = len(self.trace.rows)
        snapshots = self.snapshots or Snapshots(self.topic)  # none kept: empty tables
        return {"trace": self.trace.frame(), **snapshots.tables(end)}
