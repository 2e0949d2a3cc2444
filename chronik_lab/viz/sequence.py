"""The buffer as fetch reads it: the entries the buffer held at the consumer's first fetch, in
buffer order, at their position in the sequence a buffer-first fetch returns. Re-exported by
`chronik_lab.viz.charts`."""

from __future__ import annotations

import altair as alt
import pandas as pd

from chronik_lab.sim.tables import RunTables
from chronik_lab.viz import steps as st
from chronik_lab.viz.rows import MAX_ROWS
from chronik_lab.viz.style import (
    HEIGHT,
    WIDTH,
    bugs_label,
    compose,
    number_format,
    per_partition,
    tips,
    titled,
)

__all__ = ["buffer_sequence"]


def buffer_sequence(run: RunTables, max_rows: int = MAX_ROWS) -> alt.TopLevelMixin:
    """The buffer when the consumer first fetched, as the sequence a buffer-first fetch reads
    it: one bar per entry, in buffer order, at its position in that sequence (x) and the
    offsets it holds (y). Orange: an entry holding offsets an earlier one already holds -- the
    client receives them again. With a renumbering encoder, the position *is* the offset the
    client sees."""
    title = f"The buffer in the order fetch reads it ({bugs_label(run)})"
    return per_partition(run, _sequence_one, max_rows, title)


def _sequence_one(run: RunTables, partition: int, budget: int, title: str) -> alt.LayerChart:
    entries, what = st.buffer_order(run, partition, budget // 2)
    kinds = alt.Scale(domain=["first time", "again"], range=["#4c78a8", "#f58518"])
    entries = entries.assign(
        held=["again" if r else "first time" for r in entries["repeat"]],
        middle=(entries["position"] + entries["position_end"]) / 2,
        mid_offset=(entries["first_offset"] + entries["offset_end"]) / 2,
    )
    x = alt.X(
        "position:Q",
        title="position in the buffer (= the offset the client sees)",
        axis=alt.Axis(format=number_format(_top(entries, "position_end")), tickMinStep=1),
        scale=alt.Scale(nice=False),
    )
    bars = (
        alt.Chart(entries)
        # white edges part a few entries; hundreds of few-pixel entries would be all edge
        .mark_rect(stroke="white", strokeWidth=1 if len(entries) <= 60 else 0)
        .encode(
            x=x,
            x2=alt.X2("position_end:Q"),
            y=alt.Y(
                "first_offset:Q",
                title="offset stored",
                axis=alt.Axis(format=number_format(_top(entries, "offset_end")), tickMinStep=1),
                # the offsets held, not 0..them: a buffer of the last 1,000 records of a long run
                # would otherwise be a one-pixel line along the top
                scale=alt.Scale(zero=False, nice=False, domain=_held(entries)),
            ),
            y2=alt.Y2("offset_end:Q"),
            color=alt.Color("held:N", scale=kinds, title="offsets held"),
            tooltip=tips("label:N", "position:Q", "count:Q", "held:N"),
        )
    )
    layers = [bars]
    if 0 < len(entries) <= 30:
        layers.append(
            alt.Chart(entries)
            .mark_text(color="white", fontSize=10)
            .encode(x=alt.X("middle:Q"), y=alt.Y("mid_offset:Q"), text=alt.Text("label:N"))
        )
    if entries.empty:  # say it on the chart, not only in a table
        note = pd.DataFrame({"text": [what]})
        layers = [alt.Chart(note).mark_text(fontSize=13).encode(text=alt.Text("text:N"))]
    size = {"width": WIDTH, "height": HEIGHT * 2 // 3}
    return compose("layer", layers, **size, title=titled(title, what))


def _held(entries: pd.DataFrame) -> list[float] | alt.UndefinedType:
    if entries.empty:
        return alt.Undefined
    return [float(entries["first_offset"].min()), float(entries["offset_end"].max())]


def _top(df: pd.DataFrame, column: str) -> float:
    return float(df[column].max()) if len(df) else 0.0
