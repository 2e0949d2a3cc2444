"""`serve()`: the engine over the Kafka protocol, on an asyncio loop in a background thread.

One loop thread owns the sockets (connections.py); every request is handled on it, holding
`Server.lock`, so the engine (not thread-safe) never sees two requests at once. Code on other
threads that reads `server.broker` while clients are active should hold `server.lock` too.

No request stalls the others (limits.py has the numbers): a handler whose work grows with the
request runs in steps (a partition, a topic), at most SLICE_MS at a time under the lock, and the
loop serves the other connections between slices; `longest_hold_s` is the longest the lock was
held by one slice. A large request is decoded, and its answer encoded, on a worker thread.

Errors cost as little as they can: a frame that cannot be decoded, or one larger than its
limit, closes that connection only (Kafka's SocketServer does the same); a request that decodes
but breaks its schema, or that a handler fails on, gets that API's error answer; a partition
whose writes fail answers its own requests with KAFKA_STORAGE_ERROR while the rest serves on.
Repeated failures are logged once per interval (logs.py), client text escaped.

Clocks: the engine's flush-by-linger and segment age read its `SimClock`, which only moves when
advanced. Here that clock starts at the wall-clock time of the server start (epoch ms, so record
timestamps are real) and follows the monotonic clock: before every request, and every tick
(50 ms, or linger_ms / 2 when shorter), it is advanced by the monotonic time elapsed, which also
runs the engine's linger flushes and age rotations. The tick survives a failing partition and
goes on flushing the others.

A fetch that finds no data waits up to its max_wait_ms for a produce (or a tick that moved a
high watermark) to wake it, then reads once more: no busy loop, no early empty answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import threading
import time
import types
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from chronik_lab import validate
from chronik_lab.engine.broker import Broker
from chronik_lab.engine.clock import SimClock
from chronik_lab.errors import (
    BrokerAdvanceError,
    BrokerClosedError,
    ChronikLabError,
    InvalidArgumentError,
)
from chronik_lab.wire import scratch
from chronik_lab.wire.connections import LOST, Connections
from chronik_lab.wire.groups import Coordinator
from chronik_lab.wire.limits import (
    IDLE_MS,
    MAX_FRAME_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_PARTITIONS_PER_TOPIC,
    SLICE_MS,
)
from chronik_lab.wire.logs import Throttle
from chronik_lab.wire.service import DataService
from chronik_lab.wire.topics import TopicTable

__all__ = ["Server", "ServerError", "serve"]

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
SLICE_S = SLICE_MS / 1000


class ServerError(ChronikLabError):
    """The server could not start (e.g. the port is taken) or stopped unexpectedly."""


class Server:
    """A Kafka-protocol server over one `Broker`; start with `start()` or use `with`.

    Invariants: the broker, the topic table and the coordinator exist from construction to
    `stop()`; only the loop thread calls handlers, one step at a time under `lock`.
    """

    def __init__(
        self,
        bugs: str | Iterable[str] | None = "fixed",
        port: int = 0,
        data_dir: str | Path | None = None,
        flush_batches: int = 10,
        linger_ms: int | None = None,
        partitions: int = 3,
        host: str = "127.0.0.1",
        max_frame_bytes: int = MAX_FRAME_BYTES,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        idle_ms: int = IDLE_MS,
        drop_produce_responses: Iterable[int] = (),
        **broker_options: Any,
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InvalidArgumentError(f"port must be an int in 0..65535, not {port!r}")
        if not isinstance(host, str) or not host:
            raise InvalidArgumentError(f"host must be a host name or address, not {host!r}")
        self.host, self.port = host, port
        self.partitions = validate.positive_int(partitions, "partitions")
        if self.partitions > MAX_PARTITIONS_PER_TOPIC:
            raise InvalidArgumentError(
                f"partitions must be at most {MAX_PARTITIONS_PER_TOPIC:,}, not {partitions:,}"
            )
        self.max_frame_bytes = validate.positive_int(max_frame_bytes, "max_frame_bytes")
        self.max_message_bytes = validate.positive_int(max_message_bytes, "max_message_bytes")
        self.idle_ms = validate.positive_int(idle_ms, "idle_ms")
        # A test hook: the Produce requests (1-based, in arrival order) whose answers are lost
        # -- handled in full, then the connection closes without an answer, as when a
        # broker's answer never reaches the producer. Real clients then retry.
        self.drop_produce_responses = _request_numbers(drop_produce_responses)
        self.produce_requests = 0  # Produce requests received (the hook's numbering)
        self._epoch_ms = int(time.time() * 1000)
        self._mono0 = time.monotonic()
        self._private: Path | None = None
        if data_dir is None:
            scratch.remove_stale()
            data_dir = self._private = scratch.make_private()
        try:
            self.broker = Broker(
                data_dir=data_dir,
                bugs=bugs,
                flush_batches=flush_batches,
                linger_ms=linger_ms,
                clock=SimClock(self._epoch_ms),
                **broker_options,
            )
        except BaseException:
            self._remove_private()
            raise
        self._open_state()
        self.lock = threading.RLock()
        self.linger_ms = linger_ms
        self.requests = 0  # requests answered, for tests and figures
        self.longest_hold_s = 0.0  # the longest one slice held the lock
        self.throttle = Throttle()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._data: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._connections: Connections | None = None

    def _open_state(self) -> None:
        """The topic table and the committed offsets, from the data_dir; a data_dir that
        breaks the limits (DataDirError) closes the broker again."""
        fsync = self.broker.config.fsync
        try:
            self.topics = TopicTable(self.broker.data_dir, self.broker.partitions(), fsync)
            self._data_service = DataService(
                self.broker,
                self.topics,
                self.partitions,
                self.host,
                self.port,
                self.max_message_bytes,
                self.max_frame_bytes,
            )
            self._coordinator = Coordinator(
                self.broker.data_dir, self.topics, self.host, self.port, fsync
            )
        except BaseException:
            self.broker.close()
            self._remove_private()
            raise
        d, c = self._data_service, self._coordinator
        self._handlers = {
            0: d.produce,
            1: d.fetch,
            2: d.list_offsets,
            3: d.metadata,
            8: c.offset_commit,
            9: c.offset_fetch,
            10: c.find_coordinator,
            11: c.join_group,
            12: c.heartbeat,
            13: c.leave_group,
            14: c.sync_group,
            18: d.api_versions,
            19: d.create_topics,
            22: d.init_producer_id,
        }

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> Server:
        if self._thread is not None:
            raise ServerError("this server was already started")
        self._thread = threading.Thread(target=self._run, name="chronik-lab-wire", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self._error is not None:
            self._thread.join(STOP_TIMEOUT_S)
            self.broker.close()
            self._remove_private()
            raise ServerError(f"cannot serve on {self.bootstrap}: {self._error}") from None
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket, end the thread, close the broker
        (flushing what is pending), remove a private data_dir."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop may have just closed
                loop.call_soon_threadsafe(self._stopping.set)  # type: ignore[union-attr]
            thread.join(STOP_TIMEOUT_S)
        try:
            with self.lock:
                self.broker.close()
        finally:
            self._remove_private()

    def _remove_private(self) -> None:
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server thread ends (True) or `timeout` passes (False)."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __enter__(self) -> Server:
        return self if self._thread is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Server({self.bootstrap}, bugs={sorted(self.broker.bugs.names)})"

    # -- the loop -------------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to start(); a running server logs instead
            self._error = exc
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    async def _main(self) -> None:
        self._stopping, self._data = asyncio.Event(), asyncio.Event()
        self._connections = Connections(self, self.idle_ms / 1000)
        self.port = await self._connections.listen(self.host, self.port)
        self._data_service.port = self._coordinator.port = self.port
        ticker = asyncio.create_task(self._ticker())
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            ticker.cancel()
            await self._connections.close()
            await asyncio.gather(ticker, return_exceptions=True)

    async def _ticker(self) -> None:
        period = 0.05 if self.linger_ms is None else max(0.002, min(0.05, self.linger_ms / 2000))
        while True:
            await asyncio.sleep(period)
            try:
                with self.lock:
                    before = self._watermarks()
                    self._tick()
                    moved = self._watermarks() != before
            except BrokerClosedError:  # stop() closed it: a thread that outlived the join
                return
            except Exception as exc:  # the tick never dies: log, and tick again
                self.throttle.log("tick", logging.ERROR, "the tick failed: %r", exc)
                continue
            if moved:
                self._wake()

    def _tick(self) -> None:
        """Advance the engine's clock to now (see the module doc); holds the lock. A partition
        whose flush fails keeps its batches pending, is logged once per interval, and is
        retried on the next tick; the others were flushed all the same."""
        now = self._epoch_ms + int((time.monotonic() - self._mono0) * 1000)
        behind = now - self.broker.clock.now_ms
        if behind <= 0:
            return
        try:
            self.broker.advance(behind)
        except BrokerAdvanceError as exc:
            for (topic, index), cause in exc.failures.items():
                self._data_service._failed(topic, index, cause)

    def _watermarks(self) -> list[int]:
        return [self.broker.high_watermark(t, p) for t, p in self.broker.partitions()]

    def _wake(self) -> None:
        """Wake every fetch waiting for data: set the current event, start a fresh one."""
        event, self._data = self._data, asyncio.Event()
        event.set()  # type: ignore[union-attr]

    # -- requests -------------------------------------------------------------------------
    async def handle(self, api_key: int, body: Any) -> tuple[Any, int]:
        """The response to a decoded request, and how many slices it took."""
        if api_key == 1:
            return await self._fetch(body)
        if api_key == 0:
            self.produce_requests += 1
            number = self.produce_requests
        response, slices = await self._steps(api_key, body)
        if api_key == 0:
            self._wake()
            if number in self.drop_produce_responses:
                return LOST, slices
        return response, slices

    async def _steps(self, api_key: int, body: Any) -> tuple[Any, int]:
        """Run a handler, SLICE_S at a time under the lock; other connections run between
        slices (a plain handler is one step; a generator yields after each step)."""
        with self.lock:
            start = time.monotonic()
            self._tick()
            work = self._handlers[api_key](body)
            if not isinstance(work, types.GeneratorType):
                self._held(start)
                return work, 1
        slices = 0
        while True:
            slices += 1
            with self.lock:
                if slices > 1:
                    start = time.monotonic()
                    self._tick()
                try:
                    while time.monotonic() - start < SLICE_S:
                        next(work)
                except StopIteration as done:
                    return done.value, slices
                finally:
                    self._held(start)
            await asyncio.sleep(0)

    def _held(self, start: float) -> None:
        self.longest_hold_s = max(self.longest_hold_s, time.monotonic() - start)

    async def _fetch(self, body: Any) -> tuple[Any, int]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0, body.max_wait_ms) / 1000
        wanted = max(1, body.min_bytes)
        slices = 0
        while True:
            event = self._data
            answer, n = await self._steps(1, body)
            slices += n
            left = deadline - loop.time()
            if answer.record_bytes >= wanted or left <= 0:
                self._data_service.note_answer(answer)
                return answer.response, slices
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), left)  # type: ignore[union-attr]

    # -- what the clients did -----------------------------------------------------------
    @property
    def produced(self) -> list[Any]:
        """Every partition write that reached the engine (`service.Written`: request number,
        topic, partition, batches, records, base offset), the last PRODUCE_LOG_LIMIT kept."""
        with self.lock:
            return list(self._data_service.produced)

    def caught_up(self, topic: str, positions: dict[int, int | None]) -> bool:
        """True when the last fetch this server answered for each partition of `topic` in
        `positions` carried no records and no error at that position (None: the log start):
        a consumer there has read everything the broker would give it now."""
        with self.lock:
            for partition, position in positions.items():
                answer = self._data_service.answered.get((topic, partition))
                if position is None:
                    position = self._data_service.log_start(topic, partition)
                if answer is None or answer != (position, 0, 0):
                    return False
            return True


def serve(
    bugs: str | Iterable[str] | None = "fixed",
    port: int = 0,
    data_dir: str | Path | None = None,
    flush_batches: int = 10,
    linger_ms: int | None = None,
    partitions: int = 3,
    host: str = "127.0.0.1",
    **options: Any,
) -> Server:
    """Start serving the engine over the Kafka protocol; use as `with cl.serve(...) as server`.

    bugs: a preset or bug names, as for `cl.Broker`; port 0 picks a free port (see
    `server.bootstrap`); data_dir None works in a private directory removed on stop (and
    removed on the next start should the server be killed), a path keeps segments and
    committed offsets there for a restart; partitions: how many a topic gets when Metadata
    creates it (chronik used 3; at most MAX_PARTITIONS_PER_TOPIC). `max_frame_bytes`,
    `max_message_bytes` and `idle_ms` set the limits of limits.py; `drop_produce_responses`
    (a test hook: Produce request numbers, 1-based in arrival order) loses those answers --
    the records are written, then the connection closes unanswered; other options go to
    `cl.Broker`.
    """
    return Server(
        bugs=bugs,
        port=port,
        data_dir=data_dir,
        flush_batches=flush_batches,
        linger_ms=linger_ms,
        partitions=partitions,
        host=host,
        **options,
    ).start()


def _request_numbers(numbers: Iterable[int]) -> frozenset[int]:
    try:
        found = frozenset(numbers)
    except TypeError:
        raise InvalidArgumentError("drop_produce_responses must be request numbers") from None
    if not all(type(n) is int and n >= 1 for n in found):
        raise InvalidArgumentError(
            f"drop_produce_responses must be ints >= 1 (1-based request numbers), not {numbers!r}"
        )
    return found
