"""Scenario (a client workload + a broker version) and `run(scenario) -> Run`.

A run creates a private broker, sends the planned produce requests, lets the consumer poll
(every `poll_every` requests, and once at the end), and records every step. Nothing depends on
wall time or unseeded randomness: the same scenario gives identical tables on every run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from chronik_lab import validate
from chronik_lab.bugs import BugSet, resolve_bugs
from chronik_lab.checker.verdict import CheckReport, check
from chronik_lab.engine.partition import BrokerConfig
from chronik_lab.errors import InvalidArgumentError, ScenarioError
from chronik_lab.sim import drivers
from chronik_lab.sim.clients import RESET_POLICIES, Consumer, plan_requests
from chronik_lab.sim.faults import DELIVERY_DEFAULTS, FAULT_FIELDS, Schedule, check_delivery
from chronik_lab.sim.operations import Operations
from chronik_lab.sim.recorder import Recorder
from chronik_lab.sim.session import Session
from chronik_lab.sim.splits import AUTO, MAX_MESSAGES, seed_sizes

__all__ = [
    "COMPAT",
    "MAX_PARTITIONS_PER_TOPIC",
    "SEED",
    "WORKLOAD_FIELDS",
    "Run",
    "Scenario",
    "run",
    "run_presets",
]

VERSIONS = ("v0.7.4", "v0.7.5", "v0.7.6", "v1.0")  # chronik's releases, oldest first
SNAPSHOT_ROW_LIMIT = 100_000  # per run, buffer + segment rows; beyond it the recorder thins
# The client workload of a Scenario: what an observation records, a notebook's and the CLI's
# workload parameters (the rest are the broker version and the run's own settings).
WORKLOAD_FIELDS = ("messages", "batch_sizes", "acks", "flush_batches")
MAX_PARTITIONS_PER_TOPIC = 1_000  # the server's limit too (wire/limits.py); the consumer polls each


@dataclass(frozen=True)
class Scenario:
    """A workload and a broker version. Fields are validated on creation.

    messages: how many messages the producer sends (ids 0..messages-1), at most MAX_MESSAGES
    batch_sizes: messages per produce request (must sum to messages); None = one per message;
        "auto" = the seed's requests continued, 4, 6, 4, 6, ... (`seed_sizes`)
    acks: 0, 1 or -1 (kafka-python's default is 1)
    bugs: a preset name ("v0.7.4", "v0.7.5", "v0.7.6", "v1.0", "fixed"), bug names, or None
    flush_batches: the broker flushes when this many batches are pending
    partitions: partitions of the topic, at most MAX_PARTITIONS_PER_TOPIC; messages go
        round-robin, or by key when `keyed`
    seed: where the round-robin starts (Kafka's partitioner starts at a random partition);
        the only source of variation, so a seed fixes a run completely
    topic: the topic name
    linger_ms: when set, the broker flushes after linger_ms and the producer waits that long
        (simulated) between requests
    flush_ms: how long (simulated) a flush's segment write takes; with linger_ms moving the
        clock, later requests arrive while a flush is in flight (0 = flushes complete at once)
    poll_every: when set, the consumer also drains after every poll_every requests
    max_records: the consumer's max_poll_records
    keyed: key each message by str(id) and partition by crc32(key)
    auto_offset_reset: where the consumer goes after OFFSET_OUT_OF_RANGE: "earliest" (the log
        start, kafka-python's setting in chronik's compat test), "latest" (the high watermark)
        or "none" (that partition's consumption ends)
    snapshots: record buffer / segment / offsets snapshots (off makes a run cheaper)
    idempotence, retries, max_in_flight: the producer's delivery settings (Kafka's
        enable.idempotence, retries, max.in.flight.requests.per.connection)
    lost_acks, broker_restarts, reordered: the producer side's fault schedule (1-based request
        numbers, in send order; broker_restarts: before that request, or requests + 1)
    commit: None (a plain consumer), "after", "before" or "auto": a consumer group's commits
    consumer_crashes, rebalances: the consumer side's fault schedule (1-based poll numbers)
    (sim/faults.py says exactly what each of these does)
    """

    messages: int = 10
    batch_sizes: tuple[int, ...] | None = None
    acks: int = 1
    bugs: str | tuple[str, ...] | None = "fixed"
    flush_batches: int = 10
    partitions: int = 1
    seed: int = 0
    topic: str = "chronik-test"
    linger_ms: int | None = None
    flush_ms: int = 0
    poll_every: int | None = None
    max_records: int = 500
    keyed: bool = False
    snapshots: bool = True
    auto_offset_reset: str = "earliest"
    idempotence: bool = False
    retries: int = 0
    max_in_flight: int = 1
    lost_acks: tuple[int, ...] = ()
    broker_restarts: tuple[int, ...] = ()
    reordered: tuple[int, ...] = ()
    commit: str | None = None
    consumer_crashes: tuple[int, ...] = ()
    rebalances: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        validate.int_between(self.messages, "messages", 1, MAX_MESSAGES, ScenarioError)
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "batch_sizes", _batch_sizes(self.batch_sizes, self.messages))
        validate.acks_value(self.acks, ScenarioError)
        set_(self, "bugs", _bugs(self.bugs))
        _int(self.flush_batches, "flush_batches", 1)
        validate.int_between(
            self.partitions, "partitions", 1, MAX_PARTITIONS_PER_TOPIC, ScenarioError
        )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ScenarioError(f"seed must be an int, not {self.seed!r}")
        try:
            validate.topic_name(self.topic)
        except InvalidArgumentError as exc:
            raise ScenarioError(str(exc)) from None
        for name in ("linger_ms", "poll_every"):
            if getattr(self, name) is not None:
                _int(getattr(self, name), name, 0 if name == "linger_ms" else 1)
        _int(self.flush_ms, "flush_ms", 0)
        _int(self.max_records, "max_records", 1)
        for name in ("keyed", "snapshots"):
            if not isinstance(getattr(self, name), bool):
                raise ScenarioError(f"{name} must be True or False, not {getattr(self, name)!r}")
        if self.auto_offset_reset not in RESET_POLICIES:
            raise ScenarioError(
                f"auto_offset_reset must be one of {', '.join(RESET_POLICIES)}, "
                f"not {self.auto_offset_reset!r}"
            )
        requests = self.messages if self.batch_sizes is None else len(self.batch_sizes)
        for name, value in check_delivery(self, requests).items():
            set_(self, name, value)

    @property
    def schedule(self) -> Schedule:
        """The fault schedule as a run reads it (0-based)."""
        return Schedule.of(self)

    @property
    def faulty(self) -> bool:
        """Anything beyond a plain producer and consumer: delivery settings or faults."""
        return any(getattr(self, k) != v for k, v in DELIVERY_DEFAULTS.items())

    @property
    def bug_set(self) -> frozenset[str]:
        """The bug switches this scenario turns on."""
        return resolve_bugs(self.bugs)

    def with_bugs(self, bugs: str | Iterable[str] | None) -> Scenario:
        """The same workload on another broker version."""
        return dataclasses.replace(self, bugs=bugs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields (tuples as lists)."""
        out = dataclasses.asdict(self)
        for name in ("batch_sizes", "bugs", *FAULT_FIELDS):
            if isinstance(out[name], tuple):
                out[name] = list(out[name])
        return out


def _int(value: object, name: str, minimum: int) -> None:
    validate.int_at_least(value, name, minimum, ScenarioError)


def _batch_sizes(sizes: object, messages: int) -> tuple[int, ...] | None:
    if sizes is None:
        return None
    if sizes == AUTO:
        return seed_sizes(messages)
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):
        raise ScenarioError(f'batch_sizes must be None, "auto" or a list of ints, not {sizes!r}')
    sizes = tuple(sizes)
    for size in sizes:
        _int(size, "every batch size", 1)
    if sum(sizes) != messages:
        raise ScenarioError(f"batch_sizes {list(sizes)} sum to {sum(sizes)}, not {messages}")
    return sizes


