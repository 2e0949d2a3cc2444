"""Differential test: the lab's presets against a list-based model of chronik's own code.

Random single-partition workloads (messages, request sizes, acks, flush threshold) run through
`cl.run` under each preset and through `chronik_model.received` for the same version; the message
ids the consumer receives must be the same sequence. The model (tests/chronik_model.py) was
written from chronik's source at each tag, not from the engine.
"""

from __future__ import annotations

import pytest
from chronik_model import received
from hypothesis import given
from hypothesis import strategies as st

import chronik_lab as cl

VERSIONS = ("v0.7.4", "v0.7.5", "v0.7.6", "v1.0", "fixed")


@st.composite
def workloads(draw) -> tuple[tuple[int, ...], int, int]:
    sizes = draw(st.lists(st.integers(1, 8), min_size=1, max_size=14))
    acks = draw(st.sampled_from([-1, 0, 1]))
    flush_batches = draw(st.integers(1, 12))
    return tuple(sizes), acks, flush_batches


def lab_ids(version: str, sizes: tuple[int, ...], acks: int, flush_batches: int) -> list[int]:
    scenario = cl.Scenario(
        messages=sum(sizes),
        batch_sizes=sizes,
        acks=acks,
        bugs=version,
        flush_batches=flush_batches,
        snapshots=False,
    )
    return cl.run(scenario).received_ids


def model_ids(version: str, sizes: tuple[int, ...], acks: int, flush_batches: int) -> list[int]:
    requests, start = [], 0
    for size in sizes:
        requests.append(list(range(start, start + size)))
        start += size
    return received(version, requests, acks, flush_batches)


@pytest.mark.parametrize("version", VERSIONS)
@given(workload=workloads())
def test_each_preset_receives_what_chronik_code_at_its_tag_receives(version, workload):
    assert lab_ids(version, *workload) == model_ids(version, *workload)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "workload",
    [
        ((4, 6), -1, 2),  # the seed
        ((1,) * 10, 1, 10),  # chronik's compat test
        ((1,) * 33, -1, 5),  # issue 11: v0.7.6 returns 29-32
        ((20,) * 99, 1, 100),  # 1980 records waiting for the release flush policy: the cap
    ],
    ids=["seed", "compat", "v076-floor", "cap"],
)
def test_pinned_workloads_agree_with_the_model(version, workload):
    assert lab_ids(version, *workload) == model_ids(version, *workload)


def test_the_model_finds_v076_serving_flushed_records_again():
    assert model_ids("v0.7.6", (1,) * 33, -1, 5) == [29, 30, 31, 32]
