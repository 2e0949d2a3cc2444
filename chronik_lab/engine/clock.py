"""A simulated clock, so that linger and segment age make every run deterministic.

Nothing in the engine reads wall time: flush-by-linger and rotation-by-age compare against
`SimClock.now_ms`, which only moves when a caller advances it.
"""

from __future__ import annotations

from chronik_lab.validate import non_negative_int


class SimClock:
    """Milliseconds since the start of a run; moves only on `advance()`. Not thread-safe."""

    __slots__ = ("now_ms",)

    def __init__(self, start_ms: int = 0) -> None:
        self.now_ms = non_negative_int(start_ms, "start_ms")

    def advance(self, ms: int) -> int:
        """Move the clock forward by `ms` milliseconds and return the new time."""
        self.now_ms += non_negative_int(ms, "ms")
        return self.now_ms

    def __repr__(self) -> str:
        return f"SimClock(now_ms={self.now_ms})"
