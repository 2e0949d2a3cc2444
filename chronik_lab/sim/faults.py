"""A scenario's delivery settings and fault schedule: their validation, and what a run reads.

The fields (`cl.Scenario`'s, issue 18 §2), all deterministic -- the same scenario applies the
same faults at the same steps on every run:

- the producer: `idempotence` (Kafka's idempotent producer: a producer id, an epoch and a
  sequence number per batch, so the broker answers a retried batch with its original offsets),
  `retries` (resends after a lost response or a retriable error), `max_in_flight` (requests
  sent and not yet answered; Kafka's max.in.flight.requests.per.connection);
- `lost_acks=[k, ...]`: the response to produce request k (1-based, in send order) is lost --
  the broker appended, the client times out, then retries (while it has retries left). Listed
  twice, the first two responses to it are lost (its retry's too), and so on;
- `broker_restarts=[s, ...]`: the broker restarts before step s -- before request s is sent,
  s = requests + 1 being before the final consume: what it was sent is answered, then it is
  killed (what it held only in memory is gone) and a new broker recovers the data_dir as the
  kill left it; requests whose response was lost are retried to the new broker;
- `reordered=[k, ...]`: request k reaches the broker after request k+1 (both in flight:
  max_in_flight >= 2);
- the consumer: `commit` -- None (no group: today's consumer), "after" (process a poll's
  records, then commit), "before" (commit, then process) or "auto" (each poll first commits
  the position the previous poll reached: the offsets of the penultimate poll, Jepsen's
  corrected Bufstream 0.1.0 finding); `consumer_crashes=[p, ...]`: the consumer crashes after
  poll p (1-based), between processing and committing it -- "after" and "auto" had processed
  and not committed (redelivered), "before" had committed and not processed (lost) -- and
  restarts as a new process from the committed offset; `rebalances=[p, ...]`: a new member
  joins after poll p and that poll's partition moves to it, the new owner starting at the
  committed offset ("after": the commit of poll p fails with the rebalance; "auto" commits on
  revocation, as the Java client's auto-commit does; "before" had committed).

Kafka's producer refuses idempotence without acks=all, without retries, or with more than 5
requests in flight (its ConfigException); so does the Scenario, naming the field.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chronik_lab import validate
from chronik_lab.errors import ScenarioError

__all__ = ["COMMIT_MODES", "DELIVERY_DEFAULTS", "FAULT_FIELDS", "Schedule", "check_delivery"]

COMMIT_MODES = ("after", "before", "auto")
MAX_IN_FLIGHT_IDEMPOTENT = 5  # Kafka: the broker keeps the last 5 batches per producer
INT32_MAX = 2**31 - 1
FAULT_FIELDS = ("lost_acks", "broker_restarts", "reordered", "consumer_crashes", "rebalances")
DELIVERY_DEFAULTS: dict[str, Any] = {
    "idempotence": False,
    "retries": 0,
    "max_in_flight": 1,
    "lost_acks": (),
    "broker_restarts": (),
    "reordered": (),
    "commit": None,
    "consumer_crashes": (),
    "rebalances": (),
}


def check_delivery(s: Any, requests: int) -> dict[str, Any]:
    """Validate scenario `s`'s delivery fields against its `requests` produce requests; the
    normalised values (schedules as sorted tuples). ScenarioError names the bad field."""
    if not isinstance(s.idempotence, bool):
        raise ScenarioError(f"idempotence must be True or False, not {s.idempotence!r}")
    _int(s.retries, "retries", 0)
    _int(s.max_in_flight, "max_in_flight", 1)
    if s.commit is not None and s.commit not in COMMIT_MODES:
        raise ScenarioError(
            f"commit must be None, {', '.join(repr(m) for m in COMMIT_MODES)}, not {s.commit!r}"
        )
    out = {
        "lost_acks": _schedule(s.lost_acks, "lost_acks", requests, repeats=True),
        "broker_restarts": _schedule(s.broker_restarts, "broker_restarts", requests + 1),
        "reordered": _schedule(s.reordered, "reordered", requests - 1),
        "consumer_crashes": _schedule(s.consumer_crashes, "consumer_crashes", None),
        "rebalances": _schedule(s.rebalances, "rebalances", None),
    }
    if s.idempotence:
        _kafka_rules(s)
    if out["reordered"] and s.max_in_flight < 2:
        raise ScenarioError(
            f"reordered {list(out['reordered'])} needs max_in_flight >= 2 (request k can reach "
            f"the broker after k+1 only if both are in flight), not {s.max_in_flight}"
        )
    if out["lost_acks"] and s.acks == 0:
        raise ScenarioError("lost_acks needs acks=1 or -1: acks=0 has no response to lose")
    for name in ("consumer_crashes", "rebalances"):
        if out[name] and s.commit is None:
            raise ScenarioError(f'{name} needs a consumer group: commit="after", "before", "auto"')
    return out


def _kafka_rules(s: Any) -> None:
    """Kafka's producer ConfigException for enable.idempotence=true."""
    if s.acks != -1:
        raise ScenarioError(f"idempotence needs acks=-1 (Kafka: acks=all), not acks={s.acks}")
    if s.retries < 1:
        raise ScenarioError("idempotence needs retries >= 1 (Kafka refuses retries=0 with it)")
    if s.max_in_flight > MAX_IN_FLIGHT_IDEMPOTENT:
        raise ScenarioError(
            f"max_in_flight must be <= {MAX_IN_FLIGHT_IDEMPOTENT} with idempotence (the broker "
            f"keeps the last 5 batches per producer), not {s.max_in_flight}"
        )


