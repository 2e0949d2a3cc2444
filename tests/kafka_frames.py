"""Raw Kafka protocol helpers the wire tests share: connect to a server, send a request and
decode its answer, read a framed response off a socket, build a v2 record batch of plain values
with the client library's own builder."""

from __future__ import annotations

import socket
import struct

from kafka.record.memory_records import MemoryRecordsBuilder

TIMEOUT_S = 5.0


def connect(server) -> socket.socket:
    """A socket to a started server (anything with host and port), with a timeout."""
    sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT_S)
    sock.settimeout(TIMEOUT_S)
    return sock


def call(sock: socket.socket, request, version: int, correlation_id: int = 1):
    """Send `request` at `version` and decode the answer with the matching response class."""
    request.with_header(correlation_id=correlation_id, client_id="test")
    sock.sendall(request.encode(version=version, header=True, framed=True))
    frame = read_frame(sock)
    response_class = type(request).__name__.replace("Request", "Response")
    module = __import__(type(request).__module__, fromlist=[response_class])
    cls = getattr(module, response_class)
    return cls.decode(frame, version=version, header=True)


def closed(sock: socket.socket) -> bool:
    """True when the server closed the connection (or it fails), not merely slow."""
    try:
        return sock.recv(1) == b""
    except (ConnectionError, TimeoutError):
        return True


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


def recrc(batch: bytes | bytearray) -> bytes:
    """A v2 batch with its CRC-32C computed again (after a test changed its attributes or
    records), so that the server looks past the CRC check."""
    from kafka.record.util import calc_crc32c

    out = bytearray(batch)
    struct.pack_into(">I", out, 17, calc_crc32c(bytes(out[21:])))
    return bytes(out)
