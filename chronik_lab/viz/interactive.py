"""Linked, zoomable charts of one run: received vs sent, the buffer and the segment map.

`explore(run)` stacks three panels of one partition in one Vega-Lite spec, so selections made
in one panel light up the same records in the others (Vega-Lite selections need one spec):

- click a received record: it is `pick`ed (its message id and the broker's offset); every
  record with that message id stays bright in the received panel -- a duplicate shows its
  twin -- and the buffer and segment marks holding that broker offset are outlined;
- shift-drag over the buffer or segment panel: the `offsets` brush (a range of broker offsets);
  the received records whose broker offset falls inside stay bright, the others fade, and the
  buffer and segment marks overlapping it are outlined;
- drag to pan, wheel to zoom: the received panel along its offset axis, the buffer and segment
  panels together (one shared scale selection); double-click clears the selections.

Every mark has a tooltip: a received record shows the offset the client saw, the broker's offset,
its message id and the poll that returned it; a buffer or segment mark shows the offsets it
covers, the segment file holding them (its base offset, whether fetch sees it) and the step that
put the state there (update_buffer from produce or flush, mark_flushed, segment_write, fetch).

Big runs: the panels keep within chartdata.MAX_ROWS rows through chartdata's reductions
(records become an offset x id grid, buffer snapshots are sampled and offsets binned); a reduced
panel says "aggregated" in its title. Zooming in the browser magnifies those cells; to refine,
ask for the range: `explore(run, offsets=(lo, hi))` reduces only the records whose broker offset
is in lo..hi, so a narrow enough range draws every record again.

The spec is built on named datasets, so `explore_spec(run)` can re-fill a cached spec with a new
run's data without rebuilding the altair objects (the switchboard redraws that way).
"""

from __future__ import annotations

import copy
import functools
import json
import warnings
from typing import Any

import altair as alt
import pandas as pd

from chronik_lab.checker.counts import outcome, outcome_sentence
from chronik_lab.errors import InvalidArgumentError
from chronik_lab.viz import chartdata as cd
from chronik_lab.viz.explore_data import panel_data, restrict
from chronik_lab.viz.style import resolved, when

__all__ = ["DATASETS", "PARAMS", "explore", "explore_spec", "restrict"]

WIDTH, HEIGHT = 640, 220
LANE_WIDTH = 56  # the lane of lost ids beside the received panel, as in the static chart
DATASETS = ("received", "lost", "buffer", "segments", "fetches")
PARAMS = ("pick", "offsets", "zoom_received", "zoom_log")
STATUS = alt.Scale(
    domain=["first", "duplicate", "redelivered", "lost"],
    range=["#4c78a8", "#f58518", "#b279a2", "#e45756"],
)
SHAPES = alt.Scale(
    domain=["first", "duplicate", "redelivered", "lost"],
    range=["circle", "circle", "circle", "cross"],
)
COPIES = alt.Scale(
    domain=[1, 2, 3, 4, 5], range=["#9ecae9", "#f58518", "#e45756", "#b22222", "#6b0000"]
)
VISIBLE = alt.Scale(domain=[True, False], range=["#54a24b", "#e45756"])
# Shift belongs to the brush; plain drag and the wheel to the zoom (they would fight otherwise).
_BRUSH_ON = "[pointerdown[event.shiftKey], window:pointerup] > window:pointermove!"
_PAN_ON = "[pointerdown[!event.shiftKey], window:pointerup] > window:pointermove!"
_ZOOM_ON = "wheel![!event.shiftKey]"
# Selection signals resolve to {field: [values]} (point) or {field: [lo, hi]} (interval);
# an empty selection has no fields, hence the isValid guards.
_ACTIVE = "(isValid(offsets.lo) || isValid(pick.message_id))"
_IN_BRUSH = (
    "(isValid(offsets.lo) && datum.server_offset >= offsets.lo[0] "
    "&& datum.server_offset <= offsets.lo[1])"
)
_PICKED_ID = "(isValid(pick.message_id) && indexof(pick.message_id, datum.message_id) >= 0)"
_SPAN_HIT = (
    "((isValid(offsets.lo) && datum.hi > offsets.lo[0] && datum.lo <= offsets.lo[1]) || "
    "(isValid(pick.server_offset) && datum.lo <= pick.server_offset[0] "
    "&& pick.server_offset[0] < datum.hi))"
)
_INTEGER = alt.Axis(tickMinStep=1, format="d")


