"""Charts: each builds from the seed run with its key encodings, and no chart embeds more than
altair's 5,000 rows -- not for the seed, not for several partitions, not for a million records.

The million-record run is synthetic (a Run-shaped namespace with big tables built by numpy):
cl.run of a million messages takes several seconds, and the charts only read the tables.
Render times are printed, never asserted (see benchmarks/bench_charts.py for figures).
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import altair as alt
import numpy as np
import pandas as pd
import pytest
import vl_convert
from synthetic_runs import seed_shaped_run

import chronik_lab as cl
from chronik_lab.errors import InvalidArgumentError
from chronik_lab.viz import chartdata, charts, steps, style


@pytest.fixture(scope="module")
def seed() -> cl.Run:
    return cl.run(cl.SEED)


@pytest.fixture(scope="module")
def versions() -> dict[str, cl.Run]:
    return cl.run_presets(cl.SEED)


@pytest.fixture(scope="module")
def fixed() -> cl.Run:
    return cl.run(cl.SEED.with_bugs("fixed"))


@pytest.fixture(scope="module")
def lossy() -> cl.Run:
    """v0.7.6 with a flush on every request: mark_flushed empties the buffer each time and
    the segment stays invisible, so nothing is received."""
    return cl.run(cl.Scenario(messages=10, batch_sizes=[4, 6], flush_batches=1, bugs="v0.7.6"))


def _datasets_with(spec: dict, column: str) -> list[dict]:
    """The rows of every dataset of a chart spec that has `column`, in dataset order."""
    return [r for rows in spec.get("datasets", {}).values() for r in rows if column in r]


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
    assert {"base_offset", "offset_start", "value", "lane"} <= _fields(spec, "y")
    assert _fields(spec, "color") == {"what", "label"}  # the marks, and the drawn legend
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
    lanes = _datasets_with(spec, "lane")
    assert [r["lane"] for r in lanes] == [
        "update_buffer from produce",
        "update_buffer from flush",
        "update_buffer from produce",
    ]
    assert charts.chart_rows(chart) <= charts.MAX_ROWS


def test_cumulative_update_buffer_shows_as_two_copies_of_offsets_0_to_9(seed):
    spans, _ = chartdata.buffer_spans(seed, 0)
    final = spans[spans["step_end"] == spans["step_end"].max()]
    assert final[["offset_start", "offset_end", "multiplicity"]].values.tolist() == [[0, 10, 2]]


def test_correct_buffer_holds_every_offset_once(fixed):
    spans, _ = chartdata.buffer_spans(fixed, 0)
    assert len(spans) and set(spans["multiplicity"]) == {1}


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


def test_lost_ids_keep_the_offset_the_producer_got(versions, fixed):
    lost = chartdata.lost_points(versions["v0.7.6"], 0)  # 4-9 re-entered the cleared buffer
    assert lost["message_id"].tolist() == list(range(4))
    assert lost["offset"].tolist() == list(range(4))  # a tooltip, not a position
    assert chartdata.lost_points(fixed, 0).empty


@pytest.mark.slow
def test_before_after_puts_one_panel_per_version_two_to_a_row(versions):
    chart = charts.before_after(versions)
    spec = chart.to_dict()
    rows = [row["hconcat"] for row in spec["vconcat"]]
    assert [len(row) for row in rows] == [2, 2] and len(versions) == 4  # fits a page's width
    assert [panel["title"][0] for row in rows for panel in row] == list(versions)
    two = charts.before_after(dict(list(versions.items())[:2])).to_dict()
    assert [panel["title"][0] for panel in two["hconcat"]] == list(versions)[:2]
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


@pytest.mark.slow
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
    buffer_snapshots = pd.DataFrame(
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
    segment_snapshots = pd.DataFrame(
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
    offsets_snapshots = pd.DataFrame(
        {
            "step_index": off_steps,
            "step": "hw_update",
            "partition": 0,
            "high_watermark": off_steps * messages // steps,
            "log_end_offset": off_steps * messages // steps + 10,
            "buffer_entries": 5,
        }
    )
    return seed_shaped_run(
        messages,
        n_recv,
        sent=sent,
        received=received,
        trace=trace,
        buffer_snapshots=buffer_snapshots,
        segment_snapshots=segment_snapshots,
        offsets_snapshots=offsets_snapshots,
    )


@pytest.fixture(scope="module")
def big_run() -> SimpleNamespace:
    return _big_run()


@pytest.mark.slow  # a million records: test_charts_scale checks the budget at 10^4 in the edit loop
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


@pytest.mark.slow
def test_million_record_before_after_shares_one_budget(big_run):
    chart = charts.before_after({"a": big_run, "b": big_run, "c": big_run})
    assert charts.chart_rows(chart) <= charts.MAX_ROWS


@pytest.mark.slow
def test_million_record_received_chart_still_shows_the_duplicates(big_run):
    cells = chartdata.received_points(big_run, 0, budget=3_000)
    assert len(cells) <= 3_000
    duplicated = cells.loc[cells["status"] == "duplicate", "duplicates"].sum()
    assert duplicated == 500_000


# -- read at a glance (issue 8, §5) -------------------------------------------------------


def _legend_rows(spec: dict) -> list[dict]:
    """The entries of a drawn legend: the dataset rows with a `kind` (fill / outline / line)."""
    return [r for r in _datasets_with(spec, "kind") if "label" in r]


def _marks(spec: object) -> list[dict]:
    """Every unit spec (one with a mark) of a chart spec."""
    if isinstance(spec, dict):
        own = [spec] if "mark" in spec else []
        return own + [m for k, v in spec.items() if k != "datasets" for m in _marks(v)]
    if isinstance(spec, list):
        return [m for v in spec for m in _marks(v)]
    return []


def test_segment_map_legend_lists_only_what_the_seed_chart_draws(seed, fixed):
    seed_legend = {r["label"]: r["kind"] for r in _legend_rows(charts.segment_map(seed).to_dict())}
    assert seed_legend == {
        charts.SEG_INVISIBLE: "fill",
        charts.BUFFER: "outline",
        charts.HW: "line",
        charts.LEO: "line",
        charts.FETCH: "line",
    }
    fixed_legend = {r["label"] for r in _legend_rows(charts.segment_map(fixed).to_dict())}
    assert charts.SEG_VISIBLE in fixed_legend and charts.SEG_INVISIBLE not in fixed_legend


def test_segment_map_lines_and_their_legend_share_one_dash_per_measure(seed):
    spec = charts.segment_map(seed).to_dict()
    scales = [
        m["encoding"]["strokeDash"]["scale"]
        for m in _marks(spec)
        if "strokeDash" in m.get("encoding", {})
    ]
    line, drawn = scales[0], scales[-1]  # the watermark lines, the legend's samples
    for name, dash in zip(line["domain"], line["range"], strict=True):
        assert drawn["range"][drawn["domain"].index(name)] == dash
    assert line["range"][0] != line["range"][1]  # solid high watermark, dashed log end


def test_buffer_range_is_an_outline_so_no_mixed_colour_appears(seed):
    buffers = [m for m in _marks(charts.segment_map(seed).to_dict()) if "offset_start" in str(m)]
    rects = [m for m in buffers if isinstance(m["mark"], dict) and m["mark"]["type"] == "rect"]
    assert rects and all(m["mark"].get("filled") is False for m in rects)


def test_short_runs_name_every_step_on_the_x_axis(seed):
    spec = json.dumps(charts.segment_map(seed).to_dict())
    for step in ("flush_start", "segment_write", "update_buffer", "fetch_response"):
        assert f"'{step}'" in spec
    lanes = {r["lane"] for r in _datasets_with(charts.segment_map(seed).to_dict(), "lane")}
    assert lanes == {"produce", "flush", "fetch"}


def test_buffer_contents_marks_mark_flushed_and_has_integer_offset_ticks(versions):
    spec = charts.buffer_contents(versions["v0.7.6"]).to_dict()
    rules = [r for r in _datasets_with(spec, "detail") if r.get("detail") == "up to 9"]
    assert [r["step_index"] for r in rules if "step_index" in r] == [9]
    axes = [
        m["encoding"]["y"].get("axis") or {} for m in _marks(spec) if "y" in m.get("encoding", {})
    ]
    offset_axes = [a for a in axes if a.get("format") == ",d"]  # whole numbers, no 0.5
    assert offset_axes and all(a["tickMinStep"] == 1 for a in offset_axes)


def test_buffer_sequence_is_the_order_fetch_reads(seed):
    entries, what = steps.buffer_order(seed, 0)
    assert entries[["position", "first_offset", "offset_end"]].values.tolist() == [
        [0, 0, 4],
        [4, 0, 4],
        [8, 4, 10],
        [14, 4, 10],
    ]
    assert entries["repeat"].tolist() == [False, True, False, True]
    assert "20 records" in what
    rows = _datasets_with(charts.buffer_sequence(seed).to_dict(), "held")
    assert sum(r["count"] for r in rows if r["held"] == "again") == 10  # the 10 duplicates


def test_an_empty_buffer_sequence_says_so_on_the_chart(lossy):
    spec = json.dumps(charts.buffer_sequence(lossy).to_dict())
    assert "the buffer was empty at the first fetch" in spec


def test_lost_records_have_their_own_lane_not_a_client_offset(versions, lossy):
    spec = charts.received_vs_sent(versions["v0.7.6"]).to_dict()
    lost_marks = [
        m for m in _marks(spec) if m.get("encoding", {}).get("x", {}).get("field") == "lane"
    ]
    assert lost_marks, "no lost lane"
    assert all(m["encoding"]["y"]["field"] == "message_id" for m in lost_marks)
    assert "lost: 4" in json.dumps(spec)
    nothing = json.dumps(charts.received_vs_sent(lossy).to_dict())
    assert "lost: 10" in nothing and "nothing received" in nothing


def test_before_after_panels_share_one_offset_axis_and_label_their_bands(versions):
    spec = charts.before_after(versions).to_dict()
    domains = {
        json.dumps(m["encoding"]["x"]["scale"]["domain"])
        for m in _marks(spec)
        if m.get("encoding", {}).get("x", {}).get("field") == "offset"
    }
    assert domains == {json.dumps([-0.5, 19.5])}
    labels = {r["label"] for r in _datasets_with(spec, "middle")}
    assert {"0–3 ↦ 0–3", "0–9 ↦ 0–9"} <= labels
    texts = [
        m for m in _marks(spec) if m.get("encoding", {}).get("text", {}).get("field") == "label"
    ]
    assert len(texts) >= 2  # the labels are drawn in the v0.7.5 and the fixed panel


@pytest.mark.slow
def test_combination_grid_ticks_each_switch_and_names_the_preset():
    ranking = cl.explain([0, 1, 2, 3, *range(10), *range(4, 10)], cl.SEED)
    table = charts.combination_table(ranking, 3)
    v075 = table[table["preset"] == "v0.7.5"].iloc[0]
    assert {name for name in cl.BUGS if v075[name] == "✓"} == set(cl.PRESETS["v0.7.5"])
    assert (table["preset"] != "").sum() >= 3  # every preset is a row, named
    assert table.loc[table["result"] == "minimal cause", "cumulative_update_buffer"].eq("✓").all()
    spec = charts.explain_grid(ranking, 3).to_dict()
    cells = _datasets_with(spec, "switch")
    assert {c["switch"] for c in cells} == set(cl.BUGS)
    assert charts.chart_rows(charts.explain_grid(ranking, 3)) <= charts.MAX_ROWS


def test_receipts_are_first_duplicate_or_redelivered_in_the_checkers_words():
    kafka_range = sorted(cl.PRESETS["v0.7.5"] - {"chronik_fetch_range"})
    run = cl.run(cl.SEED.with_bugs(kafka_range))  # resets to earliest: re-reads
    status = chartdata.receipt_status(run.received)
    counts = run.report.counts
    assert (status == "duplicate").sum() == counts["duplicate"] == 10
    assert (status == "redelivered").sum() == 60 and (status == "first").sum() == 10
    cells = chartdata.received_points(run, 0, budget=40)  # 80 records: a grid, with both counts
    assert "count" in cells and cells["count"].sum() == 80
    assert cells["duplicates"].sum() == 10 and cells["redelivered"].sum() == 60
    spec = json.dumps(charts.received_vs_sent(run).to_dict())
    assert '"filled": false' in spec  # re-reads are rings around their first receipt


def _point_layers(spec: dict) -> list[dict]:
    """The received-points layers (a point mark over offset x message_id)."""
    return [
        m
        for m in _marks(spec)
        if m.get("encoding", {}).get("x", {}).get("field") == "offset"
        and m.get("encoding", {}).get("y", {}).get("field") == "message_id"
    ]


@pytest.mark.parametrize(
    "scenario",
    [
        cl.SEED,
        cl.Scenario(messages=1000, acks=-1, bugs="v0.7.6", flush_batches=2),  # 6 of 1000 back
    ],
    ids=["seed", "v0.7.6-1000"],
)
def test_received_points_spread_over_the_frame_and_stay_inside_it(scenario):
    run = cl.run(scenario)
    spec = charts.received_vs_sent(run).to_dict()
    layers = _point_layers(spec)
    assert layers
    for layer in layers:
        x, y = (layer["encoding"][axis]["scale"] for axis in ("x", "y"))
        assert x.get("zero") is False and y.get("zero") is False  # no hidden stretch to 0
    (x_lo, x_hi), (y_lo, y_hi) = x["domain"], y["domain"]
    offsets, ids = run.received["offset"], run.received["message_id"]
    margin = 0.015 * (x_hi - x_lo)  # a point's mark needs a few pixels of a 640-pixel axis
    assert x_lo + margin <= offsets.min() and offsets.max() <= x_hi - margin
    assert y_lo < ids.min() and ids.max() < y_hi
    # the received offsets spread over most of the axis, not into its last corner
    assert offsets.max() - offsets.min() >= 0.8 * (x_hi - x_lo) - 2


def test_the_legend_draws_the_buffer_dashed_as_the_chart_does(seed):
    spec = charts.segment_map(seed).to_dict()
    outlines = [
        m
        for m in _marks(spec)
        if isinstance(m["mark"], dict)
        and m["mark"]["type"] == "rect"
        and m["mark"].get("filled") is False
    ]
    # the chart's buffer outline and the legend's sample, each with the mark's own dash (a
    # strokeDash encoding on a rect is dropped by Vega-Lite: the sample was drawn solid)
    assert len(outlines) == 2
    assert all(m["mark"]["strokeDash"] == charts.DASHES[charts.BUFFER] for m in outlines)


def test_the_buffer_outline_is_drawn_over_the_watermark_lines(seed):
    plot = charts.segment_map(seed).to_dict()["hconcat"][0]["vconcat"][0]
    kinds = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
             for layer in plot["layer"]]  # fmt: skip
    assert kinds.index("line") < len(kinds) - 1 and kinds[-1] == "rect"
    assert plot["layer"][-1]["mark"].get("filled") is False  # the outline, last: on top


def test_buffer_contents_says_when_mark_flushed_steps_are_too_many_to_draw():
    many = cl.run(cl.Scenario(messages=1000, acks=-1, bugs="v0.7.6", flush_batches=2))
    spec = json.dumps(charts.buffer_contents(many).to_dict())
    assert "mark_flushed steps: too many to draw as lines (see the lanes)" in spec
    assert "too many to draw" not in json.dumps(charts.buffer_contents(cl.run(cl.SEED)).to_dict())


def test_style_helpers_give_the_spec_altair_composing_gives():
    """compose, resolved and when: the chart altair's own composition and condition make."""
    a = alt.Chart(pd.DataFrame({"x": [1]})).mark_point().encode(x=alt.X("x:Q"))
    b = alt.Chart(pd.DataFrame({"x": [2]})).mark_tick().encode(x=alt.X("x:Q"))
    picked = a.add_params(alt.selection_point(name="pick", fields=["x"]))
    one = pd.DataFrame({"x": [3]})
    same_data = [alt.Chart(one).mark_point(), alt.Chart(one).mark_rule()]
    for parts in ([a, b], [picked, b], same_data, [alt.hconcat(a, b), alt.layer(a, b)]):
        for kind in ("layer", "hconcat", "vconcat")[
            1 if isinstance(parts[0], alt.HConcatChart) else 0 :
        ]:
            ours = style.compose(kind, parts, title="t", resolve=style.resolved(x="shared"))
            theirs = getattr(alt, kind)(*parts, title="t").resolve_scale(x="shared")
            assert ours.to_dict() == theirs.to_dict()
    test = "datum.x > 1"
    ours = a.encode(color=style.when(alt.ColorValue, test, "red", "blue"))
    theirs = a.encode(color=alt.condition(test, alt.value("red"), alt.value("blue")))
    assert ours.to_dict() == theirs.to_dict()
    assert repr(ours.encoding.color) == repr(theirs.encoding.color)  # view names hash reprs
