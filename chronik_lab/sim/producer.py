"""The simulated producer with Kafka's delivery machinery: requests in flight, retries, and
the fault schedule's lost responses and reorders (sim/faults.py).

Each planned request is one or more *batches*, one per partition (what Kafka retries). A request
is *in flight* from its send until the broker handles it; at most `max_in_flight` are, and the
producer hands the oldest to the broker whenever the window is full, so with max_in_flight=1
every request is handled as it is sent (the plain producer of clients.py does the same faster).
`reordered` k: when request k is the oldest in flight and k+1 is right behind it, k+1 reaches
the broker first.

A lost response (`lost_acks`): the broker handled the request, the client never hears back and
times out. It retries each batch at the next step (before that step's request, after a broker
restart scheduled there), while it has `retries` left; a retry is the same batch again, and
a retry that times out too is retried before the step's request is sent. When
its retries are spent the client gives up: the send's outcome is unknown, `info` in the history.

History: one send op per batch the application sent, completed when its outcome is known --
ok with the offsets of the answer it got, info without offsets -- so a batch appended twice
(a retry after a lost response, without idempotence) is the same id at a new offset, and the
consumer sees a duplicate. The trace shows every attempt: `send` (the request reaches the
broker), `retry`, `resend` (the application's), `timeout`, `ack`, `gave_up`, and the nemesis
rows of the faults.

Client-side switches (cl.BUGS), each read at the one place its mechanism lives:
`retry_on_ambiguous_error` -- after giving up on an ambiguous outcome the *application* sends
the same ids again as a new send (KAFKA-13574: it cannot tell a timeout from a failure).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from chronik_lab.bugs import BugSet
from chronik_lab.engine.broker import Broker
from chronik_lab.sim.clients import ClientHook, ProduceCall
from chronik_lab.sim.operations import Operations

__all__ = ["Batch", "DeliveryProducer"]

FaultHook = Callable[..., None]


class Batch:
    """One partition's records of a request, as the producer retries them: the same ids, the
    same request number; `tries` counts its resends (retries and the first send's 0)."""

    __slots__ = ("call", "resend", "tries")

    def __init__(self, call: ProduceCall, resend: int = 0) -> None:
        self.call = call
        self.tries = 0
        self.resend = resend  # how often the application sent these ids again

    @property
    def request(self) -> int:
        return self.call.request


class DeliveryProducer:
    """The producer's window of requests in flight and its retries (see the module doc).

    Invariants: `window` holds at most `max_in_flight` requests, oldest first, each a list of
    batches sent together; a batch is in the window, waiting for its retry (`timed_out`), or
    done with an op in the history -- never two of these. Not thread-safe.
    """

    def __init__(
        self,
        broker: Broker,
        topic: str,
        acks: int,
        history: Operations,
        hook: ClientHook | None,
        *,
        keyed: bool,
        retries: int,
        max_in_flight: int,
        lost: Counter[int],
        reordered: frozenset[int],
        bugs: BugSet,
        fault: FaultHook | None,
    ) -> None:
        self.broker = broker
        self.topic = topic
        self.acks = acks
        self.history = history
        self.hook = hook if hook is not None else _silent
        self.fault = fault if fault is not None else _silent
        self.keyed = keyed
        self.retries = retries
        self.max_in_flight = max_in_flight
        self.lost = lost  # responses still to lose, per request; counts down
        self.reordered = set(reordered)  # each applies once
        self.bugs = bugs
        self.window: list[list[Batch]] = []
        self.timed_out: list[Batch] = []

    # -- what the scenario calls ----------------------------------------------------------
    def send(self, calls: list[ProduceCall]) -> None:
        """The application sends planned request `calls`. Retries due go first, as Kafka puts
        a retried batch at the head of its partition's queue: with one request in flight, a
        batch whose retry times out again is retried again before anything new is sent."""
        while self.timed_out:
            self._retry_due()
        self._enqueue([Batch(call) for call in calls])

    def settle(self) -> None:
        """Let the broker handle every request in flight (before a restart, and at the end);
        responses lost on the way stay due for a retry."""
        while self.window:
            self._deliver(self._take())

    def flush(self) -> None:
        """Deliver everything, retries included, until every batch has an outcome."""
        self.settle()
        while self.timed_out:
            self._retry_due()
            self.settle()

    # -- the window -----------------------------------------------------------------------
    def _enqueue(self, batches: list[Batch]) -> None:
        self.window.append(batches)
        while len(self.window) >= self.max_in_flight:
            self._deliver(self._take())

    def _retry_due(self) -> None:
        """Send the batches whose response was lost again, a request's batches together."""
        due, self.timed_out = self.timed_out, []
        by_request: dict[tuple[int, int], list[Batch]] = {}
        for b in due:
            by_request.setdefault((b.request, b.resend), []).append(b)
        for batches in by_request.values():
            self._enqueue(batches)

    def _take(self) -> list[Batch]:
        """The request the broker handles next: the oldest in flight, unless it is to be
        reordered after the next request, which is right behind it."""
        head = self.window[0]
        k = head[0].request
        if k in self.reordered and len(self.window) > 1 and self.window[1][0].request == k + 1:
            self.reordered.discard(k)
            for b in head:
                detail = f"request {k + 1} reaches the broker after request {k + 2}"
                self.fault("reorder", b.call.partition, detail, request=k)
            return self.window.pop(1)
        return self.window.pop(0)

    # -- one request at the broker --------------------------------------------------------
    def _deliver(self, batches: list[Batch]) -> None:
        request = batches[0].request
        results = [self._produce(b) for b in batches]
        if self.lost[request] > 0:  # the broker handled it; the response never arrives
            self.lost[request] -= 1
            for b in batches:
                ids = b.call.message_ids
                detail = f"the response to request {request + 1} (ids {ids[0]}-{ids[-1]}) is lost"
                self.fault("lost_ack", b.call.partition, detail, request=request)
            for b in batches:
                self._timed_out(b)
            return
        for b, result in zip(batches, results, strict=True):
            first, last = result.base_offset, result.last_offset
            detail = f"offsets {first}-{last}, hw {result.high_watermark}"
            n = len(b.call.message_ids)
            self.hook("producer", "ack", request, b.call.partition, (first, last), n, detail)
            self._done(b, "ok", first)

    def _produce(self, b: Batch) -> Any:
        call = b.call
        id_list = call.message_ids.tolist()
        step = "retry" if b.tries else "resend" if b.resend else "send"
        detail = f"ids {id_list[0]}-{id_list[-1]}, acks={self.acks}"
        detail += f", retry {b.tries} of {self.retries}" if b.tries else ""
        detail += f", sent again by the application ({b.resend})" if b.resend else ""
        self.hook("producer", step, call.request, call.partition, None, len(id_list), detail)
        keys = [b"%d" % i for i in id_list] if self.keyed else None
        values = [b'{"id": %d}' % i for i in id_list]
        return self.broker.produce(self.topic, call.partition, values, keys, acks=self.acks)

    def _timed_out(self, b: Batch) -> None:
        call = b.call
        if b.tries < self.retries:
            b.tries += 1
            detail = f"no response: retry {b.tries} of {self.retries} at the next step"
            self.hook("producer", "timeout", call.request, call.partition, None, 0, detail)
            self.timed_out.append(b)
            return
        detail = f"no response and no retries left ({self.retries}): outcome unknown"
        self.hook("producer", "gave_up", call.request, call.partition, None, 0, detail)
        self._done(b, "info", None)
        if self.bugs.retry_on_ambiguous_error:
            # KAFKA-13574: the application takes the timeout for a failure and sends the same
            # ids again -- a new send, which no broker can tell from new data.
            self.history.resent = True
            self.timed_out.append(Batch(call, b.resend + 1))

    def _done(self, b: Batch, type_: str, first: int | None) -> None:
        call = b.call
        op = self.history.next_op()
        self.history.add_send(op, type_, call.partition, call.request, first, call.message_ids)


def _silent(*args: object, **kwargs: object) -> None:
    return None
