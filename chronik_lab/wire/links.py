"""One proxied connection: its frames, the requests that wait for an answer, and the byte
faults applied as a frame is written (proxy.py drives them on its loop).

A `Link` pairs a client connection with its own upstream connection. `slots` holds the client's
requests that expect an answer, in the client's order: an answer is written only when every
earlier one was written, dropped or reset, so a client sees answers in its requests' order as
Kafka guarantees, whichever order the broker received them in. Not thread-safe: one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from chronik_lab.errors import InvalidArgumentError
from chronik_lab.wire.faults import FaultSpec, api_name

__all__ = ["FaultEvent", "Link", "Slot", "abort", "byte_faults", "parse_address", "read_frame",
           "write_frame"]  # fmt: skip

log = logging.getLogger("chronik_lab.wire.proxy")


@dataclass(frozen=True)
class FaultEvent:
    """One fault applied: `time_s` since the proxy's origin; `action` says what was done."""

    time_s: float
    kind: str
    action: str
    connection: int | None = None
    api_key: int | None = None
    correlation_id: int | None = None
    spec: str = ""

    @property
    def api(self) -> str | None:
        return None if self.api_key is None else api_name(self.api_key)


@dataclass(eq=False)
class Slot:
    """A request that awaits its answer, in the client's order."""

    api_key: int
    version: int
    correlation_id: int
    fate: FaultSpec | None = None  # drop-response or reset-after
    delay_ms: int = 0
    answer: bytes | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(eq=False)
class Link:
    """One client connection and its upstream connection."""

    id: int
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    slots: deque[Slot] = field(default_factory=deque)
    by_id: dict[int, Slot] = field(default_factory=dict)
    queued: asyncio.Event = field(default_factory=asyncio.Event)
    to_upstream: asyncio.Lock = field(default_factory=asyncio.Lock)
    held: set[asyncio.Task[Any]] = field(default_factory=set)


async def read_frame(reader: asyncio.StreamReader, max_frame_bytes: int) -> bytes | None:
    """One frame without its size; None at end of stream or on a frame above the cap."""
    try:
        size = int.from_bytes(await reader.readexactly(4), "big", signed=True)
        if not 8 <= size <= max_frame_bytes:
            log.warning("closing a connection: a frame of %d bytes", size)
            return None
        return await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


def byte_faults(faults: list[FaultSpec], direction: str, api_key: int) -> list[FaultSpec]:
    """The byte faults that apply to a frame of `api_key` going `direction`."""
    return [
        s
        for s in faults
        if s.family == "byte" and s.on in (direction, "both") and s.api in (None, api_key)
    ]


async def write_frame(writer: asyncio.StreamWriter | None, frame: bytes, faults: list[FaultSpec],
                      lock: asyncio.Lock, rng: random.Random) -> None:  # fmt: skip
    """Write one frame with its size, through `faults` (latency before it, slices, then the
    bandwidth's wait); `lock` keeps a sliced frame from interleaving with another."""
    if writer is None:
        return
    data = struct.pack(">i", len(frame)) + frame
    async with lock:
        for spec in faults:
            if spec.kind == "latency":
                jitter = spec.jitter * (2 * rng.random() - 1)
                await asyncio.sleep(max(0.0, spec.ms + jitter) / 1000)
        sliced = next((s for s in faults if s.kind == "slice"), None)
        step = sliced.bytes if sliced is not None else len(data)
        for start in range(0, len(data), step):
            writer.write(data[start : start + step])
            await writer.drain()
            if sliced is not None and sliced.ms:
                await asyncio.sleep(sliced.ms / 1000)
        for spec in faults:
            if spec.kind == "bandwidth":
                await asyncio.sleep(len(data) / (spec.rate * 1024))


def frame_api(frame: bytes) -> int:
    return struct.unpack_from(">h", frame)[0]


def abort(writer: asyncio.StreamWriter, reset: bool) -> None:
    """Close a connection; `reset`: with a TCP RST (SO_LINGER 0), as a crashed peer would."""
    sock = writer.get_extra_info("socket")
    if reset and sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort() if reset else writer.close()


def parse_address(text: object, what: str) -> tuple[str, int]:
    if isinstance(text, str) and ":" in text:
        host, _, port = text.rpartition(":")
        if host and port.isdigit() and 0 < int(port) <= 65535:
            return host.strip("[]"), int(port)
    raise InvalidArgumentError(f"{what} must be HOST:PORT, not {text!r}")
