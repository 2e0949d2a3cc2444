"""measure_versions: the loss and duplication notebook 04's prose states, measured."""

from __future__ import annotations

import pandas as pd
import pytest

import chronik_lab as cl
from chronik_lab.sim.versions import WORKLOADS, describe_versions, measure_versions


@pytest.fixture(scope="module")
def measured() -> pd.DataFrame:
    return measure_versions().set_index(["workload", "version"])


def rate(measured, workload_prefix: str, version: str, column: str) -> float:
    (name,) = [w for w in WORKLOADS if w.startswith(workload_prefix)]
    return float(measured.loc[(name, version), column])


def test_v074_is_exact_on_every_workload(measured):
    assert measured.xs("v0.7.4", level="version")["exact"].all()


@pytest.mark.parametrize(
    "workload, duplication",
    [("seed", 1.0), ("compat", 1.0), ("10 single sends, acks=-1, flush at 3", 0.9)],
)
def test_v075_duplicates_when_a_flush_happens(measured, workload, duplication):
    assert rate(measured, workload, "v0.7.5", "duplication_rate") == pytest.approx(duplication)


@pytest.mark.parametrize(
    "workload, loss",
    [
        ("seed", 0.4),
        ("compat", 1.0),
        ("10 single sends, acks=-1, flush at 10", 0.9),
        ("10 single sends, acks=-1, flush at 3", 0.8),
    ],
)
def test_v076_losses(measured, workload, loss):
    assert rate(measured, workload, "v0.7.6", "loss_rate") == pytest.approx(loss)


def test_the_buffer_cap_loses_in_v075_v076_and_v10_but_not_without_it(measured):
    cap = "99 requests of 20"
    assert rate(measured, cap, "v0.7.5", "lost") == 1980  # the trimmed buffer is skipped
    assert rate(measured, cap, "v0.7.6", "lost") == rate(measured, cap, "v1.0", "lost") == 980
    (name,) = [w for w in WORKLOADS if w.startswith(cap)]
    without = tuple(sorted(cl.PRESETS["v1.0"] - {"buffer_keeps_last_1000"}))
    assert measure_versions({name: WORKLOADS[name]}, [without])["exact"].all()


def test_v10_is_exact_below_the_cap(measured):
    v10 = measured.xs("v1.0", level="version")
    assert v10.drop(index=[w for w in WORKLOADS if w.startswith("99 requests")])["exact"].all()


def test_describe_versions_says_each_workloads_outcome_per_version(measured):
    text = describe_versions(measured.reset_index())
    assert text.count("\n") == len(WORKLOADS) - 1
    assert "v0.7.6 loses 9 of 10 (90%)" in text and "v1.0 loses 980 of 1980 (49%)" in text
