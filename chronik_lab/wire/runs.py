"""`cl.run(scenario, client=NAME)`: a Scenario through a real client against `serve()`.

The server gets the scenario's broker (bugs, flush_batches, linger_ms, flush_ms, partitions),
with the run recorder as the engine's tracer, so the Run has the same tables as a simulated one:
sent and received from what the client saw, the history for `cl.check`, and the buffer,
segment and offsets snapshots of the engine while it served the client. The trace's rows are
the broker's steps only (a real client's requests are not numbered by the lab) and `time_ms`
is wall-clock epoch milliseconds (see server.py on the clocks).

Each planned request reaches the engine as one produce request of one batch per partition, in
order (see workload.py). The consumer stops as the simulated one does, when a poll brings
nothing: here, when this server's last fetch answer for every partition was empty at the
consumer's position (`Server.caught_up`), so a run costs one empty fetch at its end, not an idle
timeout.

Differences from a simulated run: linger_ms is real time (the producer sleeps linger_ms between
requests, as the simulated one waits), poll_every is not supported (the consumer runs once,
after the producer), and a client that failed shows as a partial history plus a RuntimeWarning.
"""

from __future__ import annotations

import warnings
from typing import Any

from chronik_lab.checker.verdict import check
from chronik_lab.errors import ScenarioError
from chronik_lab.sim.recorder import Recorder
from chronik_lab.sim.scenario import SNAPSHOT_ROW_LIMIT, Run, Scenario
from chronik_lab.wire.server import Server
from chronik_lab.wire.workload import record

__all__ = ["run_with_client"]


def run_with_client(scenario: Scenario, client: str, **options: Any) -> Run:
    """Run `scenario` through the real `client` library (options go to the client)."""
    s = scenario
    if s.poll_every is not None:
        raise ScenarioError("poll_every is not supported with a real client")
    recorder = Recorder(s.topic, snapshots=s.snapshots, limit=SNAPSHOT_ROW_LIMIT)
    server = Server(
        bugs=s.bug_set,
        flush_batches=s.flush_batches,
        linger_ms=s.linger_ms,
        flush_ms=s.flush_ms,
        partitions=s.partitions,
        tracer=recorder.broker_step,
    )
    recorder.attach(server.broker)
    with server:
        rec = record(
            server.bootstrap,
            topic=s.topic,
            messages=s.messages,
            batch_sizes=s.batch_sizes,
            acks=s.acks,
            client=client,
            partitions=s.partitions,
            keyed=s.keyed,
            seed=s.seed,
            pause_ms=s.linger_ms,
            done=lambda positions: server.caught_up(s.topic, positions),
            **options,
        )
        with server.lock:
            recorder.enabled = False  # stop() flushes and seals: not part of the workload
    if rec.error is not None:
        warnings.warn(f"the run's history is partial: {rec.error}", RuntimeWarning, stacklevel=2)
    return Run(
        scenario=s,
        sent=rec.sent,
        received=rec.received,
        history=rec.history,
        report=check(rec.history),
        polls=rec.polls,
        consumer_capped=rec.capped,
        offset_resets=0,  # a real client resets its position inside itself, out of the lab's sight
        segment_ms=server.broker.config.segment_ms,
        **recorder.tables(),
    )
