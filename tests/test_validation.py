"""Bad input raises the right ChronikLabError subclass and leaves the log exactly as it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import chronik_lab as cl
from chronik_lab.errors import InvalidPartitionError

T = "topic"


def snapshot(b: cl.Broker) -> dict[str, Any]:
    """Everything observable about the broker's logs."""
    state: dict[str, Any] = {"partitions": b.partitions()}
    for tp in b.partitions():
        state[tp] = (
            b.high_watermark(*tp),
            b.log_end_offset(*tp),
            b.log_start_offset(*tp),
            b.segments(*tp).to_dict("list"),
            b.buffer(*tp).to_pylist(),
            b.pending(*tp).to_pylist(),
        )
    return state


@pytest.fixture
def loaded(make_broker) -> cl.Broker:
    """A broker with a flushed segment and buffered records in topic-0."""
    b = make_broker(flush_batches=2)
    b.produce(T, 0, [b"a", b"b"], acks=1)
    b.produce(T, 0, [b"c"], acks=1)  # second pending batch: flushed
    b.produce(T, 0, [b"d", None], keys=[b"k", b"l"], acks=1)  # buffered
    assert len(b.buffer(T, 0)) == 2 and not b.segments(T, 0).empty
    return b


def raises_and_keeps_the_log(
    b: cl.Broker, error: type[cl.ChronikLabError], call: Callable[[], object]
) -> pytest.ExceptionInfo:
    before = snapshot(b)
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, cl.ChronikLabError)
    assert snapshot(b) == before
    return info


BAD_TOPICS = ["", ".", "..", "a/b", "../escape", "a b", "t\u00e9", "x" * 250, None, 3, b"topic"]


@pytest.mark.parametrize("topic", BAD_TOPICS, ids=repr)
def test_bad_topic_on_produce_is_rejected(loaded: cl.Broker, topic: object) -> None:
    info = raises_and_keeps_the_log(
        loaded, cl.InvalidTopicError, lambda: loaded.produce(topic, 0, [b"x"])
    )
    assert info.value.topic == topic


@pytest.mark.parametrize("topic", BAD_TOPICS, ids=repr)
def test_bad_topic_on_fetch_is_rejected(loaded: cl.Broker, topic: object) -> None:
    raises_and_keeps_the_log(loaded, cl.InvalidTopicError, lambda: loaded.fetch(topic, 0))


def test_longest_legal_topic_name_is_accepted(broker: cl.Broker) -> None:
    name = "a.B_c-" + "x" * 243  # 249 characters of the legal set
    assert broker.produce(name, 0, [b"x"]).base_offset == 0


