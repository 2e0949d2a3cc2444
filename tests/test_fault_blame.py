"""Client configs in each client's own names, and faults matched to what they caused: small
tables built here, checked against what a reader of the tables would conclude."""

from __future__ import annotations

import pandas as pd
import pytest

import chronik_lab as cl
from chronik_lab.errors import InvalidArgumentError
from chronik_lab.wire import blame
from chronik_lab.wire.configs import client_config, idempotence_config, parse_pairs
from chronik_lab.wire.faultrun import SENT_COLUMNS, FaultRecording


@pytest.mark.parametrize(
    "client, given, parsed",
    [
        ("kafka-python", {"enable_idempotence": "false", "retries": "5", "acks": "all"},
         {"enable_idempotence": False, "retries": 5, "acks": "all"}),
        ("kafka-python", {"request_timeout_ms": "1000", "client_id": "x"},
         {"request_timeout_ms": 1000, "client_id": "x"}),
        ("aiokafka", {"enable_idempotence": "TRUE", "linger_ms": "5"},
         {"enable_idempotence": True, "linger_ms": 5}),
        ("confluent-kafka", {"enable.idempotence": "true", "socket.timeout.ms": "1000"},
         {"enable.idempotence": "true", "socket.timeout.ms": "1000"}),
    ],
)  # fmt: skip
def test_producer_settings_are_parsed_as_the_client_expects(client, given, parsed):
    assert client_config(client, "producer", given) == parsed


@pytest.mark.parametrize(
    "client, kind, given, says",
    [
        ("kafka-python", "producer", {"enable.idempotence": "true"},
         "kafka-python has no producer setting 'enable.idempotence'"),
        ("aiokafka", "consumer", {"enable_idempotence": "true"},
         "aiokafka has no consumer setting 'enable_idempotence'"),
        ("kafka-python", "producer", {"retries": "many"}, "takes a number, not 'many'"),
        ("kafka-python", "producer", {"enable_idempotence": "maybe"}, "takes true or false"),
        ("confluent-kafka", "producer", {"no.such": "1"}, "No such configuration property"),
        ("confluent-kafka", "consumer", {"enable.auto.commit": "maybe"}, "Expected bool value"),
    ],
)  # fmt: skip
def test_a_bad_setting_is_one_line_naming_the_client(client, kind, given, says):
    with pytest.raises(InvalidArgumentError) as raised:
        client_config(client, kind, given)
    assert says in str(raised.value) and client in str(raised.value)


def test_pairs_and_idempotence_in_each_clients_names():
    assert parse_pairs(["a=1", " b = x=y "], "--producer-config") == {"a": "1", "b": "x=y"}
    with pytest.raises(InvalidArgumentError, match="--producer-config takes KEY=VALUE"):
        parse_pairs(["retries"], "--producer-config")
    assert idempotence_config("confluent-kafka", True, 1000) == {
        "enable.idempotence": True, "socket.timeout.ms": 1000}  # fmt: skip
    assert idempotence_config("aiokafka", False) == {"enable_idempotence": False}


def _faults(*rows) -> pd.DataFrame:
    cols = ["time_s", "kind", "action", "connection", "api", "correlation_id", "spec"]
    return pd.DataFrame([(t, k, "", None, None, None, f"{k}:x") for t, k in rows], columns=cols)


def test_fault_intervals_pair_kills_pauses_and_blackholes_and_keep_instants():
    faults = _faults((1.0, "kill"), (1.5, "restart"), (2.0, "drop-response"), (3.0, "pause"),
                     (3.2, "resume"), (4.0, "blackhole"))  # fmt: skip
    got = blame.fault_intervals(faults, run_end_s=5.0)
    assert got[["start_s", "end_s", "kind"]].values.tolist() == [
        [1.0, 1.5, "kill"], [2.0, 2.0, "drop-response"], [3.0, 3.2, "pause"],
        [4.0, 5.0, "blackhole"]]  # fmt: skip


def _recording(sent_rows, received_rows, faults) -> FaultRecording:
    sent = pd.DataFrame(sent_rows, columns=SENT_COLUMNS)
    sent["offset"] = pd.array(sent["offset"].tolist(), dtype="Int64")
    received = pd.DataFrame(received_rows, columns=["process", "partition", "offset",
                                                    "message_id", "time_s", "final"])  # fmt: skip
    rows = [(i, s[1], "send", s[3], 0, s[4], s[0], int(s[6] * 1e9))
            for i, s in enumerate(sent_rows)]  # fmt: skip
    rows += [(len(rows) + i, r[0], "poll", "ok", 0, r[2], r[3], int(r[4] * 1e9))
             for i, r in enumerate(received_rows)]  # fmt: skip
    history = pd.DataFrame(rows, columns=["op_index", "process", "f", "type", "partition",
                                          "offset", "value", "time"])  # fmt: skip
    history["offset"] = pd.array(history["offset"].tolist(), dtype="Int64")
    return FaultRecording(history, sent, received, faults, ())


def test_a_duplicate_is_blamed_on_the_fault_inside_its_send_and_an_info_send_too():
    sent = [(0, "p", 0, "ok", 0, 0.0, 0.1, None), (1, "p", 0, "ok", 2, 0.2, 1.4, None),
            (2, "p", 0, "info", None, 1.5, 2.5, "timed out")]  # fmt: skip
    read = [("final", 0, 0, 0, 3.0, True), ("final", 0, 1, 1, 3.0, True),
            ("final", 0, 2, 1, 3.0, True), ("final", 0, 3, 2, 3.0, True)]  # fmt: skip
    rec = _recording(sent, read, _faults((0.5, "drop-response"), (2.0, "pause"), (2.2, "resume")))
    report = cl.check(rec.history)
    causes = blame.anomaly_causes(rec, report)
    duplicates = causes[causes["type"] == "duplicate"]
    assert duplicates[["value", "cause", "fault_s"]].values.tolist() == [[1, "drop-response", 0.5]]
    info = blame.info_sends(rec)
    assert info[["message_id", "written", "cause"]].values.tolist() == [[2, True, "pause"]]


def test_an_info_send_with_no_fault_near_is_unexplained():
    sent = [(0, "p", 0, "info", None, 0.0, 0.5, "timed out")]
    rec = _recording(sent, [], _faults((2.0, "drop-response")))
    info = blame.info_sends(rec)
    assert info["cause"].tolist() == [None] and not info["written"].any()
