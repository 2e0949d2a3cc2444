"""Speed and memory figures of the chronik_lab engine, each against a baseline from the same run.

    .venv/bin/python benchmarks/bench_engine.py            # the full figures (under a minute)
    .venv/bin/python benchmarks/bench_engine.py --quick    # small sizes: a smoke run, seconds
    .venv/bin/python benchmarks/bench_engine.py --only bulk,small

Figures (issue 2, "Speed"; benchmarks/README.md says what each one means):
  bulk      produce 1,000,000 x 100 B in requests of 1,000 and fetch it all back in pieces of
            10,000, vs building the same Arrow table, writing an IPC file and reading it back
            memory-mapped. Target: <= 2x.
  small     100,000 single-record produce calls then consume with max_records=500, vs mockafka-py
            doing the same in memory. Target: <= 1x.
  segments  random single-record fetches in a log of 10,000 segments vs one of 10. Target: <= 2x.
  rss       fetch all of a 1 GB log in pieces of 10,000 records: peak RSS rise. Target: < 256 MB.
  checksum  1,000,000 x 100 B written, reopened and fetched with CRC-32C and batch verification,
            vs the same with checksums and verification stubbed out. Target: <= 1.25x. Also
            prints what verifying on every read (not once per process) would cost.

Every timed side does the same work on the data it gets back (a digest that reads one 8-byte id
from every value, so every page is touched) and the digests are checked, so no side is measured
doing less. Timings are the best of --repeat runs. Exit status 1 only if a check fails; a missed
target is a result, printed as MISS.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from engine_workload import TOPIC, check, digest, expected_digest, make_values

import chronik_lab as cl
from chronik_lab.engine import framing, segment
from chronik_lab.engine.records import SCHEMA

MB = 1024 * 1024

FULL = {
    "bulk_records": 1_000_000,
    "small_records": 100_000,
    "segments_many": 10_000,
    "segment_fetches": 20_000,
    "rss_records": 1_000_000,  # of 1,000 bytes: a 1 GB log
    "checksum_records": 1_000_000,
}
QUICK = {
    "bulk_records": 50_000,
    "small_records": 5_000,
    "segments_many": 1_000,
    "segment_fetches": 2_000,
    "rss_records": 20_000,
    "checksum_records": 50_000,
}


@dataclass
class Figure:
    name: str
    measured: float
    baseline: float | None  # None: the target is an absolute cap, not a ratio
    unit: str
    target: float  # the highest ratio measured / baseline allowed, or the cap (exclusive)
    what: str  # one line: what was measured against what

    @property
    def ratio(self) -> float | None:
        return None if self.baseline is None else self.measured / self.baseline

    @property
    def passed(self) -> bool:
        if self.ratio is None:
            return self.measured < self.target
        return self.ratio <= self.target


TIMERS = {"wall": time.perf_counter, "cpu": time.process_time}
_timer = TIMERS["wall"]


def now() -> float:
    """The clock of the timed sections: wall time, or this process's CPU time (--timer cpu,
    steadier on a machine busy with other work; it leaves out waiting for disk and CPU)."""
    return _timer()


def best_of(repeat: int, side: Callable[[], float], baseline: Callable[[], float]) -> tuple:
    """The best time of each over `repeat` runs, taking turns so drift hits both alike."""
    times = [(side(), baseline()) for _ in range(repeat)]
    return min(t for t, _ in times), min(b for _, b in times)


# -- 1. bulk ----------------------------------------------------------------------------------
def bench_bulk(sizes: dict, tmp: Path, repeat: int) -> Figure:
    n, request, piece, size = sizes["bulk_records"], 1_000, 10_000, 100
    values = make_values(0, n, size)
    requests = [values[i : i + request] for i in range(0, n, request)]
    want = expected_digest(n, size)
    broker_s, arrow_s = best_of(
        repeat,
        lambda: _bulk_broker(requests, piece, tmp / "bulk", want),
        lambda: _bulk_arrow(values, tmp / "bulk.arrow", want),
    )
    print(
        f"  bulk: {n:,} x {size} B, requests of {request:,}, flush every 10, fetch pieces of "
        f"{piece:,}: broker {n / broker_s / 1e6:.2f} M records/s, arrow {n / arrow_s / 1e6:.2f} M/s"
    )
    return Figure(
        "bulk",
        broker_s,
        arrow_s,
        "s",
        2.0,
        "broker produce+flush+fetch vs Arrow table -> IPC file -> memory-mapped read",
    )


def _bulk_broker(
    requests: list[list[bytes]], piece: int, data_dir: Path, want: np.ndarray
) -> float:
    shutil.rmtree(data_dir, ignore_errors=True)
    gc.collect()
    start = now()
    broker = cl.Broker(data_dir=data_dir, bugs="fixed", flush_batches=10)
    for values in requests:
        broker.produce(TOPIC, 0, values, acks=-1)
    got = np.zeros(4, dtype=np.int64)
    offset, end = 0, broker.high_watermark(TOPIC, 0)
    while offset < end:
        records = broker.fetch(TOPIC, 0, offset, max_records=piece).records
        got += digest(records)
        offset += records.num_rows
        del records  # drop each piece, as a consumer would
    elapsed = now() - start
    broker.close()
    shutil.rmtree(data_dir, ignore_errors=True)
    check("bulk (broker)", got, want)
    return elapsed


def _bulk_arrow(values: list[bytes], path: Path, want: np.ndarray) -> float:
    gc.collect()
    start = now()
    n = len(values)
    table = pa.table(
        [
            pa.array(np.arange(n, dtype=np.int64)),
            pa.array(np.zeros(n, dtype=np.int64)),
            pa.nulls(n, pa.binary()),
            pa.array(values, type=pa.binary()),
            # the producer fields every stored record carries (-1: a non-idempotent request)
            *(pa.array(np.full(n, -1, dtype=kind)) for kind in (np.int64, np.int16, np.int32)),
        ],
        schema=SCHEMA,
    )
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, SCHEMA) as writer:
        writer.write_table(table)
    del table
    got = digest(pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all())
    elapsed = now() - start
    path.unlink()
    check("bulk (arrow)", got, want)
    return elapsed


# -- 2. small requests ------------------------------------------------------------------------
def bench_small(sizes: dict, tmp: Path, repeat: int) -> Figure:
    n, size = sizes["small_records"], 100
    values = make_values(0, n, size)
    broker_s, mock_s = best_of(
        repeat, lambda: _small_broker(values, tmp / "small"), lambda: _small_mockafka(values)
    )
    print(
        f"  small: {n:,} single-record produce calls (flush_batches=100), consume 500 at a time: "
        f"broker {broker_s / n * 1e6:.1f} us/record, mockafka {mock_s / n * 1e6:.1f} us/record"
    )
    return Figure(
        "small",
        broker_s,
        mock_s,
        "s",
        1.0,
        "broker (writes segments) vs mockafka-py (in memory) producing and consuming",
    )


def _small_broker(values: list[bytes], data_dir: Path) -> float:
    shutil.rmtree(data_dir, ignore_errors=True)
    gc.collect()
    start = now()
    broker = cl.Broker(data_dir=data_dir, bugs="fixed", flush_batches=100)
    for value in values:
        broker.produce(TOPIC, 0, [value])
    pieces, offset = [], 0
    while offset < len(values):
        records = broker.fetch(TOPIC, 0, offset, max_records=500).records
        pieces.append(records)
        offset += records.num_rows
    elapsed = now() - start
    got = digest(pa.concat_tables(pieces))
    broker.close()
    shutil.rmtree(data_dir, ignore_errors=True)
    check("small (broker)", got, expected_digest(len(values), len(values[0])))
    return elapsed


def _small_mockafka(values: list[bytes]) -> float:
    from confluent_kafka.admin import NewTopic
    from mockafka import FakeAdminClientImpl, FakeConsumer, FakeProducer

    gc.collect()
    start = now()
    admin = FakeAdminClientImpl(clean=True)  # mockafka's store is a process-wide singleton
    admin.create_topics([NewTopic(TOPIC, num_partitions=1)])
    producer = FakeProducer()
    for value in values:
        producer.produce(TOPIC, value=value, partition=0)
    producer.flush()
    consumer = FakeConsumer()
    consumer.subscribe([TOPIC])
    messages: list = []
    while len(messages) < len(values):  # stop when caught up: no extra empty polls
        messages += consumer.consume(num_messages=500)
    elapsed = now() - start
    ids = sum(int.from_bytes(m.value()[:8], "little") for m in messages)
    if len(messages) != len(values) or ids != len(values) * (len(values) - 1) // 2:
        raise SystemExit("small (mockafka): consumed data is wrong")
    return elapsed


# -- 3. fetch cost vs number of segments ------------------------------------------------------
def bench_segments(sizes: dict, tmp: Path, repeat: int) -> Figure:
    many, fetches, per_segment = sizes["segments_many"], sizes["segment_fetches"], 10
    few_dir, many_dir = tmp / "few", tmp / "many"
    _build_segmented(few_dir, 10, per_segment)
    build_s = _build_segmented(many_dir, many, per_segment)
    with cl.Broker(data_dir=few_dir) as few, cl.Broker(data_dir=many_dir) as lots:
        many_s, few_s = best_of(
            repeat,
            lambda: _random_fetches(lots, many * per_segment, fetches),
            lambda: _random_fetches(few, 10 * per_segment, fetches),
        )
        _verify_random_fetches(lots, many * per_segment)
    shutil.rmtree(few_dir)
    shutil.rmtree(many_dir)
    print(
        f"  segments: {fetches:,} random single-record fetches, {per_segment} records per "
        f"segment: {many:,} segments {many_s / fetches * 1e6:.1f} us/fetch, 10 segments "
        f"{few_s / fetches * 1e6:.1f} us/fetch; building the {many:,}-segment log took "
        f"{build_s:.2f} s"
    )
    return Figure(
        "segments",
        many_s,
        few_s,
        "s",
        2.0,
        f"random fetch(max_records=1) in {many:,} segments vs in 10 segments",
    )


def _build_segmented(data_dir: Path, segments: int, per_segment: int) -> float:
    """A log of `segments` sealed segments: every request flushes and, at 1 byte, rotates."""
    start = time.perf_counter()
    with cl.Broker(data_dir=data_dir, flush_batches=1, segment_bytes=1) as broker:
        for i in range(segments):
            broker.produce(TOPIC, 0, make_values(i * per_segment, per_segment, 100))
        if len(broker.segments(TOPIC, 0)) != segments:
            raise SystemExit(f"segments: expected {segments} segments")
    return time.perf_counter() - start


def _random_offsets(log_size: int, count: int) -> list[int]:
    rng = random.Random(20240601)  # fixed: every run fetches the same offsets
    return [rng.randrange(log_size) for _ in range(count)]


def _random_fetches(broker: cl.Broker, log_size: int, count: int) -> float:
    offsets = _random_offsets(log_size, count)
    gc.collect()
    start = now()
    rows = 0
    for offset in offsets:
        rows += len(broker.fetch(TOPIC, 0, offset, max_records=1))
    elapsed = now() - start
    if rows != count:
        raise SystemExit(f"segments: {rows} records for {count} single-record fetches")
    return elapsed


def _verify_random_fetches(broker: cl.Broker, log_size: int) -> None:
    """Untimed: the timed fetches' first 1,000 offsets return the right record."""
    for offset in _random_offsets(log_size, 1_000):
        records = broker.fetch(TOPIC, 0, offset, max_records=1).records
        value = records.column("value")[0].as_py()
        if records.column("offset")[0].as_py() != offset or value[:8] != offset.to_bytes(
            8, "little"
        ):
            raise SystemExit(f"segments: fetch({offset}) returned the wrong record")


