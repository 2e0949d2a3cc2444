"""The recorder under faults against the lab's own server (issue 20's done-when): lost
acknowledgements duplicate without idempotence and not with it, a kill -9 and restart of
`chronik-lab serve --data-dir` loses nothing acknowledged, and a seeded fuzz of fault schedules
never hangs, leaves nothing running and always gives a history the checker reads. Seeded and
bounded; every server, proxy and broker process ends with its test."""

from __future__ import annotations

import random
import threading
import time

import pytest
from faulty import children, chronik_serve_cmd, free_port, living

import chronik_lab as cl
from chronik_lab.errors import InvalidArgumentError
from chronik_lab.wire import blame
from chronik_lab.wire.configs import idempotence_config
from chronik_lab.wire.faultrun import record_faults
from chronik_lab.wire.nemesis import BrokerUnreachableError

pytestmark = pytest.mark.slow
LOST_ACK = "drop-response:api=produce,at=3"


def _check(rec):
    return cl.check(rec.history)  # nemesis rows and the time column included


def _lost_ack_run(client: str, idempotence: bool, **options):
    with cl.serve(bugs="fixed", partitions=1) as server:
        return record_faults(
            server.bootstrap, faults=[LOST_ACK], client=client, messages=60, seed=1,
            producer_config=idempotence_config(client, idempotence, 1000), **options,
        )  # fmt: skip


def test_a_lost_ack_without_idempotence_is_a_duplicate_at_a_new_offset_blamed_on_the_drop():
    rec = _lost_ack_run("kafka-python", idempotence=False)
    report = _check(rec)
    dups = report.anomalies[report.anomalies["type"] == "duplicate"]
    assert report.counts["duplicate"] >= 1 and len(dups) == report.counts["duplicate"]
    assert all(len(set(offsets)) >= 2 for offsets in dups["offsets"])  # new offsets
    assert set(rec.sent["type"]) == {"ok"}  # the retry was acknowledged
    causes = blame.anomaly_causes(rec, report)
    assert set(causes.loc[causes["type"] == "duplicate", "cause"]) == {"drop-response"}
    assert rec.faults["kind"].tolist() == ["drop-response"]
    nemesis = rec.history[rec.history["process"] == "nemesis"]
    assert nemesis["f"].tolist() == ["drop-response"] and nemesis["time"].notna().all()


@pytest.mark.parametrize("client", ["kafka-python", "confluent-kafka", "aiokafka"])
def test_an_idempotent_producer_leaves_no_duplicate_after_a_lost_ack(client):
    rec = _lost_ack_run(client, idempotence=True)
    assert rec.faults["kind"].tolist() == ["drop-response"]
    assert _check(rec).counts["duplicate"] == 0


def test_an_ack_lost_by_aiokafka_is_info_and_blamed_on_the_fault():
    # aiokafka does not retry a timed-out batch without idempotence (it has expired): the send
    # ends indeterminate, and the write is there.
    rec = _lost_ack_run("aiokafka", idempotence=False)
    info = blame.info_sends(rec)
    assert len(info) >= 1 and info["written"].all()
    assert set(info["cause"]) == {"drop-response"}
    assert _check(rec).ok


def test_kill_and_restart_of_chronik_lab_serve_loses_no_acknowledged_record(tmp_path):
    before = living()
    port = free_port()
    # No flush during the run: only the write-ahead log keeps what was acknowledged.
    serve = chronik_serve_cmd(port, str(tmp_path / "data"), "--flush-batches", "100000")
    rec = record_faults(
        faults=["kill:at=1s,ms=200"], client="kafka-python", messages=300, pace_ms=40, acks=-1,
        producer_config={"request_timeout_ms": 2000}, broker_cmd=serve,
        broker_ready=f"127.0.0.1:{port}", broker_log=tmp_path / "broker.log",
    )  # fmt: skip
    assert rec.faults["kind"].tolist()[:2] == ["kill", "restart"]
    final = set(rec.received.loc[rec.received["final"], "message_id"])
    acknowledged = set(rec.sent.loc[rec.sent["type"] == "ok", "message_id"])
    assert acknowledged and acknowledged <= final
    assert blame.info_sends(rec)["cause"].notna().all()  # no info send unexplained
    counts = _check(rec).counts
    assert counts["lost-write"] == counts["unseen"] == counts["inconsistent-offsets"] == 0
    assert not children(before)


