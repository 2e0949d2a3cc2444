"""`proxy()`: a Kafka-aware TCP proxy that injects faults at the level of requests and frames.

Clients connect to the proxy; each connection gets its own connection to the upstream broker.
Frames are read whole in both directions (the 4-byte size, capped at `max_frame_bytes`) and
forwarded unchanged, with three exceptions: a fault (wire/faults.py) says otherwise; a Metadata
or FindCoordinator answer has its broker addresses replaced by the proxy's (addresses.py), so
that clients reconnect through it -- one listening port per upstream broker seen; and answers are
given back in the order of the client's requests, as a Kafka broker does (a held request may
reach the broker after later ones; its answer still comes first).

Every fault applied is logged as a `FaultEvent` (time, connection, API, correlation id, what
was done), kept in `events` and passed to `on_event` as it happens. `heal()` stops every fault:
requests already marked keep their fate, a blackhole is released, nothing new is marked.

Runs an asyncio loop on a background thread (loopback by default); `start()`, `stop()`,
`heal()` and `events` are safe from any thread. A frame above the cap, or an upstream that
cannot be reached, costs only that connection; `stop()` closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from chronik_lab.errors import ChronikLabError, InvalidArgumentError
from chronik_lab.wire import addresses
from chronik_lab.wire.faults import FaultSpec, parse_faults
from chronik_lab.wire.links import (
    FaultEvent,
    Link,
    Slot,
    abort,
    byte_faults,
    parse_address,
    read_frame,
    write_frame,
)
from chronik_lab.wire.protocol import MAX_FRAME_BYTES

# FaultEvent and parse_address live in links.py (one connection's machinery); exported here too.
__all__ = ["FaultEvent", "Proxy", "ProxyError", "parse_address", "proxy"]

log = logging.getLogger("chronik_lab.wire.proxy")
CONNECT_TIMEOUT_S = 5.0
# A client whose upstream cannot be reached (a broker killed, restarting) keeps its connection
# this long before it is closed, as a connection timeout would: closed at once, clients reconnect
# in a tight loop and starve the machine of the CPU a restarting broker needs.
UNREACHABLE_HOLD_S = 0.5
START_TIMEOUT_S = 10.0
EVENT_LIMIT = 100_000
TICK_S = 0.01  # how often timed faults (a blackhole at=3s) are looked at
_PRODUCE = 0


class ProxyError(ChronikLabError):
    """The proxy could not start (a bad upstream address, a port taken)."""


class Proxy:
    """A fault-injecting Kafka proxy in front of `upstream` ("HOST:PORT"); use `with`.

    Invariants: a frame reaches the other side whole or not at all; a client's answers reach it
    in its requests' order; each fault in `events` was applied, once. Thread-safe as the module
    doc says."""

    def __init__(
        self,
        upstream: str,
        faults: Iterable[str | FaultSpec] = (),
        seed: int = 0,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        max_frame_bytes: int = MAX_FRAME_BYTES,
        on_event: Callable[[FaultEvent], None] | None = None,
        origin: float | None = None,
    ) -> None:
        self.upstream = parse_address(upstream, "upstream")
        self.faults = parse_faults(list(faults), families=("request", "byte"))
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InvalidArgumentError(f"seed must be an int, not {seed!r}")
        self.seed, self.host, self.port = seed, host, port
        self.max_frame_bytes = max_frame_bytes
        self.on_event = on_event
        self.origin = time.monotonic() if origin is None else origin
        self.requests: Counter[int] = Counter()  # requests forwarded, by API key
        self._triggers = [f.trigger(seed, i) for i, f in enumerate(self.faults)]
        self._rng = random.Random(seed)  # the latency fault's jitter
        self._events: deque[FaultEvent] = deque(maxlen=EVENT_LIMIT)
        self._lock = threading.Lock()
        self._healed = False
        self._routes: dict[tuple[str, int], int] = {}  # upstream address -> our port
        self._servers: list[asyncio.base_events.Server] = []
        self._links: dict[int, Link] = {}
        self._writers: set[asyncio.StreamWriter] = set()  # accepted, not yet closed
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- lifecycle (any thread) -------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def events(self) -> list[FaultEvent]:
        with self._lock:
            return list(self._events)

    def start(self) -> Proxy:
        if self._thread is not None:
            raise ProxyError("this proxy was already started")
        self._thread = threading.Thread(target=self._run, name="chronik-lab-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self._error is not None:
            self.stop()
            raise ProxyError(f"cannot listen on {self.bootstrap}: {self._error}")
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._stopping.set)
            thread.join(START_TIMEOUT_S)

    def heal(self) -> None:
        """Apply no more faults and release a blackhole (see the module doc)."""
        self._healed = True
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._open.set)

    def __enter__(self) -> Proxy:
        return self if self._thread is not None else self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.stop()

    def __repr__(self) -> str:
        return f"Proxy({self.bootstrap} -> {self.upstream[0]}:{self.upstream[1]})"

    def now_s(self) -> float:
        return time.monotonic() - self.origin

    # -- the loop ---------------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self) -> None:
        self._stopping, self._open = asyncio.Event(), asyncio.Event()
        self._open.set()
        self.port = await self._listen(self.upstream, self.port)
        ticker = asyncio.create_task(self._timed_faults())
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            ticker.cancel()
            # A connection accepted in the last loop turn gets its transport in a task of its
            # own on the next; after the server closes, Python 3.11 drops it with the socket
            # left open (Server._attach asserts the server is open). Let those tasks run first.
            await asyncio.sleep(0)
            for server in self._servers:
                server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for link in list(self._links.values()):
                abort(link.client, reset=False)
                if link.upstream is not None:
                    abort(link.upstream, reset=False)
            # A connection whose task was cancelled before its first step never ran its finally.
            for writer in list(self._writers):
                abort(writer, reset=False)
            # A transport closes its socket on a later turn of the loop: give it those turns
            # before the loop closes, or clients would see their connections stay open.
            await asyncio.sleep(0.01)

    async def _listen(self, upstream: tuple[str, int], port: int = 0) -> int:
        """A listening port for `upstream` (the same one each time it is seen)."""
        if upstream in self._routes:
            return self._routes[upstream]
        server = await asyncio.start_server(
            lambda r, w: self._accepted(r, w, upstream), self.host, port
        )
        self._servers.append(server)
        self._routes[upstream] = server.sockets[0].getsockname()[1]
        return self._routes[upstream]

    async def _timed_faults(self) -> None:
        timed = [t for t in self._triggers if t.spec.kind == "blackhole" and t.spec.timed]
        while timed:
            await asyncio.sleep(TICK_S)
            for trigger in timed:
                if not self._healed and trigger.due(self.now_s() * 1000):
                    self._blackhole(trigger.spec)

    def _event(self, kind: str, action: str, link: Link | None = None,
               slot: Slot | None = None, spec: FaultSpec | None = None) -> None:  # fmt: skip
        event = FaultEvent(
            round(self.now_s(), 6), kind, action, None if link is None else link.id,
            None if slot is None else slot.api_key, None if slot is None else slot.correlation_id,
            "" if spec is None else spec.text,
        )  # fmt: skip
        with self._lock:
            self._events.append(event)
        log.info("fault: %s", event)
        if self.on_event is not None:
            self.on_event(event)

    # -- a connection -----------------------------------------------------------------------
    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  upstream: tuple[str, int]) -> Any:  # fmt: skip
        """The connection's coroutine; its writer is known at once, so that a stop closes it
        even if its task is cancelled before it starts."""
        self._writers.add(writer)
        return self._serve(reader, writer, upstream)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     upstream: tuple[str, int]) -> None:  # fmt: skip
        # The proxy is stopping when this is cancelled: a handler task that ends cancelled gets
        # logged by asyncio's streams as an error, so it ends normally instead.
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await self._link(reader, writer, upstream)
        finally:
            self._writers.discard(writer)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    upstream: tuple[str, int]) -> None:  # fmt: skip
        link = Link(next(self._ids), writer)
        self._links[link.id] = link
        tasks: list[asyncio.Task[Any]] = []
        try:
            await self._open.wait()
            up_reader, link.upstream = await asyncio.wait_for(
                asyncio.open_connection(*upstream), CONNECT_TIMEOUT_S
            )
            tasks = [
                asyncio.create_task(self._requests(link, reader)),
                asyncio.create_task(self._answers_in(link, up_reader)),
                asyncio.create_task(self._answers_out(link)),
            ]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except (OSError, TimeoutError) as exc:
            log.info("connection %d: upstream %s:%d unreachable: %s", link.id, *upstream, exc)
            await asyncio.sleep(UNREACHABLE_HOLD_S)
        finally:
            for task in [*tasks, *link.held]:
                task.cancel()
            await asyncio.gather(*tasks, *link.held, return_exceptions=True)
            self._links.pop(link.id, None)
            abort(writer, reset=False)
            if link.upstream is not None:
                abort(link.upstream, reset=False)

    async def _requests(self, link: Link, reader: asyncio.StreamReader) -> None:
        while (frame := await read_frame(reader, self.max_frame_bytes)) is not None:
            await self._open.wait()
            api_key, version, correlation_id = struct.unpack_from(">hhi", frame)
            slot = Slot(api_key, version, correlation_id)
            fired = self._fired(api_key)
            if any(s.kind == "reset-before" for s in fired):
                spec = next(s for s in fired if s.kind == "reset-before")
                self._event("reset-before", "reset the client's connection", link, slot, spec)
                abort(link.client, reset=True)
                return
            self.requests[api_key] += 1
            if not (api_key == _PRODUCE and addresses.produce_acks(frame) == 0):
                link.slots.append(slot)
                link.by_id[correlation_id] = slot
                link.queued.set()
            hold = self._mark(link, slot, fired)
            await self._open.wait()  # a blackhole this request started holds it too
            if hold:
                task = asyncio.create_task(self._forward_later(link, frame, hold))
                link.held.add(task)
                task.add_done_callback(link.held.discard)
            else:
                await self._write(link.upstream, frame, "request", api_key, link.to_upstream)

    def _fired(self, api_key: int) -> list[FaultSpec]:
        if self._healed:
            return []
        now_ms = self.now_s() * 1000
        return [
            t.spec
            for t in self._triggers
            if t.spec.family == "request" and not t.spec.timed and t.fires(now_ms, api_key)
        ]

    def _mark(self, link: Link, slot: Slot, fired: list[FaultSpec]) -> int:
        """Give `slot` the fate the faults that fired decide; the ms to hold the request."""
        hold = 0
        for spec in fired:
            if spec.kind in ("drop-response", "reset-after"):
                slot.fate = spec
            elif spec.kind == "delay" and spec.on == "response":
                slot.delay_ms = max(slot.delay_ms, spec.ms)
            elif spec.kind == "delay":
                hold = max(hold, spec.ms)
                self._event("delay", f"held the request {spec.ms} ms", link, slot, spec)
            elif spec.kind == "blackhole":
                self._blackhole(spec)
        return hold

    async def _forward_later(self, link: Link, frame: bytes, ms: int) -> None:
        await asyncio.sleep(ms / 1000)
        (api_key,) = struct.unpack_from(">h", frame)
        await self._write(link.upstream, frame, "request", api_key, link.to_upstream)

    async def _answers_in(self, link: Link, reader: asyncio.StreamReader) -> None:
        while (frame := await read_frame(reader, self.max_frame_bytes)) is not None:
            (correlation_id,) = struct.unpack_from(">i", frame)
            slot = link.by_id.pop(correlation_id, None)
            if slot is None:
                log.warning("connection %d: an answer to no request (%d)", link.id, correlation_id)
                return
            if slot.api_key in (addresses.METADATA, addresses.FIND_COORDINATOR):
                frame = await self._readdress(slot, frame)
            slot.answer = frame
            slot.ready.set()

    async def _readdress(self, slot: Slot, frame: bytes) -> bytes:
        try:
            found = addresses.addresses(slot.api_key, slot.version, frame)
        except (addresses.BodyError, struct.error) as exc:
            log.warning("cannot read the addresses of API %d v%d: %s", slot.api_key,
                        slot.version, exc)  # fmt: skip
            return frame
        ports = {(a.host, a.port): await self._listen((a.host, a.port)) for a in found}
        return addresses.rewrite(frame, found, lambda h, p: (self.host, ports[(h, p)]))

    async def _answers_out(self, link: Link) -> None:
        lock = asyncio.Lock()
        while True:
            while not link.slots:
                link.queued.clear()
                await link.queued.wait()
            slot = link.slots[0]
            await slot.ready.wait()
            link.slots.popleft()
            if slot.fate is not None and slot.fate.kind == "drop-response":
                self._event("drop-response", "dropped the answer", link, slot, slot.fate)
                continue
            if slot.fate is not None:
                self._event("reset-after", "reset the client's connection instead of "
                            "answering", link, slot, slot.fate)  # fmt: skip
                abort(link.client, reset=True)
                return
            if slot.delay_ms:
                self._event("delay", f"held the answer {slot.delay_ms} ms", link, slot)
                await asyncio.sleep(slot.delay_ms / 1000)
            await self._open.wait()
            await self._write(link.client, slot.answer or b"", "response", slot.api_key, lock)

    async def _write(self, writer: asyncio.StreamWriter | None, frame: bytes, direction: str,
                     api_key: int, lock: asyncio.Lock) -> None:  # fmt: skip
        faults = [] if self._healed else byte_faults(self.faults, direction, api_key)
        await write_frame(writer, frame, faults, lock, self._rng)

    def _blackhole(self, spec: FaultSpec) -> None:
        if not self._open.is_set():
            return  # one blackhole at a time
        self._open.clear()
        self._event("blackhole", f"held every frame {spec.ms} ms, then {spec.then}", spec=spec)
        asyncio.get_running_loop().call_later(spec.ms / 1000, self._end_blackhole, spec)

    def _end_blackhole(self, spec: FaultSpec) -> None:
        if spec.then == "reset" and not self._open.is_set():
            for link in list(self._links.values()):
                abort(link.client, reset=True)
        self._open.set()
        self._event("blackhole-end", f"released after {spec.ms} ms ({spec.then})", spec=spec)


def proxy(upstream: str, faults: Iterable[str | FaultSpec] = (), seed: int = 0,
          **options: Any) -> Proxy:  # fmt: skip
    """Start a fault proxy in front of `upstream`: `with cl.proxy(server.bootstrap,
    faults=["drop-response:api=produce,every=20"]) as p: p.bootstrap, p.events`."""
    return Proxy(upstream, faults, seed, **options).start()
