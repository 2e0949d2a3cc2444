"""The recorder's snapshots: the whole run at any size, thinned (never stopped) past its budget.

The reference is the same scenario recorded with no budget at all, where every state is kept:
thinned snapshots must hold exactly the reference's states at the steps it kept, each with the
step its state held until, and keep exactly the last state of each block of `stride` steps, the
state each partition's first poll read, and the last one. At 100,000 messages under v0.7.5 and
v0.7.4 (the notebooks' default workload) the snapshots reach the end of the run, and the state
at the first fetch is the engine's own buffer and segment list at that moment.
"""

from __future__ import annotations

import bisect

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chronik_lab as cl
from chronik_lab.sim import recorder as recorder_module
from chronik_lab.sim import scenario as scenario_module
from chronik_lab.sim import snapshots as snapshots_module
from chronik_lab.sim.recorder import Recorder
from chronik_lab.sim.snapshots import Snapshots
from chronik_lab.sim.tables import buffer_at, fetch_reads

UNLIMITED = 10**12


def record(scenario: cl.Scenario, limit: int, monkeypatch: pytest.MonkeyPatch) -> cl.Run:
    with monkeypatch.context() as m:
        m.setattr(scenario_module, "SNAPSHOT_ROW_LIMIT", limit)
        return cl.run(scenario)


def states(run: cl.Run) -> dict[tuple[int, int], tuple]:
    """(partition, step) -> (buffer entries, segments, offsets, held_until) of every kept
    snapshot, rebuilt from the change-only tables: the last buffer (segment) rows at or before
    the snapshot, unless its offsets row says the buffer is empty."""
    seg_last = run.segment_snapshots.assign(
        last_offset=run.segment_snapshots["last_offset"].fillna(-1)
    )
    buffers = _rows_by_step(run.buffer_snapshots, ["first_offset", "last_offset", "count"])
    segments = _rows_by_step(seg_last, ["base_offset", "last_offset", "visible", "sealed"])
    out = {}
    for row in run.offsets_snapshots.itertuples(index=False):
        p, step = row.partition, row.step_index
        entries = _last_at(buffers, p, step) if row.buffer_entries else ()
        offsets = (row.high_watermark, row.log_end_offset, row.pending_records, row.buffer_records)
        out[(p, step)] = (entries, _last_at(segments, p, step), offsets, row.held_until)
    return out


def _rows_by_step(table: pd.DataFrame, columns: list[str]) -> dict[int, tuple[list, list]]:
    """partition -> (its steps, ascending; the rows of each step as tuples of `columns`)."""
    out: dict[int, tuple[list, list]] = {}
    for (p, step), rows in table.groupby(["partition", "step_index"], sort=True):
        steps, rows_of = out.setdefault(p, ([], []))
        steps.append(step)
        rows_of.append(tuple(zip(*(rows[c] for c in columns), strict=True)))
    return out


def _last_at(by_step: dict[int, tuple[list, list]], partition: int, step: int) -> tuple:
    """The rows of `partition`'s last step at or before `step` (none before its first)."""
    steps, rows_of = by_step.get(partition, ([], []))
    i = bisect.bisect_right(steps, step)
    return rows_of[i - 1] if i else ()


