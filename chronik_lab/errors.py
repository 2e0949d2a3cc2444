"""Errors raised by chronik_lab.

Every error the library raises on bad input or bad files derives from `ChronikLabError`, and the
specific ones carry the values that explain them (as Kafka's `OffsetOutOfRange(offset, log_start,
log_end)` does), so callers and the CLI can report them without parsing a message.
"""

from __future__ import annotations

from pathlib import Path


class ChronikLabError(Exception):
    """The root of every error chronik_lab raises on bad input or bad files."""


class InvalidArgumentError(ChronikLabError, ValueError):
    """An argument has the wrong type or an impossible value."""


class InvalidTopicError(InvalidArgumentError):
    """A topic name breaks Kafka's rule: [a-zA-Z0-9._-], 1 to 249 characters, not '.' or '..'."""

    def __init__(self, topic: object, reason: str) -> None:
        self.topic = topic
        self.reason = reason
        super().__init__(f"invalid topic name {topic!r}: {reason}")


class InvalidPartitionError(InvalidArgumentError):
    """A partition is not a non-negative int."""

    def __init__(self, partition: object) -> None:
        self.partition = partition
        super().__init__(f"invalid partition {partition!r}: must be an int >= 0")


class UnknownTopicOrPartitionError(ChronikLabError, KeyError):
    """Fetch or flush of a topic-partition that was never produced to."""

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        super().__init__(f"unknown topic-partition {topic}-{partition}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class OffsetOutOfRangeError(ChronikLabError, IndexError):
    """A fetch offset below the log start or above the log end offset (Kafka's rule)."""

    def __init__(self, offset: int, log_start_offset: int, log_end_offset: int) -> None:
        self.offset = offset
        self.log_start_offset = log_start_offset
        self.log_end_offset = log_end_offset
        super().__init__(f"offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")


class UnknownBugError(InvalidArgumentError):
    """A bug or preset name that is not in `cl.BUGS` or `cl.PRESETS`."""

    def __init__(self, name: object, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown bug or preset {name!r}; known: {', '.join(known)}")


class CorruptSegmentError(ChronikLabError):
    """A segment file that cannot be read as Arrow IPC (beyond a torn tail, which is repaired)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"corrupt segment {self.path}: {reason}")


class BrokerClosedError(ChronikLabError):
    """An operation on a broker after `close()`."""


class HistoryError(ChronikLabError, ValueError):
    """A history table or file that the checker cannot read (missing columns, bad values)."""


class ScenarioError(InvalidArgumentError):
    """A scenario whose fields contradict each other (e.g. batch sizes not summing to messages)."""


class NotebookError(ChronikLabError):
    """A notebook that failed to run, or a bad notebook parameter."""
