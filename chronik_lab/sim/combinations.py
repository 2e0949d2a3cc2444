"""Settle every bug combination of a workload with as few runs as the switch reads allow.

`explore` runs combinations until each one is *settled*: run itself, or in the class of a run
that read only switches on which the two agree (see switch_reads.py for why that is sound). It
picks the combinations with the fewest bugs first, keeps up to `Pool.window` runs submitted to
the executor, and avoids submitting two combinations that differ only in switches no run has
read so far (they would most likely be one class, and one of the runs would be wasted; a wasted
run is still correct, only slower).

With `early_stop`, explain wants only the minimal exact combinations, so a combination that has
an exact proper subset is never run: it cannot be minimal. What is settled then always includes
every combination none of whose proper subsets is exact (each of those is only ever skipped for
a proper subset known to be exact, and none has one), which is what explain shows.
"""

from __future__ import annotations

import functools
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass

import numpy as np

from chronik_lab.bugs import PRESETS
from chronik_lab.sim.executors import Pool, progress_bar
from chronik_lab.sim.scenario import Scenario
from chronik_lab.sim.switch_reads import (
    ALL,
    SWITCHES,
    run_combination,
    run_exhaustive,
    switches_on,
)

__all__ = ["Explored", "explore", "mask_of"]


@dataclass
class Explored:
    """What `explore` found: the runs' classes and which class settles each combination."""

    reads: list[int]  # per class: the switches its run read (a mask over SWITCHES)
    ids: list[np.ndarray]  # per class: the ids the consumer received
    counts: list[dict[str, int]]  # per class: their outcome (checker/counts.py)
    owner: np.ndarray  # per combination mask: its class, or -1 when not settled
    dominated: np.ndarray  # per combination mask: has an exact proper subset (early stop)
    inside: np.ndarray  # per combination mask: only allowed switches on
    runs: int  # simulations run, the redundant ones included

    @property
    def switches_read(self) -> tuple[str, ...]:
        """Every switch some run of this workload read (the others never mattered)."""
        union = np.bitwise_or.reduce(np.asarray(self.reads or [0]))
        return tuple(name for i, name in enumerate(SWITCHES) if int(union) >> i & 1)


def mask_of(names: frozenset[str]) -> int:
    return sum(1 << i for i, name in enumerate(SWITCHES) if name in names)


class _Search:
    """The bookkeeping of one exploration (the loop itself is `explore`).

    Invariants: a combination's owner is set once (classes never overlap) and `dominated` only
    grows, so the combinations still wanted only ever become unwanted: every combination before
    `order[start]` is settled (or dominated, under early stop), and `next` scans on from there a
    chunk at a time rather than over all 2^n per call. `n_settled` counts the combinations
    `settled` counts, kept as classes settle. Not thread-safe: `explore` alone uses it.
    """

    CHUNK = 2048  # combinations `next` looks at in one numpy pass

    def __init__(self, observed: np.ndarray, early_stop: bool, allowed: int = ALL) -> None:
        size = 1 << len(SWITCHES)
        self.masks = np.arange(size, dtype=np.int64)
        self.allowed = allowed
        self.inside = (self.masks & ~allowed) == 0  # the combinations of the allowed switches
        order = _fewest_first()
        self.order = order[self.inside[order]]  # the allowed ones, fewest bugs first
        self.start = 0  # every combination before order[start] is no longer wanted
        self.owner = np.full(size, -1, dtype=np.int64)
        self.dominated = np.zeros(size, dtype=bool)
        self.required = np.zeros(size, dtype=bool)  # settled even under early stop
        self.required[[mask_of(bugs) for bugs in PRESETS.values()]] = True
        self.required &= self.inside
        self.observed = observed
        self.early_stop = early_stop
        self.reads: list[int] = []
        self.ids: list[np.ndarray] = []
        self.counts: list[dict[str, int]] = []
        self.seen = ALL  # the switches read so far; before any run, assume all of them
        self.n_settled = 0

    def settle(self, mask: int, read: int, ids: np.ndarray, counts: dict[str, int]) -> None:
        if self.owner[mask] >= 0:
            return  # a redundant run: its class was settled while it ran
        base = mask & read  # the class: base plus any of the allowed switches it did not read
        members = _class_of(base, self.allowed & ~read)
        if (self.owner[members] >= 0).any():
            raise RuntimeError(  # two classes overlap: a run was not deterministic
                f"explain: the runs of combination {mask} and of an earlier one disagree"
            )
        self.owner[members] = len(self.reads)
        self.reads.append(read)
        self.ids.append(ids)
        self.counts.append(counts)
        self.seen = read if len(self.reads) == 1 else self.seen | read
        if not self.early_stop:
            self.n_settled += len(members)
            return
        self.n_settled += len(members) - int(np.count_nonzero(self.dominated[members]))
        if np.array_equal(ids, self.observed):
            # The strict supersets of the class's members are those of base (itself a member)
            # but base: one pass, whatever the class's size.
            wider = (self.masks & base) == base
            wider[base] = False
            wider &= ~self.dominated
            self.dominated |= wider
            self.n_settled += int(np.count_nonzero(wider & self.inside & (self.owner < 0)))

    def settled(self) -> int:
        return self.n_settled

    def next(self, in_flight: list[int]) -> int | None:
        """The next combination to run, or None when nothing is left to submit now."""
        self._skip_unwanted()
        for at in range(self.start, len(self.order), self.CHUNK):
            chunk = self.order[at : at + self.CHUNK]
            candidates = chunk[self._wanted(chunk)]
            for mask in in_flight:
                # Not one that differs from a submitted run only in switches never read so far.
                candidates = candidates[((candidates ^ mask) & self.seen) != 0]
            if len(candidates):
                return int(candidates[0])
        return None

    def _wanted(self, masks: np.ndarray) -> np.ndarray:
        wanted = self.owner[masks] < 0
        if self.early_stop:
            wanted &= ~self.dominated[masks] | self.required[masks]
        return wanted

    def _skip_unwanted(self) -> None:
        while self.start < len(self.order):
            wanted = self._wanted(self.order[self.start : self.start + self.CHUNK])
            if wanted.any():
                self.start += int(np.argmax(wanted))
                return
            self.start += len(wanted)


