"""Speed of the checker against a baseline from the same run.

    .venv/bin/python benchmarks/bench_check.py                 # 10,000,000 rows (about a minute)
    .venv/bin/python benchmarks/bench_check.py --rows 200000   # a quick run
    .venv/bin/python benchmarks/bench_check.py --figure paths --data /tmp/h20m
    .venv/bin/python benchmarks/bench_check.py --figure outofcore --data /tmp/h200m \
        --memory-limit 2GB
    .venv/bin/python benchmarks/bench_check.py --figure dask --data /tmp/h20m

--data is a history directory written by gen_history.py (its expected.json holds the planted
counts). The history-on-disk figures (check_figures.py) run each side in a fresh process and
print its wall time and peak RSS: `paths` (the in-memory path of before, pandas.read_parquet +
check, vs `cl.check(path)`), `outofcore` (DuckDB's bare duplicate-and-lost query vs the
out-of-core check under the same memory limit; targets: RSS <= 3 GB, time <= 1.5x) and `dask`
(the in-memory report vs a LocalCluster of 1 and of 2 workers: the same report, and the times).

Figure: `cl.check` over a history of --rows rows vs `pyarrow.compute.value_counts` over the same
history's value column (one hash pass over one column: the least any duplicate count can cost).
Target: check <= 3x value_counts.

The history: producers send message ids 0..n-1 round-robin over --partitions partitions; about 1%
of the sends are retried after an indeterminate first attempt (an `info` send whose record was
written anyway, so the log holds the id twice); one consumer polls every partition from offset 0
in chunks of 500 and misses 0.1% of the records. So the checker finds ~1% duplicates, ~0.1%
lost writes and as many offset gaps (some also poll skips or inconsistent offsets), nothing
going backwards. The table is in the normalised form that `read_history` returns (categorical f
and type, nullable offset); --str-labels makes f and type plain str columns instead. Timings
are the best of --repeat runs; the median is printed beside it. `check` includes validating the
history (history.py: int64 ranges, negative partitions and offsets, all vectorised). Exit status 1
only if the checker's counts are wrong; a missed target is a result, printed as MISS.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from chronik_lab.checker.history import F_DTYPE, TYPE_DTYPE
from chronik_lab.checker.verdict import check

TARGET = 3.0
CONSUMER = 1_000  # the consumer's process id; producers are 0..PRODUCERS-1
PRODUCERS = 4
POLL_CHUNK = 500


def build_history(rows: int, partitions: int, seed: int) -> tuple[pd.DataFrame, dict[str, int]]:
    """A history of about `rows` rows and the anomaly counts it must produce."""
    rng = np.random.default_rng(seed)
    n = max(int(rows / 2.02), partitions)  # ~1.01 send rows + ~1.01 poll rows per message
    ids = np.arange(n, dtype=np.int64)
    part = ids % partitions
    retried = rng.random(n) < 0.01
    # The log of each partition: a retried id is written twice (the lost ack, then the retry).
    copies = np.where(retried, 2, 1)
    log_ids = np.repeat(ids, copies)
    log_part = part[log_ids]
    log_offset = _rank_within(log_part, partitions)
    acked_offset = log_offset[np.cumsum(copies) - 1]  # the retry's copy is the acknowledged one
    info_offset = log_offset[np.cumsum(copies) - 2][retried]
    missed = rng.random(len(log_ids)) < 0.001

    send_value = np.concatenate([ids[retried], ids])
    send_op = np.concatenate([2 * ids[retried], 2 * ids + 1])  # the info attempt comes first
    order = np.argsort(send_op, kind="stable")
    sends = {
        "op_index": send_op[order],
        "process": (send_value % PRODUCERS)[order],
        "f": np.zeros(len(order), np.int8),
        "type": np.concatenate([np.full(retried.sum(), 2, np.int8), np.zeros(n, np.int8)])[order],
        "partition": part[send_value][order],
        "offset": np.concatenate([info_offset, acked_offset])[order],
        "offset_missing": np.concatenate([np.ones(retried.sum(), bool), np.zeros(n, bool)])[order],
        "value": send_value[order],
    }
    polls = _polls(log_part, log_offset, log_ids, ~missed, partitions, 2 * n)
    cols = {k: np.concatenate([sends[k], polls[k]]) for k in sends}
    history = pd.DataFrame(
        {
            "op_index": cols["op_index"],
            "process": cols["process"],
            "f": pd.Categorical.from_codes(cols["f"], dtype=F_DTYPE),
            "type": pd.Categorical.from_codes(cols["type"], dtype=TYPE_DTYPE),
            "partition": cols["partition"],
            "offset": pd.arrays.IntegerArray(cols["offset"], cols["offset_missing"]),
            "value": cols["value"],
        }
    )
    return history, _expected(log_ids, missed, n)


def _rank_within(group: np.ndarray, n_groups: int) -> np.ndarray:
    """0, 1, 2, ... within each group, in array order (the offsets of a partition's log)."""
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(n_groups))
    rank = np.empty(len(group), np.int64)
    rank[order] = np.arange(len(group)) - np.repeat(starts, np.bincount(group, minlength=n_groups))
    return rank