SPEC_MAKERS = [
    lambda r: f"drop-response:api=produce,every={r.randint(2, 6)}",
    lambda r: f"drop-response:p={r.choice([0.1, 0.3])}",
    lambda r: f"reset-before:api=produce,at={r.randint(1, 4)}",
    lambda r: f"reset-after:api={r.choice(['produce', 'fetch'])},every={r.randint(3, 8)}",
    lambda r: f"delay:api=produce,ms={r.randint(10, 300)},p=0.3",
    lambda r: f"delay:on=response,ms={r.randint(10, 200)},p=0.2",
    lambda r: f"blackhole:at={r.randint(100, 600)}ms,ms={r.randint(100, 500)}",
    lambda r: f"blackhole:api=metadata,at=2,ms=300,then={r.choice(['release', 'reset'])}",
    lambda r: f"latency:ms={r.randint(1, 20)}",
    lambda r: f"slice:bytes={r.randint(1, 64)}",
    lambda r: "bandwidth:rate=2048",
]
PROCESS_MAKERS = [
    lambda r: f"kill:at={r.randint(300, 900)}ms,ms={r.randint(0, 300)}",
    lambda r: f"pause:at={r.randint(200, 800)}ms,ms={r.randint(100, 800)}",
]
BOUND_S = 90


@pytest.mark.parametrize("seed", range(4))
def test_a_fuzzed_fault_schedule_never_hangs_leaves_nothing_and_gives_a_checkable_history(
    seed, tmp_path
):
    before = living()
    r = random.Random(seed)
    faults = [maker(r) for maker in r.sample(SPEC_MAKERS, r.randint(1, 3))]
    client = r.choice(["kafka-python", "confluent-kafka", "aiokafka"])
    threads = threading.active_count()
    timeouts = idempotence_config(client, r.random() < 0.5, answer_timeout_ms=1000)
    options = dict(faults=faults, seed=seed, client=client, messages=r.randint(20, 80),
                   producers=r.randint(1, 2), consumers=r.randint(0, 2), chunk=r.randint(1, 10),
                   producer_config=timeouts, deadline_s=30, send_timeout_s=10,
                   history_path=tmp_path / "history.parquet")  # fmt: skip
    started = time.monotonic()
    if seed % 2:  # a broker process the nemesis kills or pauses too
        port = free_port()
        options["faults"] = [*faults, r.choice(PROCESS_MAKERS)(r)]
        rec = record_faults(broker_cmd=chronik_serve_cmd(port, str(tmp_path / "d")),
                            broker_ready=f"127.0.0.1:{port}", **options)  # fmt: skip
    else:
        with cl.serve(bugs="fixed", partitions=1) as server:
            rec = record_faults(server.bootstrap, **options)
    assert time.monotonic() - started < BOUND_S, options
    assert len(rec.sent) == options["messages"]
    assert set(rec.sent["type"]) <= {"ok", "info", "fail"}
    _check(rec)  # reads, whatever it finds
    assert cl.read_history(tmp_path / "history.parquet") is not None
    assert not children(before)
    deadline = time.monotonic() + 10
    while threading.active_count() > threads and time.monotonic() < deadline:
        time.sleep(0.1)
    assert threading.active_count() <= threads, [t.name for t in threading.enumerate()]


def test_bad_configs_process_faults_without_a_broker_and_no_broker_are_refused():
    with pytest.raises(InvalidArgumentError, match="kafka-python has no producer setting"):
        record_faults("127.0.0.1:9", producer_config={"enable.idempotence": "true"})
    with pytest.raises(InvalidArgumentError, match="process faults need broker_cmd"):
        record_faults("127.0.0.1:9", faults=["kill:every=1s"])
    with pytest.raises(InvalidArgumentError, match="consumers must be an int >= 0, not -1"):
        record_faults("127.0.0.1:9", consumers=-1)
    with cl.serve() as server:
        port = server.port
    with pytest.raises(BrokerUnreachableError, match=f"127.0.0.1:{port} never became reachable"):
        record_faults(f"127.0.0.1:{port}", messages=1)
