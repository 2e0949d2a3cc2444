"""The lab's workload through a real Kafka client, against any broker: `record(bootstrap, ...)`.

The same plan as the simulated producer (`plan_requests`: message ids 0..n-1, values
`{"id": i}`, `batch_sizes` messages per request, round-robin over partitions): each planned
request leaves as exactly one record batch in one produce request per partition, in plan order
-- the engine's bugs depend on those boundaries and on when each flush happens.

Drivers that can close a batch at a planned boundary without waiting for its answer
(`send_requests`: kafka-python, aiokafka) keep up to PIPELINE_WINDOW planned requests in flight
on their one connection: Kafka answers a connection's requests in order, and the lab's server
handles them one at a time, so the broker sees the same requests in the same order as with a
flush after each, only without a round trip between them. The others (confluent-kafka: librdkafka
offers no way to end a batch but `flush()`) send each request as its sends and one `flush`. A
run with more than one partition, or with a pause between requests, waits for each request's
answer before the next, whatever the client.

Then a consumer assigned to every partition reads from earliest (chronik's compat test) until
`done(positions)` says the broker has nothing more at the consumer's positions (`cl.run` asks
its own server: the last fetch it answered for each partition was empty, at that position), or
it has seen nothing new for `idle_s` (the only end against another broker), or `cap` records,
or `deadline_s`.

What the client saw becomes a Jepsen-style history: a send is ok with the offset the broker
acknowledged, fail when the broker refused it (or it was never attempted), info when its fate is
unknown (a timeout, a lost connection, acks=0). When anything went wrong the Recording is
partial (`error` says what, in one line); consumption that ended on an error keeps every record
read before it. `received.server_offset` is empty: a client only ever sees its own offsets.
"""

from __future__ import annotations

import contextlib
import importlib
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from chronik_lab.checker.history import write_history
from chronik_lab.checker.writer import HistoryWriter
from chronik_lab.errors import InvalidArgumentError, one_line
from chronik_lab.sim.clients import decode_ids, encode_value, plan_requests, poll_cap
from chronik_lab.wire.outcomes import Outcome

__all__ = ["CLIENTS", "Recording", "fresh_topic", "record", "record_history"]

CLIENTS = {
    "kafka-python": ("chronik_lab.wire.client_kafka_python", "KafkaPythonClient", "kafka-python"),
    "confluent-kafka": ("chronik_lab.wire.client_confluent", "ConfluentClient", "confluent-kafka"),
    "aiokafka": ("chronik_lab.wire.client_aiokafka", "AiokafkaClient", "aiokafka"),
}
SEND_TIMEOUT_S = 15.0
PIPELINE_WINDOW = 16  # planned requests sent ahead of the oldest unanswered one
HISTORY = ["op_index", "process", "f", "type", "partition", "offset", "value"]


@dataclass(frozen=True)
class Recording:
    history: pd.DataFrame
    sent: pd.DataFrame
    received: pd.DataFrame
    polls: int
    capped: bool
    error: str | None  # None: every step went through

    @property
    def partial(self) -> bool:
        return self.error is not None


def fresh_topic() -> str:
    """A topic name no earlier run used (the time to the second and 16 random bits): records
    already in a topic would be read back into a run's history."""
    return f"chronik-lab-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def make_client(client: str, bootstrap: str, **options: Any) -> Any:
    if client not in CLIENTS:
        raise InvalidArgumentError(f"unknown client {client!r}; use one of {', '.join(CLIENTS)}")
    module, cls, package = CLIENTS[client]
    try:
        return getattr(importlib.import_module(module), cls)(bootstrap, **options)
    except ImportError:
        raise InvalidArgumentError(f"client {client!r} needs `pip install {package}`") from None


