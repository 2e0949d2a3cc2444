"""Charts of result tables rather than runs: the sweep grid and the explain ranking.

Both tables are small (one row per grid cell or per bug combination), but are still passed
through `fit_rows`, so a chart never embeds more than altair's 5,000 rows. Re-exported by
`chronik_lab.viz.charts`, which is where notebooks find them.

The explain ranking is shown as a switch-by-combination grid (`combination_table`,
`explain_grid`): one row per combination, a ✓ under each switch it turns on, the preset it
equals (if any) and its result -- instead of tuples of names cut off by the table's width.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import altair as alt
import pandas as pd

from chronik_lab.bugs import BUGS, PRESETS
from chronik_lab.errors import InvalidArgumentError
from chronik_lab.viz.chartdata import MAX_ROWS, fit_rows
from chronik_lab.viz.style import compose, resolved, tips, when

__all__ = ["combination_table", "explain_chart", "explain_grid", "sweep_heatmap"]

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
        tooltip=tips(f"{x}:O", f"{y}:O", f"{facet}:N", alt.Tooltip(f"{metric}:Q", format=".0%")),
    )
    labels = base.mark_text(fontSize=10).encode(
        text=alt.Text(f"{metric}:Q", format=".0%"),
        color=when(alt.ColorValue, f"datum['{metric}'] > 0.5", "white", "black"),
    )
    outline = base.mark_rect(fill=None, stroke="black", strokeWidth=2.5).transform_filter(
        alt.datum.highlight
    )
    return alt.layer(heat, labels, outline, data=data, width=220, height=160).facet(
        column=alt.Column(f"{facet}:N", title=None, sort=None),
        title=f"{name} by {x.replace('_', ' ')} and {y.replace('_', ' ')}",
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
            x=alt.X("distance:Q"),
            y=y,
            color=alt.Color("kind:N", scale=kinds, title=None),
            tooltip=tips("combination:N", "distance:Q", "kind:N"),
        )
    )
    return compose(
        "layer", [stick, dot], width=WIDTH, title="Which bug combinations reproduce the observation"
    )


def combination_table(ranking: pd.DataFrame, top: int = 10, presets: bool = True) -> pd.DataFrame:
    """The explain ranking as a grid: rank, preset (the preset this combination equals, or
    ""), result ("minimal cause", "exact", "distance 4"), received, duplicates, redelivered,
    lost, then one
    column per switch holding "✓" when the combination turns it on. Rows: the `top` best,
    every minimal combination and (unless `presets` is False) every preset, in rank order."""
    _require(ranking, ["bugs", "distance"], "explain ranking")
    rows = _shown(ranking, top, presets)
    table = pd.DataFrame(
        {
            "rank": rows["rank"].to_numpy() if "rank" in rows else range(1, len(rows) + 1),
            "preset": [_preset_of(b) for b in rows["bugs"]],
            "result": _results(rows),
        }
    )
    for column in ("received", "duplicates", "redelivered", "lost"):
        if column in rows:
            table[column] = rows[column].to_numpy()
    for name in BUGS:
        table[name] = ["✓" if name in _names(b) else "" for b in rows["bugs"]]
    return table.reset_index(drop=True)


def explain_grid(ranking: pd.DataFrame, top: int = 10) -> alt.HConcatChart:
    """`combination_table` drawn: a ✓ per switch (columns) and combination (rows, best first),
    and beside it each row's preset and result. Minimal causes are marked by their text and a
    bold ✓, not by a second shade of red."""
    table = combination_table(ranking, top)
    table["row"] = [
        f"#{r}" + (f" = {p}" if p else "")
        for r, p in zip(table["rank"], table["preset"], strict=True)
    ]
    order = table["row"].tolist()
    cells = table.melt(
        id_vars=["row", "result"], value_vars=list(BUGS), var_name="switch", value_name="on"
    )
    cells["minimal"] = cells["result"] == "minimal cause"
    y = alt.Y("row:N", sort=order, title=None, axis=alt.Axis(labelLimit=200))
    x = alt.X(
        "switch:N",
        sort=list(BUGS),
        title=None,
        axis=alt.Axis(orient="top", labelAngle=-35, labelLimit=220),
    )
    grid = alt.Chart(cells).mark_rect(stroke="#dddddd", fill="white").encode(x=x, y=y)
    ticks = (
        alt.Chart(cells)
        .transform_filter(alt.datum.on == "✓")
        .mark_text(fontSize=14)
        .encode(
            x=x,
            y=y,
            text=alt.Text("on:N"),
            color=when(alt.ColorValue, "datum.minimal", "#b22222", "#333333"),
            tooltip=tips("row:N", "switch:N", "result:N"),
        )
    )
    size = {"width": 34 * len(BUGS), "height": 20 * len(order)}
    results = (
        alt.Chart(table)
        .mark_text(align="left", fontSize=11)
        .encode(
            x=alt.XValue(4),
            y=alt.Y("row:N", sort=order, axis=None),
            text=alt.Text("result:N"),
            color=when(alt.ColorValue, "(datum.result === 'minimal cause')", "#b22222", "#333333"),
        )
        .properties(width=130, height=size["height"], title="result")
    )
    return compose(
        "hconcat",
        [compose("layer", [grid, ticks], **size), results],
        spacing=8,
        resolve=resolved(y="shared"),
        title="Which switch combinations reproduce the observation (✓ = switch on)",
    )


def _shown(ranking: pd.DataFrame, top: int, presets: bool = True) -> pd.DataFrame:
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise InvalidArgumentError(f"top must be an int >= 1, not {top!r}")
    ranked = ranking.sort_values("rank") if "rank" in ranking else ranking
    keep = pd.Series(False, index=ranked.index)
    keep.iloc[:top] = True
    if "minimal" in ranked:
        keep |= ranked["minimal"].fillna(False).astype(bool)
    if presets:
        keep |= ranked["bugs"].map(lambda b: bool(_preset_of(b)))
    return ranked[keep.to_numpy(bool)].head(MAX_ROWS // (len(BUGS) + 1))


def _names(bugs: Any) -> set[str]:
    return {bugs} if isinstance(bugs, str) else set(bugs)


def _preset_of(bugs: Any) -> str:
    """The presets a combination equals, by their bug sets ("v1.0, fixed" share one)."""
    names = frozenset(_names(bugs))
    return ", ".join(p for p, members in PRESETS.items() if members == names)


def _results(rows: pd.DataFrame) -> list[str]:
    minimal = rows["minimal"].fillna(False).astype(bool) if "minimal" in rows else None
    out = []
    for i, distance in enumerate(rows["distance"].astype(int)):
        if minimal is not None and minimal.iloc[i]:
            out.append("minimal cause")
        else:
            out.append("exact" if distance == 0 else f"distance {distance}")
    return out


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
