"""Speed of `cl.run` and `cl.explain` on the seed, each beside a baseline from the same run.

    .venv/bin/python benchmarks/bench_scenario.py            # the figures (about half a minute)
    .venv/bin/python benchmarks/bench_scenario.py --quick    # fewer repetitions: seconds

Figures (issue 3, "Speed"):
  run       cl.run(cl.SEED): median of --runs runs. Target: < 20 ms. Baselines: the bare broker
            doing the same produce 4 + produce 6 + fetch (what the run costs on top of the
            engine), and the same run without trace/snapshots/checker.
  explain   cl.explain(seed observation, cl.SEED): every one of the 2^n combinations settled,
            by about a hundred runs (the rest run identically; see sim/switch_reads.py), median
            of --explain-runs. Target: < 1 s (issue 8). Baseline: 2^n bare-broker seeds, the
            engine's share of running every combination. benchmarks/bench_explain.py has the
            figures at 10^3 and 10^5 messages.

A missed target is a result, printed as MISS; the exit status is 1 only if a run returns the
wrong records (the seed must come back as the observation).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

import chronik_lab as cl
from chronik_lab.sim.clients import decode_ids, encode_value
from chronik_lab.sim.scenario import received_ids

OBSERVED = Path(__file__).resolve().parents[1] / "data" / "observed" / "chronik_v0.7.5_seed.csv"


def median_seconds(fn: Callable[[], object], n: int) -> float:
    fn()  # warm caches and imports outside the timing
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bare_seed() -> list[int]:
    """The seed on the engine alone: two produce calls and one fetch, no client, no records."""
    with cl.Broker(bugs="v0.7.5", flush_batches=2) as broker:
        broker.produce("t", 0, [encode_value(i) for i in range(4)], acks=-1)
        broker.produce("t", 0, [encode_value(i) for i in range(4, 10)], acks=-1)
        return decode_ids(broker.fetch("t", 0, 0).records.column("value")).tolist()


def line(name: str, seconds: float, target: float, what: str) -> dict[str, object]:
    status = "ok" if seconds < target else "MISS"
    print(
        f"{name:<8} {seconds * 1000:10.2f} ms   target < {target * 1000:8.0f} ms   "
        f"{seconds / target:5.2f}x of target   {status}   {what}"
    )
    return {"figure": name, "seconds": seconds, "target_seconds": target, "status": status}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--runs", type=int, default=200, help="runs of cl.run(SEED) to time")
    parser.add_argument("--explain-runs", type=int, default=5, help="cl.explain calls to time")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    runs, explains = (30, 1) if args.quick else (args.runs, args.explain_runs)
    observed = pd.read_csv(OBSERVED)["message_id"].tolist()

    # The same answer first: every side must return the seed's twenty ids.
    wrong = [
        name
        for name, ids in (
            ("bare broker", bare_seed()),
            ("cl.run", cl.run(cl.SEED).received_ids),
            ("received_ids", received_ids(cl.SEED)),
        )
        if ids != observed
    ]
    if wrong:
        print(f"FAIL: wrong records from {', '.join(wrong)}")
        return 1

    bare = median_seconds(bare_seed, runs)
    lean = median_seconds(lambda: received_ids(cl.SEED), runs)
    full = median_seconds(lambda: cl.run(cl.SEED), runs)
    explain = median_seconds(lambda: cl.explain(observed, cl.SEED), explains)
    combinations = 2 ** len(cl.BUGS)
    bare_all = combinations * bare

    print(f"seed scenario, median of {runs} runs (explain: {explains})")
    print(f"{'baseline':<8} {bare * 1000:10.2f} ms   the bare broker: produce 4, produce 6, fetch")
    print(f"{'lean':<8} {lean * 1000:10.2f} ms   clients, no trace/snapshots/check")
    figures = [
        line("run", full, 0.020, f"{full / bare:.1f}x the bare broker, {full / lean:.1f}x lean"),
        line(
            "explain",
            explain,
            1.0,
            f"{explain / bare_all:.1f}x {combinations} bare-broker seeds",
        ),
    ]
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