@functools.cache
def _fewest_first() -> np.ndarray:
    """Every combination mask, fewest switches on first, then by mask: the order runs start in."""
    masks = np.arange(1 << len(SWITCHES), dtype=np.int64)
    order = masks[np.lexsort((masks, switches_on(masks)))]
    order.flags.writeable = False
    return order


def _class_of(base: int, free: int) -> np.ndarray:
    """The masks base | s for every s within `free`: a run's class, 2^|free| of them."""
    members = np.array([base], dtype=np.int64)
    for i in range(len(SWITCHES)):
        if free >> i & 1:
            members = np.concatenate([members, members | (1 << i)])
    return members


def explore(
    scenario: Scenario,
    observed: np.ndarray,
    *,
    prune: bool = True,
    early_stop: bool = False,
    executor: object = None,
    max_workers: int | None = None,
    progress: bool = False,
    allowed: int = ALL,
) -> Explored:
    """Settle every combination of the `allowed` switches (a mask over `SWITCHES`; the others
    stay off) for `scenario`'s workload (see the module doc).

    `prune=False` runs every combination without recording reads: the exhaustive baseline.
    """
    search = _Search(observed, early_stop, allowed)
    runner = run_combination if prune else run_exhaustive
    runs = 0
    pending: dict[Future, int] = {}
    with (
        Pool(executor, max_workers) as pool,
        progress_bar(progress, len(search.order), "combinations") as bar,
    ):
        try:
            while True:
                if not pool.decided and (first := search.next([])) is not None:
                    (read, ids, counts), seconds = pool.time_first(runner, scenario, first)
                    search.settle(first, read, ids, counts)
                    runs += 1
                    # What it read bounds what is left: about one run per value of those bits.
                    pool.decide(seconds * ((1 << bin(read & allowed).count("1")) - 1))
                while len(pending) < pool.window:
                    mask = search.next(list(pending.values()))
                    if mask is None:
                        break
                    pending[pool.submit(runner, scenario, mask)] = mask
                    runs += 1
                if not pending:
                    break  # nothing in flight and nothing left to submit: all settled
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    search.settle(pending.pop(future), *future.result())
                bar.set_postfix(runs=runs, refresh=False)
                bar.update(search.settled() - bar.n)
        finally:
            for future in pending:
                future.cancel()
        bar.update(search.settled() - bar.n)
    return Explored(
        search.reads,
        search.ids,
        search.counts,
        search.owner,
        search.dominated,
        search.inside,
        runs,
    )
