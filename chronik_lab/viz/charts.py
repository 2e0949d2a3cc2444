"""Altair charts of a run: segments, buffer contents, received vs sent, before/after, sweeps.

Every builder takes a `Run` (or several, or a table) and returns an altair chart whose data,
all layers together, stays within altair's 5,000-row limit however big the run: chartdata.py
reduces the tables first (merging unchanged steps, then sampling snapshots and binning offsets).
The limit itself is never raised or disabled -- a chart that could not be drawn readably from
5,000 rows could not be read either.

Charts render offline: call `use_offline_renderer()` once (notebooks do, in their first cell)
so altair draws SVG through vl-convert instead of loading vega from a CDN.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import altair as alt
import pandas as pd

from chronik_lab.checker.counts import outcome
from chronik_lab.errors import InvalidArgumentError
from chronik_lab.viz import chartdata as cd
from chronik_lab.viz.tablecharts import explain_chart, sweep_heatmap

__all__ = [
    "MAX_ROWS",
    "before_after",
    "buffer_contents",
    "chart_rows",
    "explain_chart",
    "fit_rows",
    "received_vs_sent",
    "segment_map",
    "sweep_heatmap",
    "use_offline_renderer",
]

MAX_ROWS = cd.MAX_ROWS
fit_rows = cd.fit_rows

WIDTH, HEIGHT = 640, 280
MAX_FETCH_RULES = 50
MAX_BAND_LABELS = 8
SEG_VISIBLE, SEG_INVISIBLE, BUFFER = "segment (fetch sees it)", "segment (invisible)", "buffer"
MEASURE_NAMES = {"high_watermark": "high watermark", "log_end_offset": "log end offset"}
FETCH = "fetch"
MAP_COLORS = alt.Scale(
    domain=[SEG_VISIBLE, SEG_INVISIBLE, BUFFER, *MEASURE_NAMES.values(), FETCH],
    range=["#54a24b", "#e45756", "#bab0ac", "#4c78a8", "#b279a2", "#333333"],
)
STATUS = alt.Scale(domain=["first", "duplicate", "lost"], range=["#4c78a8", "#f58518", "#e45756"])
SHAPES = alt.Scale(domain=["first", "duplicate", "lost"], range=["circle", "circle", "cross"])
# Copies of an offset in the buffer: 1 is the correct state (blue), every extra copy hotter.
COPIES = ["#9ecae9", "#f58518", "#e45756", "#b22222", "#6b0000"]


def use_offline_renderer() -> None:
    """Render charts as SVG with vl-convert: no JavaScript, nothing fetched from a CDN.

    (The default html renderer loads vega from the network, and the mimetype renderer leaves
    nothing that papermill / nbconvert can show.)
    """
    alt.renderers.enable("svg")


def chart_rows(chart: alt.TopLevelMixin) -> int:
    """How many data rows a chart embeds, over all its datasets and inline values."""
    spec = chart.to_dict()
    rows = sum(len(values) for values in spec.get("datasets", {}).values())
    return rows + _inline_rows(spec)


def _inline_rows(node: Any) -> int:
    if isinstance(node, dict):
        data = node.get("data")
        own = len(data["values"]) if isinstance(data, dict) and "values" in data else 0
        return own + sum(_inline_rows(v) for k, v in node.items() if k != "datasets")
    if isinstance(node, list):
        return sum(_inline_rows(v) for v in node)
    return 0


def _per_partition(run: Any, build, budget: int, title: str | list[str]) -> alt.TopLevelMixin:
    """One chart per partition, stacked under one title; the row budget is shared."""
    parts = cd.partitions_of(run)
    if len(parts) == 1:
        return build(run, parts[0], budget, title)
    share = max(1, budget // len(parts))
    charts = [build(run, p, share, f"partition {p}") for p in parts]
    return alt.vconcat(*charts).properties(title=title)


def _bugs_label(run: Any) -> str:
    bugs = run.scenario.bugs
    if bugs is None or bugs == ():
        return "no bugs"
    return bugs if isinstance(bugs, str) else "+".join(bugs)


# -- segment map ----------------------------------------------------------------------------


def segment_map(run: Any, max_rows: int = MAX_ROWS) -> alt.TopLevelMixin:
    """Each segment's offset range over the steps of the run (green: fetch can see it, red: it
    cannot), the buffer's offset range (grey band), the high watermark and the log end offset.

    Where the buffer band and a segment overlap, the same offsets are served from two places --
    the "overlapping ranges" of chronik's notes.
    """
    title = f"Segments, buffer and offsets over steps ({_bugs_label(run)})"
    return _per_partition(run, _segment_map_one, max_rows, title)


def _segment_map_one(run: Any, partition: int, budget: int, title: str) -> alt.LayerChart:
    segments = cd.segment_spans(run, partition, budget * 2 // 5)
    _, ranges = cd.buffer_spans(run, partition, budget // 5)
    lines = cd.offset_lines(run, partition, budget * 3 // 10)
    fetches = _steps(run, partition, "fetch_response", budget // 10)
    if len(fetches) > MAX_FETCH_RULES:  # thousands of polls would grey the whole plot out
        fetches = fetches.iloc[:0]
    segments["what"] = segments["visible"].map({True: SEG_VISIBLE, False: SEG_INVISIBLE})
    ranges["what"] = BUFFER
    lines["what"] = lines["measure"].map(MEASURE_NAMES)
    fetches["what"] = FETCH
    color = alt.Color("what:N", scale=MAP_COLORS, title=None)
    x_scale = alt.Scale(domain=[0, cd.run_end(run)], nice=False)
    seg = (
        alt.Chart(segments)
        .mark_rect(opacity=0.5, strokeWidth=1.5)
        .encode(
            x=alt.X("step_start:Q", title="step", scale=x_scale),
            x2="step_end:Q",
            y=alt.Y("base_offset:Q", title="offset"),
            y2="end_offset:Q",
            color=color,
            tooltip=[
                "what:N",
                "base_offset:Q",
                "end_offset:Q",
                "record_count:Q",
                "sealed:N",
                "step:N",
                "step_start:Q",
            ],
        )
    )
    # Drawn over the segments, hatched by its dashed outline: where both cover an offset,
    # fetch can serve it twice.
    band = (
        alt.Chart(ranges)
        .mark_rect(opacity=0.3, strokeDash=[4, 3], strokeWidth=1.5, stroke="#4a4a4a")
        .encode(
            x="step_start:Q",
            x2="step_end:Q",
            y="offset_start:Q",
            y2="offset_end:Q",
            color=color,
            tooltip=[
                "what:N",
                alt.Tooltip("offset_start:Q", title="from offset"),
                alt.Tooltip("offset_end:Q", title="to offset (excl.)"),
                "step_start:Q",
            ],
        )
    )
    rules = (
        alt.Chart(fetches)
        .mark_rule(strokeDash=[2, 2])
        .encode(x="step_index:Q", color=color, tooltip=["what:N", "step_index:Q", "detail:N"])
    )
    watermarks = (
        alt.Chart(lines)
        .mark_line(interpolate="step-after", strokeWidth=2.5)
        .encode(
            x="step_index:Q",
            y="value:Q",
            color=color,
            strokeDash=alt.StrokeDash("what:N", legend=None),
            tooltip=["what:N", "value:Q", "step_index:Q"],
        )
    )
    layer = alt.layer(seg, band, rules, watermarks)
    return layer.properties(width=WIDTH, height=HEIGHT, title=title)


def _steps(run: Any, partition: int, step: str, budget: int) -> pd.DataFrame:
    """The trace rows of one kind of step in one partition: step_index, source, detail, count."""
    trace = run.trace
    rows = trace[
        (trace["step"] == step).to_numpy(bool) & (trace["partition"] == partition).to_numpy(bool)
    ]
    out = pd.DataFrame(
        {
            "step_index": rows["step_index"].to_numpy("int64"),
            "source": rows["source"].astype(object).fillna("produce").to_numpy(object),
            "detail": rows["detail"].astype(object).to_numpy(object),
            "count": rows["count"].to_numpy("int64"),
        }
    )
    return fit_rows(out, budget)


# -- buffer contents ------------------------------------------------------------------------


def buffer_contents(run: Any, max_rows: int = MAX_ROWS) -> alt.TopLevelMixin:
    """Step x offset: how many times each offset is in the fetch-side buffer after each step.

    With a correct buffer every cell is 1; the v0.7.5 flush, which put every pending record
    into the buffer again, turns them 2. Ticks under the plot mark the update_buffer steps,
    coloured by who called it (produce or flush). Big runs: cells are offset bins showing
    the maximum multiplicity inside them.
    """
    title = f"Buffer contents: multiplicity of each offset ({_bugs_label(run)})"
    return _per_partition(run, _buffer_contents_one, max_rows, title)


def _buffer_contents_one(run: Any, partition: int, budget: int, title: str) -> alt.VConcatChart:
    spans, _ = cd.buffer_spans(run, partition, budget * 4 // 5)
    updates = _steps(run, partition, "update_buffer", budget // 5)
    x_scale = alt.Scale(domain=[0, cd.run_end(run)], nice=False)
    heat = (
        alt.Chart(spans)
        .mark_rect(stroke="white", strokeWidth=0.5)
        .encode(
            x=alt.X("step_start:Q", title=None, scale=x_scale),
            x2="step_end:Q",
            y=alt.Y("offset_start:Q", title="offset"),
            y2="offset_end:Q",
            color=alt.Color("multiplicity:O", scale=_copies_scale(spans), title="copies in buffer"),
            tooltip=[
                "offset_start:Q",
                "offset_end:Q",
                "multiplicity:Q",
                "binned:N",
                "step:N",
                "step_start:Q",
                "step_end:Q",
            ],
        )
        .properties(width=WIDTH, height=HEIGHT, title=title)
    )
    ticks = (
        alt.Chart(updates)
        .mark_tick(thickness=2, size=14)
        .encode(
            x=alt.X("step_index:Q", title="step", scale=x_scale),
            y=alt.Y("source:N", title="update_buffer"),
            color=alt.Color(
                "source:N",
                scale=alt.Scale(domain=["produce", "flush"], range=["#4c78a8", "#e45756"]),
                title="update_buffer from",
            ),
            tooltip=["step_index:Q", "source:N", "detail:N", "count:Q"],
        )
        .properties(width=WIDTH)
    )
    return alt.vconcat(heat, ticks).resolve_scale(color="independent", x="shared")


def _copies_scale(spans: pd.DataFrame) -> alt.Scale:
    domain = sorted(int(m) for m in spans["multiplicity"].unique()) or [1]
    return alt.Scale(domain=domain, range=[COPIES[min(m, len(COPIES)) - 1] for m in domain])


# -- received vs sent -----------------------------------------------------------------------


def received_vs_sent(
    run: Any, max_rows: int = MAX_ROWS, compact: bool = False, title: str | list[str] | None = None
) -> alt.TopLevelMixin:
    """Client offset (x) against message id (y) for every received record: blue the first time
    an id arrives, orange again; red crosses for sent ids never received (at the offset the
    producer was given). Bands: the runs of the pattern table, labelled "offsets ↦ ids".
    `compact`: a smaller panel without band labels, for side-by-side use."""
    if title is None:
        title = f"Received vs sent ({_bugs_label(run)}): {_outcome(run)}"

    def build(r: Any, p: int, budget: int, t: str) -> alt.LayerChart:
        return _received_one(r, p, budget, t, compact)

    return _per_partition(run, build, max_rows, title)


def _outcome(run: Any) -> str:
    sent = len(run.sent)
    o = outcome(run.received["message_id"].to_numpy(), sent)
    return (
        f"{sent:,} sent, {o['received']:,} received, {o['duplicates']:,} duplicates, "
        f"{o['lost']:,} lost"
    )


def _received_one(run: Any, partition: int, budget: int, title: str, compact: bool):
    points = cd.received_points(run, partition, budget * 3 // 5)
    lost = cd.lost_points(run, partition, budget // 5)
    bands = _bands(run, partition, budget // 5)
    size = (WIDTH // 2 if compact else WIDTH), (HEIGHT * 4 // 5 if compact else HEIGHT)
    x = alt.X("offset:Q", title="offset (as the client saw it)", scale=alt.Scale(nice=False))
    y = alt.Y("message_id:Q", title="message id")
    layers = []
    if len(bands):
        layers.append(
            alt.Chart(bands)
            .mark_rect(color="#888888")
            .encode(
                x=alt.X("band_start:Q"),
                x2="band_end:Q",
                opacity=alt.Opacity("band:N", scale=alt.Scale(range=[0.07, 0.17]), legend=None),
                tooltip=["label:N", "count:Q"],
            )
        )
        if not compact and len(bands) <= MAX_BAND_LABELS:  # more would overprint each other
            layers.append(
                alt.Chart(bands)
                .mark_text(baseline="top", dy=4, fontSize=11, font="sans-serif")
                .encode(x=alt.X("middle:Q"), y=alt.value(0), text="label:N")
            )
    # One scale for received and lost records, so the legend is one list: first, duplicate, lost.
    color = alt.Color("status:N", scale=STATUS, title="record")
    shape = alt.Shape("status:N", scale=SHAPES, title="record")
    if "count" in points:  # a big run: a grid of cells, not single records
        layers.append(
            alt.Chart(points)
            .mark_rect()
            .encode(
                x=x,
                x2="offset_end:Q",
                y=y,
                y2="id_end:Q",
                color=color,
                opacity=alt.Opacity("count:Q", legend=None),
                tooltip=["offset:Q", "message_id:Q", "count:Q", "duplicates:Q"],
            )
        )
    else:
        layers.append(
            alt.Chart(points)
            .mark_point(filled=True, size=30 if compact else 60, opacity=0.9)
            .encode(
                x=x, y=y, color=color, shape=shape, tooltip=["offset:Q", "message_id:Q", "status:N"]
            )
        )
    lost_layer = (
        alt.Chart(lost)
        .mark_point(filled=True, size=40 if compact else 70)
        .encode(
            x=x,
            y=y,
            color=color,
            shape=shape,
            tooltip=["message_id:Q", alt.Tooltip("offset:Q", title="offset the producer got")],
        )
    )
    layers.append(lost_layer)
    return alt.layer(*layers).properties(width=size[0], height=size[1], title=title)


def _bands(run: Any, partition: int, budget: int) -> pd.DataFrame:
    if getattr(run, "report", None) is None:  # a run without a check has no pattern table
        return pd.DataFrame()
    bands = cd.pattern_bands(run, partition, budget)
    if bands.empty:
        return bands
    return bands.assign(
        band_start=bands["offset_start"] - 0.5,
        band_end=bands["offset_end"] + 0.5,
        middle=(bands["offset_start"] + bands["offset_end"]) / 2,
    )


# -- before / after -------------------------------------------------------------------------


def before_after(runs: Mapping[str, Any], max_rows: int = MAX_ROWS) -> alt.HConcatChart:
    """The same workload under several broker versions, side by side (compact received vs
    sent, one per version, sharing the message-id axis)."""
    if not isinstance(runs, Mapping) or not runs:
        raise InvalidArgumentError("before_after needs a non-empty dict of label -> Run")
    share = max(1, max_rows // len(runs))
    charts = []
    for label, run in runs.items():
        charts.append(received_vs_sent(run, share, True, title=[str(label), _outcome(run)]))
    return alt.hconcat(*charts).resolve_scale(y="shared")
