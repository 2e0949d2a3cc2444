"""A minimal, list-based model of chronik's single-partition produce / flush / fetch path, per
version, written from chronik's code (lspecian/chronik-stream) and not from the lab's engine.

Read at each tag: crates/chronik-server/src/produce_handler.rs (`produce_to_partition`,
`flush_partition_if_needed`, `flush_partition`), crates/chronik-server/src/fetch_handler.rs
(`fetch_partition`, `fetch_records`, `update_buffer`, `mark_flushed`, `encode_kafka_records`) and
crates/chronik-storage/src/segment_writer.rs (`write_dual_format`, `flush_all`). A record is a
(offset, message id) pair; a list is a Rust Vec. Out of scope, as in the lab: segment rotation
(256 MB / 30 s), chronik's wall-clock linger, max_bytes (the consumer here asks max_records).

The consumer is kafka-python's loop with auto_offset_reset="earliest", as in chronik's compat
test: fetch from the position, skip the leading records below it, accept the rest, move to the
last accepted offset + 1; stop on an empty poll or once the position equals the high watermark.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chronik_lab.sim.clients import poll_cap

Record = tuple[int, int]  # (offset, message id)
CAP = 1000  # update_buffer: "keep last 1000 records"


class OutOfRange(Exception):
    pass


@dataclass
class ChronikModel:
    version: str  # "v0.7.4", "v0.7.5", "v0.7.6", "v1.0" or "fixed"
    flush_batches: int
    next_offset: int = 0
    hw: int = 0  # PartitionState.high_watermark (the producer's)
    pending: list[list[Record]] = field(default_factory=list)
    segments: list[list[Record]] = field(default_factory=list)  # registered (visible) segments
    active: list[Record] = field(default_factory=list)  # the active segment's records
    buffer: list[Record] = field(default_factory=list)
    buffer_base: int | None = None
    buffer_hw: int = 0

    # -- produce_handler.rs --------------------------------------------------------------------
    def produce(self, ids: list[int], acks: int) -> None:
        records = [(self.next_offset + i, m) for i, m in enumerate(ids)]
        last = records[-1][0]
        self.next_offset = last + 1
        self.pending.append(records)
        if acks == -1:
            self.flush_if_needed()  # before the high watermark moves
        if acks == -1 or self.version != "v0.7.4":  # 3ed116d: every acks level
            self.hw = last + 1
        if self.version == "v0.7.4":
            self.flush()  # unconditional; no update_buffer on the produce path
            return
        self.update_buffer(records)
        self.flush_if_needed()

    def flush_if_needed(self) -> None:
        if len(self.pending) >= self.flush_batches:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        batches, self.pending = self.pending, []
        flushed = [r for batch in batches for r in batch]
        if self.version == "v0.7.4":
            self.segments.append(flushed)  # write_dual_format, then flush_all registers it
        else:
            self.active += flushed  # invisible until rotation before 8eb1c4d
        if self.version in ("v0.7.4", "v0.7.5"):
            self.update_buffer(flushed)  # every flushed record, again (the only copy at v0.7.4)
        else:
            self.mark_flushed(flushed[-1][0])

    # -- fetch_handler.rs: the buffer -------------------------------------------------------------
    def update_buffer(self, records: list[Record]) -> None:
        if self.buffer_base is None:
            self.buffer_base = records[0][0]
        if self.version in ("v0.7.4", "v0.7.5"):
            self.buffer.extend(records)
        else:  # v0.7.6: `!buffer.records.iter().any(..)`; v1.0: a HashSet, then a sort
            present = {o for o, _ in self.buffer}
            self.buffer.extend(r for r in records if r[0] not in present)
            if self.version != "v0.7.6":
                self.buffer.sort(key=lambda r: r[0])
        self.buffer_hw = self.hw
        if self.version != "fixed" and len(self.buffer) > CAP:
            del self.buffer[: len(self.buffer) - CAP]
            self.buffer_base = self.buffer[0][0]

    def mark_flushed(self, up_to: int) -> None:
        if self.version == "v0.7.6":
            self.buffer.clear()
        else:
            self.buffer = [r for r in self.buffer if r[0] > up_to]

    # -- fetch_handler.rs: fetch_partition and fetch_records -------------------------------------
    def visible(self) -> list[list[Record]]:
        live = self.version in ("v1.0", "fixed") and self.active
        return self.segments + ([self.active] if live else [])

    def fetch(self, offset: int) -> tuple[list[Record], int]:
        """(records as the client numbers them, the high watermark reported)."""
        visible = self.visible()
        segment_hw = max((s[-1][0] + 1 for s in visible), default=0)
        if self.version == "v0.7.4":
            hw = segment_hw
        elif self.version == "fixed":
            hw = self.hw
        else:
            hw = max(segment_hw, self.buffer_hw)
        if offset < 0 or (self.version == "fixed" and offset > self.next_offset):
            raise OutOfRange
        if offset >= hw:
            return [], hw
        if self.version in ("v0.7.4", "v0.7.5"):
            records = self.buffer_then_segments(offset, hw, visible)
        else:
            records = self.segments_then_buffer(offset, hw, visible)
        if records and self.version != "fixed":  # one batch: base_offset + position
            records = [(records[0][0] + i, m) for i, (_, m) in enumerate(records)]
        return records, hw

    def buffer_then_segments(self, offset: int, hw: int, visible) -> list[Record]:
        out: list[Record] = []
        current = offset
        base = self.buffer_base
        if base is not None and base <= offset < self.buffer_hw:
            for o, m in self.buffer:
                if offset <= o < hw:
                    out.append((o, m))
                    current = o + 1
            if current >= hw:
                return out
        for segment in visible:
            if segment[-1][0] < current:
                continue
            start = current
            for o, m in segment:
                if start <= o < hw:
                    out.append((o, m))
                    current = o + 1
        return out

    def segments_then_buffer(self, offset: int, hw: int, visible) -> list[Record]:
        out: list[Record] = []
        current = offset
        relevant = [s for s in visible if s[-1][0] >= offset and s[0][0] < hw]
        max_segment = max((s[-1][0] for s in relevant), default=-1)
        if offset <= max_segment:
            for segment in relevant:
                if segment[-1][0] < current:
                    continue
                start = current
                for o, m in segment:
                    if start <= o < min(hw, max_segment + 1):
                        out.append((o, m))
                        current = o + 1
            current = max(current, max_segment + 1)
        for o, m in self.buffer:
            if current <= o < hw and o > max_segment:
                out.append((o, m))
                current = o + 1
        return out


def received(
    version: str, requests: list[list[int]], acks: int, flush_batches: int, max_records: int = 500
) -> list[int]:
    """The message ids the consumer receives after the producer sent `requests`."""
    model = ChronikModel(version, flush_batches)
    for ids in requests:
        model.produce(ids, acks)
    messages = sum(map(len, requests))
    got: list[int] = []
    position = 0
    for _ in range(poll_cap(messages)):  # the lab consumer's
        try:
            records, hw = model.fetch(position)
        except OutOfRange:
            position = 0  # auto_offset_reset="earliest": the log start
            continue
        records = records[:max_records]
        # kafka-python skips the leading records below the position, then takes the rest
        start = next((i for i, r in enumerate(records) if r[0] >= position), len(records))
        accepted = records[start:]
        if not accepted:
            break
        got += [m for _, m in accepted]
        position = accepted[-1][0] + 1
        if position == hw:
            break
    return got
