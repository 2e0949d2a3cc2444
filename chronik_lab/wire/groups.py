"""A small group coordinator: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
OffsetCommit and OffsetFetch, enough for consumers that subscribe and commit.

It is single-member friendly rather than a full rebalance protocol: a JoinGroup answers at once
(no waiting for the other members), a new or departed member bumps the generation and the others
learn it from their next Heartbeat (REBALANCE_IN_PROGRESS) and join again; the leader is the
first live member and gets every member's subscription; a member whose assignment the leader has
not sent yet is told to join again. Members silent for longer than their session timeout are
dropped on the next join. Committed offsets are kept per group and saved in `wire-offsets.json`
in the broker's data directory (statefiles.py: written atomically on every commit), so they
survive a restart. An unknown group's OffsetFetch answers -1 ("no offset"), as Kafka does
(chronik answered 0).

Checks, with Kafka's error codes: a null group id gets INVALID_GROUP_ID (an empty one too,
except for OffsetCommit and OffsetFetch, as in Kafka); a commit for a partition that does not
exist gets UNKNOWN_TOPIC_OR_PARTITION. A commit is all-or-nothing: the partitions it answers
NONE are in memory and on disk together, or, when the file cannot be written
(KAFKA_STORAGE_ERROR), in neither. Bounds (limits.py): MAX_GROUPS live groups (one more gets
COORDINATOR_NOT_AVAILABLE once no member-less group is left to drop) and MAX_COMMITTED_OFFSETS
offsets in all (a commit past it gets INVALID_COMMIT_OFFSET_SIZE, Kafka's answer when its
offsets log refuses a commit as too large).

Not thread-safe: the server calls one handler at a time.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka.protocol.consumer import (
    HeartbeatResponse,
    JoinGroupResponse,
    LeaveGroupResponse,
    OffsetCommitResponse,
    OffsetFetchResponse,
    SyncGroupResponse,
)
from kafka.protocol.metadata import FindCoordinatorResponse

from chronik_lab.errors import DataDirError
from chronik_lab.wire.limits import MAX_COMMITTED_OFFSETS, MAX_GROUPS
from chronik_lab.wire.logs import Throttle
from chronik_lab.wire.statefiles import read_json, write_json
from chronik_lab.wire.topics import TopicTable

NONE, UNKNOWN_TOPIC, COORDINATOR_NOT_AVAILABLE = 0, 3, 15
ILLEGAL_GENERATION, INCONSISTENT_PROTOCOL, INVALID_GROUP_ID, UNKNOWN_MEMBER = 22, 23, 24, 25
REBALANCING, INVALID_COMMIT_OFFSET_SIZE, KAFKA_STORAGE_ERROR = 27, 28, 56
OFFSETS_FILE = "wire-offsets.json"
Steps = Generator[None, None, Any]  # a handler run step by step (service.py)


@dataclass
class Member:
    protocols: dict[str, bytes]
    session_ms: int
    generation: int = 0  # the generation this member last joined
    seen: float = field(default_factory=time.monotonic)


@dataclass
class Group:
    generation: int = 0
    members: dict[str, Member] = field(default_factory=dict)
    leader: str = ""
    protocol: str | None = None
    assignments: dict[str, bytes] = field(default_factory=dict)


class Coordinator:
    def __init__(
        self, data_dir: Path, topics: TopicTable, host: str, port: int, fsync: bool = False
    ) -> None:
        self.host, self.port = host, port
        self.topics, self.fsync = topics, fsync
        self.groups: dict[str, Group] = {}
        self._file = data_dir / OFFSETS_FILE
        # group -> "topic\tpartition" -> committed offset
        self.offsets: dict[str, dict[str, int]] = _read_offsets(self._file)
        self.committed = sum(map(len, self.offsets.values()))
        self.throttle = Throttle()

    def find_coordinator(self, req: Any) -> Any:
        return FindCoordinatorResponse(
            throttle_time_ms=0,
            error_code=NONE,
            error_message=None,
            node_id=0,
            host=self.host,
            port=self.port,
        )

    # -- membership -----------------------------------------------------------------------
    def join_group(self, req: Any) -> Any:
        if not req.group_id:
            return JoinGroupResponse(error_code=INVALID_GROUP_ID, member_id=req.member_id or "")
        g = self._group(req.group_id)
        if g is None:
            return JoinGroupResponse(error_code=COORDINATOR_NOT_AVAILABLE)
        self._expire(g)
        protocols = {p.name: bytes(p.metadata or b"") for p in req.protocols}
        member_id = req.member_id or f"{req.header.client_id or 'member'}-{uuid.uuid4()}"
        known = g.members.get(member_id)
        session = max(1, req.session_timeout_ms)
        if known is None or known.protocols != protocols:
            g.members[member_id] = Member(protocols, session)
            self._rebalance(g)
        m = g.members[member_id]
        m.generation, m.seen = g.generation, time.monotonic()
        if g.protocol is None:
            return self._join_answer(req, g, member_id, INCONSISTENT_PROTOCOL)
        return self._join_answer(req, g, member_id, NONE)

    def _group(self, group_id: str) -> Group | None:
        """The group, created if new; None when MAX_GROUPS are live even after dropping the
        groups without members."""
        g = self.groups.get(group_id)
        if g is None:
            if len(self.groups) >= MAX_GROUPS:
                self.groups = {k: v for k, v in self.groups.items() if v.members}
            if len(self.groups) >= MAX_GROUPS:
                return None
            g = self.groups[group_id] = Group()
        return g

    def _rebalance(self, g: Group) -> None:
        g.generation += 1
        g.assignments.clear()
        if g.leader not in g.members:
            g.leader = next(iter(g.members), "")
        g.protocol = None
        if g.members:  # the leader's first choice that every member speaks
            common = set.intersection(*(set(m.protocols) for m in g.members.values()))
            ordered = [p for p in g.members[g.leader].protocols if p in common]
            g.protocol = ordered[0] if ordered else None

    def _join_answer(self, req: Any, g: Group, member_id: str, error: int) -> Any:
        r = JoinGroupResponse
        members = []
        if member_id == g.leader and g.protocol is not None:
            members = [
                r.JoinGroupResponseMember(
                    member_id=mid, group_instance_id=None, metadata=m.protocols[g.protocol]
                )
                for mid, m in g.members.items()
            ]
        return r(
            throttle_time_ms=0,
            error_code=error,
            generation_id=g.generation,
            protocol_type=req.protocol_type,
            protocol_name=g.protocol or "",
            leader=g.leader,
            skip_assignment=False,
            member_id=member_id,
            members=members,
        )

    def sync_group(self, req: Any) -> Any:
        g = self.groups.get(req.group_id)
        error = self._check(g, req.member_id, req.generation_id)
        if not req.group_id:
            error = INVALID_GROUP_ID
        assignment = b""
        if error == NONE:
            if req.member_id == g.leader:
                g.assignments = {a.member_id: bytes(a.assignment or b"") for a in req.assignments}
            if req.member_id in g.assignments:
                assignment = g.assignments[req.member_id]
            else:
                error = REBALANCING  # the leader has not assigned this generation yet
        return SyncGroupResponse(
            throttle_time_ms=0,
            error_code=error,
            protocol_type=getattr(req, "protocol_type", None),
            protocol_name=g.protocol if g else None,
            assignment=assignment,
        )

    def heartbeat(self, req: Any) -> Any:
        g = self.groups.get(req.group_id)
        error = self._check(g, req.member_id, req.generation_id)
        if error == NONE and g.members[req.member_id].generation != g.generation:
            error = REBALANCING
        if not req.group_id:
            error = INVALID_GROUP_ID
        return HeartbeatResponse(throttle_time_ms=0, error_code=error)

    def leave_group(self, req: Any) -> Any:
        g = self.groups.get(req.group_id)
        leaving = [m.member_id for m in req.members] if req.API_VERSION >= 3 else [req.member_id]
        results = []
        for member_id in leaving:
            known = g is not None and member_id in g.members
            if known:
                del g.members[member_id]
            results.append(
                LeaveGroupResponse.MemberResponse(
                    member_id=member_id,
                    group_instance_id=None,
                    error_code=NONE if known else UNKNOWN_MEMBER,
                )
            )
        if g is not None and any(r.error_code == NONE for r in results):
            self._rebalance(g)
        error = NONE if req.API_VERSION >= 3 or results[0].error_code == NONE else UNKNOWN_MEMBER
        if not req.group_id:
            error = INVALID_GROUP_ID
        return LeaveGroupResponse(throttle_time_ms=0, error_code=error, members=results)

    def _check(self, g: Group | None, member_id: str, generation: int) -> int:
        if g is None or member_id not in g.members:
            return UNKNOWN_MEMBER
        g.members[member_id].seen = time.monotonic()
        if generation != g.generation:
            return ILLEGAL_GENERATION
        return NONE

    def _expire(self, g: Group) -> None:
        now = time.monotonic()
        dead = [mid for mid, m in g.members.items() if now - m.seen > m.session_ms / 1000]
        for mid in dead:
            del g.members[mid]
        if dead:
            self._rebalance(g)

    # -- offsets --------------------------------------------------------------------------
    def offset_commit(self, req: Any) -> Steps:
        """Checked partition by partition (a step each), then stored in one step."""
        group_error = NONE
        if req.group_id is None:  # Kafka accepts "" here (old consumers), never null
            group_error = INVALID_GROUP_ID
        elif req.generation_id_or_member_epoch >= 0:  # -1: a commit from outside any group
            g = self.groups.get(req.group_id)
            group_error = self._check(g, req.member_id, req.generation_id_or_member_epoch)
        checked = []  # per topic of the request, (partition, error code) for each partition
        for t in req.topics:
            count, parts = self.topics.count(t.name), []
            for p in t.partitions:
                known = 0 <= p.partition_index < count
                parts.append((p, group_error if group_error or known else UNKNOWN_TOPIC))
                yield
            checked.append((t, parts))
        valid = {
            f"{t.name}\t{p.partition_index}": int(p.committed_offset)
            for t, parts in checked
            for p, error in parts
            if error == NONE
        }
        code = self._store(req.group_id, valid) if valid else NONE
        r = OffsetCommitResponse.OffsetCommitResponseTopic
        topics = [
            r(
                name=t.name,
                partitions=[
                    # a failed store committed nothing: every partition says so
                    r.OffsetCommitResponsePartition(
                        partition_index=p.partition_index, error_code=code or error
                    )
                    for p, error in parts
                ],
            )
            for t, parts in checked
        ]
        return OffsetCommitResponse(throttle_time_ms=0, topics=topics)

    def _store(self, group_id: str, valid: dict[str, int]) -> int:
        """Commit `valid` for the group, on disk then in memory, or not at all; an error code."""
        stored = self.offsets.get(group_id, {})
        committed = self.committed + sum(1 for key in valid if key not in stored)
        if committed > MAX_COMMITTED_OFFSETS:
            return INVALID_COMMIT_OFFSET_SIZE
        after = {**self.offsets, group_id: {**stored, **valid}}
        try:
            write_json(self._file, after, self.fsync)
        except (OSError, DataDirError) as exc:
            self.throttle.log("offsets", logging.WARNING, "cannot save the offsets: %s", exc)
            return KAFKA_STORAGE_ERROR
        self.offsets, self.committed = after, committed
        return NONE

    def offset_fetch(self, req: Any) -> Steps:
        if req.group_id is None:
            return OffsetFetchResponse(throttle_time_ms=0, topics=[], error_code=INVALID_GROUP_ID)
        stored = self.offsets.get(req.group_id, {})
        if req.topics is None:  # every partition this group committed
            wanted: dict[str, list[int]] = {}
            for key in stored:
                topic, _, index = key.rpartition("\t")
                wanted.setdefault(topic, []).append(int(index))
        else:
            wanted = {t.name: list(t.partition_indexes) for t in req.topics}
        r = OffsetFetchResponse.OffsetFetchResponseTopic
        topics = []
        for name, indexes in wanted.items():
            parts = []
            for i in indexes:
                parts.append(
                    r.OffsetFetchResponsePartition(
                        partition_index=i,
                        committed_offset=stored.get(f"{name}\t{i}", -1),
                        committed_leader_epoch=-1,
                        metadata="",
                        error_code=NONE,
                    )
                )
                yield
            topics.append(r(name=name, partitions=parts))
        return OffsetFetchResponse(throttle_time_ms=0, topics=topics, error_code=NONE)


def _read_offsets(path: Path) -> dict[str, dict[str, int]]:
    data = read_json(path)
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(
        isinstance(group, dict) and all(type(o) is int for o in group.values())
        for group in data.values()
    ):
        raise DataDirError(path, "is not a JSON object of groups to committed offsets")
    return data