def expected_steps(full: cl.Run, stride: int) -> set[tuple[int, int]]:
    """The (partition, step) snapshots at `stride` keep: the last state of each block of
    `stride` steps, the state before each partition's first poll, and the last state."""
    off = full.offsets_snapshots
    keep = set()
    for p, rows in off.groupby("partition"):
        steps = rows["step_index"].to_numpy()
        last_of_block = np.r_[steps[1:] // stride != steps[:-1] // stride, True]
        keep |= {(p, int(s)) for s in steps[last_of_block]}
        first_poll = fetch_reads(full, int(p))["first_fetch_step"]
        before = steps[steps < first_poll]
        if first_poll >= 0 and len(before):
            keep.add((p, int(before.max())))
    return keep


def assert_thinned_snapshots_are_exact(thin: cl.Run, full: cl.Run) -> None:
    assert full.snapshots_stride == 1
    reference, kept = states(full), states(thin)
    assert set(kept) == expected_steps(full, thin.snapshots_stride)
    for key, state in kept.items():
        assert state == reference[key], key
    assert thin.trace.equals(full.trace)


SCENARIOS = [
    cl.SEED,
    cl.Scenario(messages=300, batch_sizes="auto", acks=-1, bugs="v0.7.5", flush_batches=2),
    cl.Scenario(messages=300, batch_sizes="auto", acks=-1, bugs="v0.7.4", flush_batches=2),
    cl.Scenario(messages=200, acks=1, bugs="v0.7.6", flush_batches=3, poll_every=7),
    cl.Scenario(
        messages=120, acks=-1, bugs="v1.0", partitions=3, linger_ms=10, flush_ms=25, poll_every=4
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s.bugs}-{s.messages}")
@pytest.mark.parametrize("limit", [40, pytest.param(400, marks=pytest.mark.slow)])
def test_thinned_snapshots_hold_exact_states(scenario, limit, monkeypatch):
    full = record(scenario, UNLIMITED, monkeypatch)
    thin = record(scenario, limit, monkeypatch)
    assert_thinned_snapshots_are_exact(thin, full)


def test_every_state_is_kept_while_the_budget_allows(monkeypatch):
    run = record(SCENARIOS[1], UNLIMITED, monkeypatch)
    off = run.offsets_snapshots
    assert run.snapshots_stride == 1
    # each row's state held until the next one's step, the last one until the trace's end
    assert off["held_until"].tolist() == [*off["step_index"].tolist()[1:], len(run.trace)]


def test_past_the_budget_the_stride_doubles_and_rows_stay_within_it(monkeypatch):
    scenario = cl.Scenario(messages=2_000, batch_sizes="auto", acks=-1, bugs="v0.7.5")
    run = record(scenario, 3_000, monkeypatch)
    assert run.snapshots_stride > 1 and run.snapshots_stride & (run.snapshots_stride - 1) == 0
    assert len(run.buffer_snapshots) + len(run.segment_snapshots) <= 3_000
    assert run.offsets_snapshots["held_until"].iloc[-1] == len(run.trace)


def test_a_state_bigger_than_the_budget_still_ends_the_snapshots(monkeypatch):
    # 50 single sends, no flush: the last buffer alone has 50 entries, over a budget of 30
    run = record(cl.Scenario(messages=50, bugs="v0.7.5", flush_batches=100), 30, monkeypatch)
    last = run.buffer_snapshots[
        run.buffer_snapshots["step_index"] == run.buffer_snapshots["step_index"].max()
    ]
    assert len(last) == 50 and last["last_offset"].max() == 49


@st.composite
def workloads(draw) -> cl.Scenario:
    messages = draw(st.integers(1, 40))
    sizes = draw(st.sampled_from([None, "auto", "random"]))
    if sizes == "random":
        cuts = (
            sorted(draw(st.sets(st.integers(1, messages - 1), max_size=6))) if messages > 1 else []
        )
        sizes = [b - a for a, b in zip([0, *cuts], [*cuts, messages], strict=True)]
    return cl.Scenario(
        messages=messages,
        batch_sizes=sizes,
        acks=draw(st.sampled_from([-1, 0, 1])),
        bugs=draw(st.sampled_from(["fixed", "v1.0", "v0.7.6", "v0.7.5", "v0.7.4"])),
        flush_batches=draw(st.integers(1, 5)),
        partitions=draw(st.integers(1, 3)),
        poll_every=draw(st.sampled_from([None, 1, 3])),
        linger_ms=draw(st.sampled_from([None, 0, 10, 2_000])),  # 2 s: segments roll at 30
        flush_ms=draw(st.sampled_from([0, 15])),
        max_records=draw(st.sampled_from([3, 500])),
    )


@pytest.mark.slow  # the fixed scenarios above are the edit loop's check
@given(scenario=workloads(), limit=st.integers(1, 80))
def test_thinning_keeps_exact_states_on_random_workloads(scenario, limit):
    with pytest.MonkeyPatch.context() as m:
        full = record(scenario, UNLIMITED, m)
        thin = record(scenario, limit, m)
    assert_thinned_snapshots_are_exact(thin, full)


class _FullState(Snapshots):
    """Reads every state in full after every step and says "changed" only where the content
    differs from the last state seen: the engine's versions are not consulted."""

    def _observe(self, log, index, step) -> None:
        p = log.part
        same_buffer = p.buffer.entries == log.entries
        same_segments = snapshots_module._segment_state(p, {}) == (log.segments, log.visible)
        # -1 (never seen) forces the recorder to take the state; the engine's version, not to
        log.buffer_seen = p.buffer.version if same_buffer else -1
        log.segments_seen = p.writer.version if same_segments else -1
        log.unflushed_seen = -1  # recounted at every step
        super()._observe(log, index, step)


@pytest.mark.slow
@given(scenario=workloads())
def test_the_engine_versions_miss_no_change_and_report_none_that_did_not_happen(scenario):
    with pytest.MonkeyPatch.context() as m:
        versioned = record(scenario, UNLIMITED, m)
        m.setattr(recorder_module, "Snapshots", _FullState)
        full = record(scenario, UNLIMITED, m)
    for name in ("trace", "buffer_snapshots", "segment_snapshots", "offsets_snapshots"):
        assert getattr(versioned, name).equals(getattr(full, name)), name


# -- the notebooks' default workload at 100,000 messages --------------------------------------


class _Witness(Recorder):
    """A recorder that also asks the engine, through its public API, what the buffer and the
    segments hold at each partition's first poll -- the moment the prose describes."""

    seen: dict[int, tuple[list[int], pd.DataFrame]] = {}

    def attach(self, broker) -> None:
        super().attach(broker)
        self.broker = broker
        type(self).seen = {}

    def client_step(self, actor, step, ref, partition, span, count, detail) -> None:
        if step == "poll" and partition not in self.seen:
            buffered = self.broker.buffer(self.topic, partition).column("offset").to_pylist()
            self.seen[partition] = (buffered, self.broker.segments(self.topic, partition))
        super().client_step(actor, step, ref, partition, span, count, detail)


@pytest.fixture(scope="module", params=["v0.7.5", "v0.7.4"])
def big_run(request):
    scenario = cl.Scenario(
        messages=100_000, batch_sizes="auto", acks=-1, bugs=request.param, flush_batches=2
    )
    with pytest.MonkeyPatch.context() as m:
        m.setattr(scenario_module, "Recorder", _Witness)
        run = cl.run(scenario)
    return run, dict(_Witness.seen)


@pytest.mark.slow
def test_at_100k_the_snapshots_reach_the_end_of_the_run(big_run):
    run, _ = big_run
    off, buf, seg = run.offsets_snapshots, run.buffer_snapshots, run.segment_snapshots
    assert off["held_until"].iloc[-1] == len(run.trace)  # the last state, to the last step
    assert off["log_end_offset"].iloc[-1] == 100_000
    assert seg["last_offset"].max() == 99_999
    assert buf["last_offset"].max() == 99_999
    # one kept state per block of `stride` steps (and the first fetch's), each held until a
    # step at or before the next kept one
    blocks = off["step_index"] // run.snapshots_stride
    assert (blocks.diff().dropna() > 0).sum() >= len(off) - 2
    assert (off["held_until"].iloc[:-1].to_numpy() <= off["step_index"].iloc[1:].to_numpy()).all()
    assert len(buf) + len(seg) <= scenario_module.SNAPSHOT_ROW_LIMIT


@pytest.mark.slow
def test_at_100k_the_state_at_the_first_fetch_is_the_engines(big_run):
    run, seen = big_run
    buffered, segments = seen[0]
    step = fetch_reads(run, 0)["first_fetch_step"]
    held = buffer_at(run, 0, step)
    assert held is not None
    offsets = [
        o
        for f, last in zip(held["first_offset"], held["last_offset"], strict=True)
        for o in range(f, last + 1)
    ]
    assert offsets == buffered and len(buffered) > 0
    seg = run.segment_snapshots
    seg = seg[seg["step_index"] < step]
    seg = seg[seg["step_index"] == seg["step_index"].max()]
    columns = ["base_offset", "last_offset", "visible"]
    assert (
        seg[columns].astype("int64").values.tolist()
        == segments[columns].astype("int64").values.tolist()
    )
