"""Chart figures on a million-record run, each against the same chart of the seed run.

    .venv/bin/python benchmarks/bench_charts.py                     # 1,000,000 messages
    .venv/bin/python benchmarks/bench_charts.py --messages 100000   # a quick run

Figure (issue 4, "Speed": a notebook on a one-million-record run stays interactive, each chart
under 2 s to render): for each chart of `chronik_lab.viz.charts`, the time to build it from the run
(reduce the tables, make the altair spec) plus the time to render it to SVG with vl-convert, as
a notebook with the offline renderer does. Baseline: the same chart of the seed run (10
messages), timed in the same process, so the ratio says what the size costs. The rows each chart
embeds are printed too; they must stay within altair's 5,000.

The run: v0.7.5, requests of 10,000 messages, a flush every 2 batches, acks=-1. One warm-up
render comes first (vl-convert starts its JavaScript engine once per process). Timings are the
best of --repeat. Exit status 1 only if a chart embeds more than 5,000 rows; a missed target is
a result, printed as MISS.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import vl_convert

import chronik_lab as cl
from chronik_lab.viz import charts

TARGET_S = 2.0


def timed(build: Callable[[], object], repeat: int) -> tuple[float, float, int]:
    """Best build time, best SVG render time, rows embedded."""
    best_build = best_render = float("inf")
    rows = 0
    for _ in range(repeat):
        started = time.perf_counter()
        chart = build()
        spec = chart.to_dict()
        built = time.perf_counter()
        vl_convert.vegalite_to_svg(spec)
        rendered = time.perf_counter()
        best_build = min(best_build, built - started)
        best_render = min(best_render, rendered - built)
        rows = charts.chart_rows(chart)
    return best_build, best_render, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    per_request = min(10_000, args.messages)
    sizes = [per_request] * (args.messages // per_request)
    if args.messages % per_request:
        sizes.append(args.messages % per_request)
    scenario = cl.Scenario(
        messages=args.messages, batch_sizes=sizes, acks=-1, bugs="v0.7.5", flush_batches=2
    )
    started = time.perf_counter()
    big = cl.run(scenario)
    print(
        f"run: {args.messages:,} messages, {len(big.received):,} received, "
        f"{len(big.trace):,} trace steps, {len(big.buffer_history):,} buffer rows "
        f"in {time.perf_counter() - started:.1f} s"
    )
    seed = cl.run(cl.SEED)
    seed_versions = cl.run_presets(cl.SEED)
    big_versions = {"v0.7.5": big, **cl.run_presets(scenario, ["v0.7.6", "v1.0"])}
    vl_convert.vegalite_to_svg(charts.received_vs_sent(seed).to_dict())  # warm-up

    cases = {
        "segment_map": (lambda: charts.segment_map(big), lambda: charts.segment_map(seed)),
        "buffer_contents": (
            lambda: charts.buffer_contents(big),
            lambda: charts.buffer_contents(seed),
        ),
        "buffer_sequence": (
            lambda: charts.buffer_sequence(big),
            lambda: charts.buffer_sequence(seed),
        ),
        "received_vs_sent": (
            lambda: charts.received_vs_sent(big),
            lambda: charts.received_vs_sent(seed),
        ),
        "before_after": (
            lambda: charts.before_after(big_versions),
            lambda: charts.before_after(seed_versions),
        ),
    }
    print(f"{'chart':<18} {'rows':>6} {'build':>8} {'svg':>8} {'total':>8} {'seed':>8} ratio")
    failed = False
    for name, (big_chart, seed_chart) in cases.items():
        build, render, rows = timed(big_chart, args.repeat)
        base_build, base_render, _ = timed(seed_chart, args.repeat)
        total, base = build + render, base_build + base_render
        verdict = "ok" if total <= TARGET_S else "MISS"
        print(
            f"{name:<18} {rows:>6} {build:>7.2f}s {render:>7.2f}s {total:>7.2f}s "
            f"{base:>7.2f}s {total / base:>5.1f}x  target <= {TARGET_S:.0f} s: {verdict}"
        )
        failed |= rows > charts.MAX_ROWS
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
