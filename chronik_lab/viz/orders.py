"""Jepsen's "orders" view of one partition: one row per operation (in the order they happened),
one column per offset, the value (message id) an operation wrote or read in each cell, coloured
by the operation's type (ok / info / fail). A value written twice shows as the same number in
two columns; a send whose offset is unknown (info, fail) sits in the last column, "none".

Input (notebook/faults.py builds it): one row per cell with `row` (the operation's label, e.g.
"op 21 producer-0 send"), `order` (the row's place), `offset` (int, or None), `value`, `type`,
and `anomalous` (the value is part of an anomaly: drawn with a dark outline).
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from chronik_lab.viz.style import compose, tips, titled

__all__ = ["orders"]

TYPES = alt.Scale(domain=["ok", "info", "fail"], range=["#9ecae9", "#fdd49e", "#fc9272"])
NONE = "none"
CELL = 24


def orders(
    cells: pd.DataFrame,
    title: str = "Orders: operations by offset",
    subtitle: str | list[str] | None = None,
) -> alt.LayerChart:
    """The grid (see the module doc)."""
    data = cells.copy()
    data["column"] = [NONE if pd.isna(o) else str(int(o)) for o in data["offset"]]
    numbers = sorted({int(o) for o in data["offset"].dropna()})
    columns = [str(o) for o in numbers] + ([NONE] if (data["column"] == NONE).any() else [])
    rows = data.sort_values("order")["row"].drop_duplicates().tolist()
    base = alt.Chart(data).encode(
        x=alt.X("column:O", sort=columns, title="offset", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("row:O", sort=rows, title=None),
    )
    rect = base.mark_rect(stroke="white").encode(
        color=alt.Color("type:N", scale=TYPES, title="operation"),
        tooltip=tips("row:N", "column:N", "value:Q", "type:N"),
    )
    outline = base.transform_filter("datum.anomalous").mark_rect(
        fill=None, stroke="#222222", strokeWidth=1.5
    )
    text = base.mark_text(fontSize=10).encode(text=alt.Text("value:Q"))
    return compose(
        "layer",
        [rect, outline, text],
        title=titled(title, subtitle),
        width=max(CELL * 4, CELL * len(columns)),
        height=max(CELL * 2, CELL * len(rows)),
    )