def _int(value: object, name: str, minimum: int) -> None:
    validate.int_at_least(value, name, minimum, ScenarioError)
    if value > INT32_MAX:  # type: ignore[operator]
        raise ScenarioError(f"{name} must be <= {INT32_MAX} (a Kafka int32), not {value!r}")


def _schedule(value: object, name: str, last: int | None, repeats: bool = False) -> tuple:
    """A list of 1-based step numbers (<= `last` when given), as a sorted tuple."""
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
        raise ScenarioError(f"{name} must be a list of ints, not {value!r}")
    steps = []
    for i, step in enumerate(value):
        if isinstance(step, bool) or not isinstance(step, int) or step < 1:
            raise ScenarioError(f"{name}[{i}] is {step!r}: each must be an int >= 1 (1-based)")
        if last is not None and step > last:
            raise ScenarioError(f"{name}[{i}] is {step}: {_beyond(name, last)}")
        steps.append(int(step))
    if not repeats and len(set(steps)) != len(steps):
        raise ScenarioError(f"{name} lists a step twice: {steps}")
    return tuple(sorted(steps))


def _beyond(name: str, last: int) -> str:
    if name == "reordered":
        return f"the last request with a next one is {last}"
    if name == "broker_restarts":
        return f"the last step is {last} (before the final consume)"
    return f"the scenario sends {last} produce requests"


@dataclass(frozen=True)
class Schedule:
    """The fault schedule as a run reads it: request numbers 0-based, as the plan counts them.

    Immutable; `lost` is copied by each run (it counts down)."""

    lost_acks: tuple[int, ...] = ()  # 0-based requests, repeats allowed
    broker_restarts: frozenset[int] = frozenset()  # 0-based: before request s (n: the end)
    reordered: frozenset[int] = frozenset()  # 0-based: request k after k + 1
    consumer_crashes: frozenset[int] = frozenset()  # 0-based polls
    rebalances: frozenset[int] = frozenset()

    @classmethod
    def of(cls, s: Any) -> Schedule:
        def zero_based(steps: Iterable[int]) -> frozenset[int]:
            return frozenset(k - 1 for k in steps)

        return cls(
            tuple(k - 1 for k in s.lost_acks),
            zero_based(s.broker_restarts),
            zero_based(s.reordered),
            zero_based(s.consumer_crashes),
            zero_based(s.rebalances),
        )

    def lost(self) -> Counter[int]:
        """Responses still to lose, per 0-based request."""
        return Counter(self.lost_acks)

    @property
    def producer_faults(self) -> bool:
        return bool(self.lost_acks or self.reordered)
