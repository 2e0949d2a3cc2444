"""Altair charts of a run: segments, buffer contents, the buffer as fetch reads it, received vs
sent, before/after, sweeps and explain grids.

Every builder takes a run's tables (`sim.tables.RunTables`; or several runs, or a table) and
returns an altair chart whose data, all layers together, stays within altair's 5,000-row limit
however big the run: chartdata.py and steps.py reduce the tables first (merging unchanged
steps, then sampling snapshots and binning offsets and steps). The limit itself is never raised
or disabled -- a chart that could not be drawn readably from 5,000 rows could not be read
either. A chart drawn from thinned snapshots says so in its subtitle.

Charts whose x axis is the step index carry lanes under the plot that name each step's event
(produce, flush, fetch; or update_buffer / mark_flushed), and a short run names every step on
the axis itself. Legends are drawn as small charts of the very marks they explain (a filled
square for a segment, a dashed outline for the buffer, solid / dashed / dotted lines), listing
only what the chart shows.

Charts render offline: notebooks call `render.use_renderer("auto")` once, in their first cell
(viz/render.py: interactive in JupyterLab, SVG under papermill, nothing loaded from a CDN).
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from chronik_lab.sim.tables import RunTables
from chronik_lab.viz import chartdata as cd
from chronik_lab.viz import steps as st
from chronik_lab.viz.delivery import before_after, received_vs_sent
from chronik_lab.viz.sequence import buffer_sequence
from chronik_lab.viz.style import (
    HEIGHT,
    WIDTH,
    bugs_label,
    compose,
    legend,
    number_format,
    per_partition,
    resolved,
    tips,
    titled,
)
from chronik_lab.viz.tablecharts import (
    combination_table,
    explain_chart,
    explain_grid,
    sweep_heatmap,
)

__all__ = [
    "MAX_ROWS",
    "before_after",
    "buffer_contents",
    "buffer_sequence",
    "chart_rows",
    "combination_table",
    "explain_chart",
    "explain_grid",
    "fit_rows",
    "received_vs_sent",
    "segment_map",
    "sweep_heatmap",
    "use_offline_renderer",
]

MAX_ROWS = cd.MAX_ROWS
fit_rows = cd.fit_rows

MAX_FETCH_RULES = 50
SEG_VISIBLE, SEG_INVISIBLE = "segment (fetch sees it)", "segment (invisible to fetch)"
BUFFER = "buffer (lowest to highest offset)"
HW, LEO, FETCH, CLEARED = "high watermark", "log end offset", "fetch", "mark_flushed"
FAULT = "fault (lost response, restart, crash, ...)"
MEASURES = {"high_watermark": HW, "log_end_offset": LEO}
COLORS = {
    SEG_VISIBLE: "#54a24b",
    SEG_INVISIBLE: "#e45756",
    BUFFER: "#4a4a4a",
    HW: "#4c78a8",
    LEO: "#b279a2",
    FETCH: "#333333",
    CLEARED: "#333333",
    FAULT: "#d62728",
}
DASHES = {HW: [1, 0], LEO: [6, 3], FETCH: [2, 3], CLEARED: [2, 3], BUFFER: [4, 3], FAULT: [1, 0]}
LANE_COLOR = "#8c8c8c"
LANE_ROWS = 300  # more rectangles than that in 640 px are specks: bin the steps instead
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
    spec = chart.to_dict(validate=False)  # counting needs no schema check (most of to_dict)
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


def _scale(domain: list[str]) -> alt.Scale:
    return alt.Scale(domain=domain, range=[COLORS[d] for d in domain])


def _step_axis(run: RunTables, partition: int, end: int, title: str) -> alt.Axis:
    """The step axis: every step named on a short run, else compact numbers ("100k")."""
    names = st.step_names(run, partition, end)
    if names and end <= 200:
        labels = [names.get(i, "") for i in range(end)]
        values = [i + 0.5 for i in sorted(names)]  # the middle of each step's column
        return alt.Axis(
            title=title,
            values=values,
            labelExpr=f"{labels!r}[floor(datum.value)]",
            labelAngle=-50,
            labelAlign="right",
            labelFontSize=9,
            labelOverlap=False,
        )
    return alt.Axis(title=title, format="~s", tickCount=8, labelOverlap=True)


def _lanes_chart(
    lanes: pd.DataFrame, domain: list[str], x_scale: alt.Scale, axis: alt.Axis
) -> alt.Chart:
    """Lanes naming each step's event, under a chart with the same x scale."""
    fields = ["lane:N", "what:N", "step_start:Q", "step_end:Q", "steps:Q"]
    fields += [c for c in ("detail:N", "count:Q") if c.split(":")[0] in lanes]
    return (
        alt.Chart(lanes)
        .mark_rect(color=LANE_COLOR, stroke="white", strokeWidth=0.5 if len(lanes) <= 100 else 0)
        .encode(
            x=alt.X("step_start:Q", scale=x_scale, axis=axis),
            x2=alt.X2("step_end:Q"),
            y=alt.Y("lane:N", sort=domain, scale=alt.Scale(domain=domain), title=None),
            tooltip=tips(*fields),
        )
        .properties(width=WIDTH, height=18 * len(domain))
    )


