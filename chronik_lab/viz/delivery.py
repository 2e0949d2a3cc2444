"""Received vs sent: what the consumer got, against what the producer sent; and the same
workload under several versions side by side.

A received record has an offset the client saw and a message id: a point (or, past the budget,
a cell of an offset x id grid: complete, aggregated). A lost record never had a client offset,
so it is not drawn against one: lost ids get their own lane beside the plot, sharing its
message-id axis.
"""

from __future__ import annotations

from collections.abc import Mapping

import altair as alt
import pandas as pd

from chronik_lab.checker.counts import outcome, outcome_sentence
from chronik_lab.errors import InvalidArgumentError
from chronik_lab.sim.tables import CheckedTables, RunTables
from chronik_lab.viz import chartdata as cd
from chronik_lab.viz.style import (
    HEIGHT,
    WIDTH,
    bugs_label,
    compose,
    number_format,
    per_partition,
    resolved,
    tips,
    titled,
)

__all__ = ["before_after", "received_vs_sent"]

MAX_BAND_LABELS = 8
STATUS = alt.Scale(
    domain=["first", "duplicate", "redelivered", "lost"],
    range=["#4c78a8", "#f58518", "#b279a2", "#e45756"],
)
SHAPES = alt.Scale(
    domain=["first", "duplicate", "redelivered", "lost"],
    range=["circle", "circle", "circle", "cross"],
)
LANE_WIDTH = 56
PAD = 0.02  # of an axis's span, kept free at each end so that no point sits on the frame


def received_vs_sent(
    run: CheckedTables,
    max_rows: int = cd.MAX_ROWS,
    compact: bool = False,
    title: str | list[str] | None = None,
    x_domain: tuple[float, float] | None = None,
) -> alt.TopLevelMixin:
    """Client offset (x) against message id (y) for every received record: blue the first time
    an id arrives, orange again; beside it, a lane of the ids sent and never received (red
    crosses). Bands: the runs of the pattern table, labelled "offsets ↦ ids". `compact`: a
    smaller panel, for side-by-side use; `x_domain`: a fixed offset axis (shared by panels)."""
    if title is None:
        title = f"Received vs sent ({bugs_label(run)}): {outcome_text(run)}"

    def build(r: RunTables, p: int, budget: int, t: str) -> alt.TopLevelMixin:
        return _received_one(r, p, budget, t, compact, x_domain)  # type: ignore[arg-type]

    return per_partition(run, build, max_rows, title)


def outcome_text(run: RunTables) -> str:
    """The run's `outcome_sentence`: '10 sent, 20 received: 10 duplicated'."""
    sent = len(run.sent)
    return outcome_sentence(
        sent, outcome(run.received, sent)
    )  # by offset: a re-read is no duplicate


