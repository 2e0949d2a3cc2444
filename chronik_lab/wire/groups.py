"""A small group coordinator: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
OffsetCommit and OffsetFetch, enough for consumers that subscribe and commit.

It is single-member friendly rather than a full rebalance protocol: a JoinGroup answers at once
(no waiting for the other members), a new or departed member bumps the generation and the others
learn it from their next Heartbeat (REBALANCE_IN_PROGRESS) and join again; the leader is the
first live member and gets every member's subscription; a member whose assignment the leader has
not sent yet is told to join again. Members silent for longer than their session timeout are
dropped on the next join. Committed offsets are kept per group and saved in `wire-offsets.json`
in the broker's data directory (written atomically on every commit), so they survive a restart.
An unknown group's OffsetFetch answers -1 ("no offset"), as Kafka does (chronik answered 0).

Not thread-safe: the server calls one handler at a time.
"""

from __future__ import annotations

import json
import time
import uuid
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

from chronik_lab.wire.service import write_json

NONE, ILLEGAL_GENERATION, UNKNOWN_MEMBER, REBALANCING = 0, 22, 25, 27
INCONSISTENT_PROTOCOL = 23
OFFSETS_FILE = "wire-offsets.json"


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
    def __init__(self, data_dir: Path, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.groups: dict[str, Group] = {}
        self._file = data_dir / OFFSETS_FILE
        # group -> "topic\tpartition" -> committed offset
        self.offsets: dict[str, dict[str, int]] = {}
        if self._file.is_file():
            self.offsets = json.loads(self._file.read_text())

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
        g = self.groups.setdefault(req.group_id, Group())
        self._expire(g)
        protocols = {p.name: bytes(p.metadata) for p in req.protocols}
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
        assignment = b""
        if error == NONE:
            if req.member_id == g.leader:
                g.assignments = {a.member_id: bytes(a.assignment) for a in req.assignments}
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
    def offset_commit(self, req: Any) -> Any:
        g = self.groups.get(req.group_id)
        error = NONE
        if req.generation_id_or_member_epoch >= 0:  # -1: a commit from outside any group
            error = self._check(g, req.member_id, req.generation_id_or_member_epoch)
        stored = self.offsets.setdefault(req.group_id, {})
        r = OffsetCommitResponse.OffsetCommitResponseTopic
        topics = []
        for t in req.topics:
            parts = []
            for p in t.partitions:
                if error == NONE:
                    stored[f"{t.name}\t{p.partition_index}"] = int(p.committed_offset)
                parts.append(
                    r.OffsetCommitResponsePartition(
                        partition_index=p.partition_index, error_code=error
                    )
                )
            topics.append(r(name=t.name, partitions=parts))
        if error == NONE:
            write_json(self._file, self.offsets)
        return OffsetCommitResponse(throttle_time_ms=0, topics=topics)

    def offset_fetch(self, req: Any) -> Any:
        stored = self.offsets.get(req.group_id, {})
        if req.topics is None:  # every partition this group committed
            wanted: dict[str, list[int]] = {}
            for key in stored:
                topic, _, index = key.rpartition("\t")
                wanted.setdefault(topic, []).append(int(index))
        else:
            wanted = {t.name: list(t.partition_indexes) for t in req.topics}
        r = OffsetFetchResponse.OffsetFetchResponseTopic
        topics = [
            r(
                name=name,
                partitions=[
                    r.OffsetFetchResponsePartition(
                        partition_index=i,
                        committed_offset=stored.get(f"{name}\t{i}", -1),
                        committed_leader_epoch=-1,
                        metadata="",
                        error_code=NONE,
                    )
                    for i in indexes
                ],
            )
            for name, indexes in wanted.items()
        ]
        return OffsetFetchResponse(throttle_time_ms=0, topics=topics, error_code=NONE)
