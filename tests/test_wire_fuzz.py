"""Fuzzing the server with request frames (issue 19): every served API at every served version,
its fields drawn from its own schema (nulls where the schema has none, extreme numbers, record
batches with edited magic, flags and bytes), then sometimes cut, flipped or padded. After each
frame: no traceback and no handler failure in the log, the server thread alive, a frame that
decodes is answered (an error code, not a closed connection), and a normal client is served.

One server for the whole test (state accumulates, as on a real server); every frame on a
fresh connection, followed by an ApiVersions on that connection, so that each read ends with
an answer or a close, never a wait."""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from kafka.protocol.consumer import FetchRequest
from kafka.protocol.metadata import ApiVersionsRequest, MetadataRequest
from kafka.record.memory_records import MemoryRecordsBuilder
from kafka_frames import call, connect, read_exactly, recrc

import chronik_lab as cl
from chronik_lab.wire.protocol import API, SUPPORTED

_INTS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}
PROBE_ID = 2**31 - 1  # the correlation id of the ApiVersions that follows each fuzzed frame
EXAMPLES = settings().max_examples * 2  # 200 under the ci profile


def _int(bits: int) -> st.SearchStrategy[int]:
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return st.one_of(st.sampled_from([0, 1, -1, lo, hi]), st.integers(lo, hi))


_strings = st.one_of(st.none(), st.sampled_from(["t", "g", "", "x" * 300]), st.text(max_size=12))


@st.composite
def _batches(draw) -> bytes:
    """A record batch of any magic and codec, sometimes edited past its CRC check."""
    magic = draw(st.sampled_from([0, 1, 2]))
    codec = draw(st.sampled_from([0, 1, 2, 3, 4] if magic == 2 else [0, 1, 2]))
    builder = MemoryRecordsBuilder(magic=magic, compression_type=codec, batch_size=1 << 16)
    for value in draw(st.lists(st.one_of(st.none(), st.binary(max_size=30)), max_size=4)):
        builder.append(
            timestamp=1, key=draw(st.one_of(st.none(), st.binary(max_size=5))), value=value
        )
    builder.close()
    raw = bytearray(builder.buffer())
    if magic == 2 and len(raw) > 61 and draw(st.booleans()):
        raw[16] = draw(st.sampled_from([2, 3, 7, 255]))
        attributes = struct.unpack_from(">h", raw, 21)[0] | draw(st.sampled_from([0, 1, 4, 0x20]))
        struct.pack_into(">h", raw, 21, attributes)
        if draw(st.booleans()):
            at = draw(st.integers(61, len(raw) - 1))
            raw[at] = draw(st.integers(0, 255))
        raw = bytearray(recrc(raw))
    return bytes(raw)


def _value(field, version: int) -> st.SearchStrategy:
    kind = field._type_str
    if kind in _INTS:
        return _int(_INTS[kind])
    if kind == "bool":
        return st.booleans()
    if kind == "string":
        return _strings
    if kind == "bytes":
        return st.one_of(st.none(), st.binary(max_size=40))
    if kind == "records":
        return st.one_of(st.none(), st.binary(max_size=80), _batches())
    if kind == "uuid":
        return st.uuids()
    if kind == "[]int32":
        return st.one_of(st.none(), st.lists(_int(32), max_size=4))
    if kind == "[]string":
        return st.one_of(st.none(), st.lists(_strings, max_size=3))
    inner = _struct(field.data_class, version)
    if field.is_struct_array():
        return st.one_of(st.none(), st.lists(inner, max_size=3))
    return inner


def _struct(cls, version: int) -> st.SearchStrategy:
    fields = {n: f for n, f in cls.fields.items() if f.for_version_q(version)}
    return st.fixed_dictionaries(
        {n: st.deferred(lambda f=f: _value(f, version)) for n, f in fields.items()}
    ).map(lambda kw: cls(**kw))


