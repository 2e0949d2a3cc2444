"""The segment registry: chronik's metadata store, which says what fetch may see.

Fetch never lists files: it asks the registry for the *visible* segments and finds the floor
segment of an offset (greatest base <= offset) by binary search, so a fetch costs the same in a
log of ten segments as in one of ten thousand.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from chronik_lab.engine.segment import Segment


class SegmentRegistry:
    """The segments fetch may see, in base-offset order.

    Invariants: their ranges never overlap; a segment is registered at most once and never
    removed. A registered segment is referenced, not copied: once the active segment is
    registered its range grows with every write, which is what chronik's fix a1d9255 did by
    re-registering the metadata on every write. Only SegmentLog registers (so its `version`
    covers visibility). Not thread-safe.
    """

    def __init__(self) -> None:
        self._bases: list[int] = []
        self._segments: list[Segment] = []

    def register(self, segment: Segment) -> None:
        if self.is_visible(segment):
            return
        i = bisect.bisect_left(self._bases, segment.base_offset)
        self._bases.insert(i, segment.base_offset)
        self._segments.insert(i, segment)

    def is_visible(self, segment: Segment) -> bool:
        if self._segments and self._segments[-1] is segment:
            return True  # the usual question: the active segment, on every write
        i = bisect.bisect_left(self._bases, segment.base_offset)
        return i < len(self._segments) and self._segments[i] is segment

    def floor_index(self, offset: int) -> int:
        """Index of the visible segment holding `offset`, or of the first one after it."""
        i = bisect.bisect_right(self._bases, offset) - 1
        if i >= 0 and self._segments[i].last_offset >= offset:
            return i
        return i + 1

    def segments_from(self, offset: int) -> Iterator[Segment]:
        for i in range(self.floor_index(offset), len(self._segments)):
            yield self._segments[i]

    def max_offset(self) -> int:
        """The last offset fetch may read from segments, -1 when nothing is visible."""
        return self._segments[-1].last_offset if self._segments else -1

    def __len__(self) -> int:
        return len(self._segments)
