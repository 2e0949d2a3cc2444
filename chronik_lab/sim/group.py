"""A consumer group's member with commits, crashes and rebalances (sim/faults.py's `commit`,
`consumer_crashes`, `rebalances`).

The group keeps one committed offset per partition (Kafka keeps them in __consumer_offsets:
they outlive any member and any broker restart). A partition's consumption starts at its
committed offset, or by `auto_offset_reset` when nothing was committed yet. What a poll returns
is *processed* when it enters the history (the application has it); its commit follows the
group's mode:

- "after": process, then commit the position after the poll's records;
- "before": commit, then process;
- "auto": every poll first commits the positions the member's previous polls reached -- the
  offsets of the penultimate poll, not of the one just returned (Jepsen, Bufstream 0.1.0,
  corrected 2024-11-13) -- and on a rebalance commits on revocation (the Java client's
  auto-commit does so in onJoinPrepare).

A crash after poll p (1-based in the scenario, 0-based here) comes between that poll's two
halves: with "after" and "auto" the records were processed and not committed, so the restarted
member reads them again (redelivered: the same offsets); with "before" they were committed and
never processed (lost). A rebalance after poll p: a new member joins and that poll's partition
moves to it, starting at the committed offset; the commit of "after" fails with it. Each member,
and each member after a restart, is a process of its own in the history (as Jepsen numbers a
crashed client anew), so a re-read is redelivery, not a nonmonotonic poll of one process.
"""

from __future__ import annotations

from typing import Any

from chronik_lab.sim.clients import Consumer

__all__ = ["GroupConsumer"]

FaultHook = Any  # Recorder.fault, or None


class GroupConsumer(Consumer):
    """A group member (one at a time is polling: the simulation is single-threaded).

    Invariants: `committed[p]` only moves forward except when a member commits what it read
    again; a partition is owned by exactly one process (`owner`); after a crash or a rebalance
    the partition's position is forgotten, so its next poll starts at the committed offset.
    Not thread-safe.
    """

    def __init__(
        self,
        *args: Any,
        commit: str,
        crashes: frozenset[int],
        rebalances: frozenset[int],
        fault: FaultHook | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.mode = commit
        self.crashes = crashes
        self.rebalances = rebalances
        self.fault = fault if fault is not None else _no_fault
        self.committed: dict[int, int] = {}
        self.member = 1  # members and restarted members so far
        self.owner: dict[int, int] = {}  # partition -> process code in the history
        self.process = self.history.process_code("consumer")
        self._interrupted: int | None = None  # the poll a crash or rebalance ended

    # -- where a partition starts, and the poll loop's hooks -------------------------------
    def _start(self, p: int) -> int | None:
        self.owner.setdefault(p, self.process)
        if p in self.committed:
            return self.committed[p]
        return super()._start(p)

    def _poll(self, p: int) -> bool:
        if self.mode == "auto":
            self._auto_commit(self.owner.get(p, self.process))
        poll = self.polls
        more = super()._poll(p)
        if self.polls == poll:
            return more  # no fetch made: the partition does not exist yet
        if self._interrupted == poll:
            return True  # a crash or rebalance after its records (_received): read on
        # A poll that returned nothing (or failed): nothing of it to process or commit.
        if poll in self.crashes:
            self._crash(p, poll)
            return True
        if poll in self.rebalances:
            if self.mode == "auto" and p in self.positions:
                self._commit(p, self.positions[p], poll, "on revocation")
            self._rebalance(p, poll)
            return True
        return more

    def _received(self, op: int, p: int, poll: int, offsets, ids, server) -> None:
        after = int(offsets[-1]) + 1
        crash, rebalance = poll in self.crashes, poll in self.rebalances
        if self.mode == "before":
            self._commit(p, after, poll)
        if not (crash and self.mode == "before"):  # "before" crashes between commit and process
            self.history.add_poll(op, p, poll, offsets, ids, server, self.owner[p])
        self.positions[p] = after
        if crash:
            self._crash(p, poll)
        elif rebalance:
            if self.mode == "auto":
                self._commit(p, after, poll, "on revocation")
            self._rebalance(p, poll)
        elif self.mode == "after":
            self._commit(p, after, poll)

    # -- commits and faults ---------------------------------------------------------------
    def _commit(self, p: int, offset: int, poll: int, why: str = "") -> None:
        self.committed[p] = offset
        detail = f"committed offset {offset}" + (f" ({why})" if why else "")
        self.hook("consumer", "commit", poll, p, (offset, None), 0, detail)

    def _auto_commit(self, process: int) -> None:
        """Commit every position `process` reached by its previous polls."""
        for p, owner in self.owner.items():
            position = self.positions.get(p)
            if owner == process and position is not None and self.committed.get(p) != position:
                self._commit(p, position, self.polls, "auto-commit")

    def _crash(self, p: int, poll: int) -> None:
        """The member that made poll `poll` crashes and restarts as a new process."""
        self._interrupted = poll
        crashed = self.owner[p]
        self.member += 1
        name = f"consumer-{self.member}"
        code = self.history.process_code(name)
        lost = (
            "processed and not committed" if self.mode != "before" else "committed, not processed"
        )
        detail = f"crash after poll {poll + 1} ({lost}); restarts as {name}"
        # A row for each partition the member owned (p first), as a broker restart has one per
        # partition: each of them restarts at its committed offset, so each one's chart marks it.
        owned = [p] + sorted(q for q, owner in self.owner.items() if owner == crashed and q != p)
        for q in owned:
            self.fault("consumer_crash", q, detail, poll=poll)
            self.owner[q] = code
            self.positions.pop(q, None)
        if self.process == crashed:
            self.process = code

    def _rebalance(self, p: int, poll: int) -> None:
        """A new member joins and partition `p` moves to it: each rebalance a member of its
        own, so no member ever regains a partition past offsets another one read."""
        self._interrupted = poll
        self.member += 1
        name = f"consumer-{self.member}"
        self.owner[p] = self.history.process_code(name)
        self.positions.pop(p, None)
        start = self.committed.get(p)
        at = "the log start" if start is None else f"committed offset {start}"
        self.fault(
            "rebalance", p, f"a member joins: partition {p} moves to {name}, from {at}", poll=poll
        )


def _no_fault(*args: object, **kwargs: object) -> None:
    return None
