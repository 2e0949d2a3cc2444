"""Every chart builder at 10, 10^4 and 10^6 messages: its data covers the whole offset range
the run's tables hold; a chart drawn from thinned snapshots says so ("the state at every
1,024th step"); it never embeds more than altair's 5,000 rows; its step axis covers the trace.

10 and 10^4 are real runs (cl.run); at 10^4 single sends under v0.7.5 the recorder thins its
snapshots. 10^6 is a Run-shaped namespace built with numpy (cl.run of a million messages takes
minutes): complete, and thinned (a stride on the namespace). The 10^6 cases are marked slow.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from synthetic_runs import seed_shaped_run

import chronik_lab as cl
from chronik_lab.viz import charts

BUILDERS = [
    charts.segment_map,
    charts.buffer_contents,
    charts.buffer_sequence,
    charts.received_vs_sent,
]


def _real(messages: int, bugs: str, per_request: int | None) -> cl.Run:
    sizes = None if per_request is None else [per_request] * (messages // per_request)
    return cl.run(cl.Scenario(messages=messages, batch_sizes=sizes, bugs=bugs, flush_batches=2))


def _synthetic(messages: int, stride: int = 1) -> SimpleNamespace:
    """A million-message v0.7.5-like run: every id once, the first half twice; requests of
    1,000; a buffer of two overlapping entries per snapshot; one segment per 10,000 offsets."""
    ids = np.arange(messages)
    received_ids = np.concatenate([ids, ids[: messages // 2]])
    n = len(received_ids)
    received = pd.DataFrame(
        {
            "poll": np.arange(n) // 500,
            "partition": 0,
            "offset": np.arange(n),
            "server_offset": received_ids,
            "message_id": received_ids,
        }
    )
    sent = pd.DataFrame({"message_id": ids, "partition": 0, "offset": ids, "request": ids // 1_000})
    requests = messages // 1_000
    per = 7  # trace steps per request
    steps = requests * per + 4
    kinds = np.array(
        [
            "send",
            "pending_push",
            "hw_update",
            "update_buffer",
            "flush_start",
            "segment_write",
            "ack",
        ]
    )
    step = np.concatenate(
        [np.tile(kinds, requests), ["poll", "fetch_buffer", "fetch_segments", "fetch_response"]]
    )
    trace = pd.DataFrame(
        {
            "step_index": np.arange(steps),
            "step": step,
            "partition": 0,
            "actor": np.where(np.arange(steps) >= requests * per, "consumer", "broker"),
            "cause": np.where(np.arange(steps) >= requests * per, "fetch", "produce"),
            "source": np.where(step == "update_buffer", "produce", None),
            "detail": "",
            "count": 1_000,
        }
    )
    r = np.arange(requests)
    at = r * per + 3  # the update_buffer step of each request
    first = np.repeat(r * 1_000, 2) - np.tile([0, 500], requests).clip(0)
    buffer_snapshots = pd.DataFrame(
        {
            "step_index": np.repeat(at, 2),
            "step": "update_buffer",
            "partition": 0,
            "slot": np.tile([0, 1], requests),
            "position": np.tile([0, 1_000], requests),
            "first_offset": first.clip(0),
            "last_offset": first.clip(0) + 999,
            "count": 1_000,
        }
    )
    seg_state = r[r % 10 == 9]
    segment_snapshots = pd.DataFrame(
        {
            "step_index": seg_state * per + 5,
            "step": "segment_write",
            "partition": 0,
            "base_offset": (seg_state // 10) * 10_000,
            "last_offset": (seg_state // 10) * 10_000 + 9_999,
            "record_count": 10_000,
            "visible": False,
            "sealed": False,
        }
    )
    offsets_snapshots = pd.DataFrame(
        {
            "step_index": r * per + 2,
            "step": "hw_update",
            "partition": 0,
            "high_watermark": (r + 1) * 1_000,
            "log_end_offset": (r + 1) * 1_000,
            "buffer_entries": 2,
        }
    )
    return seed_shaped_run(
        messages,
        n,
        stride=stride,
        sent=sent,
        received=received,
        trace=trace,
        buffer_snapshots=buffer_snapshots,
        segment_snapshots=segment_snapshots,
        offsets_snapshots=offsets_snapshots,
    )


RUNS = {
    "10-v0.7.5": lambda: cl.run(cl.SEED),
    "10-v0.7.6": lambda: cl.run(cl.SEED.with_bugs("v0.7.6")),
    "10-fixed": lambda: cl.run(cl.SEED.with_bugs("fixed")),
    "1e4-v0.7.5-sampled": lambda: _real(10_000, "v0.7.5", None),
    "1e4-v0.7.6": lambda: _real(10_000, "v0.7.6", 100),
    "1e4-fixed": lambda: _real(10_000, "fixed", 100),
    "1e6-complete": lambda: _synthetic(1_000_000),
    "1e6-sampled": lambda: _synthetic(1_000_000, stride=64),
}
_cache: dict[str, object] = {}


def _run(name: str):
    if name not in _cache:
        _cache[name] = RUNS[name]()
    return _cache[name]


def _cases():
    for name in RUNS:
        marks = [pytest.mark.slow] if name.startswith("1e6") else []
        for build in BUILDERS:
            yield pytest.param(name, build, id=f"{name}-{build.__name__}", marks=marks)


def _rows(spec: dict) -> list[dict]:
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


def _max(rows: list[dict], *columns: str) -> float:
    values = [r[c] for r in rows for c in columns if isinstance(r.get(c), (int, float))]
    return max(values, default=-1)


def _reference(run, build) -> tuple[int, tuple[str, ...]]:
    """The highest offset (exclusive) the run's own tables hold for what `build` draws, and
    the chart's data columns that must reach it."""
    if build is charts.segment_map:
        seg, off = run.segment_snapshots, run.offsets_snapshots
        tops = [int(seg["last_offset"].max()) + 1 if len(seg) else 0]
        tops.append(int(off["log_end_offset"].max()) if len(off) else 0)
        return max(tops), ("end_offset", "value", "offset_end")
    if build is charts.buffer_contents:
        buf = run.buffer_snapshots
        return (int(buf["last_offset"].max()) + 1 if len(buf) else 0), ("offset_end",)
    if build is charts.buffer_sequence:
        return 0, ()  # checked by its own test below
    ids = pd.concat([run.received["message_id"], run.sent["message_id"]])
    return int(ids.max()) + 1, ("message_id", "id_end")


