"""`record_faults(...)`: a workload through real clients, through faults, as a Jepsen-style history.

The run, in order:
1. the broker: started from `broker_cmd` (waited for at `broker_ready`) or found at `bootstrap`;
   one that never accepts a connection is the only error (BrokerUnreachableError);
2. the topic is created (CreateTopics; an existing one is kept), then the fault proxy starts in
   front of the broker with the request and byte faults, and the nemesis with the process faults;
3. `producers` threads send message ids 0..messages-1 (producer k the ids k, k+P, ...; id i to
   partition i mod `partitions`) in chunks of `chunk`, each waiting for its chunk's outcomes, with
   the client's own retry and idempotence settings (`producer_config` in its own names); while
   `consumers` threads poll every partition from the beginning through the proxy. A consumer that
   fails is replaced by a new process (`consumer-0`, then `consumer-0.1`), as Jepsen does;
4. then everything heals -- the nemesis ends (the broker restarted, not paused), the proxy
   applies no more faults -- and a final reader (`final`) reads every partition from the beginning,
   straight from the broker, until it has passed every acknowledged offset and seen nothing new
   for `idle_s` (Jepsen's final polls), or `deadline_s` passed;
5. the proxy and the broker stop; nothing started here is left running, on an error or Ctrl-C
   too.

The history (`FaultRecording.history`): one row per record a send or a poll touched, Jepsen's
types (ok / fail / info, outcomes.py), process names as above, a `time` column (ns since the run
began, a send's time is when its outcome was known), and one row per fault applied, of process
`nemesis` (`f` the fault's kind: drop-response, reset-after, delay, blackhole, blackhole-end,
kill, restart, pause, resume). `sent` keeps each send's invoke and completion times,
`faults` each fault's details (connection, API, correlation id, what was done).

A `.parquet` `history_path` is written as the run goes (HistoryWriter, a row group at least every
FLUSH_S): Ctrl-C and SIGTERM finish the file; after a kill -9 its row groups are in PATH.parts/,
which `chronik-lab check` reads as a directory history.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from chronik_lab import validate
from chronik_lab.checker.history import write_history
from chronik_lab.checker.writer import HistoryWriter
from chronik_lab.errors import InvalidArgumentError, one_line
from chronik_lab.sim.clients import decode_ids, encode_value
from chronik_lab.wire.configs import client_config
from chronik_lab.wire.faults import FaultSpec, parse_faults
from chronik_lab.wire.nemesis import BrokerProcess, BrokerUnreachableError, Nemesis, reachable
from chronik_lab.wire.outcomes import Outcome
from chronik_lab.wire.proxy import FaultEvent, Proxy
from chronik_lab.wire.workload import CLIENTS, fresh_topic, make_client

__all__ = ["FaultRecording", "record_faults"]

REACH_TIMEOUT_S = 10.0
RETRY_PAUSE_S = 0.2
# A streamed history writes its waiting rows at least this often (a row group each, HistoryWriter),
# so a recorder killed with kill -9 loses at most this long's rows: the rest is in PATH.parts/.
FLUSH_S = 1.0
NS = 1_000_000_000
TIME = "time"
SENT_COLUMNS = ["message_id", "process", "partition", "type", "offset", "invoked_s",
                "completed_s", "error"]  # fmt: skip


@dataclass(frozen=True)
class FaultRecording:
    """What a run under faults saw; `notes` says what went wrong beside the faults themselves
    (a consumer replaced, a restart that failed), never a reason to discard the history."""

    history: pd.DataFrame
    sent: pd.DataFrame  # SENT_COLUMNS: message_id, process, partition, type, offset, ...
    received: pd.DataFrame  # process, partition, offset, message_id, time_s, final
    faults: pd.DataFrame  # time_s, kind, action, connection, api, correlation_id, spec
    notes: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def operations(self) -> pd.DataFrame:
        """The history without its nemesis rows."""
        return self.history[self.history["process"] != "nemesis"].reset_index(drop=True)


def record_faults(
    bootstrap: str | None = None,
    *,
    faults: Sequence[str | FaultSpec] = (),
    seed: int = 0,
    client: str = "kafka-python",
    topic: str | None = None,
    messages: int = 200,
    partitions: int = 1,
    producers: int = 1,
    consumers: int = 1,
    acks: int = -1,
    chunk: int = 10,
    pace_ms: int = 0,
    producer_config: dict[str, Any] | None = None,
    consumer_config: dict[str, Any] | None = None,
    broker_cmd: str | Sequence[str] | None = None,
    broker_ready: str | None = None,
    broker_log: str | Path | None = None,
    send_timeout_s: float = 30.0,
    idle_s: float = 1.0,
    deadline_s: float = 120.0,
    history_path: str | Path | None = None,
) -> FaultRecording:
    """Run the workload through `client` under `faults` (see the module doc). `topic` None: a
    fresh topic for this run (`workload.fresh_topic`), so that no earlier run's records
    are read back as this one's."""
    specs = parse_faults(list(faults))
    topic = topic if topic is not None else fresh_topic()
    if client not in CLIENTS:
        raise InvalidArgumentError(f"unknown client {client!r}; use one of {', '.join(CLIENTS)}")
    for name, value in (("messages", messages), ("partitions", partitions),
                        ("producers", producers), ("chunk", chunk)):  # fmt: skip
        validate.positive_int(value, name)
    validate.non_negative_int(consumers, "consumers")
    validate.non_negative_int(pace_ms, "pace_ms")
    configs = {
        "producer_config": client_config(client, "producer", producer_config),
        "consumer_config": client_config(client, "consumer", consumer_config),
    }
    process = [s for s in specs if s.family == "process"]
    if process and broker_cmd is None:
        raise InvalidArgumentError(f"{process[0].text}: process faults need broker_cmd")
    upstream = broker_ready or bootstrap
    if upstream is None:
        raise InvalidArgumentError("give bootstrap (HOST:PORT) or broker_ready with broker_cmd")
    run = _Run(client, topic, messages, partitions, acks, chunk, pace_ms, configs, send_timeout_s)
    streamed = history_path is not None and Path(history_path).suffix.lower() == ".parquet"
    with contextlib.ExitStack() as stack:
        if streamed:  # row groups written as the run goes; finished on an error or Ctrl-C too
            run.writer = stack.enter_context(HistoryWriter(history_path, time=True))
        broker = None
        if broker_cmd is not None:
            broker = stack.enter_context(BrokerProcess(broker_cmd, upstream, log_path=broker_log))
        elif not reachable(upstream, REACH_TIMEOUT_S):
            raise BrokerUnreachableError(upstream, REACH_TIMEOUT_S)
        _create_topic(upstream, topic, partitions)
        run.origin = time.monotonic()
        request_faults = [s for s in specs if s.family != "process"]
        proxy = stack.enter_context(
            Proxy(upstream, request_faults, seed, origin=run.origin, on_event=run.fault)
        )
        nemesis = None
        if broker is not None:
            nemesis = Nemesis(broker, process, seed, origin=run.origin, on_event=run.fault)
            stack.callback(nemesis.stop)  # on an error: no fault after the broker stopped
            nemesis.start()
        run.workload(proxy.bootstrap, producers, consumers)
        if nemesis is not None:
            _heal(nemesis, run)
        proxy.heal()
        run.final_read(upstream, idle_s, deadline_s)
    settings = {"client": client, "faults": [s.text for s in specs], "seed": seed,
                "messages": messages, "producers": producers, "consumers": consumers,
                "acks": acks, **configs}  # fmt: skip
    rec = run.recording(settings)
    if history_path is not None and not streamed:
        write_history(rec.history, history_path)
    return rec