def record(
    bootstrap: str,
    topic: str = "chronik-test",
    messages: int = 10,
    batch_sizes: list[int] | tuple[int, ...] | None = None,
    acks: int = 1,
    client: str = "kafka-python",
    partitions: int = 1,
    *,
    keyed: bool = False,
    seed: int = 0,
    pause_ms: int | None = None,
    idle_s: float = 1.5,
    deadline_s: float = 60.0,
    cap: int | None = None,
    done: Callable[[dict[int, int | None]], bool] | None = None,
    history_writer: HistoryWriter | None = None,
    **client_options: Any,
) -> Recording:
    """Run the workload through `client` against the broker at `bootstrap`.

    done: asked after every poll that brought nothing, with the consumer's position in each
    partition (None: nothing received there yet, so the log start); True ends consumption.
    history_writer: the history's rows go there as they happen, not into `Recording.history`.
    """
    plan = plan_requests(messages, batch_sizes, partitions, keyed, seed)
    log = _Log(history_writer)
    window = 1 if pause_ms or partitions > 1 else PIPELINE_WINDOW
    with contextlib.closing(make_client(client, bootstrap, **client_options)) as driver:
        error = _produce(driver, topic, plan, acks, log, pause_ms, window)
        if error is None or log.any_ok:
            cap = poll_cap(messages) if cap is None else cap
            limits = _Limits(idle_s, deadline_s, cap, done)
            consume_error = _consume(driver, topic, partitions, log, limits)
            error = error or consume_error
    history, sent, received = log.tables()
    return Recording(history, sent, received, log.polls, log.capped, error)


def _produce(driver, topic, plan, acks, log: _Log, pause_ms, window: int) -> str | None:
    try:
        driver.open_producer(acks)
    except Exception as exc:  # noqa: BLE001 - unreachable broker, bad config: nothing sent
        for calls in plan:
            log.sends(calls, [Outcome("fail")] * sum(len(c.message_ids) for c in calls))
        return f"{driver.name} producer could not start: {one_line(exc)}"
    error = None

    def requests() -> Iterator[list[tuple[int, bytes]]]:
        for i, calls in enumerate(plan):
            if error is not None:  # the broker went away: the rest is never attempted
                return
            if pause_ms and i:
                time.sleep(pause_ms / 1000)
            yield [(c.partition, encode_value(m)) for c in calls for m in c.message_ids.tolist()]

    answered = 0
    try:
        for outcomes in _send(driver, topic, requests(), window):
            calls = plan[answered]
            answered += 1
            if acks == 0:  # the broker never says: unknown, whatever the client reports
                outcomes = [Outcome("info", None, o.error) for o in outcomes]
            log.sends(calls, outcomes)
            bad = [o for o in outcomes if o.type != "ok" and o.error]
            if bad and error is None:
                error = f"{driver.name}: send failed: {one_line(bad[0].error)}"
    finally:
        with contextlib.suppress(Exception):  # closing a producer whose broker is gone
            driver.close_producer()
    for calls in plan[answered:]:
        log.sends(calls, [Outcome("fail")] * sum(len(c.message_ids) for c in calls))
    return error


def _send(driver, topic, requests, window: int) -> Iterator[list[Outcome]]:
    """Each request's outcomes, in order: pipelined when the driver can keep boundaries so."""
    if hasattr(driver, "send_requests"):
        yield from driver.send_requests(topic, requests, SEND_TIMEOUT_S, window)
    else:
        for messages in requests:
            yield driver.send(topic, messages, SEND_TIMEOUT_S)


@dataclass(frozen=True)
class _Limits:
    idle_s: float
    deadline_s: float
    cap: int
    done: Callable[[dict[int, int | None]], bool] | None


def _consume(driver, topic, partitions, log: _Log, limits: _Limits) -> str | None:
    start = last = time.monotonic()

    def stop(records: list[tuple[int, int, bytes]]) -> bool:
        nonlocal last
        now = time.monotonic()
        if records:
            log.poll(records)
            last = now
        if log.received >= limits.cap:
            log.capped = True
            return True
        if not records and limits.done is not None and limits.done(log.positions(partitions)):
            return True
        return now - last >= limits.idle_s or now - start >= limits.deadline_s

    try:
        driver.consume(topic, partitions, stop)
    except Exception as exc:  # noqa: BLE001 - what was read so far stays in the history
        return f"{driver.name} consumer stopped: {one_line(exc)}"
    return None


