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


def classify(exc: BaseException) -> Outcome:
    """A client exception as fail or info. A broker's error answer (a Kafka error code above 0:
    kafka-python's BrokerResponseError, aiokafka's, librdkafka's broker codes) means the write
    was refused: fail. Timeouts, lost connections and local errors leave it unknown: info."""
    text = f"{type(exc).__name__}: {exc}"
    code = _broker_code(exc)
    if code is not None and code > 0:
        return Outcome("fail", None, text)
    return Outcome("info", None, text)


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