@pytest.mark.parametrize(("name", "build"), list(_cases()))
def test_chart_covers_the_offsets_and_says_when_it_is_sampled(name, build):
    run = _run(name)
    chart = build(run)
    spec = chart.to_dict()  # raises MaxRowsError past 5,000 rows in a dataset
    assert charts.chart_rows(chart) <= charts.MAX_ROWS
    text = json.dumps(spec, ensure_ascii=False)
    top, columns = _reference(run, build)
    if columns:
        drawn = _max(_rows(spec), *columns)
        # binned cells end at their block's edge: allow one block (of at most 1/40 of the range)
        assert drawn >= top - max(1, top // 40) - 1, (drawn, top)
    if build in (charts.segment_map, charts.buffer_contents):
        sampled = "the state at every " in text
        assert sampled == (run.snapshots_stride > 1), (run.snapshots_stride, text[:300])


def test_the_10k_single_sends_under_v075_are_thinned_not_stopped():
    run = _run("1e4-v0.7.5-sampled")
    assert run.snapshots_stride > 1
    assert run.offsets_snapshots["held_until"].iloc[-1] == len(run.trace)
    assert int(run.buffer_snapshots["last_offset"].max()) == 9_999  # the last offset, at the end


@pytest.mark.parametrize(
    ("name", "build"),
    [
        c
        for c in _cases()
        if c.values[1] is not charts.received_vs_sent and c.values[1] is not charts.buffer_sequence
    ],
)
def test_step_axis_spans_the_trace(name, build):
    run = _run(name)
    spec = build(run).to_dict()
    domains = [
        m["encoding"]["x"]["scale"]["domain"]
        for m in _units(spec)
        if isinstance(m.get("encoding", {}).get("x", {}).get("scale", {}).get("domain"), list)
    ]
    steps = int(run.trace["step_index"].max()) + 1
    assert domains
    assert all(d[1] >= steps for d in domains)


def _units(spec: object) -> list[dict]:
    if isinstance(spec, dict):
        own = [spec] if "mark" in spec else []
        return own + [u for k, v in spec.items() if k != "datasets" for u in _units(v)]
    if isinstance(spec, list):
        return [u for v in spec for u in _units(v)]
    return []


@pytest.mark.parametrize("name", [n for n in RUNS if not n.startswith("1e6")])
def test_buffer_sequence_draws_every_entry_or_says_how_many(name):
    run = _run(name)
    spec = charts.buffer_sequence(run).to_dict()
    text = json.dumps(spec, ensure_ascii=False)
    rows = [r for r in _rows(spec) if "position" in r]
    if rows:
        said = re.search(r'"([\d,]+) (?:entry|entries), ', text).group(1)  # 1 entry, 2 entries
        entries = int(said.replace(",", ""))
        assert len(rows) == entries or f"the first {len(rows):,} entries shown" in text
        positions = [r["position"] for r in rows]
        assert positions == sorted(positions)  # buffer order
    else:
        assert "empty" in text or "not recorded" in text or "never fetched" in text


@pytest.mark.slow
def test_before_after_at_a_million_shares_one_budget_and_one_offset_axis():
    runs = {
        "complete": _run("1e6-complete"),
        "sampled": _run("1e6-sampled"),
    }
    chart = charts.before_after(runs)
    assert charts.chart_rows(chart) <= charts.MAX_ROWS
    domains = {
        json.dumps(u["encoding"]["x"]["scale"]["domain"])
        for u in _units(chart.to_dict())
        if u.get("encoding", {}).get("x", {}).get("field") == "offset"
    }
    assert len(domains) == 1