def test_no_topic_name_creates_anything_outside_data_dir(broker: cl.Broker, tmp_path) -> None:
    for topic in ("..", "../x", "/abs"):
        with pytest.raises(cl.InvalidTopicError):
            broker.produce(topic, 0, [b"x"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


BAD_PARTITIONS = [-1, True, False, 1.0, "0", None, 2**31]


@pytest.mark.parametrize("partition", BAD_PARTITIONS, ids=repr)
def test_bad_partition_on_produce_is_rejected(loaded: cl.Broker, partition: object) -> None:
    info = raises_and_keeps_the_log(
        loaded, InvalidPartitionError, lambda: loaded.produce(T, partition, [b"x"])
    )
    assert info.value.partition is partition


@pytest.mark.parametrize("partition", BAD_PARTITIONS, ids=repr)
def test_bad_partition_on_fetch_is_rejected(loaded: cl.Broker, partition: object) -> None:
    raises_and_keeps_the_log(loaded, InvalidPartitionError, lambda: loaded.fetch(T, partition))


@pytest.mark.parametrize("acks", [2, -2, True, False, "1", None, 1.0])
def test_bad_acks_is_rejected(loaded: cl.Broker, acks: object) -> None:
    raises_and_keeps_the_log(
        loaded, cl.InvalidArgumentError, lambda: loaded.produce(T, 0, [b"x"], acks=acks)
    )


BAD_PAYLOADS = {
    "int items": dict(values=[b"ok", 1]),
    "float item": dict(values=[1.5]),
    "bare bytes": dict(values=b"abc"),
    "bare str": dict(values="abc"),
    "bare bytearray": dict(values=bytearray(b"abc")),
    "None": dict(values=None),
    "a dict": dict(values={b"a": b"b"}),
    "a generator": dict(values=(b"x" for _ in range(2))),
    "empty list": dict(values=[]),
    "nested list": dict(values=[[b"a"]]),
    "keys too short": dict(values=[b"a", b"b"], keys=[b"k"]),
    "keys too long": dict(values=[b"a"], keys=[b"k", b"l"]),
    "keys bare bytes": dict(values=[b"a"], keys=b"k"),
    "keys with int": dict(values=[b"a"], keys=[7]),
}


@pytest.mark.parametrize("payload", BAD_PAYLOADS.values(), ids=BAD_PAYLOADS.keys())
@pytest.mark.parametrize("topic", [T, "new-topic"], ids=["existing", "new"])
def test_bad_values_or_keys_are_rejected(loaded: cl.Broker, payload: dict, topic: str) -> None:
    # Nothing moves, not even the creation of a new topic-partition.
    raises_and_keeps_the_log(
        loaded, cl.InvalidArgumentError, lambda: loaded.produce(topic, 0, **payload)
    )


def test_a_rejected_produce_to_a_new_topic_leaves_it_unknown(loaded: cl.Broker) -> None:
    with pytest.raises(cl.InvalidArgumentError):
        loaded.produce("new-topic", 0, [1])
    with pytest.raises(cl.UnknownTopicOrPartitionError):
        loaded.fetch("new-topic", 0)


def test_tuples_and_bytearrays_are_accepted_as_values(broker: cl.Broker) -> None:
    broker.produce(T, 0, (b"a", bytearray(b"b"), "c", None))
    assert broker.fetch(T, 0).records.column("value").to_pylist() == [b"a", b"b", b"c", None]


BAD_COUNTS = [-1, True, 1.0, "1"]


@pytest.mark.parametrize("offset", BAD_COUNTS + [False, None], ids=repr)
def test_bad_fetch_offset_is_rejected(loaded: cl.Broker, offset: object) -> None:
    raises_and_keeps_the_log(
        loaded, cl.InvalidArgumentError, lambda: loaded.fetch(T, 0, offset=offset)
    )


@pytest.mark.parametrize("name", ["max_records", "max_bytes"])
@pytest.mark.parametrize("value", BAD_COUNTS + [0, False], ids=repr)
def test_bad_fetch_limits_are_rejected(loaded: cl.Broker, name: str, value: object) -> None:
    raises_and_keeps_the_log(
        loaded, cl.InvalidArgumentError, lambda: loaded.fetch(T, 0, **{name: value})
    )


def test_out_of_range_fetch_keeps_the_log(loaded: cl.Broker) -> None:
    info = raises_and_keeps_the_log(
        loaded, cl.OffsetOutOfRangeError, lambda: loaded.fetch(T, 0, offset=6)
    )
    assert (info.value.offset, info.value.log_end_offset) == (6, 5)


@pytest.mark.parametrize(
    "call",
    [
        lambda b: b.fetch(T, 1),
        lambda b: b.fetch("unknown", 0),
        lambda b: b.flush("unknown", 0),
        lambda b: b.segments("unknown", 0),
        lambda b: b.buffer(T, 7),
        lambda b: b.high_watermark("unknown", 0),
    ],
    ids=["fetch-partition", "fetch-topic", "flush", "segments", "buffer", "high_watermark"],
)
def test_unknown_topic_partition_is_rejected(loaded: cl.Broker, call) -> None:
    info = raises_and_keeps_the_log(loaded, cl.UnknownTopicOrPartitionError, lambda: call(loaded))
    assert "unknown topic-partition" in str(info.value)


def test_flush_of_a_partition_without_topic_is_rejected(loaded: cl.Broker) -> None:
    raises_and_keeps_the_log(loaded, cl.InvalidArgumentError, lambda: loaded.flush(partition=0))


@pytest.mark.parametrize("ms", [-1, True, 1.5, None])
def test_bad_advance_is_rejected(loaded: cl.Broker, ms: object) -> None:
    before = loaded.clock.now_ms
    raises_and_keeps_the_log(loaded, cl.InvalidArgumentError, lambda: loaded.advance(ms))
    assert loaded.clock.now_ms == before


@pytest.mark.parametrize(
    "call",
    [
        lambda b: b.produce(T, 0, [b"x"]),
        lambda b: b.fetch(T, 0),
        lambda b: b.flush(),
        lambda b: b.flush(T, 0),
        lambda b: b.advance(10),
    ],
    ids=["produce", "fetch", "flush", "flush-one", "advance"],
)
def test_operations_after_close_are_rejected(make_broker, data_dir: Path, call) -> None:
    b = make_broker(flush_batches=2)
    b.produce(T, 0, [b"a"])
    b.close()
    files = {p: p.read_bytes() for p in data_dir.rglob("*") if p.is_file()}
    with pytest.raises(cl.BrokerClosedError):
        call(b)
    assert {p: p.read_bytes() for p in data_dir.rglob("*") if p.is_file()} == files


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(bugs="v9.9"), cl.UnknownBugError),
        (dict(bugs=["no_such_bug"]), cl.UnknownBugError),
        (dict(bugs=7), cl.InvalidArgumentError),
        (dict(flush_batches=0), cl.InvalidArgumentError),
        (dict(flush_batches=True), cl.InvalidArgumentError),
        (dict(flush_batches=2.0), cl.InvalidArgumentError),
        (dict(segment_bytes=0), cl.InvalidArgumentError),
        (dict(segment_ms=-5), cl.InvalidArgumentError),
        (dict(linger_ms=-1), cl.InvalidArgumentError),
        (dict(clock=123), cl.InvalidArgumentError),
        (dict(data_dir=42), cl.InvalidArgumentError),
    ],
    ids=lambda x: repr(x) if isinstance(x, dict) else "",
)
def test_bad_broker_configuration_is_rejected(tmp_path, kwargs: dict, error) -> None:
    kwargs.setdefault("data_dir", tmp_path / "data")
    with pytest.raises(error):
        cl.Broker(**kwargs)
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_data_dir_that_is_a_file_is_refused_and_left_alone(tmp_path) -> None:
    path = tmp_path / "not-a-dir"
    path.write_bytes(b"keep me")
    with pytest.raises(cl.InvalidArgumentError, match="data_dir"):
        cl.Broker(data_dir=path)
    assert path.read_bytes() == b"keep me"


