"""The only Kafka bodies the fault proxy reads: broker addresses in Metadata and FindCoordinator
responses, and the acks of a Produce request (acks=0 gets no response).

Kafka clients connect to the addresses a broker advertises, not to the one they were given, so
the proxy puts its own address in place of each broker's. The address is the `host` string and
`port` int32 that sit side by side in each entry (MetadataResponse's brokers, every version;
FindCoordinatorResponse's single coordinator up to v3, its coordinators array from v4, KIP-699);
everything around them is copied byte for byte, so a version this module has not seen keeps
working as long as the fields before the addresses keep their shape.

Flexible versions (Metadata v9+, FindCoordinator v3+, Produce v9+) use compact strings and arrays
(an unsigned varint of length + 1) and tagged fields; their response header (v1) carries tagged
fields after the correlation id, their request header (v2) after the client id.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from chronik_lab.wire.protocol import FrameError, read_uvarint, skip_tagged_fields

__all__ = ["Address", "addresses", "produce_acks", "response_body_start", "rewrite"]

METADATA, FIND_COORDINATOR, PRODUCE = 3, 10, 0
FLEXIBLE_FROM = {METADATA: 9, FIND_COORDINATOR: 3, PRODUCE: 9}


class BodyError(ValueError):
    """A body too short or malformed where an address was expected."""


@dataclass(frozen=True)
class Address:
    start: int  # where the host string starts in the frame
    end: int  # just after the port
    host: str
    port: int
    compact: bool


def flexible(api_key: int, version: int) -> bool:
    return version >= FLEXIBLE_FROM.get(api_key, 1 << 15)


def response_body_start(api_key: int, version: int, frame: bytes) -> int:
    """Where a response frame's body starts (the frame without its 4-byte size)."""
    pos = 4  # correlation id
    if flexible(api_key, version):
        pos = skip_tagged_fields(frame, pos)
    return pos


def addresses(api_key: int, version: int, frame: bytes) -> list[Address]:
    """The broker addresses in a Metadata or FindCoordinator response frame (no size prefix);
    BodyError when the frame ends or breaks before they do."""
    try:
        r = _Reader(frame, response_body_start(api_key, version, frame), flexible(api_key, version))
        if api_key == METADATA:
            return _metadata(r, version)
        if api_key == FIND_COORDINATOR:
            return _find_coordinator(r, version)
        return []
    except (FrameError, IndexError) as exc:
        raise BodyError(str(exc) or "the body ends inside a field") from None


def rewrite(frame: bytes, found: list[Address], to: Callable[[str, int], tuple[str, int]]) -> bytes:
    """`frame` with each address replaced by `to(host, port)`, in the same encoding."""
    out, pos = bytearray(), 0
    for a in found:
        host, port = to(a.host, a.port)
        out += frame[pos : a.start] + _string(host, a.compact) + struct.pack(">i", port)
        pos = a.end
    out += frame[pos:]
    return bytes(out)


def produce_acks(frame: bytes) -> int | None:
    """The acks of a Produce request frame (no size prefix), None if it cannot be read."""
    try:
        _, version, _ = struct.unpack_from(">hhi", frame)
        (n,) = struct.unpack_from(">h", frame, 8)
        pos = 10 + max(n, 0)
        if flexible(PRODUCE, version):
            pos = skip_tagged_fields(frame, pos)
        r = _Reader(frame, pos, flexible(PRODUCE, version))
        if version >= 3:
            r.string()  # transactional_id
        return r.int16()
    except (struct.error, BodyError, FrameError, IndexError):
        return None


def _metadata(r: _Reader, version: int) -> list[Address]:
    if version >= 3:
        r.int32()  # throttle_time_ms
    found = []
    for _ in range(r.count()):
        r.int32()  # node_id
        found.append(r.address())
        if version >= 1:
            r.string()  # rack
        r.tags()
    return found


def _find_coordinator(r: _Reader, version: int) -> list[Address]:
    if version == 0:
        r.int16()  # error_code
        r.int32()  # node_id
        return [r.address()]
    r.int32()  # throttle_time_ms
    if version <= 3:
        r.int16()  # error_code
        r.string()  # error_message
        r.int32()  # node_id
        return [r.address()]
    found = []
    for _ in range(r.count()):
        r.string()  # key
        r.int32()  # node_id
        found.append(r.address())
        r.int16()  # error_code
        r.string()  # error_message
        r.tags()
    return found


class _Reader:
    """Reads Kafka's primitive types from `buf` at `pos`, compact or classic."""

    def __init__(self, buf: bytes, pos: int, compact: bool) -> None:
        self.buf, self.pos, self.compact = buf, pos, compact

    def int16(self) -> int:
        return self._unpack(">h", 2)

    def int32(self) -> int:
        return self._unpack(">i", 4)

    def _unpack(self, fmt: str, size: int) -> int:
        if self.pos + size > len(self.buf):
            raise BodyError("the body ends inside a field")
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def count(self) -> int:
        n = self._uvarint() - 1 if self.compact else self.int32()
        if n < 0 or n > len(self.buf):
            raise BodyError(f"an array of {n} entries")
        return n

    def string(self) -> str | None:
        n = self._uvarint() - 1 if self.compact else self.int16()
        if n < 0:
            return None
        if self.pos + n > len(self.buf):
            raise BodyError("a string runs past the body")
        text = bytes(self.buf[self.pos : self.pos + n]).decode("utf-8", "replace")
        self.pos += n
        return text

    def address(self) -> Address:
        start = self.pos
        host = self.string()
        port = self.int32()
        return Address(start, self.pos, host or "", port, self.compact)

    def tags(self) -> None:
        if self.compact:
            self.pos = skip_tagged_fields(self.buf, self.pos)

    def _uvarint(self) -> int:
        value, self.pos = read_uvarint(self.buf, self.pos)
        return value


def _string(text: str, compact: bool) -> bytes:
    data = text.encode()
    if compact:
        return _varint(len(data) + 1) + data
    return struct.pack(">h", len(data)) + data


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
