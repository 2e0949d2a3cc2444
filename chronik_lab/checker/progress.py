"""Progress of a long check on stderr (tqdm), off unless asked for.

A check reports its stages (`step`: reading, partitioning, checking) and the items of a stage
(`over`: text chunks, buckets) as they finish. Ctrl-C needs nothing from here: each stage is a
DuckDB query (which stops on an interrupt) or numpy work on one bucket (seconds at most), so a
KeyboardInterrupt surfaces within seconds and every temporary directory is removed on the way out.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

__all__ = ["Progress"]

T = TypeVar("T")


class Progress:
    """A stage line and per-stage bars on stderr when `enabled`; silent otherwise. Not
    thread-safe: one check reports through one Progress."""

    def __init__(self, enabled: bool = False) -> None:
        self.enabled = enabled

    def step(self, name: str) -> None:
        if self.enabled:
            tqdm.write(f"check: {name}", file=sys.stderr)

    def over(self, items: Iterable[T], name: str, total: int | None = None) -> Iterator[T]:
        if not self.enabled:
            yield from items
            return
        total = len(items) if total is None and hasattr(items, "__len__") else total
        with tqdm(items, desc=f"check: {name}", total=total, file=sys.stderr, leave=False) as bar:
            yield from bar
