"""What a notebook reads and writes besides its charts: the versions it compares, and the
small JSON summary the report tabulates (observations are read by sim/observations.py).

Each notebook ends with `write_summary(summary_path, notebook_summary(...))`. The summary's
top-level keys are the same for every notebook, so the report's index can show them side by
side: `notebook`, `parameters`, `sent`, `received`, `counts` (the checker's anomaly counts),
`pattern` (the pattern table as text), `outcome` (checker/counts.py's counts: the index says
them in words) and `ok` (the checker found nothing); notebooks add their own keys after those.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from chronik_lab.bugs import resolve_bugs
from chronik_lab.checker.counts import outcome
from chronik_lab.checker.verdict import check
from chronik_lab.errors import InvalidArgumentError, NotebookError
from chronik_lab.sim.causes import ranking_row
from chronik_lab.sim.scenario import Run
from chronik_lab.sim.splits import short_split, split_label
from chronik_lab.sim.tables import RunTables, max_buffer_copies
from chronik_lab.validate import listed

__all__ = [
    "buffer_facts",
    "explain_digest",
    "measured_table",
    "observed_pattern",
    "sweep_cell",
    "notebook_summary",
    "run_digest",
    "sweep_digest",
    "trace_steps",
    "versions",
    "versions_table",
    "write_summary",
]


def write_summary(path: str | Path, summary: Mapping[str, Any]) -> Path | None:
    """Write `summary` as JSON to `path` (parents created); an empty path writes nothing.

    numpy and pandas scalars, tuples and sets become JSON numbers and lists; NaN becomes null.
    """
    if not isinstance(path, (str, Path)):
        raise NotebookError(f"summary_path must be a str, not {type(path).__name__}")
    if str(path) == "":
        return None
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(_plain(summary), indent=2, ensure_ascii=False)
        target.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise NotebookError(f"cannot write the summary to {target}: {exc}") from exc
    return target


def _plain(value: Any) -> Any:
    """JSON-ready copies of the values notebooks put in a summary."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray, pd.Series)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
        return [_plain(v) for v in items]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def run_digest(run: Run) -> dict[str, Any]:
    """The figures of one run that every summary carries (see the module doc)."""
    digest = run.summary()
    return {
        "sent": digest["sent"],
        "received": digest["received"],
        "counts": digest["counts"],
        "pattern": digest["pattern"],
        "outcome": outcome(run.received, digest["sent"]),
        "ok": digest["ok"],
    }


def notebook_summary(
    notebook: str, parameters: Mapping[str, Any], run: Run | None = None, **extra: Any
) -> dict[str, Any]:
    """A notebook's summary: its name, its parameters, the run's digest (if any), `extra`."""
    summary: dict[str, Any] = {"notebook": notebook, "parameters": _short(parameters)}
    if run is not None:
        summary.update(run_digest(run))
    summary.update(extra)
    return summary


