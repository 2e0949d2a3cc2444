"""A run under faults along time: the faults as bands, acknowledged sends and records read per
interval, and the duplicates and losses placed at the time of the send that made them.

Input tables (notebook/faults.py builds them from a recording; this module reads no recording):
- `sent`: `completed_s` and `type` per send;
- `received`: `time_s` and `final` per record read (the final read is drawn apart: it happens
  after the faults healed);
- `intervals`: `start_s`, `end_s`, `kind` per fault (an instant has start == end);
- `anomalies`: `time_s`, `type` ("duplicate" | "lost" | ...), `message_id`, `cause`.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from chronik_lab.viz.style import WIDTH, compose, resolved, tips, titled

__all__ = ["fault_timeline"]

BINS = 40
SERIES = alt.Scale(
    domain=["acknowledged sends", "records read", "records read (final)"],
    range=["#4c78a8", "#54a24b", "#9d9d9d"],
)
ANOMALY = alt.Scale(domain=["duplicate", "lost"], range=["#f58518", "#e45756"])
FAULT_COLOR = "#e45756"
HEIGHT = 200
LANE_HEIGHT = 60


def fault_timeline(
    sent: pd.DataFrame,
    received: pd.DataFrame,
    intervals: pd.DataFrame,
    anomalies: pd.DataFrame,
    title: str = "Faults, acknowledged sends and reads over time",
    subtitle: str | list[str] | None = None,
) -> alt.VConcatChart:
    """Counts per interval above, a lane of anomalies below, fault bands across both."""
    end = _end(sent, received, intervals)
    width_s = end / BINS
    domain = [0.0, end]
    scale = alt.Scale(domain=domain, nice=False)
    x = alt.X("t:Q", title="seconds since the run began", scale=scale)
    counts = alt.Chart(_binned(sent, received, width_s)).mark_line(point=True).encode(
        x=x,
        y=alt.Y("count:Q", title=f"per {width_s:.2g} s"),
        color=alt.Color("series:N", scale=SERIES, title=None, legend=alt.Legend(orient="top")),
        tooltip=tips("series:N", alt.Tooltip("t:Q", format=".2f"), "count:Q"),
    )  # fmt: skip
    size = {"width": WIDTH, "height": HEIGHT}
    upper = compose("layer", [_bands(intervals, domain, label=True), counts], **size)
    lane = _anomaly_lane(anomalies, domain)
    size = {"width": WIDTH, "height": LANE_HEIGHT}
    lower = compose("layer", [_bands(intervals, domain, label=False), lane], **size)
    return compose(
        "vconcat",
        [upper, lower],
        spacing=4,
        resolve=resolved(color="independent"),
        title=titled(title, subtitle),
    )


def _end(sent: pd.DataFrame, received: pd.DataFrame, intervals: pd.DataFrame) -> float:
    times = [sent["completed_s"].max() if len(sent) else 0.0,
             received["time_s"].max() if len(received) else 0.0,
             intervals["end_s"].max() if len(intervals) else 0.0]  # fmt: skip
    return float(max(0.1, np.nanmax(times)) * 1.02)


def _binned(sent: pd.DataFrame, received: pd.DataFrame, width_s: float) -> pd.DataFrame:
    """Counts per interval of each series, zeros included (a gap is a fault's effect)."""
    series = {
        "acknowledged sends": sent.loc[sent["type"] == "ok", "completed_s"],
        "records read": received.loc[~received["final"].astype(bool), "time_s"],
        "records read (final)": received.loc[received["final"].astype(bool), "time_s"],
    }
    frames = []
    for name, times in series.items():
        if times.empty:
            continue
        bins = np.floor(times.to_numpy(float) / width_s).astype(int)
        counts = np.bincount(bins)
        frames.append(pd.DataFrame(
            {"series": name, "t": (np.arange(len(counts)) + 0.5) * width_s, "count": counts}
        ))  # fmt: skip
    return pd.concat(frames) if frames else pd.DataFrame(columns=["series", "t", "count"])


def _bands(intervals: pd.DataFrame, domain: list[float], label: bool) -> alt.LayerChart:
    """Each fault as a band from its start to its end; an instant gets a thin band."""
    least = (domain[1] - domain[0]) / 250
    bands = intervals.assign(
        t=intervals["start_s"],
        t2=np.maximum(intervals["end_s"], intervals["start_s"] + least),
    )
    base = alt.Chart(bands)
    rect = base.mark_rect(color=FAULT_COLOR, opacity=0.25).encode(
        x=alt.X("t:Q", scale=alt.Scale(domain=domain, nice=False)),
        x2=alt.X2("t2:Q"),
        tooltip=tips("kind:N", alt.Tooltip("start_s:Q", format=".3f"),
                     alt.Tooltip("end_s:Q", format=".3f")),
    )  # fmt: skip
    if not label:
        return alt.layer(rect)
    text = base.mark_text(
        align="left", baseline="top", dx=2, dy=2, fontSize=10, color=FAULT_COLOR
    ).encode(x=alt.X("t:Q"), y=alt.YValue(0), text=alt.Text("kind:N"))
    return alt.layer(rect, text)


def _anomaly_lane(anomalies: pd.DataFrame, domain: list[float]) -> alt.Chart:
    rows = anomalies if len(anomalies) else pd.DataFrame(
        {"time_s": [], "type": [], "message_id": [], "cause": []}
    )  # fmt: skip
    return alt.Chart(rows).mark_point(filled=True, size=60, opacity=0.8).encode(
        x=alt.X("time_s:Q", title=None, scale=alt.Scale(domain=domain, nice=False)),
        y=alt.Y("type:N", title=None, scale=alt.Scale(domain=ANOMALY.domain)),
        color=alt.Color("type:N", scale=ANOMALY, title="anomaly",
                        legend=alt.Legend(orient="bottom")),
        tooltip=tips("type:N", "message_id:Q", "cause:N", alt.Tooltip("time_s:Q", format=".3f")),
    )  # fmt: skip