class _Log:
    """Operations as they happen; `tables()` expands them into history, sent and received."""

    def __init__(self, writer: HistoryWriter | None = None) -> None:
        self.rows: list[tuple] = []  # op, process, f, type, partition, offset, value
        self.writer = writer  # when set, history rows go there instead of self.rows
        self.sent: list[tuple] = []  # message_id, partition, offset, request
        self.got: list[tuple] = []  # poll, partition, offset, message_id, op_index
        self.op = 0
        self.polls = 0
        self.received = 0
        self.capped = False
        self.any_ok = False
        self.last_offset: dict[int, int] = {}  # partition -> the last offset received there

    def sends(self, calls: list[Any], outcomes: list[Outcome]) -> None:
        it = iter(outcomes)
        for call in calls:
            for message_id in call.message_ids.tolist():
                o = next(it)
                self.any_ok |= o.type == "ok"
                offset = o.offset if o.type == "ok" else None
                self._row(self.op, "producer", "send", o.type, call.partition, offset, message_id)
                self.sent.append((message_id, call.partition, offset, call.request))
            self.op += 1

    def poll(self, records: list[tuple[int, int, bytes]]) -> None:
        ids = decode_ids(pa.array([r[2] for r in records], pa.binary())).tolist()
        previous = None
        for (partition, offset, _), message_id in zip(records, ids, strict=True):
            if partition != previous:  # one op per partition of a poll, as the simulation
                self.op += previous is not None
                previous = partition
            self._row(self.op, "consumer", "poll", "ok", partition, offset, message_id)
            self.got.append((self.polls, partition, offset, message_id, self.op))
        self.op += 1
        self.polls += 1
        self.received += len(records)
        for partition, offset, _ in records:
            self.last_offset[partition] = offset

    def _row(self, *row: Any) -> None:
        if self.writer is not None:
            self.writer.append(*row)
        else:
            self.rows.append(row)

    def positions(self, partitions: int) -> dict[int, int | None]:
        """Where the consumer reads next in each partition: after the last record it received
        there (a client moves its position so), None when nothing came yet (the log start)."""
        last = self.last_offset
        return {p: last[p] + 1 if p in last else None for p in range(partitions)}

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        history = pd.DataFrame(self.rows, columns=HISTORY)
        history["offset"] = _offsets(history["offset"])
        for name in ("op_index", "partition", "value"):
            history[name] = history[name].astype(np.int64)
        sent = pd.DataFrame(self.sent, columns=["message_id", "partition", "offset", "request"])
        sent["offset"] = _offsets(sent["offset"])
        received = pd.DataFrame(
            self.got, columns=["poll", "partition", "offset", "message_id", "op_index"]
        ).astype(np.int64)
        received.insert(3, "server_offset", pd.array([None] * len(received), dtype="Int64"))
        return history, sent, received


def _offsets(column: pd.Series) -> Any:
    """int64 like the simulation's tables, or nullable Int64 when some offset is unknown."""
    values = pd.array(column.tolist(), dtype="Int64")
    return values if values.isna().any() else values.astype(np.int64)


def record_history(path: str | Path, bootstrap: str, **workload: Any) -> Recording:
    """`record(...)` and write its history to `path` (.csv, .parquet, .jsonl), partial or not:
    what a partial run saw is never thrown away. A .parquet history is written as it happens,
    in row groups (HistoryWriter), and never held whole: its Recording's `history` is empty."""
    if Path(path).suffix.lower() != ".parquet":
        rec = record(bootstrap, **workload)
        write_history(rec.history, path)
        return rec
    with HistoryWriter(path) as writer:
        return record(bootstrap, history_writer=writer, **workload)
