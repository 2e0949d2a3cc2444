"""A simulated clock, so that linger and segment age make every run deterministic.

Nothing in the engine reads wall time: flush-by-linger and rotation-by-age compare against
`SimClock.now_ms`, which only moves when a caller advances it.
"""

from __future__ import annotations

from .errors import InvalidArgumentError


class SimClock:
    """Milliseconds since the start of a run; moves only on `advance()`. Not thread-safe."""

    __slots__ = ("now_ms",)

    def __init__(self, start_ms: int = 0) -> None:
        self.now_ms = _check_ms(start_ms, "start_ms")

    def advance(self, ms: int) -> int:
        """Move the clock forward by `ms` milliseconds and return the new time."""
        self.now_ms += _check_ms(ms, "ms")
        return self.now_ms

    def __repr__(self) -> str:
        return f"SimClock(now_ms={self.now_ms})"


def _check_ms(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(f"{name} must be an int >= 0, not {value!r}")
    return value
