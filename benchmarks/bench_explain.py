"""Speed of `cl.explain` at 10, 10^3 and 10^5 messages, beside baselines from the same run.

    .venv/bin/python benchmarks/bench_explain.py             # the figures (a few minutes)
    .venv/bin/python benchmarks/bench_explain.py --quick     # 10 and 10^3, no exhaustive: seconds
    .venv/bin/python benchmarks/bench_explain.py --sizes 10,100000 --exhaustive-up-to 100000

Workloads are seed-shaped: the seed's two produce requests scaled to the size (4+6 -> 40%+60%
of the messages), acks=-1, a flush every 2 pending batches. The observation explained is the
seed's pattern at that size: ids [0, 4k) + [0, 10k) + [4k, 10k) for 10k messages (at 10, the
seed's 20 ids). At 10^3 and 10^5 no combination reproduces it exactly (v0.7.5's consumer, 500
records a poll, reads other ids there), so early stop skips nothing and every distance is
computed: explain's worst case. `--observed run` explains v0.7.5's own output instead.

Figures, per size:
  explain       cl.explain(observed, workload): the default (pruned, automatic executor)
  early stop    the same with early_stop=True
  serial        the same with executor="serial" (pruned, one run after the other), also as
                this process's CPU time per call: on a busy machine, the wall time a quiet one
                would show (less the waits for the disk)
Baselines from the same run: one cl.run of the workload (traced and checked), one lean run
(received_ids: what each of explain's runs costs), and, up to --exhaustive-up-to messages, the
exhaustive serial explain (prune=False: every one of the 2^n combinations run, as before). With
18 switches that is 262,144 runs: at 2-5 ms a run here, 10-20 minutes a size (a --quick run
with it had not finished 10 messages after 11 minutes), so --quick leaves it out unless
--exhaustive-up-to is given.
Targets (issue 8): explain < 1 s at 10 messages and well under a minute at 10^5 (here: 30 s).
A missed target is printed as MISS; the exit status is 1 only if the tables disagree (pruned vs
exhaustive, or early stop's minimal causes vs the full table's).

One produce request per message is another shape, not measured by default (--per-message): at
10^5 messages a single v0.7.5 run takes about 40 s on this machine (the consumer re-reads a
growing buffer), so no explain of it can take under a minute on 2 cores. `--auto` measures the
notebooks' "auto" shape, the seed's requests continued (4, 6, 4, 6, ...: 20,000 requests at
10^5), which a user's dump explained with `-p messages 100000` gets: each run costs a few
seconds there, so explain takes minutes (`--sizes 10,1000,10000 --auto` stays short). A recorded
observation (data/observed/) is always explained under its own, small, workload.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

import pandas as pd

import chronik_lab as cl
from chronik_lab.sim.scenario import received_ids

TARGETS = {10: 1.0, 100_000: 30.0}


def workload(messages: int, per_message: bool, auto: bool = False) -> cl.Scenario:
    if auto:
        sizes = "auto"
    elif per_message:
        sizes = None
    else:
        first = max(1, messages * 4 // 10)
        sizes = (first, messages - first) if messages > 1 else (1,)
    return cl.Scenario(
        messages=messages, batch_sizes=sizes, acks=-1, bugs="v0.7.5", flush_batches=2
    )


def seed_pattern(messages: int) -> list[int]:
    """The seed's 20 ids, scaled: the first request's ids, all ids, the second request's."""
    first = max(1, messages * 4 // 10)
    return [*range(first), *range(messages), *range(first, messages)]


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """The best of `repeat` wall times, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def measure(messages: int, args: argparse.Namespace) -> tuple[list[str], bool]:
    scenario = workload(messages, args.per_message, args.auto)
    repeat = args.repeat if messages <= 1000 else 1
    observed = received_ids(scenario) if args.observed == "run" else seed_pattern(messages)
    lean, _ = timed(lambda: received_ids(scenario), repeat)
    single, _ = timed(lambda: cl.run(scenario), repeat)
    auto, table = timed(lambda: cl.explain(observed, scenario), repeat)
    early, early_table = timed(lambda: cl.explain(observed, scenario, early_stop=True), repeat)
    cpu_start = time.process_time()
    serial, _ = timed(lambda: cl.explain(observed, scenario, executor="serial"), repeat)
    serial_cpu = (time.process_time() - cpu_start) / repeat  # this process alone: load-proof
    ok = _same_minimal(table, early_table)
    runs = table.attrs["runs"]
    lines = [
        f"{messages:>8,} {'explain':<11} {auto:9.3f} s  {runs:4d} runs of "
        f"{table.attrs['combinations']}   {auto / single:7.1f}x one cl.run ({single:.3f} s), "
        f"{auto / lean:7.1f}x one lean run ({lean:.3f} s)   {_verdict(messages, auto)}",
        f"{'':>8} {'early stop':<11} {early:9.3f} s  {early_table.attrs['runs']:4d} runs, "
        f"{len(early_table)} rows   {early / auto:5.2f}x explain",
        f"{'':>8} {'serial':<11} {serial:9.3f} s  {serial / auto:5.2f}x explain (the default "
        f"executor's gain); CPU {serial_cpu:.3f} s a call (what a quiet machine would take)",
    ]
    if messages <= args.exhaustive_up_to:
        full, full_table = timed(
            lambda: cl.explain(observed, scenario, executor="serial", prune=False), 1
        )
        same = full_table.equals(table)
        ok &= same
        lines.append(
            f"{'':>8} {'exhaustive':<11} {full:9.3f} s  {full_table.attrs['runs']:4d} runs   "
            f"{full / auto:5.1f}x explain's time; same table: {'yes' if same else 'NO'}"
        )
    return lines, ok


def _same_minimal(table: pd.DataFrame, early: pd.DataFrame) -> bool:
    return (
        table.loc[table["minimal"], "bugs"].tolist() == early.loc[early["minimal"], "bugs"].tolist()
    )


def _verdict(messages: int, seconds: float) -> str:
    target = TARGETS.get(messages)
    if target is None:
        return ""
    return f"target < {target:g} s: {'PASS' if seconds < target else 'MISS'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 and 10^3 messages only")
    parser.add_argument("--sizes", help="comma-separated message counts [10,1000,100000]")
    parser.add_argument("--repeat", type=int, default=3, help="best of N at <= 10^3 messages")
    parser.add_argument(
        "--exhaustive-up-to",
        type=int,
        help="run the exhaustive baseline up to N messages [1000; none with --quick]",
    )
    parser.add_argument("--per-message", action="store_true", help="one request per message")
    parser.add_argument(
        "--auto", action="store_true", help='batch_sizes="auto": 4, 6, 4, 6, ... messages'
    )
    parser.add_argument(
        "--observed", choices=["seed", "run"], default="seed", help="what to explain"
    )
    args = parser.parse_args(argv)
    sizes = [10, 1000] if args.quick else [10, 1000, 100_000]
    if args.exhaustive_up_to is None:
        args.exhaustive_up_to = 0 if args.quick else 1000
    if args.sizes:
        sizes = [int(size) for size in args.sizes.split(",")]
    shape = "one request per message" if args.per_message else "the seed's 4+6 split, scaled"
    shape = "the seed's requests continued, 4, 6, 4, 6, ..." if args.auto else shape
    what = "v0.7.5's output" if args.observed == "run" else "the seed's pattern, scaled"
    print(f"cl.explain, seed-shaped workloads ({shape}), acks=-1, flush every 2; observed: {what}")
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}, {len(cl.BUGS)} switches; best of {args.repeat} up to 10^3"
    )
    print(f"{'messages':>8} {'figure':<11} {'time':>11}")
    ok = True
    for messages in sizes:
        lines, same = measure(messages, args)
        ok &= same
        print("\n".join(lines), flush=True)
    if not ok:
        print("FAIL: the pruned, early-stop and exhaustive tables disagree")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
