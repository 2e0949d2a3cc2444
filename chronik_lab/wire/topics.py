"""The server's topic table: how many partitions each topic has, saved in `wire-topics.json`.

The engine creates a topic-partition on its first produce and knows nothing of topics with no
record yet; Kafka clients need to know every topic's partition count first (Metadata). This
table is that count. It starts from the file and from the partition directories the broker
recovered (a directory `t-4` means topic t has at least 5 partitions).

Invariants: every count is 1..MAX_PARTITIONS_PER_TOPIC and the counts add up to at most
MAX_PARTITIONS; a data_dir that breaks them (a hand-made `t-2147483647`, an edited file) is
refused at start with DataDirError. `save()` writes the file once, whatever a request created,
and a creation that cannot be saved is undone.

Not thread-safe: the server calls it from one thread, holding its lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from chronik_lab import validate
from chronik_lab.errors import DataDirError, InvalidArgumentError
from chronik_lab.wire.limits import MAX_PARTITIONS, MAX_PARTITIONS_PER_TOPIC
from chronik_lab.wire.statefiles import read_json, write_json

__all__ = ["TOPICS_FILE", "TopicTable"]

NONE, INVALID_TOPIC, TOPIC_EXISTS, INVALID_PARTITIONS = 0, 17, 36, 37
TOPICS_FILE = "wire-topics.json"


class TopicTable:
    def __init__(
        self, data_dir: Path, recovered: Iterable[tuple[str, int]], fsync: bool = False
    ) -> None:
        self.data_dir, self.fsync = data_dir, fsync
        self._file = data_dir / TOPICS_FILE
        self.counts: dict[str, int] = {}
        self.total = 0
        self._unsaved: list[str] = []
        for name, count in _entries(self._file):
            self._load(name, count, self._file)
        for name, number in recovered:
            self._load(name, max(self.count(name), number + 1), data_dir / f"{name}-{number}")

    def _load(self, name: str, count: int, where: Path) -> None:
        if not 1 <= count <= MAX_PARTITIONS_PER_TOPIC:
            raise DataDirError(
                where,
                f"topic {name!r} with {count:,} partitions is beyond this server's limit of "
                f"{MAX_PARTITIONS_PER_TOPIC:,} per topic; move it out of the data_dir",
            )
        self.total += count - self.count(name)
        self.counts[name] = count
        if self.total > MAX_PARTITIONS:
            raise DataDirError(
                where, f"its topics hold more than this server's {MAX_PARTITIONS:,} partitions"
            )

    def __contains__(self, name: object) -> bool:
        return name in self.counts

    def count(self, name: str) -> int:
        """The topic's partitions; 0 for an unknown topic."""
        return self.counts.get(name, 0)

    def names(self) -> list[str]:
        return sorted(self.counts)

    def check(self, name: object, partitions: int) -> int:
        """The error code a creation would get (NONE: it would be created)."""
        try:
            validate.topic_name(name)
        except InvalidArgumentError:
            return INVALID_TOPIC
        if name in self.counts:
            return TOPIC_EXISTS
        if not 1 <= partitions <= MAX_PARTITIONS_PER_TOPIC:
            return INVALID_PARTITIONS
        if self.total + partitions > MAX_PARTITIONS:
            return INVALID_PARTITIONS
        return NONE

    def create(self, name: str, partitions: int) -> int:
        """Create the topic in memory (`save()` writes it); its error code."""
        error = self.check(name, partitions)
        if error == NONE:
            self.counts[name] = partitions
            self.total += partitions
            self._unsaved.append(name)
        return error

    def save(self) -> None:
        """Write the file if anything was created since the last save. When it cannot be
        written (OSError, DataDirError, raised), those creations are undone: a caller finds
        its topics gone from the table."""
        created, self._unsaved = self._unsaved, []
        if not created:
            return
        try:
            write_json(self._file, self.counts, self.fsync)
        except (OSError, DataDirError):
            for name in created:
                self.total -= self.counts.pop(name, 0)
            raise


def _entries(path: Path) -> list[tuple[str, int]]:
    data = read_json(path)
    if data is None:
        return []
    if not isinstance(data, dict) or not all(_valid(k, v) for k, v in data.items()):
        raise DataDirError(path, "is not a JSON object of topic names to partition counts")
    return list(data.items())


def _valid(name: str, count: object) -> bool:
    try:
        validate.topic_name(name)
    except InvalidArgumentError:
        return False
    return isinstance(count, int) and not isinstance(count, bool)
