"""Decompression of producer record data with a cap on the output, checked as it grows.

kafka-python's codecs decompress a whole payload at once: a 32 KB zstd batch that expands to
1 GB is 1 GB in memory before anyone can look at its size. Here every codec runs incrementally
and stops at `cap + 1` bytes of output, so a payload that would pass the cap costs at most the
cap (TooLarge), and one that is not what its codec says costs nothing more (Undecodable).

Codecs, as Kafka numbers them: 1 gzip (one or more members), 2 snappy (xerial's framing, as the
Java client writes it, or a raw block), 3 lz4 (frame format), 4 zstd (one or more frames).
"""

from __future__ import annotations

import io
import struct
import zlib

__all__ = ["TooLarge", "Undecodable", "Unsupported", "decompress"]

GZIP, SNAPPY, LZ4, ZSTD = 1, 2, 3, 4
_CHUNK = 256 * 1024
_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = 16


class Undecodable(ValueError):
    """The payload is not valid data of its codec, or the codec is unknown."""


class Unsupported(ValueError):
    """The codec's library is not installed."""


class TooLarge(ValueError):
    """The payload decompresses to more than the cap."""


def decompress(codec: int, data: bytes | memoryview, cap: int) -> bytes:
    """`data` decompressed with Kafka codec `codec`, at most `cap` bytes."""
    try:
        if codec == GZIP:
            return _gzip(bytes(data), cap)
        if codec == SNAPPY:
            return _snappy(bytes(data), cap)
        if codec == LZ4:
            return _lz4(bytes(data), cap)
        if codec == ZSTD:
            return _zstd(bytes(data), cap)
    except (TooLarge, Undecodable):
        raise
    except ImportError as exc:
        raise Unsupported(f"no {_NAMES[codec]} library here: {exc}") from None
    except Exception as exc:  # each library raises its own kinds on bad input
        raise Undecodable(f"not valid {_NAMES.get(codec, codec)} data: {exc}") from None
    raise Undecodable(f"unknown compression codec {codec}")


_NAMES = {GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4", ZSTD: "zstd"}


def _grow(out: bytearray, chunk: bytes, cap: int) -> None:
    out += chunk
    if len(out) > cap:
        raise TooLarge(f"decompresses to more than {cap:,} bytes")


def _gzip(data: bytes, cap: int) -> bytes:
    out = bytearray()
    while True:  # one decompressor per gzip member
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        _grow(out, d.decompress(data, cap + 1 - len(out)), cap)
        if not d.eof:  # not limited by the cap (that raised): the input ran out
            raise Undecodable("a gzip stream cut short")
        data = d.unused_data
        if not data:
            return bytes(out)


def _snappy(data: bytes, cap: int) -> bytes:
    import snappy

    if not data.startswith(_XERIAL_MAGIC):
        _check_snappy_length(data, cap)
        return snappy.decompress(data)
    out = bytearray()
    pos = _XERIAL_HEADER
    while pos < len(data):
        (size,) = struct.unpack_from(">i", data, pos)
        block = data[pos + 4 : pos + 4 + size]
        if size < 0 or len(block) != size:
            raise Undecodable("a snappy block runs past the data")
        _check_snappy_length(block, cap - len(out))
        _grow(out, snappy.decompress(block), cap)
        pos += 4 + size
    return bytes(out)


def _check_snappy_length(block: bytes, room: int) -> None:
    """A raw snappy block starts with its decompressed length: refuse it before decompressing."""
    value = shift = 0
    for pos in range(min(len(block), 5)):
        value |= (block[pos] & 0x7F) << shift
        if block[pos] < 0x80:
            if value > room:
                raise TooLarge("a snappy block decompresses to more than the cap")
            return
        shift += 7
    raise Undecodable("a snappy block without its length")


def _lz4(data: bytes, cap: int) -> bytes:
    import lz4.frame

    out = bytearray()
    while data:
        d = lz4.frame.LZ4FrameDecompressor()
        _grow(out, d.decompress(data, max_length=cap + 1 - len(out)), cap)
        while not d.eof and not d.needs_input:  # output held back by max_length
            _grow(out, d.decompress(b"", max_length=cap + 1 - len(out)), cap)
        if not d.eof:
            raise Undecodable("an lz4 frame cut short")
        data = d.unused_data
    return bytes(out)


def _zstd(data: bytes, cap: int) -> bytes:
    import zstandard

    out = bytearray()
    dctx = zstandard.ZstdDecompressor()
    with dctx.stream_reader(io.BytesIO(data), read_across_frames=True) as reader:
        while chunk := reader.read(min(_CHUNK, cap + 1 - len(out))):
            _grow(out, chunk, cap)
    return bytes(out)
