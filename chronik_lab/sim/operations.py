"""What the simulated clients did, one entry per operation, and the tables made from it.

`Operations` collects the producer's sends and the consumer's polls as they complete (one `Op`
each, with its records' offsets and message ids as arrays); `tables()` expands them into the
Jepsen-style history (one row per record), the `sent` and the `received` tables, vectorised.
A send whose outcome the client never learnt (`info`: its response was lost) has no offset: the
history's and `sent`'s offset columns are then nullable. A consumer that crashed and restarted,
or a second group member, is a process of its own, as in Jepsen (`process_code`). Not
thread-safe.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = ["Op", "Operations"]

PROCESSES = ("producer", "consumer")
F_VALUES = ("send", "poll")
TYPES = ("ok", "fail", "info")
_TYPE_CODES = {name: code for code, name in enumerate(TYPES)}


class Op(NamedTuple):
    """One client operation; process, f and type are codes into PROCESSES, F_VALUES, TYPES."""

    op_index: int
    process: int
    f: int
    type: int
    partition: int
    rows: int  # records it touched
    request: int  # the producer's request number (-1: a poll)
    poll: int  # the consumer's poll number (-1: a send)


class Operations:
    """What the clients did, one entry per operation; `tables()` expands it into the history
    (one row per record, Jepsen-style), `sent` and `received` tables, all vectorised."""

    def __init__(self) -> None:
        self.op_index = 0
        self.processes = list(PROCESSES)  # process codes -> names
        self.resent = False  # some id was sent again by the application: `sent` keeps one row
        self.ops: list[Op] = []
        self.offsets: list[np.ndarray] = []  # client-visible offsets of each op's records
        self.values: list[np.ndarray] = []  # message ids
        self.server: list[np.ndarray] = []  # offsets the broker stored (sends: the same)

    def next_op(self) -> int:
        self.op_index += 1
        return self.op_index - 1

    def process_code(self, name: str) -> int:
        """The code of process `name`, a new one the first time it is named."""
        if name not in self.processes:
            self.processes.append(name)
        return self.processes.index(name)

    def add_send(self, op: int, type_: str, partition: int, request: int, offsets, ids) -> None:
        """`offsets`: an array, or the first offset of the contiguous ones the send got (the
        array is made only if `tables()` is asked for), or None when the client never learnt
        them."""
        self.ops.append(Op(op, 0, 0, _TYPE_CODES[type_], partition, len(ids), request, -1))
        self.offsets.append(offsets)
        self.values.append(ids)
        self.server.append(offsets)

    def add_poll(
        self, op: int, partition: int, poll: int, offsets, ids, server, process: int = 1
    ) -> None:
        self.ops.append(Op(op, process, 1, 0, partition, len(ids), -1, poll))
        self.offsets.append(offsets)
        self.values.append(ids)
        self.server.append(server)

    def received_ids(self) -> list[int]:
        polls = [v for v, op in zip(self.values, self.ops, strict=True) if op.f == 1]
        return _concat(polls).tolist()

    def received_columns(self) -> dict[str, np.ndarray]:
        """The polls' partition, (client) offset and message_id per record, in the order
        received: what `outcome` needs to tell a redelivery from a duplicate, without tables()."""
        polls = [i for i, op in enumerate(self.ops) if op.f == 1]
        return {
            "partition": np.repeat(
                [self.ops[i].partition for i in polls], [self.ops[i].rows for i in polls]
            ).astype(np.int64),
            "offset": _concat([self.offsets[i] for i in polls]),
            "message_id": _concat([self.values[i] for i in polls]),
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        self._in_op_order()
        meta = np.array(self.ops, dtype=np.int64).reshape(-1, len(Op._fields))
        rows = meta[:, Op._fields.index("rows")]

        def per_row(name: str) -> np.ndarray:
            return np.repeat(meta[:, Op._fields.index(name)], rows)

        values = _concat(self.values)
        offsets, server = (_concat(self._arrays(chunks)) for chunks in (self.offsets, self.server))
        f, partition = per_row("f"), per_row("partition")
        processes = self.processes
        known = _known(offsets)
        history = pd.DataFrame(
            {
                "op_index": per_row("op_index"),
                "process": pd.Categorical.from_codes(per_row("process"), categories=processes),
                "f": pd.Categorical.from_codes(f, categories=F_VALUES),
                "type": pd.Categorical.from_codes(per_row("type"), categories=TYPES),
                "partition": partition,
                "offset": known,
                "value": values,
            }
        )
        send, poll = f == 0, f == 1
        if self.resent:  # each id once: its acknowledged send if any, else its first
            send = send & _first_or_acknowledged(values, per_row("type"), send)
        sent = {"message_id": values, "partition": partition}
        request = {"offset": known[send], "request": per_row("request")[send]}
        sent = pd.DataFrame({k: v[send] for k, v in sent.items()} | request)
        received = {"poll": per_row("poll"), "partition": partition, "offset": offsets}
        received |= {"server_offset": server, "message_id": values, "op_index": per_row("op_index")}
        received = pd.DataFrame({k: v[poll] for k, v in received.items()})
        return {"history": history, "sent": sent, "received": received}

    def _in_op_order(self) -> None:
        """Ops in op_index order: a producer with requests in flight completes them out of the
        order it sent them."""
        index = [op.op_index for op in self.ops]
        if all(a <= b for a, b in zip(index, index[1:], strict=False)):
            return
        order = sorted(range(len(index)), key=index.__getitem__)
        for name in ("ops", "offsets", "values", "server"):
            column = getattr(self, name)
            setattr(self, name, [column[i] for i in order])

    def _arrays(self, chunks: list) -> list[np.ndarray]:
        """Offsets as arrays: a send's first offset expands to first .. first + rows - 1."""
        return [
            np.arange(c, c + op.rows, dtype=np.int64)
            if isinstance(c, int)
            else np.full(op.rows, -1, np.int64)
            if c is None
            else c
            for c, op in zip(chunks, self.ops, strict=True)
        ]


def _known(offsets: np.ndarray) -> np.ndarray | pd.arrays.IntegerArray:
    """int64 offsets, or nullable Int64 where some are unknown (-1: never acknowledged)."""
    missing = offsets < 0
    return pd.arrays.IntegerArray(offsets, missing) if missing.any() else offsets


def _first_or_acknowledged(ids: np.ndarray, types: np.ndarray, send: np.ndarray) -> np.ndarray:
    """A mask of the send rows that stand for their id in `sent`: the first ok row of each id,
    else its first row."""
    rows = np.flatnonzero(send)
    # ok (type code 0) sorts first, then earlier rows; the first row of each id wins
    order = rows[np.lexsort((rows, types[rows] != 0, ids[rows]))]
    first = np.ones(len(order), bool)
    first[1:] = ids[order][1:] != ids[order][:-1]
    keep = np.zeros(len(ids), bool)
    keep[order[first]] = True
    return keep


def _concat(chunks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(chunks).astype(np.int64, copy=False) if chunks else np.empty(0, np.int64)