def _polls(log_part, log_offset, log_ids, kept, partitions, first_op) -> dict[str, np.ndarray]:
    """One consumer reading each partition from offset 0 in chunks, partition after partition."""
    order = np.lexsort((log_offset, log_part))
    order = order[kept[order]]
    part, offset = log_part[order], log_offset[order]
    chunk = offset // POLL_CHUNK
    op = first_op + part * (chunk.max(initial=0) + 1) + chunk
    rows = len(order)
    return {
        "op_index": op,
        "process": np.full(rows, CONSUMER),
        "f": np.ones(rows, np.int8),
        "type": np.zeros(rows, np.int8),
        "partition": part,
        "offset": offset,
        "offset_missing": np.zeros(rows, bool),
        "value": log_ids[order],
    }


def _expected(log_ids: np.ndarray, missed: np.ndarray, n: int) -> dict[str, int]:
    """The counts a correct checker reports, recounted the obvious way from the log."""
    receipts = np.bincount(log_ids[~missed], minlength=n)
    return {
        "duplicate": int(np.count_nonzero(receipts == 2)),
        "missing": int(np.count_nonzero(receipts == 0)),
    }


def best_of(repeat: int, fn: Callable[[], object]) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times)), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="history rows (~)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions in the history")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each side")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--figure",
        choices=["ratio", "paths", "outofcore", "dask"],
        default="ratio",
        help="ratio: check vs value_counts in memory (the default); the others need --data",
    )
    parser.add_argument("--data", help="a history directory from gen_history.py")
    parser.add_argument("--memory-limit", default="2GB", help="outofcore: the memory limit")
    parser.add_argument(
        "--str-labels",
        action="store_true",
        help="f and type as str columns (as the simulated client writes them), not categorical",
    )
    args = parser.parse_args(argv)
    if args.figure != "ratio":
        from check_figures import run_figure

        if not args.data:
            parser.error(f"--figure {args.figure} needs --data DIR (benchmarks/gen_history.py)")
        return run_figure(args.figure, args.data, args.memory_limit)

    t0 = time.perf_counter()
    history, expected = build_history(args.rows, args.partitions, args.seed)
    if args.str_labels:
        history = history.astype({"f": "str", "type": "str"})
    print(
        f"history: {len(history):,} rows, {args.partitions} partitions, "
        f"built in {time.perf_counter() - t0:.1f} s"
    )
    values = pa.array(history["value"].to_numpy())  # zero-copy: not part of either timing

    c_best, c_median, report = best_of(args.repeat, lambda: check(history))
    v_best, v_median, _ = best_of(args.repeat, lambda: pc.value_counts(values))
    ratio = c_best / v_best
    verdict = "ok" if ratio <= TARGET else "MISS"
    print(f"check                  best {c_best:8.3f} s   median {c_median:8.3f} s")
    print(f"pc.value_counts(value) best {v_best:8.3f} s   median {v_median:8.3f} s")
    print(
        f"ratio check / value_counts: {ratio:.2f}x (median {c_median / v_median:.2f}x), "
        f"target <= {TARGET:.0f}x: {verdict}"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:,.0f} MB")
    print(f"counts: {report.counts}")

    lost = report.counts["lost-write"] + report.counts["unseen"]
    wrong = [
        name
        for name, got, want in (
            ("duplicate", report.counts["duplicate"], expected["duplicate"]),
            ("lost-write + unseen", lost, expected["missing"]),
        )
        if got != want
    ]
    # Misses also show as offset gaps, as poll skips (at a poll boundary) and, when the retry's
    # copy is missed, as an id received at an offset other than its acknowledged one. Nothing
    # in this history goes backwards.
    wrong += [t for t in ("nonmonotonic-poll", "nonmonotonic-send") if report.counts[t]]
    # One consumer reading each offset once: nothing is redelivered (counts.py's vocabulary).
    wrong += ["redelivered"] if report.stats["redelivered"] else []
    if wrong:
        print(f"WRONG counts: {', '.join(wrong)} (expected {expected})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
