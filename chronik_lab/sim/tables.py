"""The tables of a run, as the layers above read them: a `typing.Protocol`, not a class.

Charts (viz/), the notebooks' glue (notebook/) and the generated prose read a run's tables and
nothing else, so they take any object with these attributes: a `cl.Run`, or a Run-shaped
namespace a test builds from numpy (a million records without running the engine). The table
columns are those of `sim/recorder.py` (trace, buffer, segment, offsets history) and
`sim/clients.py` (sent, received).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import pandas as pd

__all__ = ["CheckedTables", "PatternTables", "RunTables", "ScenarioLike"]


class ScenarioLike(Protocol):
    """What the layers above read of a scenario: the broker version it ran (`bugs`, as given,
    and `bug_set`, resolved), and the same workload under other switches (`with_bugs`)."""

    @property
    def bugs(self) -> object: ...
    @property
    def bug_set(self) -> frozenset[str]: ...
    def with_bugs(self, bugs: str | Iterable[str] | None) -> Any: ...


class PatternTables(Protocol):
    """What the charts read of a check: the pattern table (partition, offset and value runs)."""

    @property
    def pattern(self) -> pd.DataFrame: ...


@runtime_checkable
class RunTables(Protocol):
    """A run's tables: what was sent and received, every step, and the snapshots after them.

    Read-only properties, so a frozen dataclass (`cl.Run`) satisfies it as well as a
    namespace does. `snapshots_truncated` is True when the recorder stopped taking snapshots
    (the three history tables then end at the same step, before the trace does).
    """

    @property
    def scenario(self) -> ScenarioLike: ...
    @property
    def sent(self) -> pd.DataFrame: ...
    @property
    def received(self) -> pd.DataFrame: ...
    @property
    def trace(self) -> pd.DataFrame: ...
    @property
    def buffer_history(self) -> pd.DataFrame: ...
    @property
    def segment_history(self) -> pd.DataFrame: ...
    @property
    def offsets_history(self) -> pd.DataFrame: ...
    @property
    def snapshots_truncated(self) -> bool: ...


class CheckedTables(RunTables, Protocol):
    """A run's tables and the checker's report on them (`cl.Run` is one)."""

    @property
    def report(self) -> PatternTables: ...
