"""Large synthetic histories with known duplicates and losses planted, written to Parquet in chunks.

    .venv/bin/python benchmarks/gen_history.py /tmp/h20m --rows 20000000
    .venv/bin/python benchmarks/gen_history.py /tmp/h200m --rows 200000000 --partitions 32

Writes DIR/sends-NNNNN.parquet then DIR/polls-NNNNN.parquet (sorted names = time order, as a
recorder writes), one file per block of --block messages, and DIR/expected.json with the counts
a correct checker must report. Never holds more than one block: 200M rows take ~4 GB of disk and
a few hundred MB of memory. Generated files are never committed (write them under /tmp).

The workload (bench_check.py's, at any size): producers 0..3 send ids 0..n-1 round-robin over
the partitions; 1% of the sends time out (an `info` send whose record was written anyway) and are
retried (an ok send): the log holds those ids twice, so each is one `duplicate`. 0.1% of the other
records are never delivered to the consumer: each is a `lost-write` and the hole it leaves an
`offset-gap` (two adjacent holes are one gap). One consumer (process 1000) polls each partition
from offset 0 in polls of 500 records, block by block. Nothing is redelivered or reordered.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

PRODUCERS = 4
CONSUMER = 1_000
POLL = 500
RETRIED, MISSED = 0.01, 0.001
SCHEMA = pa.schema([
    ("op_index", pa.int64()), ("process", pa.int64()), ("f", pa.string()), ("type", pa.string()),
    ("partition", pa.int64()), ("offset", pa.int64()), ("value", pa.int64()),
])  # fmt: skip


def block_log(rng: np.random.Generator, first: int, n: int, partitions: int, next_offset):
    """The log records of messages first..first+n-1: (ids, partition, offset, is_info_copy,
    missed), in send order; advances next_offset (per partition)."""
    ids = np.arange(first, first + n, dtype=np.int64)
    retried = rng.random(n) < RETRIED
    copies = np.where(retried, 2, 1)
    log_ids = np.repeat(ids, copies)
    info_copy = np.zeros(len(log_ids), bool)
    info_copy[np.cumsum(copies)[retried] - 2] = True
    part = log_ids % partitions
    offset = np.empty(len(log_ids), np.int64)
    for p in range(partitions):  # offsets continue each partition's log
        where = np.flatnonzero(part == p)
        offset[where] = next_offset[p] + np.arange(len(where))
        next_offset[p] += len(where)
    # Misses only on records of ids written once: each miss is exactly one lost write.
    missed = (rng.random(len(log_ids)) < MISSED) & ~np.repeat(retried, copies)
    return log_ids, part, offset, info_copy, missed


def sends_table(log_ids, part, offset, info_copy) -> pa.Table:
    n = len(log_ids)
    op = 2 * log_ids + 1 - info_copy  # the info attempt comes first
    return pa.table({
        "op_index": op, "process": log_ids % PRODUCERS,
        "f": pa.array(["send"] * n), "type": np.where(info_copy, "info", "ok"),
        "partition": part, "offset": pa.array(offset, mask=info_copy), "value": log_ids,
    }, schema=SCHEMA)  # fmt: skip


def polls_table(log_ids, part, offset, missed, first_op: int) -> pa.Table:
    order = np.lexsort((offset, part))
    order = order[~missed[order]]
    p, o = part[order], offset[order]
    chunk = o // POLL  # one poll per (partition, chunk of POLL offsets) in this block
    low = chunk.min(initial=0)
    op = first_op + p * (chunk.max(initial=0) - low + 1) + chunk - low
    n = len(order)
    return pa.table({
        "op_index": op, "process": np.full(n, CONSUMER), "f": pa.array(["poll"] * n),
        "type": pa.array(["ok"] * n), "partition": p, "offset": o, "value": log_ids[order],
    }, schema=SCHEMA)  # fmt: skip


def generate(out: Path, rows: int, partitions: int, block: int, seed: int) -> dict:
    messages = max(int(rows / 2.02), partitions)  # ~1.01 send rows + ~1.01 poll rows each
    out.mkdir(parents=True, exist_ok=True)
    blocks = range(0, messages, block)
    expected = {"messages": messages, "rows": 0, "duplicate": 0, "lost-write": 0}
    for phase in ("sends", "polls"):
        next_offset = np.zeros(partitions, np.int64)
        first_op = 2 * messages + 2
        for i, first in enumerate(blocks):
            rng = np.random.default_rng([seed, i])  # the same block in both phases
            n = min(block, messages - first)
            log_ids, part, offset, info_copy, missed = block_log(rng, first, n, partitions,
                                                                 next_offset)  # fmt: skip
            if phase == "sends":
                table = sends_table(log_ids, part, offset, info_copy)
                expected["duplicate"] += int(info_copy.sum())
                expected["lost-write"] += int(missed.sum())
            else:
                table = polls_table(log_ids, part, offset, missed, first_op)
                first_op = int(table.column("op_index").to_numpy().max(initial=first_op)) + 1
            expected["rows"] += len(table)
            pq.write_table(table, out / f"{phase}-{i:05d}.parquet", row_group_size=1 << 20)
    (out / "expected.json").write_text(json.dumps(expected, indent=2))
    return expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory to write (under /tmp)")
    parser.add_argument("--rows", type=int, default=20_000_000, help="history rows (~)")
    parser.add_argument("--partitions", type=int, default=32)
    parser.add_argument("--block", type=int, default=2_000_000, help="messages per file")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty")
    start = time.perf_counter()
    expected = generate(args.out, args.rows, args.partitions, args.block, args.seed)
    size = sum(f.stat().st_size for f in args.out.glob("*.parquet"))
    print(f"{expected['rows']:,} rows, {size / 2**30:.2f} GiB in {args.out}, "
          f"{time.perf_counter() - start:.0f} s; expected {expected}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
