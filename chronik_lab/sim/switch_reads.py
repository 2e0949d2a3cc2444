"""Which bug switches a run reads, and the combinations that therefore run identically.

A run is deterministic: nothing in the engine or the clients reads wall time or unseeded
randomness, so a run's every step follows from the scenario and the values of the switches the
engine *reads*. `SwitchReads` is a BugSet that records those reads. If a run under combination
C read the switches R, any combination that agrees with C on R makes every one of those reads
return the same value, so it takes the same steps and receives the same ids: one run settles the
whole class {C' : C' & R == C & R} (2^(n - |R|) combinations). A switch the run never reached
(the acks=1 high-watermark guard under acks=-1, a wire-layer switch in an in-process run) halves
the work each time, and the classes of a workload are the leaves of its decision tree over the
switches -- unique, whichever combination of a class happened to run.

`SwitchReads` counts a read of `names` (the whole set) as a read of every switch, so code that
looks at the set instead of one switch makes the pruning conservative, never wrong.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import numpy as np

from chronik_lab.bugs import BUGS, BugSet
from chronik_lab.checker.counts import outcome
from chronik_lab.sim.scenario import Scenario, received_columns

__all__ = [
    "SWITCHES",
    "SwitchReads",
    "names_by_mask",
    "names_of",
    "run_combination",
    "run_exhaustive",
    "switches_on",
]

SWITCHES: tuple[str, ...] = tuple(BUGS)  # bit i of a combination's mask is SWITCHES[i]
ALL = (1 << len(SWITCHES)) - 1


class SwitchReads(BugSet):
    """A BugSet that records, as a bit mask over `SWITCHES`, every switch the engine reads."""

    __slots__ = ("read",)

    def __init__(self, bugs: str | Iterable[str] | BugSet | None = None) -> None:
        if bugs is self:  # Broker's BugSet(self): passed through, keep what was recorded
            return
        self.read = 0
        super().__init__(bugs)
        self.read = 0  # again: BugSet.__init__ reads `names` while it sets the slots


def _recording(bit: int, slot: object) -> property:
    def get(self: SwitchReads) -> bool:
        self.read |= bit
        return slot.__get__(self, BugSet)  # type: ignore[attr-defined]

    def set_(self: SwitchReads, value: bool) -> None:
        slot.__set__(self, value)  # type: ignore[attr-defined]

    return property(get, set_)


for _i, _name in enumerate(("names", *SWITCHES)):
    # A property in the subclass shadows BugSet's slot; the slot still holds the value.
    _bit = ALL if _name == "names" else 1 << (_i - 1)
    setattr(SwitchReads, _name, _recording(_bit, BugSet.__dict__[_name]))


def names_of(mask: int) -> tuple[str, ...]:
    """The sorted switch names of a combination's mask."""
    return tuple(sorted(name for i, name in enumerate(SWITCHES) if mask >> i & 1))


def names_by_mask(masks: Iterable[int] | np.ndarray) -> np.ndarray:
    """`names_of` for many masks at once, as an object array of tuples (explain's table has one
    row per combination, 2^n). The tuples are shared: they come from one table of every mask's
    names, built once per process (`_names_table`)."""
    return _names_table()[np.asarray(masks, dtype=np.int64)]


@functools.cache
def _names_table() -> np.ndarray:
    """Every mask's names, indexed by mask: built in one pass that adds the switches in name
    order -- each tuple is a smaller mask's plus one name, never sorted again.

    Kept for the process because it depends only on SWITCHES, while building it costs more than
    a fifth of an explain of the seed (2^18 tuples, ~0.1 s); it holds ~30 MB, which a table of
    every combination holds anyway while it lives (its `bugs` column shares these tuples).
    Read-only, and tuples are immutable: no caller can change what the next one gets."""
    table = np.empty(1 << len(SWITCHES), dtype=object)
    table[0] = ()
    filled = np.zeros(1, dtype=np.int64)  # the masks made of the switches added so far
    for i in sorted(range(len(SWITCHES)), key=SWITCHES.__getitem__):
        bit, name = 1 << i, (SWITCHES[i],)
        grown = filled | bit
        table[grown] = [names + name for names in table[filled]]
        filled = np.concatenate([filled, grown])
    table.flags.writeable = False
    return table


def switches_on(masks: np.ndarray) -> np.ndarray:
    """How many switches each mask turns on (int64), from a table of every mask's count."""
    return _switch_counts()[masks]


@functools.cache
def _switch_counts() -> np.ndarray:
    masks = np.arange(1 << len(SWITCHES), dtype=np.int64)
    counts = np.zeros_like(masks)
    for i in range(len(SWITCHES)):
        counts += (masks >> i) & 1
    counts.flags.writeable = False
    return counts


def run_combination(scenario: Scenario, mask: int) -> tuple[int, np.ndarray, dict[str, int]]:
    """Run `scenario`'s workload under the combination `mask`: (switches read, ids received,
    their `outcome`, which the offsets received decide: a record read again is redelivered).

    A run that recorded no read at all (an engine that took its switches some other way) is
    reported as having read every switch, so that it settles only itself.
    """
    bugs = SwitchReads(names_of(mask))
    ids, counts = _received(scenario, bugs)
    return (bugs.read or ALL), ids, counts


def run_exhaustive(scenario: Scenario, mask: int) -> tuple[int, np.ndarray, dict[str, int]]:
    """The plain run of one combination, no recording (explain's `prune=False` baseline)."""
    return (ALL, *_received(scenario.with_bugs(names_of(mask)), None))


def _received(scenario: Scenario, bugs: BugSet | None) -> tuple[np.ndarray, dict[str, int]]:
    received = received_columns(scenario, bugs=bugs)
    ids = received["message_id"]
    return ids, outcome(ids, scenario.messages, received["offset"], received["partition"])


Runner = Callable[[Scenario, int], tuple[int, np.ndarray, dict[str, int]]]