def explore(
    run: Any,
    partition: int | None = None,
    offsets: tuple[int, int] | None = None,
    max_rows: int = cd.MAX_ROWS,
) -> alt.VConcatChart:
    """The three linked panels of one partition (default: the first the run touched).

    `offsets=(lo, hi)`: only broker offsets lo..hi (inclusive), reduced on their own -- the way
    to see single records of a big run. The row budget is shared between the panels.
    """
    data, titles = _prepare(run, partition, offsets, max_rows)
    # A deep copy of the cached layout with this run's titles and data set on it: a third of
    # the cost of building it again (most of a build is altair validating the selections at
    # each composition level). The step axis stays part of the key: altair names each view by
    # hashing its encoding, the axis's domain included.
    chart = _layout("count" in data["received"], cd.run_end(run)).copy(deep=True)
    chart.title = titles[0]
    for panel, title in zip(chart.vconcat, titles[1:], strict=True):
        panel.title = title
    chart.datasets = {name: _records(df) for name, df in data.items()}
    return chart


def explore_spec(
    run: Any,
    partition: int | None = None,
    offsets: tuple[int, int] | None = None,
    max_rows: int = cd.MAX_ROWS,
) -> dict[str, Any]:
    """`explore(...).to_dict()`, fast: a cached spec of the same layout with this run's data
    and titles put in (no altair objects built or validated after the first call)."""
    data, titles = _prepare(run, partition, offsets, max_rows)
    aggregated = "count" in data["received"]
    spec = copy.deepcopy(_layout_spec(aggregated))
    for panel in spec["vconcat"][1:]:  # the step axes of the buffer and segment panels
        panel["layer"][0]["encoding"]["x"]["scale"]["domain"] = [0, cd.run_end(run)]
    spec["title"] = titles[0]
    for panel, title in zip(spec["vconcat"], titles[1:], strict=True):
        panel["title"] = title
    spec["datasets"] = {name: _records(df) for name, df in data.items()}
    return spec


def _prepare(run, partition, offsets, max_rows) -> tuple[dict[str, pd.DataFrame], list[str]]:
    parts = cd.partitions_of(run)
    p = parts[0] if partition is None else partition
    if p not in parts:
        raise InvalidArgumentError(f"partition {p!r} is not in this run (it has {parts})")
    if offsets is not None:
        run = restrict(run, *offsets)
    data, notes = panel_data(run, p, max_rows, offsets)
    bugs = _bugs_label(run)
    where = "" if offsets is None else f" (broker offsets {offsets[0]}..{offsets[1]})"
    titles = [
        f"{bugs}, partition {p}{where}: click a record, shift-drag offsets, drag/wheel to zoom",
        f"Received vs sent: {outcome_sentence(len(run.sent), outcome(run.received, len(run.sent)))}"
        + notes["received"],
        "Fetch-side buffer: copies of each broker offset over steps" + notes["buffer"],
        "Segments over steps (green: fetch sees it), fetches dotted"
        + notes["segments"]
        + notes["fetches"],
    ]
    return data, titles


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    # pandas' JSON writer turns numpy scalars, NA and NaN into plain JSON in one pass.
    return json.loads(df.to_json(orient="records"))


# -- layout: the spec, data-free --------------------------------------------------------------


@functools.cache
def _layout_spec(aggregated: bool) -> dict[str, Any]:
    """`_layout(aggregated, 1).to_dict()`, never changed (explore_spec changes deep copies)."""
    return _layout(aggregated, 1).to_dict()