# -- segment map ----------------------------------------------------------------------------


def segment_map(run: RunTables, max_rows: int = MAX_ROWS) -> alt.TopLevelMixin:
    """Each segment's offset range over the steps of the run (green: fetch can see it, red: it
    cannot), the buffer's offset range (dashed outline), the high watermark (solid), the log end
    offset (dashed), each fetch (dotted); under it, lanes naming each step's event.

    Where the buffer's outline and a segment overlap, the same offsets are held in two places
    -- the "overlapping ranges" of chronik's notes.
    """
    title = f"Segments, buffer and offsets over the steps of the run ({bugs_label(run)})"
    return per_partition(run, _segment_map_one, max_rows, title)


def _segment_map_one(run: RunTables, partition: int, budget: int, title: str):
    segments = cd.segment_spans(run, partition, budget * 3 // 10)
    _, ranges = cd.buffer_spans(run, partition, budget // 5)
    lines = cd.offset_lines(run, partition, budget // 5)
    end = cd.run_end(run)
    fetches = _steps(run, partition, "fetch_response", budget // 10, end)
    lanes = st.event_lanes(run, partition, end, min(budget // 5, LANE_ROWS))
    if len(fetches) > MAX_FETCH_RULES:  # thousands of polls would grey the plot out: lanes say it
        fetches = fetches.iloc[:0]
    segments["what"] = segments["visible"].map({True: SEG_VISIBLE, False: SEG_INVISIBLE})
    lines["what"] = lines["measure"].map(MEASURES)
    x_scale = alt.Scale(domain=[0, end], nice=False)
    x = alt.X("step_start:Q", scale=x_scale, axis=alt.Axis(labels=False, title=None))
    top = max(float(segments["end_offset"].max()) if len(segments) else 0.0, _top(lines, "value"))
    y = alt.Y(
        "base_offset:Q", title="offset", axis=alt.Axis(format=number_format(top), tickMinStep=1)
    )
    shown = sorted(set(segments["what"]), key=list(COLORS).index)
    seg = (
        alt.Chart(segments)
        .mark_rect(opacity=0.5)
        .encode(
            x=x,
            x2=alt.X2("step_end:Q"),
            y=y,
            y2=alt.Y2("end_offset:Q"),
            color=alt.Color("what:N", scale=_scale(shown or [SEG_VISIBLE]), legend=None),
            tooltip=tips("what:N", "base_offset:Q", "end_offset:Q", "record_count:Q", "sealed:N"),
        )
    )
    # An outline only: a fill over a segment would mix into a colour no legend explains.
    band = (
        alt.Chart(ranges)
        .mark_rect(filled=False, strokeDash=DASHES[BUFFER], strokeWidth=1.5, color=COLORS[BUFFER])
        .encode(
            x=alt.X("step_start:Q"),
            x2=alt.X2("step_end:Q"),
            y=alt.Y("offset_start:Q"),
            y2=alt.Y2("offset_end:Q"),
            tooltip=tips(
                alt.Tooltip("offset_start:Q", title="buffer from offset"),
                alt.Tooltip("offset_end:Q", title="to offset (excl.)"),
                "step_start:Q",
            ),
        )
    )
    rules = (
        alt.Chart(fetches)
        .mark_rule(strokeDash=DASHES[FETCH], color=COLORS[FETCH])
        .encode(x=alt.X("step_index:Q"), tooltip=tips("step_index:Q", "detail:N"))
    )
    measures = [m for m in (HW, LEO) if m in set(lines["what"])]
    watermarks = (
        alt.Chart(lines)
        .mark_line(interpolate="step-after", strokeWidth=2.5)
        .encode(
            x=alt.X("step_index:Q"),
            y=alt.Y("value:Q"),
            color=alt.Color("what:N", scale=_scale(measures or [HW]), legend=None),
            strokeDash=alt.StrokeDash(
                "what:N",
                scale=alt.Scale(
                    domain=measures or [HW], range=[DASHES[m] for m in measures or [HW]]
                ),
                legend=None,
            ),
            tooltip=tips("what:N", "value:Q", "step_index:Q"),
        )
    )
    faults = st.fault_marks(run, partition, end)
    # The buffer's outline last: it often runs along the high watermark and log end lines, and
    # under them it could not be seen.
    layers = [seg, rules, watermarks, *_fault_layers(faults), band]
    independent = resolved(color="independent", strokeDash="independent")
    plot = compose("layer", layers, width=WIDTH, height=HEIGHT, resolve=independent)
    entries = [(s, "fill") for s in shown]
    entries += [(BUFFER, "outline")] if len(ranges) else []
    entries += [(m, "line") for m in measures] + ([(FETCH, "line")] if len(fetches) else [])
    entries += [(FAULT, "line")] if len(faults) else []
    axis = _step_axis(run, partition, end, "step (each step's event is named in the lanes)")
    lanes_chart = _lanes_chart(lanes, list(st.LANES), x_scale, axis)
    body = compose("vconcat", [plot, lanes_chart], spacing=4, resolve=resolved(color="independent"))
    notes = [st.coverage_note(run), _sampled(segments, "segment")]
    key = [body, legend(entries, COLORS, DASHES)]
    return compose("hconcat", key, resolve=independent, title=titled(title, _joined(notes)))


def _fault_layers(faults: pd.DataFrame) -> list[alt.Chart]:
    """A red rule at each fault's step, named at the top of the plot (none without faults)."""
    if faults.empty:
        return []
    base = alt.Chart(faults).encode(
        x=alt.X("step_index:Q"),
        tooltip=tips("fault:N", "step_index:Q", "detail:N"),
    )
    rule = base.mark_rule(color=COLORS[FAULT], strokeWidth=2)
    label = base.mark_text(
        color=COLORS[FAULT], align="left", baseline="top", dx=3, dy=2, angle=0, fontSize=10
    ).encode(y=alt.YValue(0), text=alt.Text("fault:N"))
    return [rule, label]


def _steps(run: RunTables, partition: int, step: str, budget: int, end: int) -> pd.DataFrame:
    """The trace rows of one kind of step in one partition before `end`: step_index, source,
    detail, count."""
    trace = run.trace
    rows = trace[
        (trace["step"] == step).to_numpy(bool)
        & (trace["partition"] == partition).to_numpy(bool)
        & (trace["step_index"] < end).to_numpy(bool)
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


def buffer_contents(run: RunTables, max_rows: int = MAX_ROWS) -> alt.TopLevelMixin:
    """Step x offset: how many times each offset is in the fetch-side buffer after each step.

    With a correct buffer every cell is 1; the v0.7.5 flush, which put every pending record
    into the buffer again, turns them 2. Dotted rules mark where `mark_flushed` cleared
    flushed records; lanes under the plot mark each update_buffer (by caller: produce or flush)
    and mark_flushed step. Big runs: cells are offset bins showing the maximum multiplicity
    inside them.
    """
    title = f"Buffer contents: copies of each offset after each step ({bugs_label(run)})"
    return per_partition(run, _buffer_contents_one, max_rows, title)


def _buffer_contents_one(run: RunTables, partition: int, budget: int, title: str):
    spans, _ = cd.buffer_spans(run, partition, budget * 3 // 5)
    end = cd.run_end(run)
    lanes = st.buffer_events(run, partition, end, min(budget // 5, LANE_ROWS))
    marks = _steps(run, partition, "mark_flushed", budget // 10, end)
    undrawn = len(marks) if len(marks) > MAX_FETCH_RULES else 0
    if undrawn:  # thousands of rules would grey the plot out: the lanes show them
        marks = marks.iloc[:0]
    x_scale = alt.Scale(domain=[0, end], nice=False)
    heat = (
        alt.Chart(spans)
        .mark_rect(stroke="white", strokeWidth=0.5 if len(spans) <= 200 else 0)
        .encode(
            x=alt.X("step_start:Q", scale=x_scale, axis=alt.Axis(labels=False, title=None)),
            x2=alt.X2("step_end:Q"),
            y=alt.Y(
                "offset_start:Q",
                title="offset",
                axis=alt.Axis(format=number_format(_top(spans, "offset_end")), tickMinStep=1),
            ),
            y2=alt.Y2("offset_end:Q"),
            color=alt.Color(
                "multiplicity:O",
                scale=_copies_scale(spans),
                legend=alt.Legend(title="copies in buffer", orient="right"),
            ),
            tooltip=tips(
                "offset_start:Q",
                alt.Tooltip("offset_end:Q", title="to offset (excl.)"),
                "multiplicity:Q",
                "binned:N",
                "step:N",
                "step_start:Q",
                "step_end:Q",
            ),
        )
    )
    cleared = (
        alt.Chart(marks)
        .mark_rule(strokeDash=DASHES[CLEARED], color=COLORS[CLEARED], strokeWidth=1.5)
        .encode(x=alt.X("step_index:Q"), tooltip=tips("step_index:Q", "detail:N"))
    )
    faults = st.fault_marks(run, partition, end)
    layers = [heat, cleared, *_fault_layers(faults)]
    plot = compose("layer", layers, width=WIDTH, height=HEIGHT)
    axis = _step_axis(run, partition, end, "step (the buffer's events are named in the lanes)")
    lanes_chart = _lanes_chart(lanes, list(st.BUFFER_LANES), x_scale, axis)
    shown = [(CLEARED, "line")] * bool(len(marks)) + [(FAULT, "line")] * bool(len(faults))
    notes = [st.coverage_note(run), _sampled(spans, "buffer")]
    if undrawn:
        notes.append(f"{undrawn:,} mark_flushed steps: too many to draw as lines (see the lanes)")
    if spans.attrs.get("cells"):
        sw, ow = spans.attrs["cells"]
        notes.append(
            f"each cell: {sw:,} steps × {ow:,} offsets, coloured by the most copies any "
            "snapshot in it held"
        )
    head = titled(title, _joined(notes))
    if not shown:
        return compose("vconcat", [plot, lanes_chart], spacing=4, title=head)
    body = compose("vconcat", [plot, lanes_chart], spacing=4)
    independent = resolved(color="independent", strokeDash="independent")
    return compose(
        "hconcat", [body, legend(shown, COLORS, DASHES)], resolve=independent, title=head
    )


def _sampled(spans: pd.DataFrame, what: str) -> str | None:
    """'120 of 50,000 buffer snapshots drawn, each until the next' when the data was thinned."""
    kept, total = spans.attrs.get("snapshots", (0, 0))
    if spans.attrs.get("sampled"):
        return f"an even sample of the {what} rows drawn (too many to draw each)"
    if kept >= total:
        return None
    return f"{kept:,} of {total:,} {what} snapshots drawn, each until the next drawn one"


def _joined(notes: list[str | None]) -> list[str] | None:
    kept = [n for n in notes if n]
    return kept or None


def _top(df: pd.DataFrame, column: str) -> float:
    return float(df[column].max()) if len(df) else 0.0


def _copies_scale(spans: pd.DataFrame) -> alt.Scale:
    domain = sorted(int(m) for m in spans["multiplicity"].unique()) or [1]
    return alt.Scale(domain=domain, range=[COPIES[min(m, len(COPIES)) - 1] for m in domain])
