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

History: one send op per batch the application sent, numbered when it sent it (so the history's
time order is the application's: a log that holds two sends in another order is Jepsen's
nonmonotonic-send) and completed when its outcome is known -- ok with the offsets of the answer
it got, info (or fail) without offsets -- so a batch appended twice
(a retry after a lost response, without idempotence) is the same id at a new offset, and the
consumer sees a duplicate. The trace shows every attempt: `send` (the request reaches the
broker), `retry`, `resend` (the application's), `timeout`, `ack`, `gave_up`, and the nemesis
rows of the faults.

Idempotence (`idempotence=True`, Kafka's KIP-98): the producer gets a producer id from the
broker (`Broker.init_producer_id`) and numbers each partition's batches by record, from 0, in
send order; a retry is the same batch with the same producer id, epoch and sequence, which the
broker answers with the original offsets (`ProduceResult.duplicate`). A batch that reaches the
broker ahead of an earlier one still in flight gets OUT_OF_ORDER_SEQUENCE_NUMBER and, as the
Java client does, is sent again behind it (it counts as a retry); with no earlier batch
unanswered the error is final (`fail`). DUPLICATE_SEQUENCE_NUMBER (a broker that keeps one
sequence, not a window) is success without offsets, as Kafka's producer reports it (offset
-1): the history says `info`, its ok sends carrying their offsets. An older epoch is final.

Client-side switches (cl.BUGS), each read at the one place its mechanism lives:
`retry_on_ambiguous_error` -- after giving up on an ambiguous outcome the *application* sends
the same ids again as a new send (KAFKA-13574: it cannot tell a timeout from a failure);
`epoch_bump_on_out_of_order` -- on OUT_OF_ORDER_SEQUENCE_NUMBER the producer lets what is in
flight reach the broker, bumps its epoch and numbers every unacknowledged batch from 0 again
(librdkafka#4953): a batch the broker appended whose response was lost is then a new batch to
any broker, written twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from chronik_lab.bugs import BugSet
from chronik_lab.engine.broker import Broker
from chronik_lab.errors import (
    DuplicateSequenceError,
    InvalidProducerEpochError,
    OutOfOrderSequenceError,
    ProducerError,
)
from chronik_lab.sim.clients import ClientHook, ProduceCall
from chronik_lab.sim.operations import Operations

__all__ = ["Batch", "DeliveryProducer"]

FaultHook = Callable[..., None]
SEQUENCE_WRAP = 2**31  # sequences are int32 and wrap to 0, as Kafka's do


class Batch:
    """One partition's records of a request, as the producer retries them: the same ids, the
    same request number, and (idempotent) the same epoch and base sequence -- given at its
    first send, given anew only by an epoch bump; `tries` counts its retries."""

    __slots__ = ("call", "epoch", "in_doubt", "op", "resend", "sequence", "tries")

    def __init__(self, call: ProduceCall, resend: int = 0) -> None:
        self.call = call
        self.tries = 0
        self.resend = resend  # how often the application sent these ids again
        self.epoch = 0
        self.sequence: int | None = None  # None: not numbered (yet, or not idempotent)
        self.in_doubt = False  # an attempt reached the broker and its response was lost
        self.op: int | None = None  # its op in the history: numbered when the application sent it

    @property
    def request(self) -> int:
        return self.call.request

    @property
    def partition(self) -> int:
        return self.call.partition


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
        idempotence: bool,
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
        self.idempotence = idempotence
        self.producer_id: int | None = None  # asked of the broker at the first send
        self.epoch = 0
        self.next_sequence: dict[int, int] = {}  # per partition
        self.bumping: list[Batch] | None = None  # during an epoch bump: what it must resend

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
        for b in batches:  # the history's time order is the application's send order
            if b.op is None:
                b.op = self.history.next_op()
        if self.idempotence:
            self._number(batches)
        self.window.append(batches)
        while len(self.window) >= self.max_in_flight:
            self._deliver(self._take())

    def _number(self, batches: list[Batch]) -> None:
        """A producer id, then a base sequence for each batch never numbered: the partition's
        next, after the records of the batches numbered before it."""
        if self.producer_id is None:
            self.producer_id, self.epoch = self.broker.init_producer_id()
        for b in batches:
            if b.sequence is None:
                b.epoch = self.epoch
                b.sequence = self.next_sequence.get(b.partition, 0)
                n = len(b.call.message_ids)
                self.next_sequence[b.partition] = (b.sequence + n) % SEQUENCE_WRAP

    def _retry_due(self) -> None:
        """Send the batches whose response was lost again, a request's batches together, in
        send order (an idempotent producer's sequences must reach the broker in order)."""
        due, self.timed_out = self.timed_out, []
        due.sort(key=_send_order)
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
        answers = [self._produce(b) for b in batches]
        if self.lost[request] > 0:  # the broker handled it; the response never arrives
            self.lost[request] -= 1
            for b in batches:
                ids = b.call.message_ids
                detail = f"the response to request {request + 1} (ids {ids[0]}-{ids[-1]}) is lost"
                self.fault("lost_ack", b.partition, detail, request=request)
            for b in batches:
                self._timed_out(b)
            return
        for b, answer in zip(batches, answers, strict=True):
            self._answered(b, answer)

    def _produce(self, b: Batch) -> Any:
        """Hand batch `b` to the broker: its answer, or the ProducerError it refused it with."""
        call = b.call
        id_list = call.message_ids.tolist()
        step = "retry" if b.tries else "resend" if b.resend else "send"
        detail = f"ids {id_list[0]}-{id_list[-1]}, acks={self.acks}"
        if b.sequence is not None:
            detail += f", producer {self.producer_id} epoch {b.epoch} sequence {b.sequence}"
        detail += f", retry {b.tries} of {self.retries}" if b.tries else ""
        detail += f", sent again by the application ({b.resend})" if b.resend else ""
        self.hook("producer", step, call.request, call.partition, None, len(id_list), detail)
        keys = [b"%d" % i for i in id_list] if self.keyed else None
        values = [b'{"id": %d}' % i for i in id_list]
        if b.sequence is None:
            return self.broker.produce(self.topic, call.partition, values, keys, acks=self.acks)
        try:
            return self.broker.produce(
                self.topic,
                call.partition,
                values,
                keys,
                acks=self.acks,
                producer_id=self.producer_id,
                producer_epoch=b.epoch,
                base_sequence=b.sequence,
            )
        except ProducerError as exc:
            return exc

    def _answered(self, b: Batch, answer: Any) -> None:
        """The response to batch `b` arrived: an ack, or the broker's refusal."""
        call, n = b.call, len(b.call.message_ids)
        if isinstance(answer, OutOfOrderSequenceError):
            self._out_of_order(b, answer)
        elif isinstance(answer, DuplicateSequenceError):
            detail = f"{answer}: already written, its offsets not said (Kafka reports -1)"
            self.hook("producer", "ack", call.request, call.partition, None, n, detail)
            self._done(b, "info", None)
        elif isinstance(answer, InvalidProducerEpochError):
            self._give_up(b, str(answer))  # fenced: no retry can mend it
        else:
            first, last = answer.base_offset, answer.last_offset
            detail = f"offsets {first}-{last}, hw {answer.high_watermark}"
            if getattr(answer, "duplicate", False):
                detail = f"a retry of a batch already written: its offsets {first}-{last}"
            self.hook("producer", "ack", call.request, call.partition, (first, last), n, detail)
            self._done(b, "ok", first)

    def _out_of_order(self, b: Batch, error: OutOfOrderSequenceError) -> None:
        """OUT_OF_ORDER_SEQUENCE_NUMBER: an earlier batch of the partition has not reached the
        broker yet (reordered behind this one), or the broker holds no sequence for it (a
        broker that knows no state of a producer accepts any sequence, as Kafka's does, so a
        reordered first batch leaves the real first one out of order)."""
        call = b.call
        self.hook("producer", "out_of_order", call.request, call.partition, None, 0, str(error))
        if self.bumping is not None:  # during an epoch bump's drain: it resends this one too
            self.bumping.append(b)
            return
        if b.tries >= self.retries:
            self._give_up(b, str(error))
            return
        b.tries += 1
        if self.bugs.epoch_bump_on_out_of_order:
            # librdkafka#4953: bump the epoch and renumber at once, batches in doubt included
            # -- one the broker wrote but never acknowledged is written again.
            self._bump_epoch(b, drain=True)
            return
        unanswered = self._in_flight() + self.timed_out
        earlier = [
            x
            for x in unanswered
            if x.partition == b.partition and x.sequence is not None and x.sequence < b.sequence
        ]
        if earlier:  # the Java client's way: send it again behind the earlier one
            self._requeue(b, earlier)
        elif b.in_doubt:  # written before, perhaps, and out of the broker's window now
            self._give_up(b, str(error))
        elif any(x.in_doubt for x in unanswered):  # a bump now would renumber those: wait
            self.timed_out.append(b)
        else:  # nothing in doubt: a new epoch and sequences from 0 lose and repeat nothing
            self._bump_epoch(b, drain=False)

    def _in_flight(self) -> list[Batch]:
        return [x for request in self.window for x in request]

    def _requeue(self, b: Batch, earlier: list[Batch]) -> None:
        """Send `b` again after the earlier batches: at once if one of them is in flight, else
        with them at the next step."""
        if any(x in self._in_flight() for x in earlier):
            self.window.append([b])
        else:
            self.timed_out.append(b)

    def _bump_epoch(self, b: Batch, drain: bool) -> None:
        """A new epoch, and every batch not acknowledged sent again numbered from sequence 0.
        `drain` (librdkafka#4953): first let every request in flight reach the broker -- the
        batches in doubt among them are renumbered too. Otherwise (Kafka's safe bump, nothing
        in doubt) the requests in flight are pulled back and renumbered before they are sent."""
        if drain:
            self.bumping = [b]
            while self.window:
                self._deliver(self._take())
            redo, self.bumping = self.bumping + self.timed_out, None
        else:
            redo = [b, *self._in_flight(), *self.timed_out]
            self.window = []
        self.epoch += 1
        self.next_sequence.clear()
        for x in redo:
            x.sequence = None
        step = "epoch_bump" if drain else "safe_epoch_bump"
        detail = f"epoch {self.epoch}: {len(redo)} unacknowledged batches numbered from 0 again"
        self.hook("producer", step, b.call.request, b.call.partition, None, 0, detail)
        self.timed_out = redo  # sent again at once, in send order
        self._retry_due()

    def _timed_out(self, b: Batch) -> None:
        call = b.call
        b.in_doubt = True  # the broker handled it: written, or refused -- the client cannot know
        if b.tries < self.retries:
            b.tries += 1
            detail = f"no response: retry {b.tries} of {self.retries} at the next step"
            self.hook("producer", "timeout", call.request, call.partition, None, 0, detail)
            self.timed_out.append(b)
            return
        self._give_up(b, f"no response and no retries left ({self.retries}): outcome unknown")

    def _give_up(self, b: Batch, why: str) -> None:
        """No retries left, or a refusal no retry can mend: failed, unless a previous attempt
        may have been written (then unknown: info)."""
        call = b.call
        self.hook("producer", "gave_up", call.request, call.partition, None, 0, why)
        self._done(b, "info" if b.in_doubt else "fail", None)
        if b.in_doubt and self.bugs.retry_on_ambiguous_error:
            # KAFKA-13574: the application takes the timeout for a failure and sends the same
            # ids again -- a new send, which no broker can tell from new data.
            self.history.resent = True
            self.timed_out.append(Batch(call, b.resend + 1))

    def _done(self, b: Batch, type_: str, first: int | None) -> None:
        call = b.call
        self.history.add_send(b.op, type_, call.partition, call.request, first, call.message_ids)


def _send_order(b: Batch) -> tuple[int, int, int]:
    """Batches already numbered first, in request order (their sequence order in each
    partition), then the ones still to number."""
    return (b.sequence is None, b.request, b.resend)


def _silent(*args: object, **kwargs: object) -> None:
    return None
