"""Charts: each builds from the seed run with its key encodings, and no chart embeds more than
altair's 5,000 rows -- not for the seed, not for several partitions, not for a million records.

The million-record run is synthetic (a Run-shaped namespace with big tables built by numpy):
cl.run of a million messages takes several seconds, and the charts only read the tables.
Render times are printed, never asserted (see benchmarks/bench_charts.py for figures).
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import altair as alt
import numpy as np
import pandas as pd
import pytest
import vl_convert

import chronik_lab as cl
from chronik_lab.errors import InvalidArgumentError
from chronik_lab.viz import chartdata, charts


@pytest.fixture(scope="module")
def seed() -> cl.Run:
    return cl.run(cl.SEED)


@pytest.fixture(scope="module")
def versions() -> dict[str, cl.Run]:
    return cl.run_presets(cl.SEED)


def _fields(spec: object, channel: str) -> set[str]:
    """Every field encoded on `channel` anywhere in a chart spec (layers, concats, facets)."""
    found: set[str] = set()
    if isinstance(spec, dict):
        encoding = spec.get("encoding", {})
        if isinstance(encoding, dict) and isinstance(encoding.get(channel), dict):
            field = encoding[channel].get("field")
            if field:
                found.add(field)
        for value in spec.values():
            found |= _fields(value, channel)
    elif isinstance(spec, list):
        for value in spec:
            found |= _fields(value, channel)
    return found


# -- the seed -----------------------------------------------------------------------------


def test_segment_map_draws_segments_buffer_and_watermarks(seed):
    spec = charts.segment_map(seed).to_dict()
    assert {"step_start", "step_index"} <= _fields(spec, "x")
    assert {"base_offset", "offset_start", "value"} <= _fields(spec, "y")
    assert _fields(spec, "color") == {"what"}
    assert charts.chart_rows(charts.segment_map(seed)) <= charts.MAX_ROWS


def test_seed_segment_is_invisible_and_holds_offsets_0_to_9(seed):
    spans = chartdata.segment_spans(seed, 0)
    assert spans[["base_offset", "end_offset", "visible"]].values.tolist() == [[0, 10, False]]


def test_seed_buffer_range_covers_the_segment_range(seed):
    _, ranges = chartdata.buffer_spans(seed, 0)
    last = ranges.iloc[-1]
    assert (last["offset_start"], last["offset_end"]) == (0, 10)


def test_buffer_contents_encodes_multiplicity_and_update_steps(seed):
    chart = charts.buffer_contents(seed)
    spec = chart.to_dict()
    assert "multiplicity" in _fields(spec, "color")
    assert "source" in _fields(spec, "y")  # the update_buffer ticks: produce or flush
    assert charts.chart_rows(chart) <= charts.MAX_ROWS


def test_cumulative_update_buffer_shows_as_two_copies_of_offsets_0_to_9(seed):
    spans, _ = chartdata.buffer_spans(seed, 0)
    final = spans[spans["step_end"] == spans["step_end"].max()]
    assert final[["offset_start", "offset_end", "multiplicity"]].values.tolist() == [[0, 10, 2]]


def test_correct_buffer_holds_every_offset_once(versions):
    spans, _ = chartdata.buffer_spans(versions["v1.0"], 0)
    assert spans.empty or spans["multiplicity"].max() == 1


def test_received_vs_sent_marks_duplicates_and_bands(seed):
    chart = charts.received_vs_sent(seed)
    spec = chart.to_dict()
    assert "offset" in _fields(spec, "x") and "message_id" in _fields(spec, "y")
    assert "status" in _fields(spec, "color")
    points = chartdata.received_points(seed, 0)
    assert (points["status"] == "duplicate").sum() == 10
    assert points.loc[points["status"] == "duplicate", "offset"].tolist() == [
        4,
        5,
        6,
        7,
        *range(14, 20),
    ]
    bands = chartdata.pattern_bands(seed, 0)
    assert bands["label"].tolist() == ["0–3 ↦ 0–3", "4–13 ↦ 0–9", "14–19 ↦ 4–9"]
    assert charts.chart_rows(chart) <= charts.MAX_ROWS


def test_lost_ids_are_drawn_at_the_offset_the_producer_got(versions):
    lost = chartdata.lost_points(versions["v0.7.6"], 0)  # 4-9 re-entered the cleared buffer
    assert lost["message_id"].tolist() == list(range(4))
    assert lost["offset"].tolist() == list(range(4))
    assert chartdata.lost_points(versions["v1.0"], 0).empty


def test_before_after_puts_one_panel_per_version_side_by_side(versions):
    chart = charts.before_after(versions)
    spec = chart.to_dict()
    assert len(spec["hconcat"]) == len(versions) == 4
    assert [panel["title"][0] for panel in spec["hconcat"]] == list(versions)
    assert charts.chart_rows(chart) <= charts.MAX_ROWS


def test_before_after_rejects_an_empty_dict():
    with pytest.raises(InvalidArgumentError, match="non-empty dict"):
        charts.before_after({})


def test_sweep_heatmap_facets_per_preset_and_outlines_the_seed_cell():
    grid = cl.sweep(batch_splits=[(4, 6), None], flush_thresholds=[2, 10])
    chart = charts.sweep_heatmap(grid, highlight={"batch_split": "4+6", "flush_batches": 2})
    spec = chart.to_dict()
    assert spec["facet"]["column"]["field"] == "preset"
    assert _fields(spec, "x") == {"batch_split"} and _fields(spec, "y") == {"flush_batches"}
    rows = next(iter(spec["datasets"].values()))
    assert sum(r["highlight"] for r in rows) == 3  # one cell per preset
    assert charts.chart_rows(chart) == len(grid)


def test_sweep_heatmap_names_a_missing_column():
    with pytest.raises(InvalidArgumentError, match="loss_rate"):
        charts.sweep_heatmap(pd.DataFrame({"preset": ["v1.0"]}), metric="loss_rate")


def test_explain_chart_highlights_minimal_combinations():
    ranking = pd.DataFrame(
        {
            "rank": [1, 2, 3],
            "bugs": [("a", "b"), ("a", "b", "c"), ()],
            "preset": [None, "v0.7.5", "v1.0"],
            "distance": [0, 0, 10],
            "minimal": [True, False, False],
        }
    )
    spec = charts.explain_chart(ranking).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert [r["kind"] for r in rows] == ["minimal cause", "exact, not minimal", "not exact"]
    assert rows[1]["combination"] == "[v0.7.5] a + b + c"
    assert rows[2]["combination"] == "[v1.0] (no bugs)"


def test_explain_chart_rejects_a_bad_top():
    ranking = pd.DataFrame({"bugs": [()], "distance": [0]})
    with pytest.raises(InvalidArgumentError, match="top"):
        charts.explain_chart(ranking, top=0)


def test_partitions_are_stacked_within_one_budget():
    run = cl.run(cl.Scenario(messages=30, batch_sizes=[10, 10, 10], partitions=3, bugs="v0.7.5"))
    for build in (charts.segment_map, charts.buffer_contents, charts.received_vs_sent):
        chart = build(run)
        assert len(chart.to_dict()["vconcat"]) == 3
        assert charts.chart_rows(chart) <= charts.MAX_ROWS


def test_offline_renderer_is_svg():
    before = alt.renderers.active
    try:
        charts.use_offline_renderer()
        assert alt.renderers.active == "svg"
    finally:
        alt.renderers.enable(before)


# -- the row budget -----------------------------------------------------------------------


def test_fit_rows_keeps_small_tables_whole_and_samples_big_ones_evenly():
    small = pd.DataFrame({"x": range(10)})
    assert charts.fit_rows(small, 10) is small
    big = pd.DataFrame({"x": range(100_000)})
    out = charts.fit_rows(big, 5_000)
    assert len(out) <= 5_000
    assert out["x"].iloc[0] == 0 and out["x"].iloc[-1] == 99_999
    assert out["x"].is_monotonic_increasing


def test_binned_buffer_keeps_the_highest_multiplicity_of_each_bin():
    run = _big_run(messages=200_000, states=2_000)
    spans, _ = chartdata.buffer_spans(run, 0, budget=1_000)
    assert len(spans) <= 1_000
    assert spans["binned"].all()
    assert spans["multiplicity"].max() == 2  # the overlapping entries survive aggregation


def _big_run(messages: int = 1_000_000, states: int = 20_000) -> SimpleNamespace:
    """A Run-shaped namespace the size of a million-record v0.7.5 run: every id received once,
    the first half again (1.5M received rows), 100k buffer rows, segments and offsets over
    tens of thousands of steps, a trace of 300k steps."""
    ids = np.arange(messages)
    received_ids = np.concatenate([ids, ids[: messages // 2]])
    n_recv = len(received_ids)
    received = pd.DataFrame(
        {
            "poll": np.arange(n_recv) // 500,
            "partition": np.zeros(n_recv, np.int64),
            "offset": np.arange(n_recv),
            "server_offset": received_ids,
            "message_id": received_ids,
        }
    )
    sent = pd.DataFrame(
        {"message_id": ids, "partition": 0, "offset": ids, "request": ids // 10_000}
    )
    steps = 300_000
    kinds = np.array(["send", "pending_push", "update_buffer", "flush_start", "fetch_response"])
    trace = pd.DataFrame(
        {
            "step_index": np.arange(steps),
            "step": kinds[np.arange(steps) % len(kinds)],
            "partition": 0,
            "source": np.where(np.arange(steps) % 10 == 2, "flush", "produce"),
            "detail": "",
            "count": 1,
        }
    )
    # Five entries per buffer snapshot, overlapping by half: offsets held once and twice.
    state = np.repeat(np.arange(states), 5)
    entry = np.tile(np.arange(5), states)
    stride = max(1, messages // states)
    first = state * stride + entry * 10
    buffer_history = pd.DataFrame(
        {
            "step_index": state * 10 + 2,
            "step": "update_buffer",
            "partition": 0,
            "slot": entry,
            "position": entry * 20,
            "first_offset": first,
            "last_offset": first + 19,
            "count": 20,
        }
    )
    seg_states = 250
    seg_state = np.concatenate([np.full(m + 1, m) for m in range(seg_states)])
    seg_index = np.concatenate([np.arange(m + 1) for m in range(seg_states)])
    width = messages // seg_states
    segment_history = pd.DataFrame(
        {
            "step_index": seg_state * 1_000 + 5,
            "step": "segment_write",
            "partition": 0,
            "base_offset": seg_index * width,
            "last_offset": seg_index * width + width - 1,
            "record_count": width,
            "visible": seg_index < seg_state,  # the active segment is not visible yet
            "sealed": seg_index < seg_state,
        }
    )
    off_steps = np.arange(0, steps, 3)
    offsets_history = pd.DataFrame(
        {
            "step_index": off_steps,
            "step": "hw_update",
            "partition": 0,
            "high_watermark": off_steps * messages // steps,
            "log_end_offset": off_steps * messages // steps + 10,
            "buffer_entries": 5,
        }
    )
    pattern = pd.DataFrame(
        {
            "partition": [0, 0],
            "offset_start": [0, messages],
            "offset_end": [messages - 1, n_recv - 1],
            "value_start": [0, 0],
            "value_end": [messages - 1, messages // 2 - 1],
            "count": [messages, messages // 2],
        }
    )
    return SimpleNamespace(
        scenario=SimpleNamespace(bugs="v0.7.5"),
        sent=sent,
        received=received,
        trace=trace,
        buffer_history=buffer_history,
        segment_history=segment_history,
        offsets_history=offsets_history,
        report=SimpleNamespace(pattern=pattern),
        snapshots_truncated=False,
    )


@pytest.fixture(scope="module")
def big_run() -> SimpleNamespace:
    return _big_run()


@pytest.mark.parametrize(
    "build",
    [charts.segment_map, charts.buffer_contents, charts.received_vs_sent],
    ids=lambda f: f.__name__,
)
def test_million_record_chart_stays_under_the_row_limit_and_renders(big_run, build):
    started = time.perf_counter()
    chart = build(big_run)
    spec = chart.to_dict()  # raises MaxRowsError past 5,000 rows in any dataset
    built = time.perf_counter()
    svg = vl_convert.vegalite_to_svg(spec)
    rendered = time.perf_counter()
    rows = charts.chart_rows(chart)
    print(
        f"{build.__name__}: {rows} rows, build {built - started:.2f} s, "
        f"SVG {rendered - built:.2f} s, {len(svg) / 1e3:.0f} kB"
    )
    assert rows <= charts.MAX_ROWS
    assert svg.startswith("<svg")


def test_million_record_before_after_shares_one_budget(big_run):
    chart = charts.before_after({"a": big_run, "b": big_run, "c": big_run})
    assert charts.chart_rows(chart) <= charts.MAX_ROWS


def test_million_record_received_chart_still_shows_the_duplicates(big_run):
    cells = chartdata.received_points(big_run, 0, budget=3_000)
    assert len(cells) <= 3_000
    duplicated = cells.loc[cells["status"] == "duplicate", "duplicates"].sum()
    assert duplicated == 500_000