@st.composite
def _frames(draw) -> tuple[bytes, bool]:
    """A framed request, and whether it is exactly what the codec encoded (unmutated)."""
    key = draw(st.sampled_from(sorted(SUPPORTED)))
    lo, hi = SUPPORTED[key]
    version = draw(st.integers(lo, hi))
    request = draw(_struct(API[key].request, version))
    request.with_header(
        correlation_id=draw(_int(31).filter(lambda c: c != PROBE_ID)), client_id=draw(_strings)
    )
    try:
        body = bytes(request.encode(version=version, header=True))
    except Exception:  # values the client library itself refuses to write
        assume(False)
    edit = draw(st.sampled_from(["none", "none", "cut", "flip", "pad", "size"]))
    if edit == "cut":
        body = body[: draw(st.integers(0, max(0, len(body) - 1)))]
    elif edit == "flip" and body:
        at = draw(st.integers(0, len(body) - 1))
        body = body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
    elif edit == "pad":
        body += draw(st.binary(min_size=1, max_size=20))
    size = len(body)
    if edit == "size":  # a size no server may read: negative, zero, or over the limit
        size = draw(st.sampled_from([-1, 0, -(2**31), 2**31 - 1]))
    return struct.pack(">i", size) + body, edit == "none"


class _Errors(logging.Handler):
    """Collects log records that mean a bug: tracebacks, handler failures, asyncio errors."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple]:
    errors = _Errors()
    loggers = [logging.getLogger(name) for name in ("chronik_lab", "asyncio")]
    for logger in loggers:
        logger.addHandler(errors)
    with cl.serve(partitions=2) as server, connect(server) as normal:
        call(normal, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="t")]), 1)
        yield server, normal, errors
    for logger in loggers:
        logger.removeHandler(errors)


FETCH = 1
FETCH_WAIT_S = 2.0  # a fetch may wait for data (its max_wait_ms): that is an answer to come


def _send(server, frame: bytes) -> str:
    """What became of the fuzzed frame: "answered" (an answer of its own before the probe's),
    "silent" (only the probe's: Produce with acks=0), "closed", or "waiting" (a fetch still
    waiting for data when the test stopped waiting)."""
    probe = ApiVersionsRequest()
    probe.with_header(correlation_id=PROBE_ID, client_id="probe")
    outcome = "silent"
    fetch = frame[4:6] == FETCH.to_bytes(2, "big")
    with connect(server) as sock:
        sock.settimeout(FETCH_WAIT_S if fetch else 20)
        try:
            sock.sendall(frame + bytes(probe.encode(version=0, header=True, framed=True)))
            while True:
                size = struct.unpack(">i", read_exactly(sock, 4))[0]
                correlation_id = struct.unpack(">i", read_exactly(sock, size)[:4])[0]
                if correlation_id == PROBE_ID:
                    return outcome
                outcome = "answered"
        except TimeoutError:
            assert fetch and outcome == "silent", "the server neither answered nor closed"
            return "waiting"
        except ConnectionError:
            return "closed"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
@given(frame=_frames())
def test_no_frame_crashes_the_server_or_costs_another_client(fuzzed, frame):
    server, normal, errors = fuzzed
    raw, intact = frame
    outcome = _send(server, raw)
    if intact:  # a request that decodes gets an answer (Produce acks=0: none, by design)
        api_key = struct.unpack_from(">h", raw, 4)[0]
        assert outcome in {"answered", "waiting" if api_key == FETCH else "silent"}, outcome
    assert not errors.records, [r.getMessage() for r in errors.records]
    assert not server.wait(0), "the server thread ended"
    assert call(normal, ApiVersionsRequest(), 0).error_code == 0
    p = FetchRequest.FetchTopic.FetchPartition(
        partition=0, fetch_offset=0, partition_max_bytes=1024
    )
    fetch = FetchRequest(
        replica_id=-1,
        max_wait_ms=0,
        min_bytes=1,
        max_bytes=1024,
        topics=[FetchRequest.FetchTopic(topic="t", partitions=[p])],
    )
    assert call(normal, fetch, 4).responses[0].partitions[0].error_code == 0
