"""Logging for a server that any peer can talk to: no line a client can forge, no flood.

- `shown(text)`: client-supplied text (a client id, a topic name) as one escaped, bounded
  token: a newline in a client id cannot start a fake log line.
- `Throttle`: one line per kind of event per interval, then how many were left out. Out of file
  handles (EMFILE), a failing disk, or a peer sending bad frames in a loop repeat the same
  event thousands of times a second; the log says it once, and how often.
"""

from __future__ import annotations

import logging
import time

__all__ = ["Throttle", "log", "shown"]

log = logging.getLogger("chronik_lab.wire")
SHOWN_CHARS = 200
INTERVAL_S = 30.0
_MAX_KEYS = 10_000  # kinds of event remembered; past it, start afresh (a burst of new kinds)


def shown(text: object, limit: int = SHOWN_CHARS) -> str:
    """`text` quoted with every control or non-printable character escaped, cut at `limit`."""
    if isinstance(text, str) and len(text) > limit:
        return repr(text[:limit]) + f"...({len(text):,} chars)"
    return repr(text)


class Throttle:
    """Logs each kind of event (a hashable key) at most once per `interval_s`. Not
    thread-safe: the server's loop thread is its only user."""

    def __init__(self, interval_s: float = INTERVAL_S, logger: logging.Logger = log) -> None:
        self.interval_s, self.logger = interval_s, logger
        self._last: dict[object, tuple[float, int]] = {}  # key -> (logged at, left out since)

    def log(self, key: object, level: int, message: str, *args: object) -> bool:
        """Log `message % args` unless `key` was logged less than an interval ago; True when
        logged."""
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.interval_s:
            self._last[key] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            message += f" ({last[1]:,} more like it in the last {now - last[0]:.0f} s)"
        if len(self._last) >= _MAX_KEYS:
            self._last.clear()
        self._last[key] = (now, 0)
        self.logger.log(level, message, *args)
        return True
