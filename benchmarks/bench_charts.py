"""Chart figures on a million-record run, each against the same chart of the seed run; and
what recording a run's snapshots costs.

    .venv/bin/python benchmarks/bench_charts.py                     # 1,000,000 messages
    .venv/bin/python benchmarks/bench_charts.py --messages 100000   # a quick run
    .venv/bin/python benchmarks/bench_charts.py --messages 100000 --auto --recorder
        # the notebooks' default workload (batch_sizes="auto": 4, 6, 4, 6, ...), and the
        # recorder figure per preset

Figure (issue 4, "Speed": a notebook on a one-million-record run stays interactive, each chart
under 2 s to render): for each chart of `chronik_lab.viz.charts`, the time to build it from the run
(reduce the tables, make the altair spec) plus the time to render it to SVG with vl-convert, as
a notebook with the offline renderer does. Baseline: the same chart of the seed run (10
messages), timed in the same process, so the ratio says what the size costs. The rows each chart
embeds are printed too; they must stay within altair's 5,000.

The run: v0.7.5, requests of 10,000 messages (`--auto`: the seed's 4, 6, 4, 6, ...), a flush
every 2 batches, acks=-1. One warm-up render comes first (vl-convert starts its JavaScript
engine once per process). Timings are the best of --repeat. Exit status 1 only if a chart
embeds more than 5,000 rows; a missed target is a result, printed as MISS.

Figure `--recorder` (the run's history, sim/recorder.py): per preset, `cl.run` of the same
workload -- trace, snapshots of every state (thinned past 100,000 rows), checker -- against
the engine and clients alone (`received_ids`: no tracer, no checker), in CPU time, each side
the best of --repeat taken in turns. Target: the traced run within 2x the untraced one.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial

import vl_convert

import chronik_lab as cl
from chronik_lab.sim.scenario import VERSIONS, received_ids
from chronik_lab.viz import charts

TARGET_S = 2.0
RECORDER_TARGET = 2.0  # traced cl.run / untraced run


def cpu_best(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """The best CPU time of each of `fns`, run in turns `repeat` times (a busy neighbour then
    hurts every side alike)."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            started = time.process_time()
            fn()
            best[i] = min(best[i], time.process_time() - started)
    return best


def recorder_figures(messages: int, sizes: object, repeat: int) -> None:
    print(f"recorder: {messages:,} messages, best of {repeat} in turns, CPU time")
    print(f"{'preset':<8} {'untraced':>9} {'cl.run':>8} ratio  stride  snapshot rows")
    for preset in ("fixed", *VERSIONS):
        scenario = cl.Scenario(
            messages=messages, batch_sizes=sizes, acks=-1, bugs=preset, flush_batches=2
        )
        run = cl.run(scenario)
        rows = len(run.buffer_snapshots) + len(run.segment_snapshots) + len(run.offsets_snapshots)
        sides = [partial(received_ids, scenario), partial(cl.run, scenario)]
        bare, traced = cpu_best(sides, repeat)
        verdict = "ok" if traced <= RECORDER_TARGET * bare else "MISS"
        print(
            f"{preset:<8} {bare:>8.2f}s {traced:>7.2f}s {traced / bare:>5.2f}x "
            f"{run.snapshots_stride:>6} {rows:>13,}  target <= {RECORDER_TARGET:.0f}x: {verdict}"
        )


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
    parser.add_argument("--auto", action="store_true", help='batch_sizes="auto" (4, 6, ...)')
    parser.add_argument("--recorder", action="store_true", help="the recorder figure only")
    args = parser.parse_args()

    per_request = min(10_000, args.messages)
    sizes: object = [per_request] * (args.messages // per_request)
    if args.messages % per_request:
        sizes.append(args.messages % per_request)  # type: ignore[attr-defined]
    if args.auto:
        sizes = "auto"
    if args.recorder:
        recorder_figures(args.messages, sizes, max(args.repeat, 3))
        return 0
    scenario = cl.Scenario(
        messages=args.messages, batch_sizes=sizes, acks=-1, bugs="v0.7.5", flush_batches=2
    )
    started = time.perf_counter()
    big = cl.run(scenario)
    print(
        f"run: {args.messages:,} messages, {len(big.received):,} received, "
        f"{len(big.trace):,} trace steps, {len(big.buffer_snapshots):,} buffer rows "
        f"(snapshot stride {big.snapshots_stride:,}) "
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