# -- 4. peak RSS while fetching a 1 GB log ----------------------------------------------------
def bench_rss(sizes: dict, tmp: Path, repeat: int) -> Figure | None:
    n, size, request, piece = sizes["rss_records"], 1_000, 1_000, 10_000
    log_bytes = n * size
    free = shutil.disk_usage(tmp).free
    if not Path("/proc/self/status").exists():
        print("  rss: SKIP, the probe reads /proc (Linux only)")
        return None
    if free < 3 * log_bytes:
        print(f"  rss: SKIP, {free / MB:.0f} MB free in {tmp}, need {3 * log_bytes / MB:.0f} MB")
        return None
    data_dir = tmp / "rss"
    start = time.perf_counter()
    with cl.Broker(data_dir=data_dir, flush_batches=10) as broker:
        for first in range(0, n, request):
            broker.produce(TOPIC, 0, make_values(first, request, size))
        segments = broker.segments(TOPIC, 0)
    build_s = time.perf_counter() - start
    child = _probe(data_dir, n, piece)
    shutil.rmtree(data_dir)
    check("rss", np.array(child["digest"]), expected_digest(n, size))
    print(
        f"  rss: {n:,} x {size} B = {log_bytes / MB:,.0f} MB in {len(segments)} segments of up "
        f"to {segments.size_bytes.max() / MB:.0f} MB (the default segment_bytes, 256 MiB), "
        f"built in {build_s:.1f} s\n"
        f"       a fresh process fetched it in pieces of {piece:,} in {child['seconds']:.1f} s: "
        f"RSS {child['rss_before'] / MB:.0f} MB before the loop, peak "
        f"{child['peak'] / MB:.0f} MB ({child['method']})\n"
        f"       mapped file pages count in RSS: RssFile {child['rss_file_before'] / MB:.0f} MB "
        f"before, at most {child['max_rss_file'] / MB:.0f} MB with a piece mapped; RssAnon at "
        f"most {child['max_rss_anon'] / MB:.0f} MB; maps of segment files left after the "
        f"loop: {child['maps_left']}"
    )
    rise = max(0, child["peak"] - child["rss_before"])
    return Figure(
        "rss", rise / MB, None, "MB", 256.0, f"peak RSS rise fetching {log_bytes / MB:,.0f} MB"
    )


