"""Fault specs (`KIND[:key=value,...]`) and when each fault fires, against a plain reference."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronik_lab.errors import InvalidArgumentError
from chronik_lab.wire.faults import (
    KINDS,
    Count,
    Duration,
    FaultSpecError,
    parse_fault,
    parse_faults,
)


@pytest.mark.parametrize(
    "text, kind, fields",
    [
        ("drop-response:api=produce,every=20", "drop-response", {"api": 0, "every": Count(20)}),
        ("reset-after:api=produce,at=5", "reset-after", {"api": 0, "at": Count(5)}),
        ("delay:api=produce,ms=300,p=0.1", "delay", {"api": 0, "ms": 300, "p": 0.1}),
        ("blackhole:ms=2000,at=3s", "blackhole", {"ms": 2000, "at": Duration(3000)}),
        ("kill:every=2s", "kill", {"every": Duration(2000), "ms": 0}),
        ("pause:ms=500,every=3s", "pause", {"ms": 500, "every": Duration(3000)}),
        ("drop-response:api=FindCoordinator", "drop-response", {"api": 10}),
        ("drop-response:api=22,at=1s,for=500ms", "drop-response",
         {"api": 22, "at": Duration(1000), "window_ms": 500}),
        ("latency:ms=5,jitter=2,api=fetch", "latency", {"ms": 5, "jitter": 2, "api": 1}),
        ("slice:bytes=3", "slice", {"bytes": 3, "on": "both"}),
        ("bandwidth:rate=64,on=response", "bandwidth", {"rate": 64, "on": "response"}),
    ],
)  # fmt: skip
def test_the_issue_examples_parse_into_their_fields(text, kind, fields):
    spec = parse_fault(text)
    assert spec.kind == kind and spec.text == text
    for name, value in fields.items():
        assert getattr(spec, name) == value, name


@pytest.mark.parametrize(
    "text, says",
    [
        ("bogus", "unknown kind 'bogus'"),
        ("drop-response:api=nope", "unknown api 'nope'"),
        ("drop-response:every=0", "every must be a request count >= 1"),
        ("drop-response:p=1.5", "p must be a probability"),
        ("drop-response:ms", "'ms' is not key=value"),
        ("delay:ms=-3", "ms must be in 0..600000"),
        ("delay:on=both", "on must be one of request, response"),
        ("kill:api=produce", "kill takes ms, at, every, seed"),
        ("kill:ms=100", "kill needs at=TIME or every=TIME"),
        ("kill:every=5", "every must be a duration"),
        ("latency:p=0.5", "latency takes ms, jitter, on, api"),
        ("drop-response:at=3,for=1s", "for is a time window after at=TIME"),
        ("", "a fault must be text"),
    ],
)
def test_a_bad_spec_is_one_line_naming_the_problem_the_kinds_and_the_keys(text, says):
    with pytest.raises(FaultSpecError) as info:
        parse_fault(text)
    message = str(info.value)
    assert says in message and "\n" not in message
    assert all(kind in message for kind in KINDS)
    assert "keys: api, at, bytes, every, for" in message
    assert isinstance(info.value, InvalidArgumentError)


def test_process_faults_are_refused_where_no_broker_process_exists():
    with pytest.raises(FaultSpecError, match="needs a broker the lab starts"):
        parse_faults(["kill:every=2s"], families=("request", "byte"))


def _fired(text: str, requests: list[tuple[float, int]], seed: int = 0) -> list[int]:
    trigger = parse_fault(text).trigger(seed, 0)
    return [i for i, (now_ms, api) in enumerate(requests, 1) if trigger.fires(now_ms, api)]


@given(
    every=st.integers(1, 9),
    at=st.none() | st.integers(1, 9),
    apis=st.lists(st.sampled_from([0, 1, 3]), max_size=60),
)
def test_count_triggers_fire_on_the_nth_matching_request_as_a_counter_does(every, at, apis):
    text = f"drop-response:api=produce,every={every}" + (f",at={at}" if at else "")
    expected, matched = [], 0
    for i, api in enumerate(apis, 1):
        if api != 0:
            continue
        matched += 1
        base = at or 0
        if matched >= base and (matched - base) % every == 0:
            expected.append(i)
    assert _fired(text, [(0.0, a) for a in apis]) == expected


def test_at_n_fires_once_on_the_nth_matching_request():
    requests = [(0.0, a) for a in [3, 0, 0, 1, 0, 0]]
    assert _fired("reset-after:api=produce,at=3", requests) == [5]


def test_time_triggers_fire_once_per_period_and_windows_fire_on_every_request_inside():
    requests = [(float(t), 0) for t in range(0, 5000, 250)]
    assert [requests[i - 1][0] for i in _fired("drop-response:every=2s", requests)] == [
        2000.0,
        4000.0,
    ]
    assert [requests[i - 1][0] for i in _fired("drop-response:at=1s", requests)] == [1000.0]
    window = _fired("drop-response:at=1s,for=600ms", requests)
    assert [requests[i - 1][0] for i in window] == [1000.0, 1250.0, 1500.0]


def test_p_draws_are_seeded_by_the_run_seed_and_the_faults_own_seed():
    requests = [(0.0, 0)] * 200
    first = _fired("drop-response:p=0.3", requests, seed=1)
    assert first == _fired("drop-response:p=0.3", requests, seed=1)
    assert first != _fired("drop-response:p=0.3", requests, seed=2)
    assert 30 < len(first) < 90
    own = _fired("drop-response:p=0.3,seed=7", requests, seed=1)
    assert own == _fired("drop-response:p=0.3,seed=7", requests, seed=2)