def _with_offset(o: Outcome) -> Outcome:
    """An acknowledgement without an offset is info: the write happened (a broker answers
    DUPLICATE_SEQUENCE_NUMBER, which clients report as success with offset -1, for a batch an
    earlier try wrote; acks=0 never answers) but where is unknown, and a history's ok send
    names its offset."""
    if o.type == "ok" and o.offset is None:
        return Outcome("info", None, o.error or "acknowledged without an offset")
    return o


def _heal(nemesis: Nemesis, run: _Run) -> None:
    try:
        nemesis.heal()
    except BrokerUnreachableError as exc:
        run.note(f"the broker did not come back after the faults: {one_line(exc)}")
    if nemesis.error is not None:
        run.note(f"the nemesis stopped: {one_line(nemesis.error)}")


def _create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create `topic` with `partitions` (Tansu does not create topics on first use); an existing
    topic is kept as it is."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


class _Run:
    """The run's threads and what they saw. Every append holds `lock`; `op` numbers operations
    in the order they were appended, which is their time order."""

    def __init__(self, client, topic, messages, partitions, acks, chunk, pace_ms, configs,
                 send_timeout_s) -> None:  # fmt: skip
        self.client, self.topic, self.messages = client, topic, messages
        self.partitions, self.acks, self.chunk, self.pace_ms = partitions, acks, chunk, pace_ms
        self.configs, self.send_timeout_s = configs, send_timeout_s
        self.origin = time.monotonic()
        self.lock = threading.Lock()
        self.rows: list[tuple] = []  # op, process, f, type, partition, offset, value, time
        self.sent: list[tuple] = []
        self.got: list[tuple] = []
        self.events: list[FaultEvent] = []
        self.notes: list[str] = []
        self.op = 0
        self.writer: HistoryWriter | None = None  # when set, each row is also written there
        self.flushed = time.monotonic()
        self.producing = threading.Event()  # cleared: the consumers stop
        self.halt = threading.Event()  # set: the producers stop early (an error, Ctrl-C)

    def now(self) -> float:
        return time.monotonic() - self.origin

    def note(self, text: str) -> None:
        with self.lock:
            if len(self.notes) < 100:
                self.notes.append(text)

    def fault(self, event: FaultEvent) -> None:
        with self.lock:
            self.events.append(event)
            self._row("nemesis", event.kind, "info", None, None, None, event.time_s)
            self.op += 1

    def _row(self, process: str, f: str, type_: str, partition: int | None, offset: int | None,
             value: int | None, at_s: float) -> None:  # fmt: skip
        """One history row at op `self.op` (the caller holds the lock)."""
        row = (self.op, process, f, type_, partition, offset, value, int(at_s * NS))
        self.rows.append(row)
        if self.writer is not None:
            self.writer.append(*row[:7], time=row[7])
            if time.monotonic() - self.flushed >= FLUSH_S:
                self.writer.flush()
                self.flushed = time.monotonic()

    # -- the workload ---------------------------------------------------------------------
    def workload(self, bootstrap: str, producers: int, consumers: int) -> None:
        self.producing.set()
        readers = [
            threading.Thread(target=self._consumer, args=(bootstrap, k), daemon=True)
            for k in range(consumers)
        ]
        writers = [
            threading.Thread(target=self._producer, args=(bootstrap, k, producers), daemon=True)
            for k in range(producers)
        ]
        for t in [*readers, *writers]:
            t.start()
        try:
            for t in writers:
                t.join()
        finally:
            self.halt.set()
            self.producing.clear()
            for t in [*writers, *readers]:
                t.join(self.send_timeout_s + 5)

    def _driver(self, bootstrap: str) -> Any:
        return make_client(self.client, bootstrap, **self.configs)

    def _consume(self, bootstrap: str, stop: Any) -> None:
        """One reader from the beginning until `stop` says so; its client is closed after, on an
        error too (aiokafka's driver owns an event loop and its sockets)."""
        with contextlib.closing(self._driver(bootstrap)) as driver:
            driver.consume(self.topic, self.partitions, stop)

    def _producer(self, bootstrap: str, k: int, producers: int) -> None:
        name = f"producer-{k}"
        ids = list(range(k, self.messages, producers))
        driver = self._driver(bootstrap)
        try:  # every driver's close() closes its producer first
            try:
                driver.open_plain_producer(self.acks)
            except Exception as exc:  # noqa: BLE001 - nothing sent: every send failed, definitely
                self.note(f"{name} could not start: {one_line(exc)}")
                self._sends(name, ids, [Outcome("fail", None, one_line(exc))] * len(ids), 0.0)
                return
            for start in range(0, len(ids), self.chunk):
                if self.halt.is_set():
                    return
                part = ids[start : start + self.chunk]
                invoked = self.now()
                batch = [(i % self.partitions, encode_value(i)) for i in part]
                self._sends(name, part, driver.send(self.topic, batch, self.send_timeout_s),
                            invoked)  # fmt: skip
                if self.pace_ms:
                    time.sleep(self.pace_ms / 1000)
        finally:
            with contextlib.suppress(Exception):
                driver.close()

    def _sends(self, name: str, ids: list[int], outcomes: list[Outcome], invoked: float) -> None:
        completed = self.now()
        outcomes = [_with_offset(o) for o in outcomes]
        with self.lock:
            for message_id, o in zip(ids, outcomes, strict=True):
                partition = message_id % self.partitions
                offset = o.offset if o.type == "ok" else None
                self._row(name, "send", o.type, partition, offset, message_id, completed)
                self.sent.append((message_id, name, partition, o.type, offset, invoked,
                                  completed, o.error))  # fmt: skip
                self.op += 1

    def _consumer(self, bootstrap: str, k: int) -> None:
        for generation in range(1_000):
            name = f"consumer-{k}" + (f".{generation}" if generation else "")
            if not self.producing.is_set():
                return
            try:
                self._consume(
                    bootstrap,
                    lambda records, name=name: (
                        self._polled(name, records, False) or not self.producing.is_set()
                    ),
                )
                return
            except Exception as exc:  # noqa: BLE001 - a consumer the faults broke is replaced
                self.note(f"{name} stopped: {one_line(exc)}")
                time.sleep(RETRY_PAUSE_S)

    def _polled(self, name: str, records: list[tuple[int, int, bytes]], final: bool) -> bool:
        if not records:
            return False
        ids = decode_ids(pa.array([r[2] for r in records], pa.binary())).tolist()
        at = self.now()
        with self.lock:
            previous = None
            for (partition, offset, _), message_id in zip(records, ids, strict=True):
                if partition != previous and previous is not None:
                    self.op += 1  # one op per partition of a poll, as the simulation
                previous = partition
                self._row(name, "poll", "ok", partition, offset, message_id, at)
                self.got.append((name, partition, offset, message_id, at, final))
            self.op += 1
        return False

    # -- the final reads ------------------------------------------------------------------
    def final_read(self, bootstrap: str, idle_s: float, deadline_s: float) -> None:
        """Read every partition from the beginning until past every acknowledged offset and
        idle for `idle_s` (or `deadline_s`); a reader the broker drops is replaced."""
        with self.lock:
            acked = {}
            for _, _, partition, kind, offset, *_ in self.sent:
                if kind == "ok" and offset is not None:
                    acked[partition] = max(acked.get(partition, -1), offset)
        start = time.monotonic()
        for generation in range(100):
            name = "final" + (f".{generation}" if generation else "")
            seen: dict[int, int] = {}
            last = [time.monotonic()]

            def stop(records: list[tuple[int, int, bytes]], name: str = name,
                     seen: dict[int, int] = seen, last: list[float] = last) -> bool:  # fmt: skip
                now = time.monotonic()
                if records:
                    self._polled(name, records, True)
                    for partition, offset, _ in records:
                        seen[partition] = max(seen.get(partition, -1), offset)
                    last[0] = now
                passed = all(seen.get(p, -1) >= o for p, o in acked.items())
                idle = now - last[0]
                return (
                    (passed and idle >= idle_s)
                    or idle >= 10 * idle_s
                    or (now - start >= deadline_s)
                )

            try:
                self._consume(bootstrap, stop)
                return
            except Exception as exc:  # noqa: BLE001
                self.note(f"{name} stopped: {one_line(exc)}")
                if time.monotonic() - start >= deadline_s:
                    return
                time.sleep(RETRY_PAUSE_S)

    # -- the tables -----------------------------------------------------------------------
    def recording(self, settings: dict[str, Any]) -> FaultRecording:
        with self.lock:
            rows, sent, got, events = map(list, (self.rows, self.sent, self.got, self.events))
        history = pd.DataFrame(
            rows, columns=["op_index", "process", "f", "type", "partition", "offset", "value", TIME]
        )
        for name in ("partition", "offset", "value"):
            history[name] = pd.array(history[name].tolist(), dtype="Int64")
        sent_df = pd.DataFrame(sent, columns=SENT_COLUMNS)
        sent_df["offset"] = pd.array(sent_df["offset"].tolist(), dtype="Int64")
        received = pd.DataFrame(
            got, columns=["process", "partition", "offset", "message_id", "time_s", "final"]
        )
        faults = pd.DataFrame(
            [(e.time_s, e.kind, e.action, e.connection, e.api, e.correlation_id, e.spec)
             for e in events],
            columns=["time_s", "kind", "action", "connection", "api", "correlation_id", "spec"],
        )  # fmt: skip
        return FaultRecording(history, sent_df, received, faults, tuple(self.notes), settings)