def _received_one(
    run: CheckedTables,
    partition: int,
    budget: int,
    title: str | list[str],
    compact: bool,
    x_domain: tuple[float, float] | None,
) -> alt.HConcatChart:
    points = cd.received_points(run, partition, budget * 3 // 5)
    lost = cd.lost_points(run, partition, budget // 5)
    bands = _bands(run, partition, budget // 5)
    width, height = (WIDTH // 2, HEIGHT * 4 // 5) if compact else (WIDTH, HEIGHT)
    ids = _id_domain(run, partition)
    if x_domain is None:
        x_domain = offset_domain([run])
    x = alt.X(
        "offset:Q",
        title="offset (as the client saw it)",
        scale=alt.Scale(domain=list(x_domain), nice=False, zero=False),
        axis=alt.Axis(format=number_format(x_domain[1]), tickMinStep=1, labelOverlap=True),
    )
    y = alt.Y(
        "message_id:Q",
        title="message id",
        scale=alt.Scale(domain=ids, nice=False, zero=False),
        axis=alt.Axis(format=number_format(ids[1]), tickMinStep=1),
    )
    color = alt.Color("status:N", scale=STATUS, title="record")
    shape = alt.Shape("status:N", scale=SHAPES, title="record")
    layers = _band_layers(bands, compact, width)
    grid = "count" in points
    if grid:  # a big run: a grid of cells, each counting its records
        layers.append(
            alt.Chart(points)
            .mark_rect()
            .encode(
                x=x,
                x2=alt.X2("offset_end:Q"),
                y=y,
                y2=alt.Y2("id_end:Q"),
                color=color,
                opacity=alt.Opacity("count:Q", legend=None),
                tooltip=tips("offset:Q", "message_id:Q", "count:Q", "duplicates:Q"),
            )
        )
    else:
        # A re-read lands exactly on its first receipt: drawn first, as a larger ring, it
        # shows around that point instead of hiding it.
        small = 30 if compact else 60
        again = points["status"] == "redelivered"
        tooltip = tips("offset:Q", "message_id:Q", "status:N")
        if again.any():
            layers.append(
                alt.Chart(points[again])
                .mark_point(filled=False, size=small * 3, strokeWidth=2)
                .encode(x=x, y=y, color=color, shape=shape, tooltip=tooltip)
            )
        layers.append(
            alt.Chart(points[~again])
            .mark_point(filled=True, size=small, opacity=0.9)
            .encode(x=x, y=y, color=color, shape=shape, tooltip=tooltip)
        )
    if points.empty:  # say it where the points would be
        note = pd.DataFrame({"text": ["nothing received"]})
        layers.append(
            alt.Chart(note).mark_text(fontSize=13, color="#666666").encode(text=alt.Text("text:N"))
        )
    plot = compose("layer", layers, width=width, height=height)
    lane_y = alt.Y("message_id:Q", scale=alt.Scale(domain=ids, nice=False, zero=False), axis=None)
    lane = _lost_lane(lost, lane_y, color, shape, height, compact)
    notes = []
    if grid:
        notes.append("each cell counts the records of a block of offsets × ids")
    if bands is None:
        notes.append("pattern bands left out: too many runs to draw")
    head = titled(title, notes or None)
    return compose("hconcat", [plot, lane], spacing=6, resolve=resolved(y="shared"), title=head)


def offset_domain(runs: list[RunTables]) -> tuple[float, float]:
    """The client-offset axis of one or several panels: the received offsets, from 0 unless
    they all lie further from 0 than they spread (6 records at offsets 994-999 fill the panel
    instead of its last half percent), with a margin so that no point sits on the frame. With
    nothing received, the offsets the messages sent would have had (an axis of whole numbers)."""
    got = [r.received["offset"] for r in runs if len(r.received)]
    if not got:
        return _padded(0.0, max([*(float(len(r.sent)) - 1 for r in runs), 0.0]))
    lo = min(float(offsets.min()) for offsets in got)
    hi = max(float(offsets.max()) for offsets in got)
    return _padded(0.0 if lo <= hi - lo else lo, hi)


def _id_domain(run: RunTables, partition: int) -> list[float]:
    sent = run.sent[(run.sent["partition"] == partition).to_numpy(bool)]["message_id"]
    rec = run.received[(run.received["partition"] == partition).to_numpy(bool)]["message_id"]
    both = pd.concat([sent, rec])
    if both.empty:
        return list(_padded(0.0, 0.0))
    return list(_padded(float(both.min()), float(both.max())))


def _padded(lo: float, hi: float) -> tuple[float, float]:
    """A domain from lo to hi with room for a point's mark at either end: half a unit, or 2%
    of the span on a long axis (where half a unit is less than a pixel)."""
    pad = max(0.5, (hi - lo) * PAD)
    return (lo - pad, hi + pad)


def _lost_lane(
    lost: pd.DataFrame, y: alt.Y, color: alt.Color, shape: alt.Shape, height: int, compact: bool
):
    """The ids sent and never received, in a lane of their own (they have no client offset)."""
    n = int(lost["count"].sum()) if "count" in lost else len(lost)
    x = alt.X("lane:N", title=None, axis=alt.Axis(labelAngle=0))
    data = lost.assign(lane="lost")
    if "count" in lost:
        marks = (
            alt.Chart(data)
            .mark_rect()
            .encode(
                x=x,
                y=y,
                y2=alt.Y2("id_end:Q"),
                color=color,
                tooltip=tips("message_id:Q", "count:Q"),
            )
        )
    else:
        marks = (
            alt.Chart(data)
            .mark_point(filled=True, size=40 if compact else 70)
            .encode(
                x=x,
                y=y,
                color=color,
                shape=shape,
                tooltip=tips(
                    "message_id:Q", alt.Tooltip("offset:Q", title="offset the producer got")
                ),
            )
        )
    return marks.properties(width=LANE_WIDTH, height=height, title=f"lost: {n:,}")


def _band_layers(bands: pd.DataFrame | None, compact: bool, width: int) -> list[alt.Chart]:
    if bands is None or bands.empty:
        return []
    layers = [
        alt.Chart(bands)
        .mark_rect(color="#888888")
        .encode(
            x=alt.X("band_start:Q"),
            x2=alt.X2("band_end:Q"),
            opacity=alt.Opacity("band:N", scale=alt.Scale(range=[0.07, 0.17]), legend=None),
            tooltip=tips("label:N", "count:Q"),
        )
    ]
    room = width / max(1, len(bands))  # pixels per band: a label needs about 60
    if len(bands) <= MAX_BAND_LABELS and room >= (45 if compact else 60):
        layers.append(
            alt.Chart(bands)
            .mark_text(baseline="top", dy=4, fontSize=9 if compact else 11, font="sans-serif")
            .encode(x=alt.X("middle:Q"), y=alt.YValue(0), text=alt.Text("label:N"))
        )
    return layers


def _bands(run: CheckedTables, partition: int, budget: int) -> pd.DataFrame | None:
    """The pattern's bands; an empty table without a check, None when there are too many."""
    if getattr(run, "report", None) is None:  # a run without a check has no pattern table
        return pd.DataFrame()
    bands = cd.pattern_bands(run, partition, budget)
    if bands.empty:
        pattern = run.report.pattern
        return None if (pattern["partition"] == partition).any() else bands
    return bands.assign(
        band_start=bands["offset_start"] - 0.5,
        band_end=bands["offset_end"] + 0.5,
        middle=(bands["offset_start"] + bands["offset_end"]) / 2,
    )


# -- before / after -------------------------------------------------------------------------


def before_after(
    runs: Mapping[str, CheckedTables], max_rows: int = cd.MAX_ROWS
) -> alt.HConcatChart | alt.VConcatChart:
    """The same workload under several broker versions (compact received vs sent, one panel
    per version), on one offset axis and one message-id axis: side by side, or in rows of
    `PANELS_PER_ROW` when there are more (four panels in a row are wider than a page)."""
    if not isinstance(runs, Mapping) or not runs:
        raise InvalidArgumentError("before_after needs a non-empty dict of label -> Run")
    share = max(1, max_rows // len(runs))
    domain = offset_domain(list(runs.values()))
    charts = [
        received_vs_sent(run, share, True, title=[str(label), outcome_text(run)], x_domain=domain)
        for label, run in runs.items()
    ]
    if len(charts) <= PANELS_PER_ROW:
        return compose("hconcat", charts, resolve=resolved(y="shared"))
    rows = [charts[i : i + PANELS_PER_ROW] for i in range(0, len(charts), PANELS_PER_ROW)]
    return compose(
        "vconcat", [compose("hconcat", row) for row in rows], resolve=resolved(y="shared")
    )


PANELS_PER_ROW = 2  # a compact panel and its lost lane are about 420 px wide
