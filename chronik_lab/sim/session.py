"""A run's broker and clients, with the scenario's fault schedule applied (sim/faults.py).

`Session` picks the clients a scenario needs -- the plain producer and consumer of clients.py,
or the delivering producer (producer.py) and a group member (group.py) when the scenario sets
delivery fields or faults -- and restarts the broker where the schedule says. A restart lets
the broker answer what is in flight, then kills it: a new broker recovers the data_dir as the
killed process left its files (whatever it held only in memory is gone; a SIGKILL keeps what
was written to a file), and both clients talk to the new one. A scenario with restarts runs in
a private temporary data_dir, removed at the end.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from chronik_lab.bugs import BugSet
from chronik_lab.engine.broker import Broker
from chronik_lab.sim.clients import ClientHook, Consumer, Producer, poll_cap
from chronik_lab.sim.group import GroupConsumer
from chronik_lab.sim.operations import Operations
from chronik_lab.sim.producer import DeliveryProducer
from chronik_lab.sim.recorder import Recorder

__all__ = ["Session"]

_LOCK = shutil.ignore_patterns(".lock")  # held by the killed broker: the new one takes its own


class Session:
    """One run's broker (replaced at each restart) and its two clients.

    Invariants: `producer.broker` and `consumer.broker` are `broker`, the one open broker; the
    BugSet is the same object across restarts (explain records the switches a run reads). Not
    thread-safe.
    """

    def __init__(
        self,
        scenario: Any,
        bugs: BugSet,
        history: Operations,
        recorder: Recorder,
        hook: ClientHook | None,
        traced: bool,
    ) -> None:
        s = self.scenario = scenario
        self.schedule = s.schedule
        self.recorder = recorder
        self.bugs = bugs
        self.traced = traced
        restarts = bool(self.schedule.broker_restarts)
        self.data_dir = Path(tempfile.mkdtemp(prefix="chronik_lab-run-")) if restarts else None
        self.broker = self._open()
        fault = recorder.fault if traced else None
        self.producer = self._producer(history, hook, fault)
        self.consumer = self._consumer(history, hook, fault)

    def _open(self) -> Broker:
        s = self.scenario
        broker = Broker(
            data_dir=self.data_dir,
            bugs=self.bugs,
            flush_batches=s.flush_batches,
            linger_ms=s.linger_ms,
            flush_ms=s.flush_ms,
            tracer=self.recorder.broker_step if self.traced else None,
        )
        self.recorder.attach(broker)
        return broker

    def _producer(self, history: Operations, hook: ClientHook | None, fault: Any) -> Any:
        s = self.scenario
        if not (s.idempotence or s.max_in_flight > 1 or s.lost_acks or s.reordered):
            return Producer(self.broker, s.topic, s.acks, history, hook, keyed=s.keyed)
        return DeliveryProducer(
            self.broker,
            s.topic,
            s.acks,
            history,
            hook,
            keyed=s.keyed,
            retries=s.retries,
            max_in_flight=s.max_in_flight,
            idempotence=s.idempotence,
            lost=self.schedule.lost(),
            reordered=self.schedule.reordered,
            bugs=self.bugs,
            fault=fault,
        )

    def _consumer(self, history: Operations, hook: ClientHook | None, fault: Any) -> Consumer:
        s = self.scenario
        args = (self.broker, s.topic, s.partitions, s.max_records, history, hook)
        args += (poll_cap(s.messages), s.auto_offset_reset)
        if s.commit is None:
            return Consumer(*args)
        schedule = self.schedule
        return GroupConsumer(
            *args,
            commit=s.commit,
            crashes=schedule.consumer_crashes,
            rebalances=schedule.rebalances,
            fault=fault,
        )

    def before(self, step: int) -> None:
        """Before step `step` (0-based; the number of requests: the final consume): restart
        the broker if the schedule says so."""
        if step not in self.schedule.broker_restarts:
            return
        self.producer.settle()  # what is in flight reaches the broker first
        assert self.data_dir is not None  # a scenario with restarts has its own
        # The kill: the files as the killed process leaves them -- everything it wrote (each
        # write reaches the file before a request is answered), nothing it still held in
        # memory. The old broker is then closed on the copy it leaves behind, untraced.
        killed = Path(tempfile.mkdtemp(prefix="chronik_lab-run-"))
        shutil.copytree(self.data_dir, killed, dirs_exist_ok=True, ignore=_LOCK)
        self.recorder.enabled = False
        try:
            self.broker.close()
        finally:
            self.recorder.enabled = True
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir = killed
        self.broker = self._open()
        self.producer.broker = self.consumer.broker = self.broker
        if self.traced:  # one row per partition: each partition's chart marks it
            for p in range(self.scenario.partitions):
                detail = f"the broker is killed before step {step + 1} and recovers its data_dir"
                self.recorder.fault("broker_restart", p, detail)

    def close(self) -> None:
        """Close the broker (not part of the workload: the recorder is off) and remove a
        restarting run's data_dir."""
        self.recorder.enabled = False
        try:
            self.broker.close()
        finally:
            if self.data_dir is not None:
                shutil.rmtree(self.data_dir, ignore_errors=True)