def _probe(data_dir: Path, n: int, piece: int) -> dict:
    """Fetch the log in a fresh process (engine_rss_probe.py), so the build's peak cannot hide
    the fetch's."""
    probe = Path(__file__).with_name("engine_rss_probe.py")
    cmd = [sys.executable, str(probe), str(data_dir), str(n), str(piece)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# -- 5. the cost of checksums -----------------------------------------------------------------
def bench_checksum(sizes: dict, tmp: Path, repeat: int) -> Figure:
    n, request, piece, size = sizes["checksum_records"], 1_000, 10_000, 100
    requests = [make_values(i, request, size) for i in range(0, n, request)]
    want = expected_digest(n, size)
    runs = {
        stubbed: [_checksum_run(requests, piece, tmp / "crc", want, stubbed)]
        for stubbed in (False, True)
    }
    for _ in range(repeat - 1):  # taking turns, as best_of does
        for stubbed in (False, True):
            runs[stubbed].append(_checksum_run(requests, piece, tmp / "crc", want, stubbed))
    w1, r1 = min(w for w, _ in runs[False]), min(r for _, r in runs[False])
    w0, r0 = min(w for w, _ in runs[True]), min(r for _, r in runs[True])
    every_s, once_s = best_of(
        repeat,
        lambda: _reread(requests, piece, tmp / "reread", want, every_read=True),
        lambda: _reread(requests, piece, tmp / "reread", want, every_read=False),
    )
    print(
        f"  checksum: {n:,} x {size} B in batches of 10,000 records (~1.2 MB):\n"
        f"       write (produce + flush): {w1:.3f} s with CRC-32C, {w0:.3f} s stubbed "
        f"({w1 / w0 - 1:+.1%})\n"
        f"       reopen + first fetch of everything (every batch verified once): {r1:.3f} s, "
        f"{r0:.3f} s stubbed ({r1 / r0 - 1:+.1%})\n"
        f"       fetching the verified log again: {once_s:.3f} s (verified once, the default), "
        f"{every_s:.3f} s verifying on every read ({every_s / once_s - 1:+.1%})"
    )
    return Figure(
        "checksum",
        w1 + r1,
        w0 + r0,
        "s",
        1.25,
        "write, reopen and fetch with CRC-32C (verified once per batch) vs checksums stubbed",
    )


def _checksum_run(requests, piece, data_dir: Path, want, stubbed: bool) -> tuple[float, float]:
    """(write s, reopen + fetch s): write the log; reopen it (the last segment is verified) and
    fetch it all (each batch verified on its first read). `stubbed`: the same work with the
    CRC and the checks replaced by no-ops."""
    shutil.rmtree(data_dir, ignore_errors=True)
    gc.collect()
    saved = framing.crc32c, framing.verify_body, framing.check_structure
    if stubbed:
        framing.crc32c = lambda data: 0
        framing.verify_body = framing.check_structure = lambda *args: None
    try:
        start = now()
        with cl.Broker(data_dir=data_dir, flush_batches=10, segment_bytes=64 * MB) as broker:
            for values in requests:
                broker.produce(TOPIC, 0, values, acks=-1)
        written = now()
        with cl.Broker(data_dir=data_dir) as broker:
            got = _fetch_all(broker, piece)
        read = now()
    finally:
        framing.crc32c, framing.verify_body, framing.check_structure = saved
    check("checksum", got, want)
    return written - start, read - written


def _reread(requests, piece, data_dir: Path, want, every_read: bool) -> float:
    """Fetch an already verified log again: free once per process, or verified every time."""
    if not data_dir.exists():
        _checksum_run(requests, piece, data_dir, want, stubbed=False)
    with cl.Broker(data_dir=data_dir) as broker:
        _fetch_all(broker, piece)  # the first read of each batch verifies it
        segment.VERIFY_EVERY_READ = every_read
        try:
            gc.collect()
            start = now()
            got = _fetch_all(broker, piece)
            elapsed = now() - start
        finally:
            segment.VERIFY_EVERY_READ = False
    check("checksum reread", got, want)
    return elapsed


def _fetch_all(broker: cl.Broker, piece: int) -> np.ndarray:
    got = np.zeros(4, dtype=np.int64)
    offset, end = 0, broker.high_watermark(TOPIC, 0)
    while offset < end:
        records = broker.fetch(TOPIC, 0, offset, max_records=piece).records
        got += digest(records)
        offset += records.num_rows
    return got


# -- main -------------------------------------------------------------------------------------
BENCHES = {
    "bulk": bench_bulk,
    "small": bench_small,
    "segments": bench_segments,
    "rss": bench_rss,
    "checksum": bench_checksum,
}


def print_table(figures: list[Figure]) -> None:
    print()
    print(f"{'figure':<9} {'chronik_lab':>12} {'baseline':>12} {'ratio':>8} {'target':>9}  result")
    for f in figures:
        if f.ratio is None:  # an absolute cap
            cols = (f"{f.measured:.1f} {f.unit}", "-", "-", f"< {f.target:g} {f.unit}")
        else:
            cols = (
                f"{f.measured:.3f} s",
                f"{f.baseline:.3f} s",
                f"{f.ratio:.2f}x",
                f"<= {f.target:g}x",
            )
        verdict = "PASS" if f.passed else "MISS"
        row = f"{f.name:<9} {cols[0]:>12} {cols[1]:>12} {cols[2]:>8} {cols[3]:>9}"
        print(f"{row}  {verdict}  ({f.what})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated figures")
    parser.add_argument("--repeat", type=int, default=None, help="best of N (default 3, quick 2)")
    parser.add_argument("--tmp", default=tempfile.gettempdir(), help="where to write the logs")
    parser.add_argument("--timer", choices=TIMERS, default="wall", help="clock of the timings")
    args = parser.parse_args(argv)
    global _timer
    _timer = TIMERS[args.timer]
    sizes = QUICK if args.quick else FULL
    repeat = args.repeat or (2 if args.quick else 3)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(BENCHES)
    if unknown:
        parser.error(f"unknown figures {sorted(unknown)}; choose from {list(BENCHES)}")
    size_name = "quick" if args.quick else "full"
    print(f"chronik_lab engine benchmarks: {size_name} sizes, best of {repeat}, {args.timer} time")
    print(
        f"python {sys.version.split()[0]}, pyarrow {pa.__version__}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} (other work on the machine skews wall times)"
    )
    figures = []
    with tempfile.TemporaryDirectory(prefix="chronik_bench-", dir=args.tmp) as tmp:
        for name in names:
            figure = BENCHES[name](sizes, Path(tmp), repeat)
            if figure is not None:
                figures.append(figure)
    print_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
