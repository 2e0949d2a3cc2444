"""What a real client's send ended as, in Jepsen's terms: ok (with the acknowledged offset),
fail (the write certainly did not happen) or info (it may or may not have happened)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
P = TypeVar("P")


@dataclass(frozen=True)
class Outcome:
    type: str  # "ok" | "fail" | "info"
    offset: int | None = None
    error: str | None = None


def windowed(
    requests: Iterable[T],
    submit: Callable[[T], P],
    settle: Callable[[P], list[Outcome]],
    window: int,
) -> Iterator[list[Outcome]]:
    """Each request's outcomes, in order, with up to `window` requests submitted and not yet
    settled: the pipelining loop of the drivers that keep requests in flight."""
    pending: deque[P] = deque()
    for request in requests:
        pending.append(submit(request))
        if len(pending) >= window:
            yield settle(pending.popleft())
    while pending:
        yield settle(pending.popleft())


# Broker error codes that do not mean "not written" (Jepsen classifies them indeterminate): the
# old leader may have appended before it stopped leading (KAFKA-13574), the broker gave up
# waiting but may finish, replicas lagged after the append, the batch was appended by an
# earlier try (a duplicate sequence), the disk failed somewhere in the write.
INDETERMINATE_CODES = frozenset(
    {
        5,  # LEADER_NOT_AVAILABLE
        6,  # NOT_LEADER_OR_FOLLOWER
        7,  # REQUEST_TIMED_OUT
        13,  # NETWORK_EXCEPTION
        20,  # NOT_ENOUGH_REPLICAS_AFTER_APPEND
        46,  # DUPLICATE_SEQUENCE_NUMBER
        56,  # KAFKA_STORAGE_ERROR
    }
)


def kind_of_code(code: int) -> str:
    """A Kafka error code as a send's type: a broker's refusal (a code above 0 not in
    INDETERMINATE_CODES) is fail; anything else (client-local codes below 0, the unknown
    server error -1, and the indeterminate ones) is info."""
    return "fail" if code > 0 and code not in INDETERMINATE_CODES else "info"


def classify(exc: BaseException) -> Outcome:
    """A client exception as fail or info, as Jepsen does: a broker's error answer that means
    the write was refused (kafka-python's BrokerResponseError, aiokafka's, librdkafka's broker
    codes: `kind_of_code`) is fail. Timeouts, lost connections, local errors and the
    indeterminate broker codes leave it unknown: info."""
    text = f"{type(exc).__name__}: {exc}"
    code = _broker_code(exc)
    return Outcome("info" if code is None else kind_of_code(code), None, text)


def _broker_code(exc: BaseException) -> int | None:
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int) and getattr(exc, "retriable", None) is not None:
        return errno  # kafka-python / aiokafka error classes carry the Kafka code as errno
    args = getattr(exc, "args", ())
    first = args[0] if args else None
    code = getattr(first, "code", None)  # confluent_kafka.KafkaException(KafkaError)
    if callable(code):
        return int(code())
    return None
