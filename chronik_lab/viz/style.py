"""What every chart shares: sizes, titles with a subtitle, one panel per partition, and
legends drawn from the marks they explain.

Vega-Lite draws a colour legend as squares (or as the symbols of the first layer) whatever the
marks are, and lists a scale's whole domain, seen or not. `legend` instead draws each entry with
the mark the chart uses for it -- a filled square, a dashed outline, a solid, dashed or dotted
line -- and only the entries the caller passes, i.e. those the chart shows.

Composed charts (layer, hconcat, vconcat) take their title, size, spacing and `resolved(...)`
scales as constructor arguments, never as `.properties()` / `.resolve_scale()` afterwards:
altair 6 rebuilds a composed chart for each of those calls, deep-copying every chart inside it,
and a copied composed chart copies its own subcharts again -- the cost compounds with nesting.
For the same reason charts without selections are composed with `compose`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import altair as alt
import pandas as pd

from chronik_lab.sim.tables import RunTables
from chronik_lab.viz import chartdata as cd

__all__ = [
    "HEIGHT",
    "WIDTH",
    "bugs_label",
    "compose",
    "legend",
    "number_format",
    "per_partition",
    "resolved",
    "tips",
    "titled",
    "when",
]

WIDTH, HEIGHT = 640, 280
V = TypeVar("V", bound=alt.SchemaBase)


def bugs_label(run: RunTables) -> str:
    bugs = run.scenario.bugs
    if bugs is None or bugs == ():
        return "no bugs"
    return bugs if isinstance(bugs, str) else "+".join(bugs)  # type: ignore[arg-type]


def number_format(top: float) -> str:
    """Axis labels: whole numbers with separators up to 10,000, then "100k" -- labels that
    neither show fractions nor run into each other."""
    return ",d" if top < 10_000 else "~s"


def titled(
    text: str | list[str], subtitle: str | list[str] | None
) -> alt.TitleParams | str | list[str]:
    """A title, with subtitle lines (in red: they qualify what the chart shows) if any."""
    if not subtitle:
        return text
    return alt.TitleParams(text=text, subtitle=subtitle, subtitleColor="#b22222", anchor="start")


def tips(*fields: str | alt.Tooltip) -> list[alt.Tooltip]:
    """A tooltip list: each "field:type" shorthand as its channel object (altair looks a string
    up through from_dict, ~2 ms each); a Tooltip (a title, a format) as it is."""
    return [alt.Tooltip(f) if isinstance(f, str) else f for f in fields]


def resolved(**scales: str) -> alt.Resolve:
    """`resolve=` of a composed chart: `resolved(color="independent")` is what
    `.resolve_scale(color="independent")` sets, without rebuilding the chart."""
    return alt.Resolve(scale=alt.ScaleResolveMap(**scales))


def when(channel: type[V], test: str, then: Any, otherwise: Any) -> V:
    """`alt.condition(test, alt.value(then), alt.value(otherwise))` as the channel object
    `encode` makes of it (`when(alt.OpacityValue, ...)`), built once per process: altair turns
    the dict `alt.condition` returns into a channel through from_dict, ~7 ms a call. The very
    object, not a hand-made equivalent, because a chart's view name hashes its channels' reprs."""
    return _conditional(channel, test, then, otherwise).copy()


@functools.lru_cache(maxsize=256, typed=True)
def _conditional(channel: type[V], test: str, then: Any, otherwise: Any) -> V:
    spec = {"condition": {"test": test, "value": then}, "value": otherwise}
    return channel.from_dict(spec, validate=False)


def compose(
    kind: str, charts: Sequence[alt.TopLevelMixin], **props: Any
) -> alt.LayerChart | alt.HConcatChart | alt.VConcatChart:
    """`alt.layer(*charts, **props)` (kind "layer"), `alt.hconcat(...)` or `alt.vconcat(...)`:
    the same spec.

    altair's constructor deep-copies every subchart to lift selections (and shared data; for a
    layer also the subcharts' sizes) to the top, and a copied composed chart copies its own
    subcharts again, so each level of nesting doubles the copies below it. For charts with none
    of those the copies are all it does, and to_dict lifts again on its own copy anyway: such
    charts are set as the attribute instead. Other charts go through the constructor."""
    cls = {"layer": alt.LayerChart, "hconcat": alt.HConcatChart, "vconcat": alt.VConcatChart}[kind]
    parts = list(charts)
    data = parts[0].data if parts else alt.Undefined
    shared = data is not alt.Undefined and all(c.data is data for c in parts)
    sized = kind == "layer" and any(
        c._get(k) is not alt.Undefined for c in parts for k in ("width", "height", "view")
    )
    if shared or sized or any(_selects(c) for c in parts):
        return cls(**{kind: parts}, **props)
    chart = cls(**props)
    setattr(chart, kind, parts)
    return chart


def _selects(chart: alt.SchemaBase) -> bool:
    """Whether a chart or any chart inside it has params (selections or variables)."""
    if chart._get("params") is not alt.Undefined:
        return True
    inner = [chart._get(k) for k in ("layer", "hconcat", "vconcat", "concat")]
    return any(_selects(c) for part in inner if isinstance(part, list) for c in part) or (
        isinstance(chart._get("spec"), alt.SchemaBase) and _selects(chart._get("spec"))
    )


def per_partition(
    run: RunTables,
    build: Callable[[RunTables, int, int, str], alt.TopLevelMixin],
    budget: int,
    title: str | list[str],
) -> alt.TopLevelMixin:
    """One chart per partition, stacked under one title; the row budget is shared."""
    parts = cd.partitions_of(run)
    if len(parts) == 1:
        return build(run, parts[0], budget, title)
    share = max(1, budget // len(parts))
    charts = [build(run, p, share, f"partition {p}") for p in parts]
    return compose("vconcat", charts, title=title)


def legend(
    entries: Sequence[tuple[str, str]],
    colors: Mapping[str, str],
    dashes: Mapping[str, list[int]],
) -> alt.LayerChart:
    """A legend as a small chart: (label, kind) entries, kind "fill" (a filled square, as a
    segment), "outline" (a dashed rectangle, as the buffer) or "line" (a line with the label's
    dash pattern)."""
    rows = pd.DataFrame(
        {
            "label": [label for label, _ in entries],
            "kind": [kind for _, kind in entries],
            "order": range(len(entries)),
        }
    )
    labels = rows["label"].tolist()
    y = alt.Y("label:N", sort=labels, axis=None, scale=alt.Scale(domain=labels))
    color = alt.Color(
        "label:N", scale=alt.Scale(domain=labels, range=[colors[x] for x in labels]), legend=None
    )
    dash = alt.StrokeDash(
        "label:N",
        scale=alt.Scale(domain=labels, range=[dashes.get(x, [1, 0]) for x in labels]),
        legend=None,
    )
    base = alt.Chart()  # the rows go on the layer, where altair would lift them to
    fill = (
        base.transform_filter(alt.datum.kind == "fill")
        .mark_rect(opacity=0.5, height=12)
        .encode(x=alt.XValue(2), x2=alt.X2Value(26), y=y, color=color)
    )
    # Vega-Lite drops a strokeDash encoding on rect marks: each outline is a layer of its own,
    # its dash a mark property, as the chart draws it.
    outlines = [
        base.transform_filter(alt.datum.label == label)
        .mark_rect(filled=False, strokeWidth=1.5, height=12, strokeDash=dashes.get(label, [1, 0]))
        .encode(x=alt.XValue(2), x2=alt.X2Value(26), y=y, color=color)
        for label, kind in entries
        if kind == "outline"
    ]
    line = (
        base.transform_filter(alt.datum.kind == "line")
        .mark_rule(strokeWidth=2.5)
        .encode(x=alt.XValue(2), x2=alt.X2Value(26), y=y, color=color, strokeDash=dash)
    )
    text = base.mark_text(align="left", fontSize=11).encode(
        x=alt.XValue(32), y=y, text=alt.Text("label:N")
    )
    return compose(
        "layer", [fill, *outlines, line, text], data=rows,
        width=190, height=22 * max(1, len(entries)), view=alt.ViewBackground(stroke=None),
    )  # fmt: skip
