"""Raw Kafka protocol helpers the wire tests share: read a framed response off a socket, and
build a v2 record batch of plain values with the client library's own builder."""

from __future__ import annotations

import socket
import struct

from kafka.record.memory_records import MemoryRecordsBuilder


def read_exactly(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def read_frame(sock: socket.socket) -> bytes:
    """One size-prefixed frame (the size itself left out)."""
    size = struct.unpack(">i", read_exactly(sock, 4))[0]
    return read_exactly(sock, size)


def record_batch(*values: bytes, compression: int = 0) -> bytes:
    """One v2 record batch holding `values` (no keys, timestamp 1)."""
    b = MemoryRecordsBuilder(magic=2, compression_type=compression, batch_size=1 << 20)
    for v in values:
        b.append(timestamp=1, key=None, value=v)
    b.close()
    return bytes(b.buffer())
