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
    """A segment file that is not exactly what chronik_lab wrote: a bad checksum, a broken
    structure, offsets that do not continue. `batch` is the record batch's index in the file
    (None when the problem is the file itself). Only a torn tail is ever repaired; a corrupt
    file is left byte for byte as it was found."""

    def __init__(self, path: str | Path, batch: int | None, reason: str) -> None:
        self.path = Path(path)
        self.batch = batch
        self.reason = reason
        where = "" if batch is None else f" batch {batch}"
        super().__init__(f"corrupt segment {self.path}{where}: {reason}")


class SegmentWriteError(ChronikLabError, OSError):
    """A flush whose write failed (disk full, read-only file system, ...). The batches stay
    pending and the file is cut back to its last complete batch, so a retry can succeed."""

    def __init__(self, path: str | Path, cause: BaseException) -> None:
        self.path = Path(path)
        self.cause = cause
        super().__init__(f"cannot write {self.path}: {cause}")

    def __str__(self) -> str:  # OSError would format its own (errno, strerror)
        return self.args[0]


class DataDirError(ChronikLabError):
    """A data_dir that chronik_lab refuses to use as it is: a symlink inside it, an entry that
    is not what its name says. Nothing in it was changed."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DataDirLockedError(ChronikLabError):
    """Another broker (in this process or another) holds the data_dir's `.lock`."""

    def __init__(self, data_dir: str | Path, pid: int | None) -> None:
        self.data_dir = Path(data_dir)
        self.pid = pid
        holder = "an unknown process" if pid is None else f"process {pid}"
        super().__init__(f"data_dir {self.data_dir} is in use by {holder} (its .lock is held)")


class BrokerClosedError(ChronikLabError):
    """An operation on a broker after `close()`."""


class BrokerCloseError(ChronikLabError):
    """`close()` could not flush or seal some partitions; it tried every one. `failures` maps
    each (topic, partition) that failed to its error. The broker stays open: free the cause
    (e.g. disk space) and call `close()` again."""

    def __init__(self, failures: dict[tuple[str, int], BaseException]) -> None:
        self.failures = failures
        listed = "; ".join(f"{t}-{n}: {e}" for (t, n), e in failures.items())
        super().__init__(f"close failed for {len(failures)} partition(s): {listed}")


class BrokerAdvanceError(SegmentWriteError):
    """`advance()` could not flush or seal some partitions; it tried every one. A
    SegmentWriteError about the first failure (its `path` and `cause`), and `failures` maps each
    (topic, partition) that failed to its error; their batches stay pending, and the next
    advance or flush retries them."""

    def __init__(self, failures: dict[tuple[str, int], BaseException]) -> None:
        self.failures = failures
        (topic, number), first = next(iter(failures.items()))
        super().__init__(getattr(first, "path", f"{topic}-{number}"), first)
        listed = "; ".join(f"{t}-{n}: {e}" for (t, n), e in failures.items())
        self.args = (f"advance failed for {len(failures)} partition(s): {listed}",)


class HistoryError(ChronikLabError, ValueError):
    """A history table or file that the checker cannot read (missing columns, bad values)."""


class ScenarioError(InvalidArgumentError):
    """A scenario whose fields contradict each other (e.g. batch sizes not summing to messages)."""


class NotebookError(ChronikLabError):
    """A notebook that failed to run, or a bad notebook parameter."""


ONE_LINE_MAX = 500  # characters: a parser quoting a binary file must not flood the terminal


def one_line(exc: BaseException | str, named: bool = False) -> str:
    """An exception (or an error text) as one line of text for a user: its message with
    whitespace collapsed (a multi-line message, e.g. pyarrow's, stays readable after a CLI's
    `Error: `), control and other unprintable characters shown as "?", cut at ONE_LINE_MAX
    characters; its type's name when it has no message. `named`: "TypeName: message"."""
    text = " ".join(str(exc).split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    if named and text and not isinstance(exc, str):
        text = f"{type(exc).__name__}: {text}"
    if len(text) > ONE_LINE_MAX:
        text = text[: ONE_LINE_MAX - 1] + "…"
    return text or type(exc).__name__
