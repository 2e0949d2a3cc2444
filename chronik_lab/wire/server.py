"""`serve()`: the engine over the Kafka protocol, on an asyncio loop in a background thread.

One loop thread owns the sockets; every request is handled on it, one at a time and holding
`Server.lock`, so the engine (not thread-safe) never sees two requests at once. Code on other
threads that reads `server.broker` while clients are active should hold `server.lock` too.
A connection is served like Kafka's SocketServer: one request at a time, a frame larger than
`max_frame_bytes` (Kafka's socket.request.max.bytes) or one that cannot be decoded closes that
connection only, and an API or version not served closes it too (ApiVersions answers
UNSUPPORTED_VERSION with the served ranges instead, KIP-511).

Clocks: the engine's flush-by-linger and segment age read its `SimClock`, which only moves when
advanced. Here that clock starts at the wall-clock time of the server start (epoch ms, so record
timestamps are real) and follows the monotonic clock: before every request, and every tick
(50 ms, or linger_ms / 2 when shorter), it is advanced by the monotonic time elapsed, which also
runs the engine's linger flushes and age rotations. One simulated millisecond is then one real
millisecond, measured on a clock that never jumps.

A fetch that finds no data waits up to its max_wait_ms for a produce (or a tick that moved a
high watermark) to wake it, then reads once more: no busy loop, no early empty answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from chronik_lab import validate
from chronik_lab.engine.broker import Broker
from chronik_lab.engine.clock import SimClock
from chronik_lab.errors import ChronikLabError, InvalidArgumentError
from chronik_lab.wire.groups import Coordinator
from chronik_lab.wire.protocol import (
    MAX_FRAME_BYTES,
    FrameError,
    Request,
    frame_response,
    parse_request,
    unsupported_version,
)
from chronik_lab.wire.service import DataService

__all__ = ["Server", "ServerError", "serve", "serve_until_interrupted"]

log = logging.getLogger("chronik_lab.wire")
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class ServerError(ChronikLabError):
    """The server could not start (e.g. the port is taken) or stopped unexpectedly."""


class Server:
    """A Kafka-protocol server over one `Broker`; start with `start()` or use `with`."""

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
        **broker_options: Any,
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InvalidArgumentError(f"port must be an int in 0..65535, not {port!r}")
        if not isinstance(host, str) or not host:
            raise InvalidArgumentError(f"host must be a host name or address, not {host!r}")
        self.host, self.port = host, port
        self.partitions = validate.positive_int(partitions, "partitions")
        self.max_frame_bytes = validate.positive_int(max_frame_bytes, "max_frame_bytes")
        self._epoch_ms = int(time.time() * 1000)
        self._mono0 = time.monotonic()
        self.broker = Broker(
            data_dir=data_dir,
            bugs=bugs,
            flush_batches=flush_batches,
            linger_ms=linger_ms,
            clock=SimClock(self._epoch_ms),
            **broker_options,
        )
        self.lock = threading.RLock()
        self.linger_ms = linger_ms
        self.requests = 0  # requests answered, for tests and figures
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._data: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._data_service: DataService | None = None
        self._coordinator: Coordinator | None = None

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
            raise ServerError(f"cannot serve on {self.bootstrap}: {self._error}") from None
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket, end the thread, close the broker."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop may have just closed
                loop.call_soon_threadsafe(self._stopping.set)  # type: ignore[union-attr]
            thread.join(STOP_TIMEOUT_S)
        with self.lock:
            self.broker.close()

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
            loop.close()

    async def _main(self) -> None:
        self._stopping, self._data = asyncio.Event(), asyncio.Event()
        listener = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = listener.sockets[0].getsockname()[1]
        self._data_service = DataService(self.broker, self.partitions, self.host, self.port)
        self._coordinator = Coordinator(self.broker.data_dir, self.host, self.port)
        ticker = asyncio.create_task(self._ticker())
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            listener.close()
            ticker.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(ticker, *self._tasks, return_exceptions=True)
            await listener.wait_closed()

    async def _ticker(self) -> None:
        period = 0.05 if self.linger_ms is None else max(0.002, min(0.05, self.linger_ms / 2000))
        while True:
            await asyncio.sleep(period)
            with self.lock:
                before = self._watermarks()
                self._tick()
                moved = self._watermarks() != before
            if moved:
                self._wake()

    def _tick(self) -> None:
        """Advance the engine's clock to now (see the module doc); holds the lock."""
        now = self._epoch_ms + int((time.monotonic() - self._mono0) * 1000)
        behind = now - self.broker.clock.now_ms
        if behind > 0:
            self.broker.advance(behind)

    def _watermarks(self) -> list[int]:
        return [self.broker.high_watermark(t, p) for t, p in self.broker.partitions()]

    def _wake(self) -> None:
        """Wake every fetch waiting for data: set the current event, start a fresh one."""
        event, self._data = self._data, asyncio.Event()
        event.set()  # type: ignore[union-attr]

    # -- connections ----------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        task = asyncio.current_task()
        self._tasks.add(task)  # type: ignore[arg-type]
        peer = writer.get_extra_info("peername")
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(4), "big", signed=True)
                if not 0 < size <= self.max_frame_bytes:
                    log.warning(
                        "closing %s: a frame of %d bytes (limit %d)",
                        peer,
                        size,
                        self.max_frame_bytes,
                    )
                    break
                answer = await self._answer(parse_request(await reader.readexactly(size)))
                if answer is None:
                    break
                if answer:
                    writer.write(answer)
                    await writer.drain()
        except FrameError as exc:
            log.warning("closing %s: %s", peer, exc)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away, mid-request or between requests
        except asyncio.CancelledError:
            pass  # the server is stopping: end quietly, the socket closes below
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, req: Request) -> bytes | None:
        """The framed answer; b"" for none (Produce with acks=0); None to close."""
        if req.body is None:
            # ApiVersions above the served range is the normal first probe (KIP-511): info.
            level = logging.INFO if req.api_key == 18 else logging.WARNING
            log.log(
                level, "unsupported API %d v%d from %s", req.api_key, req.api_version, req.client_id
            )
            return unsupported_version(req)
        try:
            if req.api_key == 1:
                response = await self._fetch(req.body)
            else:
                with self.lock:
                    self._tick()
                    response = self._handler(req.api_key)(req.body)
        except Exception as exc:  # a handler bug must cost one connection, not the server
            log.error(
                "closing the connection after API %d v%d failed: %r",
                req.api_key,
                req.api_version,
                exc,
            )
            return None
        self.requests += 1
        if req.api_key == 0:
            self._wake()
            if req.body.acks == 0:
                return b""  # Kafka sends no response to acks=0
        return frame_response(req, response)

    async def _fetch(self, body: Any) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0, body.max_wait_ms) / 1000
        wanted = max(1, body.min_bytes)
        while True:
            event = self._data
            with self.lock:
                self._tick()
                response, size = self._data_service.fetch(body)  # type: ignore[union-attr]
            left = deadline - loop.time()
            if size >= wanted or left <= 0:
                self._data_service.note_answer(body, response)  # type: ignore[union-attr]
                return response
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), left)  # type: ignore[union-attr]

    # -- what the clients did -----------------------------------------------------------
    @property
    def produced(self) -> list[Any]:
        """Every partition write that reached the engine (`service.Written`: request number,
        topic, partition, batches, records, base offset), the last PRODUCE_LOG_LIMIT kept."""
        with self.lock:
            return list(self._data_service.produced) if self._data_service else []

    def caught_up(self, topic: str, positions: dict[int, int | None]) -> bool:
        """True when the last fetch this server answered for each partition of `topic` in
        `positions` carried no records and no error at that position (None: the log start):
        a consumer there has read everything the broker would give it now."""
        with self.lock:
            if self._data_service is None:
                return False
            for partition, position in positions.items():
                answer = self._data_service.answered.get((topic, partition))
                if position is None:
                    position = self._data_service.log_start(topic, partition)
                if answer is None or answer != (position, 0, 0):
                    return False
            return True

    def _handler(self, api_key: int) -> Any:
        d, c = self._data_service, self._coordinator
        return {
            0: d.produce,
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
        }[api_key]


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
    `server.bootstrap`); data_dir None works in a private directory removed on stop, a path
    keeps segments and committed offsets there for a restart; partitions: how many a topic
    gets when Metadata creates it (chronik used 3). Other options go to `cl.Broker`.
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


def serve_until_interrupted(on_ready: Any = None, **options: Any) -> None:
    """Serve (as `serve(**options)`) in the foreground until Ctrl-C, then stop cleanly.
    `on_ready(server)` runs once the port is bound (the CLI prints its line there)."""
    server = serve(**options)
    try:
        if on_ready is not None:
            on_ready(server)
        while not server.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
