"""The server's sockets: the accept loop, one task per connection, and the idle sweeper.

A connection is served like Kafka's SocketServer: one request at a time, in order. A frame
larger than its limit (protocol.frame_limit: Kafka's socket.request.max.bytes for Produce, 1 MiB
for the rest) or one that cannot be decoded closes that connection only; an API or version not
served closes it too (ApiVersions answers UNSUPPORTED_VERSION with the served ranges instead,
KIP-511). A request that decodes but breaks its schema, or whose handler fails, is answered
with that API's error response and the connection stays open.

Accepting never floods the log or spins: out of file handles (EMFILE, ENFILE) or buffers, the
loop waits (50 ms, doubling up to 1 s) and retries, logging once per interval. asyncio's own
accept loop (Python 3.11) logs a traceback per failed accept, a hundred per loop turn.

A connection that sends no complete request for `idle_s` (Kafka's connections.max.idle.ms) is
closed by the sweeper, which wakes every second or so; a connection in the middle of a request
(a fetch waiting for data) is never idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

from chronik_lab.wire.logs import log, shown
from chronik_lab.wire.protocol import (
    UNKNOWN_SERVER_ERROR,
    FrameError,
    Request,
    error_body,
    frame_limit,
    frame_response,
    parse_request,
    unsupported_version,
)

__all__ = ["Connections"]

BACKLOG = 128
_RETRY_S = (0.05, 1.0)  # the accept loop's first and longest wait when out of resources
_OFFLOAD_BYTES = 64 * 1024  # a request this large is decoded, and answered, off the loop
# An answer that took more slices than this to build is encoded off the loop too (a Metadata
# of every topic: encoding costs about a third of building). Fewer: the hand-off to a thread
# costs more than it saves (a 1 MB fetch answer: +20% CPU).
_OFFLOAD_SLICES = 4
_PRODUCE = b"\x00\x00"  # a frame starting with API key 0


class _Peer:
    """One connection's state for the sweeper."""

    __slots__ = ("busy", "last", "task")

    def __init__(self, task: asyncio.Task[Any], now: float) -> None:
        self.task, self.last, self.busy = task, now, False


