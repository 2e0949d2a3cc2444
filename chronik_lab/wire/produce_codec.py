"""The Produce API by hand: the request body read, the response written, for every version
served (0-9). They run once per produce request -- 20,000 of them in notebook 07's 100,000-message
run -- where kafka-python's generic codec builds a struct object per field group and cost the
server about 60 us a request, a fifth of its time. The bytes are kafka-python's own (the tests
compare both ways, every version); every other API still goes through the library.

Layout (Kafka's ProduceRequest / ProduceResponse schemas): v3+ requests start with a nullable
transactional id; v9 is the first flexible version (compact strings, arrays and bytes, a
tagged-field section closing each struct). Responses add log_append_time_ms at v2,
log_start_offset at v5, record_errors and error_message at v8, throttle_time_ms from v1.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

__all__ = ["NullField", "ProduceAnswer", "ProduceBody", "decode_produce"]

FLEXIBLE = 9
_HEAD = struct.Struct(">hi")  # acks, timeout_ms
_PART = struct.Struct(">ihq")  # index, error_code, base_offset
_Q = struct.Struct(">q")
_I = struct.Struct(">i")
_H = struct.Struct(">h")


class NullField(ValueError):
    """A null array or topic name where the request's schema has none: the server answers
    INVALID_REQUEST."""


class PartitionData(NamedTuple):
    index: int
    records: memoryview | None


class TopicData(NamedTuple):
    name: str
    partition_data: list[PartitionData]


class ProduceBody(NamedTuple):
    """A decoded ProduceRequest: the fields the server reads, named as the library names them."""

    API_VERSION: int
    transactional_id: str | None
    acks: int
    timeout_ms: int
    topic_data: list[TopicData]


def decode_produce(data: memoryview, version: int) -> ProduceBody:
    """The request body (after its header); IndexError, struct.error or ValueError when it is
    cut short or malformed."""
    r = _Reader(data, version >= FLEXIBLE)
    transactional_id = r.string() if version >= 3 else None
    acks, timeout_ms = _HEAD.unpack_from(data, r.pos)
    r.pos += _HEAD.size
    topics = []
    for _ in range(r.length()):
        name = r.string()
        if name is None:
            raise NullField("a topic without a name")
        parts = []
        for _ in range(r.length()):
            (index,) = _I.unpack_from(data, r.pos)
            r.pos += 4
            parts.append(PartitionData(index, r.bytes()))
            r.tags()
        topics.append(TopicData(name, parts))
        r.tags()
    r.tags()
    return ProduceBody(version, transactional_id, acks, timeout_ms, topics)


class _Reader:
    def __init__(self, data: memoryview, flexible: bool) -> None:
        self.data, self.flexible, self.pos = data, flexible, 0

    def uvarint(self) -> int:
        value = shift = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            value |= (b & 0x7F) << shift
            if b < 0x80:
                return value
            shift += 7
            if shift > 28:
                raise ValueError("an unsigned varint longer than 5 bytes")

    def length(self) -> int:
        if self.flexible:
            n = self.uvarint() - 1
        else:
            (n,) = _I.unpack_from(self.data, self.pos)
            self.pos += 4
        if n < 0:
            raise NullField("a null array where the schema has none")
        return n

    def _sized(self, n: int) -> memoryview | None:
        if n < 0:
            return None
        if self.pos + n > len(self.data):
            raise IndexError("a field runs past the frame")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def string(self) -> str | None:
        if self.flexible:
            n = self.uvarint() - 1
        else:
            (n,) = _H.unpack_from(self.data, self.pos)
            self.pos += 2
        raw = self._sized(n)
        return None if raw is None else str(raw, "utf-8")

    def bytes(self) -> memoryview | None:
        if self.flexible:
            n = self.uvarint() - 1
        else:
            (n,) = _I.unpack_from(self.data, self.pos)
            self.pos += 4
        return self._sized(n)

    def tags(self) -> None:
        if self.flexible:
            for _ in range(self.uvarint()):
                self.uvarint()  # the tag
                self.pos += self.uvarint()
            if self.pos > len(self.data):
                raise IndexError("tagged fields run past the frame")


class ProduceAnswer:
    """A ProduceResponse: per topic, per partition written, (index, error_code, base_offset,
    log_start_offset); log_append_time_ms is always -1 (CreateTime), no record errors."""

    def __init__(self, topics: list[tuple[str, list[tuple[int, int, int, int]]]]) -> None:
        self.topics = topics

    def encode(self, version: int) -> bytes:
        flexible = version >= FLEXIBLE
        out = bytearray()
        _length(out, len(self.topics), flexible)
        for name, parts in self.topics:
            raw = name.encode("utf-8")
            if flexible:
                _uvarint(out, len(raw) + 1)
            else:
                out += _H.pack(len(raw))
            out += raw
            _length(out, len(parts), flexible)
            for index, error_code, base_offset, log_start_offset in parts:
                out += _PART.pack(index, error_code, base_offset)
                if version >= 2:
                    out += _Q.pack(-1)  # log_append_time_ms
                if version >= 5:
                    out += _Q.pack(log_start_offset)
                if version >= 8:
                    _length(out, 0, flexible)  # record_errors
                    out += b"\x00" if flexible else b"\xff\xff"  # error_message: null
                if flexible:
                    out += b"\x00"  # the partition's tagged fields
            if flexible:
                out += b"\x00"  # the topic's tagged fields
        if version >= 1:
            out += _I.pack(0)  # throttle_time_ms
        if flexible:
            out += b"\x00"
        return bytes(out)


def _length(out: bytearray, n: int, flexible: bool) -> None:
    if flexible:
        _uvarint(out, n + 1)
    else:
        out += _I.pack(n)


def _uvarint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
