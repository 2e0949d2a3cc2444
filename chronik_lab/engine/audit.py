"""Broker.check(): walk a data_dir and report what is wrong with it, without raising.

Modelled on diskcache's `check()`, "for testing and post-mortem error analysis": every problem is
a `Problem(path, batch, reason)` row, and nothing is repaired or changed -- a torn tail that
recovery would cut is reported, not cut. It compares three views of each partition: the files on
disk (every batch's checksums and structure verified, offsets continuing across files), the
broker's segment list (`writer.segments`) and the registry fetch reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from chronik_lab.engine import files
from chronik_lab.engine.partition import Partition
from chronik_lab.engine.segment import Segment
from chronik_lab.engine.segment_log import segment_files
from chronik_lab.errors import ChronikLabError, CorruptSegmentError


class Problem(NamedTuple):
    """One thing wrong with a data_dir: where (a file, or a directory), and why. Immutable."""

    path: str
    batch: int | None  # the record batch's index in the file, None for the file itself
    reason: str


def audit(data_dir: Path, partitions: dict[tuple[str, int], Partition]) -> list[Problem]:
    problems: list[Problem] = []
    known = {p.directory.name for p in partitions.values()}
    try:
        names = sorted(os.listdir(data_dir))
    except OSError as exc:
        return [Problem(str(data_dir), None, f"cannot list: {exc}")]
    for name in names:
        path = data_dir / name
        if name == files.LOCK_NAME or name in known:
            continue
        if path.is_symlink():
            problems.append(Problem(str(path), None, "a symlink inside data_dir"))
        elif path.is_dir():
            problems.append(Problem(str(path), None, "a directory this broker does not own"))
    for p in partitions.values():
        problems += _audit_partition(p)
    return problems


def _audit_partition(p: Partition) -> list[Problem]:
    directory = p.directory
    problems: list[Problem] = []
    try:
        on_disk = segment_files(directory) if directory.exists() else []
    except (ChronikLabError, OSError) as exc:
        return [Problem(str(directory), None, str(exc))]
    listed = {s.path: s for s in p.writer.segments}
    for path in sorted(set(listed) - set(on_disk)):
        problems.append(Problem(str(path), None, "in the broker's segment list, not on disk"))
    expected: int | None = p.log_start_offset if on_disk else None
    for i, path in enumerate(on_disk):
        try:
            found = Segment.recover(path, expected, last=i == len(on_disk) - 1, repair=False)
        except CorruptSegmentError as exc:
            problems.append(Problem(str(exc.path), exc.batch, exc.reason))
            expected = None  # do not report every later file for one broken one
            continue
        except (ChronikLabError, OSError) as exc:
            problems.append(Problem(str(path), None, str(exc)))
            expected = None
            continue
        if found is None:
            problems.append(Problem(str(path), None, "holds no complete record batch"))
            continue
        expected = found.next_offset
        problems += _compare(path, found, listed.get(path))
    problems += _registry(p)
    return problems


def _compare(path: Path, found: Segment, mine: Segment | None) -> list[Problem]:
    if mine is None:
        return [Problem(str(path), None, "on disk, not in the broker's segment list")]
    out = []
    for what in ("base_offset", "next_offset", "batch_count", "size_bytes"):
        disk, memory = getattr(found, what), getattr(mine, what)
        if disk != memory:
            out.append(Problem(str(path), None, f"{what} {disk} on disk, {memory} in the broker"))
    return out


def _registry(p: Partition) -> list[Problem]:
    out = []
    listed = {id(s) for s in p.writer.segments}
    for segment in p.registry.segments_from(0):
        if id(segment) not in listed:
            out.append(Problem(str(segment.path), None, "visible to fetch, not in the log"))
    if not p.log_start_offset <= p.high_watermark <= p.next_offset:
        out.append(
            Problem(
                str(p.directory),
                None,
                f"offsets out of order: log start {p.log_start_offset}, high watermark "
                f"{p.high_watermark}, next offset {p.next_offset}",
            )
        )
    unflushed = sum(b.num_rows for b in p.unflushed_batches)
    if p.writer.next_offset + unflushed != p.next_offset:
        out.append(
            Problem(
                str(p.directory),
                None,
                f"segments end at {p.writer.next_offset} and {unflushed} records are unflushed, "
                f"but the next offset is {p.next_offset}",
            )
        )
    return out
