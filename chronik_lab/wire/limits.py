"""The server's limits: what one request, one connection and one server may ask for.

The server runs every request on one thread, so each limit below is what keeps one client from
stalling or exhausting the others. Kafka's own broker settings are named where a limit is
theirs; the others exist because this server is one Python thread over an in-memory engine.

Per request:
- `MAX_FRAME_BYTES`: a Produce request's frame (Kafka's socket.request.max.bytes, 100 MiB).
  Larger: the connection is closed, as Kafka does.
- `MAX_OTHER_FRAME_BYTES`: any other request (1 MiB). They carry no records, and a 100 MiB
  Metadata or Fetch request names millions of topics or partitions, each a Python object.
- `MAX_MESSAGE_BYTES`: a record batch on the wire (Kafka's message.max.bytes, 1,048,588),
  else MESSAGE_TOO_LARGE; and, unlike Kafka, which stores batches compressed, the records of
  one partition in one request *after decompression* (the engine keeps them decompressed, so a
  32 KB zstd batch would otherwise become 1 GB in memory), else RECORD_LIST_TOO_LARGE. Nothing
  is decompressed past the limit: decompression is incremental and stops there.
- a whole Produce request, decompressed, at most `MAX_FRAME_BYTES` (the largest uncompressed
  one accepted): the partitions past it get RECORD_LIST_TOO_LARGE.
- `FETCH_MAX_BYTES`: a Fetch answer's record bytes (Kafka's fetch.max.bytes, 55 MiB), below
  the request's own max_bytes (v3+). As in Kafka (KIP-74) the first non-empty partition's
  first record comes back even when larger, so a consumer always makes progress.

Per server:
- `MAX_PARTITIONS_PER_TOPIC` (1,000) and `MAX_PARTITIONS` (10,000 in all): a CreateTopics or a
  Metadata auto-creation past them gets INVALID_PARTITIONS; a data_dir holding more (a
  directory `t-2147483647`) is refused at start. A Metadata answer for every topic is then at
  most 10,000 partitions.
- `MAX_GROUPS` (10,000) live consumer groups (JoinGroup of one more: COORDINATOR_NOT_AVAILABLE)
  and `MAX_COMMITTED_OFFSETS` (100,000) committed offsets in all (a commit past it:
  INVALID_COMMIT_OFFSET_SIZE). Every commit rewrites `wire-offsets.json`, so its size bounds
  a commit's cost.

Time (see server.py): a request holds the engine for at most `SLICE_MS` (20 ms) plus one
step -- one partition's records decoded and written (at most MAX_MESSAGE_BYTES), one partition
read, 16,384 records encoded for a fetch, one topic described or created (at most
MAX_PARTITIONS_PER_TOPIC partitions), one partition of an offset commit or fetch -- then the
other connections run before it goes on. The slowest step measured here is a batch of 117,000
empty records (1 MiB) decoded: about 0.4 s on a busy 2-core machine.
A large request is decoded, and an answer that took many slices to build is encoded, off the
event loop.

Per connection: `IDLE_MS`, Kafka's connections.max.idle.ms (10 minutes): a connection that
sends no complete request for that long is closed (Kafka counts any bytes as activity; here a
request trickled in byte by byte does not keep a connection alive).
"""

from __future__ import annotations

from chronik_lab.sim.scenario import MAX_PARTITIONS_PER_TOPIC  # one limit for runs and server

__all__ = [
    "FETCH_MAX_BYTES",
    "IDLE_MS",
    "MAX_COMMITTED_OFFSETS",
    "MAX_FRAME_BYTES",
    "MAX_GROUPS",
    "MAX_MESSAGE_BYTES",
    "MAX_OTHER_FRAME_BYTES",
    "MAX_PARTITIONS",
    "MAX_PARTITIONS_PER_TOPIC",
    "SLICE_MS",
]

MAX_FRAME_BYTES = 100 * 1024 * 1024
MAX_OTHER_FRAME_BYTES = 1024 * 1024
MAX_MESSAGE_BYTES = 1_048_588
FETCH_MAX_BYTES = 55 * 1024 * 1024
MAX_PARTITIONS = 10_000
MAX_GROUPS = 10_000
MAX_COMMITTED_OFFSETS = 100_000
SLICE_MS = 20
IDLE_MS = 600_000
