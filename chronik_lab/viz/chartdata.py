"""Chart data: a Run's tables reduced to what a chart draws, within a row budget.

Altair embeds every row it is given into the chart spec and refuses more than 5,000 rows per
dataset (`MaxRowsError`); a run of a million records has millions of received rows and up to
100,000 snapshot rows. The limit stays on. Instead, every function here returns at most `budget`
rows, by the cheapest reduction that keeps the picture true:

1. run-length encoding over steps: a segment, a buffer range or a multiplicity that does not
   change between snapshots becomes one rectangle spanning those steps (exact, no loss);
2. if that is still too many: keep evenly spaced snapshots (each drawn until the next kept one)
   and bin offsets (a bin shows the *maximum* multiplicity inside it, so a duplicate never hides);
3. `fit_rows` as the last guard: an evenly strided sample, first and last rows kept.

Snapshots are change-only (see sim/snapshots.py): a buffer or segment table has rows only at steps
where it changed, and an emptied buffer has no rows at all -- the offsets table (one row per
change, with `buffer_entries`) says when the buffer became empty. A snapshot holds until the next
one, or until the end of the run. Past the recorder's budget the tables keep the state at every
k-th step (`snapshots_stride`): each kept state is then drawn until the next kept one, and the
charts say so (`steps.coverage_note`). All functions are pure; they never modify the Run's
tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from chronik_lab.sim.tables import RunTables
from chronik_lab.viz.received import lost_points, pattern_bands, receipt_status, received_points
from chronik_lab.viz.rows import MAX_ROWS, fit_rows

__all__ = [
    "MAX_ROWS",
    "buffer_spans",
    "fit_rows",
    "lost_points",
    "offset_lines",
    "partitions_of",
    "pattern_bands",
    "received_points",
    "receipt_status",
    "run_end",
    "segment_spans",
]

OFFSET_BINS = 40  # offset bins per snapshot once a buffer chart must be aggregated


def run_end(run: RunTables) -> int:
    """The step after the last one a chart may draw: the end of the trace (or of the snapshots,
    should a table outrun it)."""
    ends = [int(t["step_index"].max()) + 1 for t in (*_snapshots(run), run.trace) if len(t)]
    return max(ends, default=1)


def partitions_of(run: RunTables) -> list[int]:
    """Every partition a run touched (sent to, received from, or snapshotted), sorted."""
    seen: set[int] = set()
    for table in (run.sent, run.received, *_snapshots(run)):
        if len(table):
            seen.update(int(p) for p in table["partition"].unique())
    return sorted(seen) or [0]


def _snapshots(run: RunTables) -> list[pd.DataFrame]:
    return [run.buffer_snapshots, run.segment_snapshots, run.offsets_snapshots]


def _of(df: pd.DataFrame, partition: int) -> pd.DataFrame:
    return df[df["partition"] == partition]


def _keep_states(steps: np.ndarray, n: int) -> np.ndarray:
    """At most n of the sorted snapshot steps, evenly spaced, first and last kept."""
    if len(steps) <= n:
        return steps
    return steps[np.unique(np.linspace(0, len(steps) - 1, max(n, 1)).round().astype(np.int64))]


def _state_ends(steps: np.ndarray, end: int) -> dict[int, int]:
    """Each snapshot step -> the step where the next snapshot replaces it (or the run's end)."""
    if len(steps) == 0:
        return {}
    return dict(zip(steps.tolist(), [*steps[1:].tolist(), end], strict=True))


def _merge_runs(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Merge rows with equal `keys` in consecutive snapshots (`ord`) into one step span."""
    if df.empty:
        return df.drop(columns="ord")
    df = df.sort_values([*keys, "ord"], kind="stable")
    # Each merged span's first row and greatest step_end, in numpy (~2x faster than a groupby).
    # Every caller's columns are int, bool or str arrays: no null for a "first" to skip.
    firsts = [k for k in df.columns if k not in ("ord", "step_end")]
    key, order = df[keys].to_numpy(), df["ord"].to_numpy()
    same = np.zeros(len(df), bool)
    same[1:] = (key[1:] == key[:-1]).all(axis=1) & (order[1:] == order[:-1] + 1)
    starts = np.flatnonzero(~same)
    out = df[firsts].iloc[starts]
    out = out.assign(step_end=np.maximum.reduceat(df["step_end"].to_numpy(), starts))
    return out.sort_values(["step_start", *keys], kind="stable").reset_index(drop=True)


# -- segments -----------------------------------------------------------------------------


def segment_spans(run: RunTables, partition: int, budget: int = 2_000) -> pd.DataFrame:
    """One row per segment and span of steps over which its range and visibility held.

    Columns: step_start, step_end, base_offset, end_offset (last + 1), record_count, visible,
    sealed, step (the step that produced the state).
    """
    seg = _of(run.segment_snapshots, partition)
    steps = np.sort(seg["step_index"].unique())
    end = run_end(run)
    n = len(steps)
    while True:
        out = _segment_spans(seg, _keep_states(steps, n), end)
        if len(out) <= budget or n <= 1:
            fitted = fit_rows(out, budget)
            fitted.attrs = {"snapshots": (min(n, len(steps)), len(steps))}
            return fitted
        n = max(1, n // 2)


def _segment_spans(seg: pd.DataFrame, steps: np.ndarray, end: int) -> pd.DataFrame:
    df = seg[seg["step_index"].isin(steps)]
    ends = _state_ends(steps, end)
    order = {s: i for i, s in enumerate(steps.tolist())}
    df = pd.DataFrame(
        {
            "ord": df["step_index"].map(order).to_numpy(np.int64),
            "step_start": df["step_index"].to_numpy(np.int64),
            "step_end": df["step_index"].map(ends).to_numpy(np.int64),
            "base_offset": df["base_offset"].to_numpy(np.int64),
            # An empty active segment has no last offset: draw it with zero height.
            "end_offset": df["last_offset"].fillna(df["base_offset"] - 1).to_numpy(np.int64) + 1,
            "record_count": df["record_count"].to_numpy(np.int64),
            "visible": df["visible"].to_numpy(bool),
            "sealed": df["sealed"].to_numpy(bool),
            "step": df["step"].astype(str).to_numpy(object),
        }
    )
    return _merge_runs(df, ["base_offset", "end_offset", "record_count", "visible", "sealed"])


# -- offsets (high watermark, log end) ----------------------------------------------------


def offset_lines(run: RunTables, partition: int, budget: int = 2_000) -> pd.DataFrame:
    """High watermark and log end offset as step lines: step_index, measure, value.

    Only the steps where a value changed, plus a closing point at the run's end.
    """
    off = _of(run.offsets_snapshots, partition)
    measures = ["high_watermark", "log_end_offset"]
    frames = []
    for measure in measures:
        values = off[["step_index", measure]].rename(columns={measure: "value"})
        values = values[values["value"].ne(values["value"].shift())]
        if len(values):
            closing = pd.DataFrame(
                {"step_index": [run_end(run)], "value": [values["value"].iloc[-1]]}
            )
            values = pd.concat([values, closing], ignore_index=True)
        frames.append(fit_rows(values, budget // len(measures)).assign(measure=measure))
    out = pd.concat(frames, ignore_index=True)
    return out.astype({"step_index": np.int64, "value": np.int64, "measure": object})


# -- buffer -------------------------------------------------------------------------------


def buffer_spans(
    run: RunTables, partition: int, budget: int = 2_000
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The buffer over the steps of a run, as (multiplicity spans, buffer range spans).

    Multiplicity spans: step_start, step_end, offset_start, offset_end (exclusive),
    multiplicity (how many times each offset in the range is in the buffer; the maximum over
    the range once offsets are binned), binned (bool), step. Range spans: step_start, step_end,
    offset_start, offset_end -- the lowest and highest buffered offsets.
    """
    entries, steps = _buffer_states(run, partition)
    end = run_end(run)
    spans = _multiplicity_spans(entries, steps, end, bins=None)
    cells = None
    if len(spans) > budget or _too_small(spans, end):
        step_bins = max(1, budget // OFFSET_BINS)
        spans, cells = _binned_cells(spans, end, step_bins, OFFSET_BINS)
    out = fit_rows(spans, budget)
    # What the reduction did, for the chart to say it: (steps, offsets) per cell, rows dropped.
    out.attrs = {"cells": cells, "sampled": len(out) < len(spans)}
    return out, fit_rows(_range_spans(entries, steps, end), budget)


def _too_small(spans: pd.DataFrame, end: int) -> bool:
    """Whether the typical span would be a speck: under 1/150 of the offsets *and* of the steps
    (a small buffer moving over a long log). Binned cells are at least 1/40 x 1/75 of the plot."""
    if len(spans) < 2:
        return False
    offsets = int(spans["offset_end"].max()) - int(spans["offset_start"].min())
    tall = float((spans["offset_end"] - spans["offset_start"]).median())
    wide = float((spans["step_end"] - spans["step_start"]).median())
    return tall * 150 < offsets and wide * 150 < end


def _binned_cells(
    spans: pd.DataFrame, end: int, step_bins: int, offset_bins: int
) -> tuple[pd.DataFrame, tuple[int, int]]:
    """Every snapshot kept, aggregated: a grid of step blocks x offset blocks, each cell the
    most copies any snapshot in its steps held of any offset in its offsets (so a duplicate
    never hides and no snapshot is skipped). Adjacent offset blocks with equal multiplicity
    are joined again."""
    lo, hi = int(spans["offset_start"].min()), int(spans["offset_end"].max())
    sw = max(1, -(-end // step_bins))
    ow = max(1, -(-(hi - lo) // offset_bins))
    s0 = spans["step_start"].to_numpy(np.int64) // sw
    s1 = (spans["step_end"].to_numpy(np.int64) - 1) // sw
    o0 = (spans["offset_start"].to_numpy(np.int64) - lo) // ow
    o1 = (spans["offset_end"].to_numpy(np.int64) - 1 - lo) // ow
    reps = s1 - s0 + 1
    sbin = np.repeat(s0, reps) + _ramp(reps)
    ob0, ob1 = np.repeat(o0, reps), np.repeat(o1, reps)
    mult = np.repeat(spans["multiplicity"].to_numpy(np.int64), reps)
    g = _bin_runs(sbin, ob0, ob1 - ob0 + 1, mult)
    state = g["state"].to_numpy(np.int64)
    out = pd.DataFrame(
        {
            "step_start": state * sw,
            "step_end": np.minimum(end, (state + 1) * sw),
            "offset_start": lo + g["b0"].to_numpy(np.int64) * ow,
            "offset_end": np.minimum(hi, lo + (g["b1"].to_numpy(np.int64) + 1) * ow),
            "multiplicity": g["multiplicity"].to_numpy(np.int64),
            "binned": True,
            "step": f"{sw:,} steps",
        }
    )
    return out, (sw, ow)


def _buffer_states(run: RunTables, partition: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The buffer entries of each snapshot, and every step where the buffer changed.

    An emptied buffer leaves no rows in buffer_snapshots; the offsets table says when it happened.
    """
    buf = _of(run.buffer_snapshots, partition)
    off = _of(run.offsets_snapshots, partition)
    empty = off.loc[off["buffer_entries"] == 0, "step_index"].to_numpy(np.int64)
    steps = np.union1d(buf["step_index"].to_numpy(np.int64), empty)
    # An empty snapshot matters only where the buffer held records just before it.
    had = np.isin(steps, buf["step_index"].to_numpy(np.int64))
    keep = had | np.concatenate([[False], had[:-1]])
    return buf, steps[keep]


def _multiplicity_spans(
    entries: pd.DataFrame, steps: np.ndarray, end: int, bins: int | None
) -> pd.DataFrame:
    """Sweep each kept snapshot's entries into ranges of constant multiplicity (no expansion
    into single offsets), optionally bin them, then merge equal ranges across snapshots."""
    ends = _state_ends(steps, end)
    order = {s: i for i, s in enumerate(steps.tolist())}
    df = entries[entries["step_index"].isin(steps)]
    first = df["first_offset"].to_numpy(np.int64)
    stop = df["last_offset"].to_numpy(np.int64) + 1
    state = df["step_index"].to_numpy(np.int64)
    spans = _sweep(
        np.concatenate([state, state]),
        np.concatenate([first, stop]),
        np.concatenate([np.ones(len(df), np.int64), -np.ones(len(df), np.int64)]),
    )
    binned = bins is not None and len(spans) > 0
    if binned:
        spans = _bin_offsets(spans, bins)
    step_names = entries.drop_duplicates("step_index").set_index("step_index")["step"]
    spans.insert(0, "ord", spans["state"].map(order).to_numpy(np.int64))
    spans.insert(1, "step_start", spans["state"])
    spans.insert(2, "step_end", spans["state"].map(ends).to_numpy(np.int64))
    spans["binned"] = binned
    spans["step"] = spans["state"].map(step_names).astype(object).to_numpy()
    spans = spans.drop(columns="state")
    return _merge_runs(spans, ["offset_start", "offset_end", "multiplicity"])


def _sweep(state: np.ndarray, pos: np.ndarray, delta: np.ndarray) -> pd.DataFrame:
    """+1 / -1 events at offsets, per state, summed into ranges of constant multiplicity > 0:
    state, offset_start, offset_end, multiplicity (numpy sorts and sums; pandas' groupby per
    step cost a small run's chart more than the rest of its data)."""
    order = np.lexsort((pos, state))
    state, pos, delta = state[order], pos[order], delta[order]
    new = np.ones(len(state), bool)
    new[1:] = (state[1:] != state[:-1]) | (pos[1:] != pos[:-1])
    starts = np.flatnonzero(new)
    summed = np.add.reduceat(delta, starts) if len(starts) else delta[:0]
    moved = summed != 0  # an entry ending where the next starts: no change
    state, pos, summed = state[starts][moved], pos[starts][moved], summed[moved]
    # The running sum within each state: the whole running sum less its value before the state.
    total = np.cumsum(summed)
    first = np.ones(len(state), bool)
    first[1:] = state[1:] != state[:-1]
    before = (total - summed)[first][np.cumsum(first) - 1]
    multiplicity = total - before
    follows = np.zeros(len(state), bool)  # a next event in the same state ends the range
    follows[:-1] = state[1:] == state[:-1]
    keep = (multiplicity > 0) & follows
    nxt = np.zeros_like(pos)
    nxt[:-1] = pos[1:]
    return pd.DataFrame(
        {
            "state": state[keep].astype(np.int64),
            "offset_start": pos[keep].astype(np.int64),
            "offset_end": nxt[keep].astype(np.int64),
            "multiplicity": multiplicity[keep].astype(np.int64),
        }
    )


def _bin_offsets(spans: pd.DataFrame, bins: int) -> pd.DataFrame:
    """Offsets in `bins` equal bins per snapshot, each with the maximum multiplicity inside it;
    adjacent bins with the same multiplicity are joined again."""
    lo, hi = int(spans["offset_start"].min()), int(spans["offset_end"].max())
    width = max(1, -(-(hi - lo) // bins))
    b0 = (spans["offset_start"].to_numpy() - lo) // width
    b1 = (spans["offset_end"].to_numpy() - 1 - lo) // width
    out = _bin_runs(spans["state"].to_numpy(), b0, b1 - b0 + 1, spans["multiplicity"].to_numpy())
    return pd.DataFrame(
        {
            "state": out["state"].to_numpy(np.int64),
            "offset_start": lo + out["b0"].to_numpy(np.int64) * width,
            "offset_end": np.minimum(hi, lo + (out["b1"].to_numpy(np.int64) + 1) * width),
            "multiplicity": out["multiplicity"].to_numpy(np.int64),
        }
    )


def _bin_runs(
    state: np.ndarray, first_bin: np.ndarray, bins: np.ndarray, multiplicity: np.ndarray
) -> pd.DataFrame:
    """Each (state, first_bin, bins, multiplicity) row spread over its bins; per (state, bin)
    the most copies any row held there; then runs of adjacent bins with equal multiplicity in
    one state joined again. Columns: state, b0, b1 (first and last bin), multiplicity."""
    rows = pd.DataFrame(
        {
            "state": np.repeat(state, bins),
            "bin": np.repeat(first_bin, bins) + _ramp(bins),
            "multiplicity": np.repeat(multiplicity, bins),
        }
    )
    rows = rows.groupby(["state", "bin"], as_index=False)["multiplicity"].max()
    new = (
        rows["state"].ne(rows["state"].shift())
        | rows["bin"].ne(rows["bin"].shift() + 1)
        | rows["multiplicity"].ne(rows["multiplicity"].shift())
    )
    runs = rows.groupby(new.cumsum().rename("run"))
    return pd.DataFrame(
        {
            "state": runs["state"].first(),
            "b0": runs["bin"].first(),
            "b1": runs["bin"].last(),
            "multiplicity": runs["multiplicity"].first(),
        }
    )


def _ramp(reps: np.ndarray) -> np.ndarray:
    """0..r-1 for each r in reps, concatenated (vectorised)."""
    if len(reps) == 0:
        return np.empty(0, np.int64)
    starts = np.repeat(np.cumsum(reps) - reps, reps)
    return np.arange(int(reps.sum())) - starts


def _range_spans(entries: pd.DataFrame, steps: np.ndarray, end: int) -> pd.DataFrame:
    ends = _state_ends(steps, end)
    order = {s: i for i, s in enumerate(steps.tolist())}
    # Each column's own min()/max(): the values agg(lo=..., hi=...) gives, in a tenth the time.
    by_step = entries.groupby("step_index")
    g = pd.DataFrame({"lo": by_step["first_offset"].min(), "hi": by_step["last_offset"].max()})
    g = g[g.index.isin(steps)]
    df = pd.DataFrame(
        {
            "ord": g.index.map(order).to_numpy(np.int64),
            "step_start": g.index.to_numpy(np.int64),
            "step_end": g.index.map(ends).to_numpy(np.int64),
            "offset_start": g["lo"].to_numpy(np.int64),
            "offset_end": g["hi"].to_numpy(np.int64) + 1,
        }
    )
    return _merge_runs(df, ["offset_start", "offset_end"])
