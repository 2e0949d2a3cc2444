"""Fault specs: `KIND[:key=value,...]`, what `--fault` and `cl.proxy(faults=[...])` take.

Three families, by who applies them:
- request faults, applied by the proxy to one Kafka request and its response:
  `drop-response` (forward the request, discard its answer: the lost acknowledgement),
  `reset-before` / `reset-after` (reset the client's connection before forwarding the request,
  or when its answer comes back instead of delivering it), `delay` (hold the request, or with
  `on=response` its answer, `ms` milliseconds: held requests reach the broker after later
  ones), `blackhole` (hold every frame of every connection `ms` milliseconds, then release
  them, or reset every connection with `then=reset`);
- byte faults, Toxiproxy's kind, on every frame the proxy writes (of the APIs `api` names):
  `latency` (`ms`, `jitter`), `bandwidth` (`rate`, KB/s as Toxiproxy's), `slice` (each frame
  written in pieces of `bytes`, `ms` apart);
- process faults, applied by the nemesis to a broker the lab started itself: `kill` (kill -9,
  then a restart after `ms`, waiting until it listens again) and `pause` (SIGSTOP, SIGCONT after
  `ms`).

When a fault fires (`at`, `every`, `p`, `for`, `api`): `api` is an API name (`produce`,
`find-coordinator`) or number; `at=N` the N-th matching request (from 1), `at=3s` the first at or
after 3 s; `every=N` each N-th matching request, `every=2s` the first in each 2 s; `for=1s` every
matching request in a window from `at`; `p=0.1` each matching request with that probability,
from a generator seeded by the run's seed and the fault's place (or its own `seed`). No trigger
key: every matching request. Process faults take times only (`at`, `every`).

Named faults (`NAMED`) stand for specs used often: `lost-ack` is `drop-response:api=produce,at=3`.
(A notebook's parameters cell cannot hold a spec's "=": papermill skips a line with two.)

`Trigger.fires` is called by one thread (the proxy's loop, or the nemesis's thread).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from chronik_lab.errors import InvalidArgumentError

__all__ = [
    "API_KEYS",
    "BYTE_KINDS",
    "KINDS",
    "NAMED",
    "PROCESS_KINDS",
    "REQUEST_KINDS",
    "FaultSpec",
    "FaultSpecError",
    "api_name",
    "parse_fault",
    "parse_faults",
]

REQUEST_KINDS = ("drop-response", "reset-before", "reset-after", "delay", "blackhole")
BYTE_KINDS = ("latency", "bandwidth", "slice")
PROCESS_KINDS = ("kill", "pause")
KINDS = (*REQUEST_KINDS, *BYTE_KINDS, *PROCESS_KINDS)
TRIGGER_KEYS = ("api", "at", "every", "for", "p", "seed")
# The keys each kind takes beyond the trigger keys (process faults: at, every, seed only).
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "drop-response": (),
    "reset-before": (),
    "reset-after": (),
    "delay": ("ms", "on"),
    "blackhole": ("ms", "then"),
    "latency": ("ms", "jitter", "on"),
    "bandwidth": ("rate", "on"),
    "slice": ("bytes", "ms", "on"),
    "kill": ("ms",),
    "pause": ("ms",),
}
NAMED = {
    "lost-ack": "drop-response:api=produce,at=3",  # the third Produce request's answer
    "lost-acks": "drop-response:api=produce,every=5",  # every fifth Produce request's answer
    "reset-produce": "reset-after:api=produce,every=5",  # the connection, instead of the answer
    "kill-restart": "kill:at=500ms,ms=200",  # kill -9 at 0.5 s, restarted 0.2 s later
}
DEFAULT_MS = {"delay": 100, "blackhole": 1000, "latency": 10, "slice": 0, "kill": 0, "pause": 500}
MAX_MS = 600_000  # ten minutes: a fault longer than that is a typo, not a test

# Kafka's API keys (clients/src/main/resources/common/message/*Request.json), by the names the
# specs take; any other key may be given by number.
API_KEYS = {
    "produce": 0, "fetch": 1, "list-offsets": 2, "metadata": 3, "offset-commit": 8,
    "offset-fetch": 9, "find-coordinator": 10, "join-group": 11, "heartbeat": 12,
    "leave-group": 13, "sync-group": 14, "describe-groups": 15, "list-groups": 16,
    "sasl-handshake": 17, "api-versions": 18, "create-topics": 19, "delete-topics": 20,
    "delete-records": 21, "init-producer-id": 22, "offset-for-leader-epoch": 23,
    "add-partitions-to-txn": 24, "add-offsets-to-txn": 25, "end-txn": 26,
    "txn-offset-commit": 28, "describe-configs": 32, "alter-configs": 33,
    "sasl-authenticate": 36, "create-partitions": 37, "delete-groups": 42, "describe-cluster": 60,
    "describe-producers": 61, "consumer-group-heartbeat": 68,
}  # fmt: skip
_API_NAMES = {key: name for name, key in API_KEYS.items()}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000}
_FIELD = {"for": "window_ms"}
# Process faults fire on the clock only; byte faults touch every frame of the APIs they name.
_TRIGGERS_OF = {
    **{kind: ("at", "every", "seed") for kind in PROCESS_KINDS},
    **{kind: ("api",) for kind in BYTE_KINDS},
}  # spec keys whose FaultSpec field has another name


class FaultSpecError(InvalidArgumentError):
    """A fault spec that cannot be read; the message lists the kinds and keys."""

    def __init__(self, spec: object, reason: str) -> None:
        self.spec = spec
        self.reason = reason
        super().__init__(f"bad fault {spec!r}: {reason}. {usage()}")


def usage() -> str:
    kinds = ", ".join(KINDS)
    keys = ", ".join(sorted({*TRIGGER_KEYS, *(k for ks in KIND_KEYS.values() for k in ks)}))
    return (f"A fault is KIND[:key=value,...] or a name ({', '.join(NAMED)}); kinds: {kinds}; "
            f"keys: {keys}")  # fmt: skip


def api_name(key: int) -> str:
    return _API_NAMES.get(key, f"api-{key}")


@dataclass(frozen=True)
class Count:
    """A request count (`at=5`, `every=20`)."""

    n: int


@dataclass(frozen=True)
class Duration:
    """A time since the start of the run (`at=3s`) or a period (`every=2s`), in ms."""

    ms: float


@dataclass(frozen=True)
class FaultSpec:
    """One parsed fault. `api` None: any API; `at` / `every` a Count or a Duration or None."""

    kind: str
    text: str
    api: int | None = None
    at: Count | Duration | None = None
    every: Count | Duration | None = None
    window_ms: float | None = None  # `for`
    p: float | None = None
    seed: int | None = None
    ms: int = 0
    on: str = "request"  # delay: request|response; byte faults: request|response|both
    then: str = "release"  # blackhole
    jitter: int = 0
    rate: int = 0  # bandwidth: KB/s
    bytes: int = 0

    @property
    def timed(self) -> bool:
        """Fired by the clock alone (a blackhole or a process fault at/every a time), not by a
        request."""
        counts = isinstance(self.at, Count) or isinstance(self.every, Count)
        return (
            not counts
            and self.api is None
            and self.p is None
            and self.window_ms is None
            and (self.at is not None or self.every is not None)
        )

    @property
    def family(self) -> str:
        if self.kind in PROCESS_KINDS:
            return "process"
        return "byte" if self.kind in BYTE_KINDS else "request"

    def trigger(self, run_seed: int, index: int) -> Trigger:
        """A fresh firing state for one run (`index`: the fault's place among the run's)."""
        seed = self.seed if self.seed is not None else run_seed * 1_000_003 + index
        return Trigger(self, random.Random(seed))


@dataclass
class Trigger:
    """When one fault fires. Request faults: `fires(now_ms, api_key)` per request, in the order
    requests reach the proxy; process faults: `due(now_ms)`, polled. One thread only."""

    spec: FaultSpec
    rng: random.Random
    matched: int = 0  # matching requests seen
    fired: int = 0
    next_ms: float | None = field(default=None)  # the next time-based firing

    def fires(self, now_ms: float, api_key: int | None) -> bool:
        s = self.spec
        if s.api is not None and api_key != s.api:
            return False
        self.matched += 1
        hit = self._scheduled(now_ms)
        if hit and s.p is not None:
            hit = self.rng.random() < s.p
        self.fired += hit
        return hit

    def _scheduled(self, now_ms: float) -> bool:
        s = self.spec
        start = s.at.ms if isinstance(s.at, Duration) else 0.0
        if s.window_ms is not None:
            return start <= now_ms < start + s.window_ms
        if isinstance(s.at, Count) and self.matched < s.at.n:
            return False
        if isinstance(s.every, Count):
            base = s.at.n if isinstance(s.at, Count) else 0
            return (self.matched - base) % s.every.n == 0
        if isinstance(s.every, Duration) or isinstance(s.at, Duration):
            return self.due(now_ms)
        if isinstance(s.at, Count):
            return self.matched == s.at.n
        return True

    def due(self, now_ms: float) -> bool:
        """Time-based firing: True once when the next firing time has come."""
        s = self.spec
        if self.next_ms is None:
            self.next_ms = s.at.ms if isinstance(s.at, Duration) else self._period()
        if self.next_ms is None or now_ms < self.next_ms:
            return False
        period = self._period()
        self.next_ms = None if period is None else max(self.next_ms + period, now_ms)
        if self.next_ms is None:
            self.next_ms = float("inf")
        return True

    def rearm(self, now_ms: float) -> None:
        """The next time-based firing one period after `now_ms` (a fault that took time, as a
        restart does, is not fired again at once to catch up)."""
        period = self._period()
        if period is not None and self.next_ms != float("inf"):
            self.next_ms = now_ms + period

    def _period(self) -> float | None:
        every = self.spec.every
        return every.ms if isinstance(every, Duration) else None


def parse_faults(specs: object, families: tuple[str, ...] = ("request", "byte", "process")):
    """A list of specs (text or FaultSpec) as FaultSpecs; a family not in `families` is refused."""
    if isinstance(specs, str | FaultSpec):
        specs = [specs]
    if not isinstance(specs, list | tuple):
        raise FaultSpecError(specs, "faults must be a list of specs")
    out = [s if isinstance(s, FaultSpec) else parse_fault(s) for s in specs]
    for s in out:
        if s.family not in families:
            why = "needs a broker the lab starts (--broker-cmd)" if s.family == "process" else ""
            raise FaultSpecError(s.text, f"a {s.kind} fault cannot be applied here; {why}".strip())
    return out


def parse_fault(text: object) -> FaultSpec:
    """One spec, `KIND[:key=value,...]`, as a FaultSpec (FaultSpecError when it is bad)."""
    if not isinstance(text, str) or not text.strip():
        raise FaultSpecError(text, "a fault must be text such as 'drop-response:api=produce'")
    text = NAMED.get(text.strip(), text)
    kind, _, rest = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise FaultSpecError(text, f"unknown kind {kind!r}")
    allowed = KIND_KEYS[kind] + _TRIGGERS_OF.get(kind, TRIGGER_KEYS)
    values: dict[str, object] = {"ms": DEFAULT_MS.get(kind, 0)}
    if kind in BYTE_KINDS:
        values["on"] = "both"
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, raw = item.partition("=")
        key = key.strip().lower()
        if not eq or key not in allowed:
            why = f"{kind} takes {', '.join(allowed)}" if eq else f"{item!r} is not key=value"
            raise FaultSpecError(text, why)
        values[_FIELD.get(key, key)] = _value(text, kind, key, raw.strip())
    spec = FaultSpec(kind=kind, text=text.strip(), **values)  # type: ignore[arg-type]
    _check(spec)
    return spec


def _value(text: str, kind: str, key: str, raw: str) -> object:
    if key == "api":
        return _api(text, raw)
    if key in ("at", "every"):
        return _count_or_duration(text, key, raw, times_only=kind in PROCESS_KINDS)
    if key == "for":
        return _duration_ms(text, key, raw)
    if key == "p":
        try:
            p = float(raw)
        except ValueError:
            p = -1.0
        if not 0.0 <= p <= 1.0:
            raise FaultSpecError(text, f"p must be a probability in [0, 1], not {raw!r}")
        return p
    if key in ("on", "then"):
        choices = {"on": ("request", "response", "both"), "then": ("release", "reset")}[key]
        if kind == "delay" and key == "on":
            choices = ("request", "response")
        if raw.lower() not in choices:
            raise FaultSpecError(text, f"{key} must be one of {', '.join(choices)}, not {raw!r}")
        return raw.lower()
    limit = MAX_MS if key in ("ms", "jitter") else 2**31 - 1
    return _int(text, key, raw, 1 if key in ("rate", "bytes") else 0, limit)


def _api(text: str, raw: str) -> int:
    name = raw.lower().replace("_", "-")
    if name in API_KEYS:
        return API_KEYS[name]
    squashed = {n.replace("-", ""): k for n, k in API_KEYS.items()}
    if name.replace("-", "") in squashed:
        return squashed[name.replace("-", "")]
    if name.isdigit() and int(name) <= 32767:
        return int(name)
    raise FaultSpecError(text, f"unknown api {raw!r}: a name such as produce, fetch, metadata, "
                         "find-coordinator (wire.faults.API_KEYS) or a number")  # fmt: skip


def _count_or_duration(text: str, key: str, raw: str, times_only: bool) -> Count | Duration:
    if raw.isdigit() and not times_only:
        n = int(raw)
        if n < 1 or n > 2**31 - 1:
            raise FaultSpecError(text, f"{key} must be a request count >= 1, not {raw}")
        return Count(n)
    return Duration(_duration_ms(text, key, raw))


def _duration_ms(text: str, key: str, raw: str) -> float:
    m = _DURATION.match(raw.lower())
    if m is None:
        raise FaultSpecError(text, f"{key} must be a duration such as 500ms, 3s or 1m, not {raw!r}")
    ms = float(m.group(1)) * _UNIT_MS[m.group(2)]
    if key != "at" and ms <= 0:
        raise FaultSpecError(text, f"{key} must be a duration above 0, not {raw!r}")
    return ms


def _int(text: str, key: str, raw: str, low: int, high: int) -> int:
    try:
        n = int(raw)
    except ValueError:
        raise FaultSpecError(text, f"{key} must be an integer, not {raw!r}") from None
    if not low <= n <= high:
        raise FaultSpecError(text, f"{key} must be in {low}..{high}, not {n}")
    return n


def _check(spec: FaultSpec) -> None:
    if spec.window_ms is not None and (spec.every is not None or isinstance(spec.at, Count)):
        raise FaultSpecError(spec.text, "for is a time window after at=TIME; it takes no every")
    if spec.kind == "bandwidth" and spec.rate < 1:
        raise FaultSpecError(spec.text, "bandwidth needs rate >= 1 (KB/s)")
    if spec.kind == "slice" and spec.bytes < 1:
        raise FaultSpecError(spec.text, "slice needs bytes >= 1")
    if spec.kind in PROCESS_KINDS and spec.at is None and spec.every is None:
        raise FaultSpecError(spec.text, f"{spec.kind} needs at=TIME or every=TIME")