@pytest.mark.parametrize("acks", [1.0, "1", True])
def test_scenario_acks_must_be_an_int(acks) -> None:
    with pytest.raises(cl.ChronikLabError, match="acks"):
        cl.Scenario(acks=acks)


# -- inputs that raised tracebacks (issue 7) ---------------------------------------------------
@pytest.mark.parametrize("where", ["values", "keys"])
def test_a_lone_surrogate_is_an_invalid_argument(broker, where) -> None:
    args = (["ok"], ["\ud800"]) if where == "keys" else (["\ud800"], None)
    with pytest.raises(cl.InvalidArgumentError, match="UTF-8"):
        broker.produce(T, 0, *args)
    assert broker.partitions() == []


@pytest.mark.parametrize("limit", ["max_records", "max_bytes"])
def test_a_fetch_limit_past_int64_is_no_limit(broker, limit) -> None:
    broker.produce(T, 0, ["a", "b"])
    assert len(broker.fetch(T, 0, **{limit: 2**70})) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"data_dir": "\x00"}, "NUL"),
        ({"data_dir": "a\x00b"}, "NUL"),
        ({"data_dir": ""}, "empty"),
        ({"data_dir": b"bytes"}, "path"),
        ({"fsync": "no"}, "fsync"),
        ({"fsync": 1}, "fsync"),
        ({"tracer": 5}, "tracer"),
    ],
)
def test_bad_broker_arguments_are_invalid_argument_errors(tmp_path, kwargs, match) -> None:
    kwargs.setdefault("data_dir", tmp_path / "d")
    with pytest.raises(cl.InvalidArgumentError, match=match):
        cl.Broker(**kwargs)


def test_flush_of_a_topic_that_is_not_a_name_is_refused(broker) -> None:
    with pytest.raises(cl.InvalidTopicError):
        broker.flush(5)


def test_arrow_binary_values_are_taken_and_keys_of_another_length_refused(broker) -> None:
    import pyarrow as pa

    r = broker.produce("t", 0, pa.array([b"a", None, b"c"], pa.binary()), acks=-1)
    assert (r.base_offset, r.last_offset) == (0, 2)
    assert broker.fetch("t", 0, 0).records.column("value").to_pylist() == [b"a", None, b"c"]
    with pytest.raises(cl.ChronikLabError, match="keys has 1 items"):
        broker.produce("t", 0, pa.array([b"x", b"y"]), pa.array([b"k"]))
    assert broker.high_watermark("t", 0) == 3  # the refused request wrote nothing
