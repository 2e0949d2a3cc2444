"""The linked charts as a live widget whose aggregated data refines as you zoom.

`live(run)` is `interactive.explore(run)` in a JupyterChart (offline: vl-convert's bundle) with
one addition for runs too big to draw record by record: when the wheel or a drag settles on a
range of the received panel's client offsets, the kernel re-reduces only the records in that
range (`explore_spec(run, offsets=...)`, broker offsets of the records in view) and puts the new
spec in the same widget -- aggregated cells become single records once few enough are in view.
"whole run" goes back. A run small enough to draw whole never re-embeds (zoom is the browser's).

Needs a live kernel (the zoom reaches Python through the widget's comm); elsewhere use explore.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np

from chronik_lab.viz import chartdata as cd
from chronik_lab.viz import interactive, render

__all__ = ["LiveExplorer", "live"]

SETTLE_MS = 400  # the widget reports a zoom after this long without a wheel or drag event


def live(run: Any, partition: int | None = None, max_rows: int = cd.MAX_ROWS) -> LiveExplorer:
    """A widget of the linked charts of `run` that refines as you zoom (see the module doc)."""
    return LiveExplorer(run, partition, max_rows)


class LiveExplorer:
    """The widget (`.widget`: a VBox with the chart and a "whole run" button) and its state.

    `offsets` is the broker offset range shown (None: the whole run); `refinements` counts the
    re-embeds. Not thread-safe: one kernel drives it.
    """

    def __init__(self, run: Any, partition: int | None, max_rows: int) -> None:
        import ipywidgets as w

        self.run, self.partition, self.max_rows = run, partition, max_rows
        self.offsets: tuple[int, int] | None = None
        self.refinements = 0
        alt.JupyterChart.enable_offline(True)
        self.chart = alt.JupyterChart(
            interactive.explore(run, partition, max_rows=max_rows),
            embed_options=render.EMBED_OPTIONS,
            debounce_wait=SETTLE_MS,
            max_wait=False,  # report once the zoom settles, not while the wheel turns
        )
        self.chart.selections.observe(self._on_zoom, ["zoom_received"])
        self.reset_button = w.Button(description="whole run", tooltip="undo every refinement")
        self.reset_button.on_click(lambda _: self.show(None))
        self.widget = w.VBox([self.reset_button, self.chart])

    def aggregated(self) -> bool:
        """Whether the received panel now shows aggregated cells (so zooming can refine)."""
        rows = self.chart.spec["datasets"]["received"]
        return bool(rows) and "count" in rows[0]

    def _on_zoom(self, change: dict) -> None:
        value = getattr(change["new"], "value", None) or {}
        client = value.get("offset")
        if not client or not self.aggregated():  # an empty (reset) zoom, or nothing to refine
            return
        span = self.broker_range(float(client[0]), float(client[1]))
        if span is not None and span != self.offsets:
            self.show(span)

    def broker_range(self, lo: float, hi: float) -> tuple[int, int] | None:
        """The broker offsets of the received records whose client offset is in [lo, hi]."""
        rec = self.run.received
        part = self.partition if self.partition is not None else cd.partitions_of(self.run)[0]
        client = rec["offset"].to_numpy(np.int64)
        mask = (client >= lo) & (client <= hi) & (rec["partition"] == part).to_numpy(bool)
        if not mask.any():
            return None
        broker = rec["server_offset"].to_numpy(np.int64)[mask]
        return int(broker.min()), int(broker.max())

    def show(self, offsets: tuple[int, int] | None) -> None:
        """Draw broker offsets lo..hi (None: the whole run) in the same widget."""
        self.offsets = offsets
        self.refinements += offsets is not None
        self.chart.spec = interactive.explore_spec(self.run, self.partition, offsets, self.max_rows)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
