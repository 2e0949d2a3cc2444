"""Frames, request headers and the versions this server speaks, over kafka-python's codec.

The structs come from kafka-python 3's `kafka.protocol` (generated from Kafka's own JSON
schemas, every version from 0 and the flexible ones with tagged fields). This module reads a
request header far enough to pick the API, decodes the body with the library, and frames a
response with its header (v0, or v1 with an empty tagged-field section for flexible versions;
ApiVersions always answers with header v0, KIP-511).

`SUPPORTED` is what ApiVersions advertises: exactly the versions the handlers encode and the
tests exercise, no more.

A request whose header reads but whose body breaks the schema in a way the codec lets through
-- a null array, string or bytes where the schema has no null (Kafka's `nullableVersions`) --
comes back with `error` INVALID_REQUEST, so the server answers that API's error response
(`error_body`) instead of failing in a handler. (Kafka closes the connection there.) A null
group id is left to the coordinator, which answers INVALID_GROUP_ID as Kafka does. Bytes that
cannot be decoded at all are a FrameError, and the connection is closed, as Kafka does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from kafka.protocol.admin import CreateTopicsRequest, CreateTopicsResponse
from kafka.protocol.consumer import (
    FetchRequest,
    FetchResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    JoinGroupRequest,
    JoinGroupResponse,
    LeaveGroupRequest,
    LeaveGroupResponse,
    ListOffsetsRequest,
    ListOffsetsResponse,
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetFetchRequest,
    OffsetFetchResponse,
    SyncGroupRequest,
    SyncGroupResponse,
)
from kafka.protocol.metadata import (
    ApiVersionsRequest,
    ApiVersionsResponse,
    FindCoordinatorRequest,
    FindCoordinatorResponse,
    MetadataRequest,
    MetadataResponse,
)
from kafka.protocol.producer import (
    InitProducerIdRequest,
    InitProducerIdResponse,
    ProduceRequest,
    ProduceResponse,
)

from chronik_lab.wire.limits import MAX_FRAME_BYTES, MAX_OTHER_FRAME_BYTES
from chronik_lab.wire.produce_codec import NullField, ProduceAnswer, decode_produce

__all__ = [
    "API",
    "FrameError",
    "Request",
    "SUPPORTED",
    "error_body",
    "frame_limit",
    "frame_response",
    "parse_request",
]

UNKNOWN_SERVER_ERROR, INVALID_REQUEST, UNSUPPORTED_VERSION = -1, 42, 35
PRODUCE = 0


@dataclass(frozen=True)
class Api:
    key: int
    request: Any
    response: Any
    min_version: int
    max_version: int


# key: (request class, response class, lowest, highest version served)
API: dict[int, Api] = {
    a.key: a
    for a in (
        Api(0, ProduceRequest, ProduceResponse, 0, 9),
        Api(1, FetchRequest, FetchResponse, 0, 12),
        Api(2, ListOffsetsRequest, ListOffsetsResponse, 0, 7),
        Api(3, MetadataRequest, MetadataResponse, 0, 9),
        Api(8, OffsetCommitRequest, OffsetCommitResponse, 2, 8),
        Api(9, OffsetFetchRequest, OffsetFetchResponse, 1, 7),
        Api(10, FindCoordinatorRequest, FindCoordinatorResponse, 0, 3),
        Api(11, JoinGroupRequest, JoinGroupResponse, 0, 7),
        Api(12, HeartbeatRequest, HeartbeatResponse, 0, 4),
        Api(13, LeaveGroupRequest, LeaveGroupResponse, 0, 4),
        Api(14, SyncGroupRequest, SyncGroupResponse, 0, 4),
        Api(18, ApiVersionsRequest, ApiVersionsResponse, 0, 3),
        Api(19, CreateTopicsRequest, CreateTopicsResponse, 2, 5),
        Api(22, InitProducerIdRequest, InitProducerIdResponse, 0, 4),
    )
}
SUPPORTED = {key: (a.min_version, a.max_version) for key, a in API.items()}
_PREFIX = struct.Struct(">hhi")


class FrameError(ValueError):
    """A frame this server cannot read: the connection that sent it is closed."""


@dataclass
class Request:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    body: Any  # the decoded request, or None when the API or version is not served
    error: int = 0  # INVALID_REQUEST: served, but the body breaks its schema (no body then)
    problem: str = ""  # what is wrong with it, for the log


def frame_limit(api_key: int, max_frame_bytes: int = MAX_FRAME_BYTES) -> int:
    """The largest frame accepted for `api_key`: only Produce carries records (limits.py)."""
    return max_frame_bytes if api_key == PRODUCE else min(max_frame_bytes, MAX_OTHER_FRAME_BYTES)


def parse_request(frame: bytes) -> Request:
    """Decode one request frame (without its 4-byte size)."""
    if len(frame) < _PREFIX.size + 2:
        raise FrameError(f"a request frame of {len(frame)} bytes is shorter than a header")
    api_key, version, correlation_id = _PREFIX.unpack_from(frame)
    (n,) = struct.unpack_from(">h", frame, _PREFIX.size)
    start = _PREFIX.size + 2
    if n > len(frame) - start:
        raise FrameError("a request header's client id runs past the frame")
    client_id = None if n < 0 else frame[start : start + n].decode("utf-8", "replace")
    api = API.get(api_key)
    if api is None or not api.min_version <= version <= api.max_version:
        return Request(api_key, version, correlation_id, client_id, None)
    try:
        pos = start + max(n, 0)
        if api.request.flexible_version_q(version):  # header v2: tagged fields follow
            pos = _skip_tagged_fields(frame, pos)
        # The body alone: the library's header decoding copies the whole frame into a BytesIO
        # (record data included) to read a few bytes already read above.
        if api_key == PRODUCE:  # once per produce request: by hand (produce_codec.py)
            body = decode_produce(memoryview(frame)[pos:], version)
        else:
            body = api.request.decode(memoryview(frame)[pos:], version=version)
            body.with_header(correlation_id=correlation_id, client_id=client_id)
            null = _null_field(body, version)
            if null is not None:
                raise NullField(f"{api.request.__name__} v{version}: {null} is null")
    except NullField as exc:
        return Request(api_key, version, correlation_id, client_id, None, INVALID_REQUEST, str(exc))
    except Exception as exc:  # the codec raises many kinds: any of them means a bad frame
        raise FrameError(f"cannot decode {api.request.__name__} v{version}: {exc}") from None
    return Request(api_key, version, correlation_id, client_id, body)


def _null_field(struct: Any, version: int) -> str | None:
    """The path of the first field that is null where the schema allows no null, or None."""
    for name, field in type(struct).fields.items():
        if not field.for_version_q(version):
            continue
        if not field.is_struct_array() and field._type_str not in _NULL_KINDS:
            continue  # numbers and booleans have no null; a nested struct is never null here
        value = getattr(struct, name, None)
        if value is None:
            if not field.nullable_for_version_q(version) and not _is_group_id(field):
                return name
        elif field.is_struct_array():
            for item in value:
                inner = _null_field(item, version)
                if inner is not None:
                    return f"{name}.{inner}"
    return None


_NULL_KINDS = {"string", "bytes", "[]int32", "[]string"}


def _is_group_id(field: Any) -> bool:
    return field._json.get("entityType") == "groupId"


def _skip_tagged_fields(frame: bytes, pos: int) -> int:
    count, pos = _uvarint(frame, pos)
    for _ in range(count):
        _, pos = _uvarint(frame, pos)  # the tag
        size, pos = _uvarint(frame, pos)
        pos += size
    if pos > len(frame):
        raise FrameError("a request header's tagged fields run past the frame")
    return pos


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise FrameError("an unsigned varint longer than 5 bytes")


def frame_response(request: Request, response: Any, version: int | None = None) -> bytes:
    """Size + header + body of the answer to `request` (`version` overrides its version)."""
    version = request.api_version if version is None else version
    body = response.encode(version=version)
    flexible = request.api_key != 18 and API[request.api_key].response.flexible_version_q(version)
    header = struct.pack(">i", request.correlation_id) + (b"\x00" if flexible else b"")
    return struct.pack(">i", len(header) + len(body)) + header + bytes(body)


def error_body(api_key: int, error_code: int) -> Any:
    """`api_key`'s response carrying `error_code` where it has a top-level error code, and no
    topics or partitions (there is nothing valid to answer for)."""
    if api_key == PRODUCE:
        return ProduceAnswer([])
    cls = API[api_key].response
    return cls(error_code=error_code) if "error_code" in cls.fields else cls()


def api_versions_body(error_code: int = 0) -> Any:
    """The ApiVersions answer: every API served, with its version range."""
    entry = ApiVersionsResponse.ApiVersion
    keys = [entry(api_key=k, min_version=lo, max_version=hi) for k, (lo, hi) in SUPPORTED.items()]
    return ApiVersionsResponse(error_code=error_code, api_keys=keys, throttle_time_ms=0)


def unsupported_version(request: Request) -> bytes | None:
    """What Kafka does with an API or version it does not serve: ApiVersions answers v0 with
    UNSUPPORTED_VERSION and the served ranges (so the client can pick one); anything else
    gets no answer and the connection is closed (None)."""
    if request.api_key == 18:
        return frame_response(request, api_versions_body(UNSUPPORTED_VERSION), version=0)
    return None