@functools.lru_cache(maxsize=16)
def _layout(aggregated: bool, step_end: int) -> alt.VConcatChart:
    """The linked panels, with empty titles and no data; cached, so never changed (explore
    changes deep copies). Titles, sizes and resolves are constructor arguments (style.py says
    why)."""
    pick, brush, zoom_rec, zoom_log = _params()
    received = _received_panel(aggregated).add_params(pick, zoom_rec)
    buffer = _buffer_panel(step_end).add_params(brush, zoom_log)
    segments = _segment_panel(step_end).add_params(brush, zoom_log)
    # Lost ids never had a client offset: a lane of their own beside the received records,
    # sharing only the message-id axis (and one legend: a lost id is a cross in both).
    received_row = alt.hconcat(
        alt.layer(received, width=WIDTH, height=HEIGHT),
        _lost_lane().properties(width=LANE_WIDTH, height=HEIGHT, title="lost"),
        spacing=6,
        resolve=resolved(y="shared"),
        title="",
    )
    size = {"width": WIDTH, "height": HEIGHT}
    layers = [
        received_row,
        alt.layer(buffer, title="", **size),
        alt.layer(segments, _fetch_layer(), title="", **size),
    ]
    # The brush and the zoom are one selection over two panels; altair merges the two copies
    # into one top-level param (what we want) and warns that it did.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Automatically deduplicated", UserWarning)
        return alt.vconcat(
            *layers,
            title="",
            resolve=resolved(color="independent", shape="independent"),
        )


def _params() -> tuple[Any, ...]:
    pick = alt.selection_point(
        name="pick", fields=["message_id", "server_offset"], on="click", clear="dblclick",
        toggle=False,
    )  # fmt: skip
    brush = alt.selection_interval(
        name="offsets", encodings=["y"], on=_BRUSH_ON, clear="dblclick",
        mark=alt.BrushConfig(fill="#333333", fillOpacity=0.08, stroke="#333333"),
    )  # fmt: skip
    zoom_rec = alt.selection_interval(
        name="zoom_received", bind="scales", encodings=["x"], translate=_PAN_ON, zoom=_ZOOM_ON
    )
    zoom_log = alt.selection_interval(
        name="zoom_log", bind="scales", encodings=["x", "y"], translate=_PAN_ON, zoom=_ZOOM_ON
    )
    return pick, brush, zoom_rec, zoom_log


def _received_panel(aggregated: bool) -> alt.Chart:
    base = alt.Chart(alt.NamedData(name="received"))
    scale = alt.Scale(nice=False, zero=False, padding=8)  # a zoomed-in range starts far from 0
    x = alt.X("offset:Q", title="offset (as the client saw it)", axis=_INTEGER, scale=scale)
    y = alt.Y("message_id:Q", title="message id", axis=_INTEGER, scale=scale)
    color = alt.Color("status:N", scale=STATUS, title="record")
    shape = alt.Shape("status:N", scale=SHAPES, title="record")
    if aggregated:  # an offset x id grid: no single records to pick
        return base.mark_rect().encode(
            x=x, x2=alt.X2("offset_end:Q"), y=y, y2=alt.Y2("id_end:Q"), color=color,
            opacity=alt.Opacity("count:Q", legend=None),
            tooltip=_tips(
                ("offset:Q", "client offsets from"), ("offset_end:Q", "to (excl.)"),
                ("message_id:Q", "message ids from"), ("id_end:Q", "to (excl.)"),
                ("count:Q", "records (aggregated)"), ("duplicates:Q", "duplicates"),
            ),
        )  # fmt: skip
    bright = f"!{_ACTIVE} || {_IN_BRUSH} || {_PICKED_ID}"
    return base.mark_point(filled=True, size=70, strokeWidth=2).encode(
        x=x, y=y, color=color, shape=shape,
        opacity=when(alt.OpacityValue, bright, 0.95, 0.15),
        stroke=when(alt.StrokeValue, _PICKED_ID, "black", "transparent"),
        tooltip=_tips(
            ("offset:Q", "offset (client saw)"), ("server_offset:Q", "broker offset"),
            ("message_id:Q", "message id"), ("poll:Q", "poll"), ("status:N", "record"),
        ),
    )  # fmt: skip


