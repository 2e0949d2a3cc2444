"""Charts of result tables rather than runs: the sweep grid and the explain ranking.

Both tables are small (one row per grid cell or per bug combination), but are still passed
through `fit_rows`, so a chart never embeds more than altair's 5,000 rows. Re-exported by
`chronik_lab.viz.charts`, which is where notebooks find them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import altair as alt
import pandas as pd

from chronik_lab.errors import InvalidArgumentError
from chronik_lab.viz.chartdata import MAX_ROWS, fit_rows

__all__ = ["explain_chart", "sweep_heatmap"]

WIDTH = 320


def sweep_heatmap(
    df: pd.DataFrame,
    metric: str = "duplication_rate",
    x: str = "batch_split",
    y: str = "flush_batches",
    facet: str = "preset",
    highlight: Mapping[str, Any] | None = None,
) -> alt.FacetChart:
    """A heatmap of a sweep (`cl.sweep`): `x` x `y` -> `metric` (a rate, 0 to 1), one panel
    per `facet` value. `highlight` ({column: value}, e.g. the seed's split and threshold)
    outlines the matching cells."""
    _require(df, [metric, x, y, facet, *(highlight or {})], "sweep")
    data = fit_rows(df[list(dict.fromkeys([x, y, facet, metric, *(highlight or {})]))], MAX_ROWS)
    data = data.assign(**{x: data[x].astype(str), facet: data[facet].astype(str)})
    marked = pd.Series(bool(highlight), index=data.index)
    for column, value in (highlight or {}).items():
        marked &= data[column].astype(str) == str(value)
    data = data.assign(highlight=marked.to_numpy(bool))
    name = metric.replace("_", " ")
    base = alt.Chart().encode(
        x=alt.X(f"{x}:O", title=x.replace("_", " "), sort=None),
        y=alt.Y(f"{y}:O", title=y.replace("_", " ")),  # ordinal of ints: sorted numerically
    )
    heat = base.mark_rect().encode(
        color=alt.Color(
            f"{metric}:Q", scale=alt.Scale(scheme="orangered", domain=[0, 1]), title=name
        ),
        tooltip=[f"{x}:O", f"{y}:O", f"{facet}:N", alt.Tooltip(f"{metric}:Q", format=".0%")],
    )
    labels = base.mark_text(fontSize=10).encode(
        text=alt.Text(f"{metric}:Q", format=".0%"),
        color=alt.condition(f"datum['{metric}'] > 0.5", alt.value("white"), alt.value("black")),
    )
    outline = base.mark_rect(fill=None, stroke="black", strokeWidth=2.5).transform_filter(
        alt.datum.highlight
    )
    return (
        alt.layer(heat, labels, outline, data=data)
        .properties(width=220, height=160)
        .facet(column=alt.Column(f"{facet}:N", title=None, sort=None))
        .properties(title=f"{name} by {x.replace('_', ' ')} and {y.replace('_', ' ')}")
    )


def explain_chart(df: pd.DataFrame, top: int = 10) -> alt.Chart:
    """The explain ranking (`cl.explain`) as a lollipop chart: each bug combination's edit
    distance from the observation (0 = reproduced exactly). Shows the `top` best, every
    minimal combination (red: a candidate cause) and every preset, in rank order."""
    _require(df, ["bugs", "distance"], "explain ranking")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise InvalidArgumentError(f"top must be an int >= 1, not {top!r}")
    ranked = df.sort_values("rank") if "rank" in df else df
    keep = pd.Series(False, index=ranked.index)
    keep.iloc[:top] = True
    for flag in ("minimal", "preset"):
        if flag in ranked:
            column = ranked[flag]
            keep |= column.fillna(False).astype(bool) if flag == "minimal" else column.notna()
    rows = ranked[keep.to_numpy(bool)].head(MAX_ROWS)
    presets = rows["preset"] if "preset" in rows else pd.Series(None, index=rows.index)
    data = pd.DataFrame(
        {
            "combination": [_combo(b, p) for b, p in zip(rows["bugs"], presets, strict=True)],
            "distance": rows["distance"].to_numpy("int64"),
            "kind": _kinds(rows),
        }
    )
    y = alt.Y("combination:N", sort=None, title=None, axis=alt.Axis(labelLimit=520))
    kinds = alt.Scale(
        domain=["minimal cause", "exact, not minimal", "not exact"],
        range=["#e45756", "#f58518", "#9d9d9d"],
    )
    stick = (
        alt.Chart(data)
        .mark_rule(strokeWidth=2, color="#bbbbbb")
        .encode(
            x=alt.X("distance:Q", title="edit distance from the observed ids (0 = exact)"),
            x2=alt.datum(0),
            y=y,
        )
    )
    dot = (
        alt.Chart(data)
        .mark_circle(size=90, opacity=1)
        .encode(
            x="distance:Q",
            y=y,
            color=alt.Color("kind:N", scale=kinds, title=None),
            tooltip=["combination:N", "distance:Q", "kind:N"],
        )
    )
    return alt.layer(stick, dot).properties(
        width=WIDTH, title="Which bug combinations reproduce the observation"
    )


def _kinds(rows: pd.DataFrame) -> list[str]:
    minimal = rows["minimal"].fillna(False).astype(bool) if "minimal" in rows else None
    exact = rows["distance"] == 0
    out = []
    for i, is_exact in enumerate(exact.to_numpy(bool)):
        if minimal is not None and minimal.iloc[i]:
            out.append("minimal cause")
        else:
            out.append("exact, not minimal" if is_exact else "not exact")
    return out


def _combo(bugs: Any, preset: Any = None) -> str:
    names = [bugs] if isinstance(bugs, str) else list(bugs)
    text = " + ".join(names) if names else "(no bugs)"
    return f"[{preset}] {text}" if isinstance(preset, str) and preset else text


def _require(df: Any, columns: list[str], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise InvalidArgumentError(
            f"the {what} must be a pandas DataFrame, not {type(df).__name__}"
        )
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InvalidArgumentError(
            f"the {what} table lacks column(s) {', '.join(missing)}; it has {', '.join(df.columns)}"
        )