class Connections:
    """The listening socket and every connection of one server. Invariants: `peers` holds
    exactly the connections being served; after `close()` there are none and nothing listens.
    Loop thread only."""

    def __init__(self, server: Any, idle_s: float) -> None:
        self.server, self.idle_s = server, idle_s
        self.peers: dict[asyncio.Task[Any], _Peer] = {}
        self._sock: socket.socket | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    async def listen(self, host: str, port: int) -> int:
        """Bind and start accepting; the port bound."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        ipv4 = [info for info in infos if info[0] == socket.AF_INET]
        family, _, _, _, address = (ipv4 or infos)[0]  # "localhost": 127.0.0.1, as clients try
        sock = socket.create_server(address, family=family, backlog=BACKLOG)
        sock.setblocking(False)
        self._sock = sock
        self._tasks = [loop.create_task(self._accept()), loop.create_task(self._sweep())]
        return sock.getsockname()[1]

    async def close(self) -> None:
        for task in [*self._tasks, *self.peers]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self.peers, return_exceptions=True)
        if self._sock is not None:
            self._sock.close()

    # -- accepting ------------------------------------------------------------------------
    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        wait = 0.0
        while True:
            try:
                conn, peer = await loop.sock_accept(self._sock)  # type: ignore[arg-type]
            except ConnectionAbortedError:
                continue  # the client gave up before its turn
            except Exception as exc:  # out of file handles, above all: wait, then retry
                reason = exc.strerror if isinstance(exc, OSError) else repr(exc)
                self.server.throttle.log(
                    "accept",
                    logging.WARNING,
                    "cannot accept connections: %s; retrying, waiting up to %.0f s",
                    reason,
                    _RETRY_S[1],
                )
                wait = min(_RETRY_S[1], max(_RETRY_S[0], wait * 2))
                await asyncio.sleep(wait)
                continue
            wait = 0.0
            task = loop.create_task(self._serve(conn, peer))
            self.peers[task] = _Peer(task, loop.time())

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, self.idle_s / 4))
            now = loop.time()
            for peer in list(self.peers.values()):
                if not peer.busy and now - peer.last > self.idle_s:
                    peer.task.cancel()

    # -- one connection -------------------------------------------------------------------
    async def _serve(self, conn: socket.socket, address: Any) -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        writer = None
        try:
            reader, writer = await asyncio.open_connection(sock=conn)
            me = self.peers[task]  # type: ignore[index]
            while True:
                frame = await self._frame(reader, address)
                if frame is None:
                    break
                me.busy = True
                answer = await self._answer(frame)
                if answer is None:
                    break
                if answer:
                    writer.write(answer)
                    await writer.drain()
                me.busy, me.last = False, loop.time()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away, mid-request or between requests
        except asyncio.CancelledError:
            pass  # stopping, or idle: end quietly, the socket closes below
        finally:
            self.peers.pop(task, None)  # type: ignore[arg-type]
            if writer is None:
                conn.close()
            else:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    async def _frame(self, reader: asyncio.StreamReader, address: Any) -> bytes | None:
        """The next request frame; None when it is over its limit (close the connection)."""
        size = int.from_bytes(await reader.readexactly(4), "big", signed=True)
        limit = self.server.max_frame_bytes
        if 0 < size <= frame_limit(1, limit):
            return await reader.readexactly(size)
        if 2 <= size <= limit:
            head = await reader.readexactly(2)
            if head == _PRODUCE:  # only Produce carries records
                return head + await reader.readexactly(size - 2)
            limit = frame_limit(int.from_bytes(head, "big", signed=True), limit)
        self.server.throttle.log(
            ("frame", address[0] if address else None),
            logging.WARNING,
            "closing %s: a frame of %d bytes (limit %d)",
            address,
            size,
            limit,
        )
        return None

    async def _answer(self, frame: bytes) -> bytes | None:
        """The framed answer; b"" for none (Produce with acks=0); None to close."""
        offload = len(frame) > _OFFLOAD_BYTES and frame[:2] != _PRODUCE
        try:
            req = await asyncio.to_thread(parse_request, frame) if offload else parse_request(frame)
        except FrameError as exc:
            self.server.throttle.log("bad frame", logging.WARNING, "closing: %s", exc)
            return None
        if req.body is None and not req.error:
            # ApiVersions above the served range is the normal first probe (KIP-511): info.
            level = logging.INFO if req.api_key == 18 else logging.WARNING
            log.log(
                level,
                "unsupported API %d v%d from %s",
                req.api_key,
                req.api_version,
                shown(req.client_id),
            )
            return unsupported_version(req)
        response, slices = await self._respond(req)
        if req.api_key == 0 and req.body is not None and req.body.acks == 0:
            return b""  # Kafka sends no response to acks=0
        try:
            if offload or slices > _OFFLOAD_SLICES:
                return await asyncio.to_thread(frame_response, req, response)
            return frame_response(req, response)
        except Exception as exc:  # an answer the codec cannot write: say so, in its place
            self._failed(req, exc)
            return frame_response(req, error_body(req.api_key, UNKNOWN_SERVER_ERROR))

    async def _respond(self, req: Request) -> tuple[Any, int]:
        """The response to `req` (an error answer when it breaks its schema, or when its
        handler fails), and how many slices it took."""
        if req.error:
            self.server.throttle.log(
                ("invalid", req.api_key),
                logging.WARNING,
                "INVALID_REQUEST from %s: %s",
                shown(req.client_id),
                req.problem,
            )
            return error_body(req.api_key, req.error), 1
        try:
            response, slices = await self.server.handle(req.api_key, req.body)
        except Exception as exc:  # a handler bug must cost one answer, not the server
            self._failed(req, exc)
            return error_body(req.api_key, UNKNOWN_SERVER_ERROR), 1
        self.server.requests += 1
        return response, slices

    def _failed(self, req: Request, exc: BaseException) -> None:
        self.server.throttle.log(
            ("failed", req.api_key, type(exc).__name__),
            logging.ERROR,
            "API %d v%d from %s failed: %r; answered UNKNOWN_SERVER_ERROR",
            req.api_key,
            req.api_version,
            shown(req.client_id),
            exc,
        )