def _short(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters, with a long batch_sizes (20,000 requests at 100,000 messages) as its
    label, "(4+6)×10,000": the summary and the index stay small and readable."""
    out = dict(parameters)
    sizes = out.get("batch_sizes")
    if isinstance(sizes, (list, tuple)):
        out["batch_sizes"] = short_split(sizes, int(out.get("messages") or sum(sizes)))
    return out


def buffer_facts(run: RunTables) -> dict[str, Any]:
    """The buffer and segments at a glance, from the run's tables: the most copies of one
    offset any buffer snapshot held, and the segments at the last segment snapshot of each
    partition (how many, how many fetch could see)."""
    seg = run.segment_snapshots
    last = seg[seg["step_index"] == seg.groupby("partition")["step_index"].transform("max")]
    return {
        "max_buffer_copies": max_buffer_copies(run.buffer_snapshots),
        "segments": len(last),
        "visible_segments": int(last["visible"].sum()),
    }


def trace_steps(run: RunTables, steps: str | Iterable[str]) -> pd.DataFrame:
    """The rows of `run.trace` for the named steps (e.g. "update_buffer"), with the columns an
    investigator reads (step_index, request, poll, step, source, partition, first/last offset,
    count, detail) -- only those the selected steps have: a column with no value in any of
    them (`poll` for produce steps) is left out, and a missing value in a kept column shows
    blank instead of <NA>."""
    wanted = [steps] if isinstance(steps, str) else list(steps)
    known = set(run.trace["step"].unique())
    columns = ["step_index", "request", "poll", "step", "source", "partition"]
    columns += ["first_offset", "last_offset", "count", "detail"]
    rows = run.trace[run.trace["step"].isin(wanted).to_numpy(bool)]
    if rows.empty and not known.intersection(wanted):
        names = ", ".join(sorted(known)) or "none"
        raise InvalidArgumentError(f"no step named {', '.join(wanted)} in this run; steps: {names}")
    rows = rows[columns].reset_index(drop=True)
    has = [c for c in columns if rows[c].notna().any()] if len(rows) else columns
    return rows[has].astype(object).where(rows[has].notna(), "")


def versions(bugs: str, compare_with: Iterable[str] = ()) -> list[str]:
    """`bugs` followed by the versions to compare it with, each validated, repeats dropped."""
    out: list[str] = []
    # the lab's one rule for list parameters: a str is one version, None or [] compare nothing
    for name in [bugs, *listed(compare_with, "compare_with", str_is_one=True, may_be_empty=True)]:
        if not isinstance(name, str):
            raise InvalidArgumentError(f"a version must be a preset or bug names, not {name!r}")
        resolve_bugs(name)  # raises UnknownBugError with the known names
        if name not in out:
            out.append(name)
    return out


def versions_table(runs: Mapping[str, Run]) -> pd.DataFrame:
    """One row per version: sent, received, duplicates, redelivered, lost (`outcome`'s words),
    whether the checker found nothing, and the received pattern."""
    rows = []
    for label, run in runs.items():
        digest = run_digest(run)
        rows.append(
            {
                "version": label,
                "sent": digest["sent"],
                "received": digest["received"],
                "duplicates": digest["outcome"]["duplicates"],
                "redelivered": digest["outcome"]["redelivered"],
                "lost": digest["outcome"]["lost"],
                "ok": digest["ok"],
                "pattern": digest["pattern"],
            }
        )
    return pd.DataFrame(rows)


def measured_table(measured: pd.DataFrame) -> pd.DataFrame:
    """`measure_versions()`'s rows as a grid to read: one row per workload and one column per
    version, each in the order measured, and in each cell "exact", or the share of the
    messages duplicated and lost ("100% duplicated", "40% lost")."""
    cells = measured.assign(result=[_rates(row) for row in measured.itertuples()])
    grid = cells.pivot(index="workload", columns="version", values="result")
    grid = grid.loc[measured["workload"].unique(), measured["version"].unique()]
    grid.columns.name = None
    return grid


def _rates(row: Any) -> str:
    if row.exact:
        return "exact"
    said = [f"{rate:.0%} {word}" for rate, word in ((row.duplication_rate, "duplicated"),
                                                     (row.loss_rate, "lost")) if rate]  # fmt: skip
    return ", ".join(said) or "reordered"


def sweep_digest(
    grid: pd.DataFrame, batch_sizes: Iterable[int] | None, flush_batches: int, messages: int
) -> dict[str, Any]:
    """Per version: the worst duplication and loss rates of a sweep, and the rates in the cell
    of the given workload (None when the sweep did not cover it)."""
    label = split_label(None if batch_sizes is None else list(batch_sizes), messages)
    out: dict[str, Any] = {}
    for preset, rows in grid.groupby("preset", sort=False):
        cell = rows[(rows["batch_split"] == label) & (rows["flush_batches"] == flush_batches)]
        out[str(preset)] = {
            "max_duplication_rate": float(rows["duplication_rate"].max()),
            "max_loss_rate": float(rows["loss_rate"].max()),
            "cell": None
            if cell.empty
            else {
                "batch_split": label,
                "flush_batches": int(flush_batches),
                "duplication_rate": float(cell["duplication_rate"].iloc[0]),
                "loss_rate": float(cell["loss_rate"].iloc[0]),
            },
        }
    return out


def sweep_cell(batch_sizes: Iterable[int] | None, messages: int, flush_batches: int) -> dict:
    """The sweep cell of one workload, as `sweep_heatmap(highlight=...)` takes it."""
    label = split_label(None if batch_sizes is None else list(batch_sizes), messages)
    return {"batch_split": label, "flush_batches": flush_batches}


def explain_digest(
    observed: pd.DataFrame,
    workload: Mapping[str, Any],
    ranking: pd.DataFrame,
    fixes: pd.DataFrame,
    bugs: str | None = None,
) -> dict[str, Any]:
    """The summary figures of an explanation, all of the observation under its own workload
    (`observations.observed_workload`): its counts and pattern against the messages *it* sent, that
    workload and where it comes from, how many combinations reproduce it exactly, the minimal
    ones, what the version under investigation (`bugs`) gives on that workload, and which of
    its single fixes remove the duplication or the loss."""
    fields = dict(workload["scenario"])
    counts = outcome(observed, fields["messages"])  # with its offsets, when the dump has them
    return {
        "sent": fields["messages"],
        "received": counts["received"],
        "counts": {"duplicate": counts["duplicates"], "lost": counts["lost"]},
        "pattern": observed_pattern(observed),
        "outcome": counts,
        "workload": _short(fields),
        "workload_from": workload["from"],
        "recorded_on": workload["recorded_on"],
        "not_applied": dict(workload["not_applied"]),
        "combinations": int(ranking.attrs.get("combinations", len(ranking))),
        "runs": ranking.attrs.get("runs"),
        "exact": int(ranking["exact"].sum()),
        "minimal": [list(combo) for combo in ranking.loc[ranking["minimal"], "bugs"]],
        "investigated": None if bugs is None else _investigated(ranking, bugs),
        "fixes_removing_duplication": fixes.loc[fixes["removes_duplication"], "fixed_bug"].tolist(),
        "fixes_removing_loss": fixes.loc[fixes["removes_loss"], "fixed_bug"].tolist(),
    }


def _investigated(ranking: pd.DataFrame, bugs: str) -> dict[str, Any] | None:
    """The ranking's row for the version under investigation: what it gives on the
    observation's workload (None when the ranking left that combination out)."""
    row = ranking_row(ranking, bugs)
    if row is None:
        return None
    keys = ("rank", "received", "duplicates", "redelivered", "lost", "distance", "exact")
    keys += ("minimal",)
    return {"bugs": bugs, **{k: _plain(row[k]) for k in keys}}


def observed_pattern(observed: pd.DataFrame) -> str:
    """The pattern (`0–3 ↦ 0–3, 4–13 ↦ 0–9, …`) of an observation with offset and message_id
    columns, in file order; "" without an offset column. The observation is read as one
    consumer's polls and handed to the checker, which finds the spans."""
    if "offset" not in observed.columns or observed.empty:
        return ""
    history = pd.DataFrame(
        {
            "op_index": observed.get("poll", 0),
            "process": 0,
            "f": "poll",
            "type": "ok",
            "partition": observed.get("partition", 0),
            "offset": observed["offset"],
            "value": observed["message_id"],
        }
    )
    return check(history).pattern_text()