def _lost_lane() -> alt.Chart:
    """The ids sent and never received, as crosses in a lane (an aggregated run's lost ids are
    grid cells: a cross at each cell's first id)."""
    return (
        alt.Chart(alt.NamedData(name="lost"))
        .transform_calculate(lane="'lost'")
        .mark_point(filled=True, size=90)
        .encode(
            x=alt.X("lane:N", title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("message_id:Q", title="message id", axis=None),
            color=alt.Color("status:N", scale=STATUS, title="record"),
            shape=alt.Shape("status:N", scale=SHAPES, title="record"),
            tooltip=_tips(
                ("message_id:Q", "message id (never received)"),
                ("server_offset:Q", "broker offset the producer got"),
                ("status:N", "record"),
            ),
        )
    )


def _buffer_panel(step_end: int) -> alt.Chart:
    color = alt.Color("multiplicity:O", scale=COPIES, title="copies in buffer")
    tips = (("multiplicity:Q", "copies in buffer"), ("binned:N", "binned"))
    return _span_panel("buffer", step_end, color, tips)


def _segment_panel(step_end: int) -> alt.Chart:
    color = alt.Color("visible:N", scale=VISIBLE, title="fetch sees it")
    tips = (("record_count:Q", "records"), ("sealed:N", "sealed"))
    return _span_panel("segments", step_end, color, tips, opacity=0.55)


def _span_panel(
    data: str, step_end: int, color: alt.Color, tips: tuple, opacity: float | None = None
) -> alt.Chart:
    """Offset ranges over steps (the buffer's or the segments'), outlined when they hold the
    picked record's broker offset."""
    mark = {} if opacity is None else {"opacity": opacity}
    return (
        alt.Chart(alt.NamedData(name=data))
        .mark_rect(**mark)
        .encode(
            x=_step_x(step_end),
            x2=alt.X2("step_end:Q"),
            y=alt.Y(
                "lo:Q",
                title="broker offset",
                axis=_INTEGER,
                scale=alt.Scale(nice=False, zero=False),
            ),
            y2=alt.Y2("hi:Q"),
            color=color,
            stroke=when(alt.StrokeValue, _SPAN_HIT, "black", "transparent"),
            strokeWidth=when(alt.StrokeWidthValue, _SPAN_HIT, 2, 0),
            tooltip=_span_tips(*tips),
        )
    )


def _fetch_layer() -> alt.Chart:
    return (
        alt.Chart(alt.NamedData(name="fetches"))
        .mark_rule(strokeDash=[2, 2], color="#333333")
        .encode(
            x=alt.X("step_index:Q"),
            tooltip=_tips(
                ("step_label:N", "step"),
                ("poll:Q", "poll"),
                ("fetch_offset:Q", "fetch from offset"),
                ("count:Q", "records returned"),
                ("step_index:Q", "step index"),
            ),
        )
    )


def _step_x(step_end: int) -> alt.X:
    # One step domain for both panels (the buffer may empty long before the run ends).
    scale = alt.Scale(domain=[0, step_end], nice=False)
    return alt.X("step_start:Q", title="step", axis=_INTEGER, scale=scale)


def _span_tips(*own: tuple[str, str]) -> list[alt.Tooltip]:
    return _tips(
        ("lo:Q", "broker offsets from"), ("hi:Q", "to (excl.)"), *own,
        ("segment_file:N", "segment file"), ("segment_base:Q", "segment base offset"),
        ("segment_visible:N", "segment visible to fetch"), ("step_label:N", "put there by"),
        ("step_start:Q", "from step"), ("step_end:Q", "until step"),
    )  # fmt: skip


def _tips(*fields: tuple[str, str]) -> list[alt.Tooltip]:
    return [alt.Tooltip(field, title=title) for field, title in fields]


def _bugs_label(run: Any) -> str:
    bugs = run.scenario.bugs
    if bugs is None or bugs == ():
        return "no bugs"
    if isinstance(bugs, str):
        return bugs
    return "+".join(bugs) if len(bugs) <= 2 else f"{len(bugs)} bug switches on"