def _bugs(bugs: object) -> str | tuple[str, ...] | None:
    """Keep a name as given (a preset reads better in charts); lists become sorted tuples."""
    if bugs is not None and not isinstance(bugs, (str, Iterable)):
        raise ScenarioError(f"bugs must be a preset name or bug names, not {bugs!r}")
    resolve_bugs(bugs)  # type: ignore[arg-type]  # raises UnknownBugError
    if bugs is None or isinstance(bugs, str):
        return bugs
    return tuple(sorted(set(bugs)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Run:
    """What one run of a scenario did. Tables are pandas DataFrames (see docs/DESIGN.md §3)."""

    scenario: Scenario
    sent: pd.DataFrame
    received: pd.DataFrame
    history: pd.DataFrame
    trace: pd.DataFrame
    buffer_snapshots: pd.DataFrame
    segment_snapshots: pd.DataFrame
    offsets_snapshots: pd.DataFrame
    report: CheckReport  # = cl.check(history)
    polls: int = 0  # fetches the consumer made (empty and failed ones included)
    consumer_capped: bool = False  # the hard cap on polls (or on resets) stopped the consumer
    failed_partitions: tuple[int, ...] = ()  # consumption ended on a fetch error
    offset_resets: int = 0  # positions the consumer reset after OFFSET_OUT_OF_RANGE
    snapshots_stride: int = 1  # 1: every state; k: the state at every k-th step (snapshots.py)
    segment_ms: int = BrokerConfig.segment_ms  # the broker's segment age limit (rotation)

    @property
    def received_ids(self) -> list[int]:
        return self.received["message_id"].tolist()

    def summary(self) -> dict[str, Any]:
        """A JSON-serialisable digest: the scenario, counts, and the received pattern."""
        report = self.report
        return {
            "scenario": self.scenario.to_dict(),
            "bug_set": sorted(self.scenario.bug_set),
            "sent": len(self.sent),
            "received": len(self.received),
            "distinct_received": int(self.received["message_id"].nunique()),
            "ok": bool(report.ok),
            "counts": {k: int(v) for k, v in report.counts.items()},
            "pattern": report.pattern_text(),
            "polls": self.polls,
            "consumer_capped": self.consumer_capped,
            "failed_partitions": list(self.failed_partitions),
            "offset_resets": self.offset_resets,
            "snapshots_stride": self.snapshots_stride,
        }

    def __repr__(self) -> str:
        ok = "ok" if self.report.ok else "anomalies"
        return (
            f"Run(bugs={self.scenario.bugs!r}, sent={len(self.sent)}, "
            f"received={len(self.received)}, {ok})"
        )


def run(scenario: Scenario, client: str | None = None, **options: Any) -> Run:
    """Run a scenario on a fresh private broker and check its history.

    client: None for the simulated clients; a registered driver's name (sim/drivers.py, e.g.
    "kafka-python") runs the same scenario through that real client, with `options` for it.
    """
    if not isinstance(scenario, Scenario):
        raise InvalidArgumentError(f"run() needs a cl.Scenario, not {type(scenario).__name__}")
    if client is not None:
        if scenario.faulty:  # a real client's retries and commits are its own configuration
            field = next(k for k, v in DELIVERY_DEFAULTS.items() if getattr(scenario, k) != v)
            raise ScenarioError(
                f"{field} is simulated only: run(scenario) without client= (a real client's "
                f"delivery settings are its own configuration)"
            )
        return drivers.lookup(client)(scenario, **options)
    if options:
        raise InvalidArgumentError(f"options {sorted(options)} need a client")
    history, consumer, recorder = _execute(scenario, trace=True)
    tables = recorder.tables() | history.tables()
    return Run(
        scenario=scenario,
        report=check(tables["history"]),
        polls=consumer.polls,
        consumer_capped=consumer.capped,
        failed_partitions=tuple(sorted(consumer.failed)),
        offset_resets=consumer.resets,
        segment_ms=consumer.broker.config.segment_ms,
        **tables,
    )


def received_ids(scenario: Scenario, bugs: BugSet | None = None) -> list[int]:
    """Only the message ids the consumer received: no trace, snapshots or check (for explain).
    `bugs`: a BugSet to run with instead of the scenario's (explain's records the switches read).
    """
    history, _, _ = _execute(scenario, trace=False, bugs=bugs)
    return history.received_ids()


def received_records(scenario: Scenario, bugs: BugSet | None = None) -> pd.DataFrame:
    """The records the consumer received (partition, offset as the client saw it, message_id),
    in order, with no trace, snapshots or check. Their `outcome` tells a record read again
    (redelivered) from an id written twice (duplicated), as `cl.check` does; the ids alone
    cannot. `bugs` as for `received_ids`."""
    return pd.DataFrame(received_columns(scenario, bugs))


def received_columns(scenario: Scenario, bugs: BugSet | None = None) -> dict[str, np.ndarray]:
    """`received_records` as its int64 columns, no DataFrame: what each of explain's runs
    needs for its `outcome`, where building a frame was a seventh of a run's cost."""
    history, _, _ = _execute(scenario, trace=False, bugs=bugs)
    return history.received_columns()


def run_presets(scenario: Scenario, presets: Iterable[str] = VERSIONS) -> dict[str, Run]:
    """The same workload on several broker versions, for before/after charts."""
    return {name: run(scenario.with_bugs(name)) for name in presets}


def _execute(
    scenario: Scenario, trace: bool, bugs: BugSet | None = None
) -> tuple[Operations, Consumer, Recorder]:
    s = scenario
    recorder = Recorder(s.topic, snapshots=trace and s.snapshots, limit=SNAPSHOT_ROW_LIMIT)
    hook = recorder.client_step if trace else None  # None: the clients build no detail text
    history = Operations()
    bug_set = BugSet(s.bug_set if bugs is None else bugs)
    session = Session(s, bug_set, history, recorder, hook, trace)
    try:
        plan = plan_requests(s.messages, s.batch_sizes, s.partitions, s.keyed, s.seed)
        for i, calls in enumerate(plan):
            session.before(i)
            session.producer.send(calls)
            if s.linger_ms is not None:
                recorder.set_cause("linger")
                session.broker.advance(s.linger_ms)
            if s.poll_every is not None and (i + 1) % s.poll_every == 0:
                session.consumer.drain()
        session.before(len(plan))
        session.producer.flush()
        session.consumer.drain()
    finally:
        session.close()  # close() flushes and seals: not part of the workload
    return history, session.consumer, recorder


SEED = Scenario(messages=10, batch_sizes=(4, 6), acks=-1, bugs="v0.7.5", flush_batches=2)
# chronik's compat-tests/test_single_partition_no_dup.py: ten single sends with kafka-python's
# default acks=1, then consume from earliest; it requires ids 0-9 at offsets 0-9 exactly.
COMPAT = Scenario(messages=10, batch_sizes=None, acks=1, bugs="v0.7.5", flush_batches=10)
