"""A partition's segments on disk: the active segment, rotation, and recovery."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from chronik_lab.bugs import BugSet
from chronik_lab.engine import files
from chronik_lab.engine.clock import SimClock
from chronik_lab.engine.records import LazyBatch
from chronik_lab.engine.registry import SegmentRegistry
from chronik_lab.engine.segment import SUFFIX, Segment
from chronik_lab.errors import SegmentWriteError


class SegmentLog:
    """A partition's segment list, oldest first, and the files behind it.

    Invariants: at most one active (unsealed) segment, always the last; segments are contiguous
    (each base offset is the previous segment's last offset + 1). Flushed data is written to the
    active segment's file before `append` returns, so a killed process loses nothing it flushed;
    with `fsync=True` it is also on the disk, and so is its directory entry. A failed write
    raises SegmentWriteError and changes nothing here (the file is cut back), so the caller can
    retry. Nothing in the partition directory is followed through a symlink. Rotation seals the
    active segment when it reaches `segment_bytes` or `segment_ms` of (simulated) age. Only this
    class registers segments with the registry, and every change to the list, to a segment's
    extent or seal, or to what the registry shows of them moves `version`. Not thread-safe.
    """

    def __init__(
        self,
        directory: Path,
        registry: SegmentRegistry,
        bugs: BugSet,
        clock: SimClock,
        segment_bytes: int,
        segment_ms: int,
        fsync: bool,
    ) -> None:
        self.directory = directory
        self.registry = registry
        self.bugs = bugs
        self.clock = clock
        self.segment_bytes = segment_bytes
        self.segment_ms = segment_ms
        self.fsync = fsync
        self.segments: list[Segment] = []
        self.version = 0  # moves with every change to the segments (see the class docstring)

    @property
    def active(self) -> Segment | None:
        last = self.segments[-1] if self.segments else None
        return last if last is not None and not last.sealed else None

    @property
    def next_offset(self) -> int:
        return self.segments[-1].next_offset if self.segments else 0

    def append(self, records: Sequence[LazyBatch] | pa.RecordBatch) -> Segment:
        """Write a flushed batch (a record batch, or contiguous entries to frame as one) to the
        active segment, opening one if needed."""
        segment = self.active
        if segment is None:
            try:
                files.make_dir(self.directory, self.fsync)
            except OSError as exc:
                raise SegmentWriteError(self.directory, exc) from exc
            segment = Segment.create(
                self.directory, self.next_offset, self.clock.now_ms, self.fsync
            )
            self.segments.append(segment)
            self.version += 1  # a failed first write below leaves it listed, header only
        segment.append(records, fsync=self.fsync)
        self.version += 1
        if not self.registry.is_visible(segment) and not self.bugs.active_segment_invisible:
            # a1d9255: register the active segment's metadata on every write, so what was just
            # flushed is readable at once. Without it, a flushed record is invisible until
            # rotation -- and once mark_flushed empties the buffer, fetch sees it nowhere.
            self.registry.register(segment)
        return segment

    def should_roll(self) -> bool:
        segment = self.active
        if segment is None:
            return False
        too_big = segment.size_bytes >= self.segment_bytes
        too_old = self.clock.now_ms - segment.created_ms >= self.segment_ms
        return too_big or too_old

    def roll(self) -> Segment | None:
        """Seal the active segment; it is registered now if it was not already."""
        segment = self.active
        if segment is None:
            return None
        if not segment.batch_count:  # its first write failed: drop the header-only file
            segment.close_file()
            segment.path.unlink(missing_ok=True)
            self.segments.pop()
            self.version += 1
            return None
        segment.seal(fsync=self.fsync)  # a failed seal changes nothing (segment.py)
        self.version += 1
        self.registry.register(segment)
        return segment

    def close(self) -> None:
        self.roll()

    def recover(self) -> None:
        """Rebuild the segment list and the registry from the files in `directory`."""
        if not self.directory.is_dir():
            return
        expected: int | None = None
        paths = segment_files(self.directory)
        for path in paths:
            # recover checks the base against `expected` before it reads or repairs the file
            segment = Segment.recover(path, expected, last=path == paths[-1])
            if segment is None:  # no complete batch: a crash right after the file was created
                warnings.warn(
                    f"{path.name}: removed, it held no complete record batch",
                    RuntimeWarning,
                    stacklevel=2,
                )
                path.unlink()
                continue
            self.segments.append(segment)
            self.registry.register(segment)
            self.version += 1
            expected = segment.next_offset


def segment_files(directory: Path) -> list[Path]:
    """The segment files of a partition directory, in offset order; a symlink is refused."""
    paths = sorted(directory / name for name in os.listdir(directory) if name.endswith(SUFFIX))
    for path in paths:
        files.refuse_symlink(path)
    return paths
