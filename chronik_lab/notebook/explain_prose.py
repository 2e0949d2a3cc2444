"""The prose of the explain page (notebook 05), generated from what it explains: the
observation (what a consumer received), the workload it is explained under and where that comes
from (sim/observations.py), and what `cl.explain`'s ranking found.

As with a run's prose (narrative.py), the notebook's fixed Markdown says only what holds for
every parameter; every number here is read from the observation and the ranking, so a page run
with `-p bugs v0.7.6` or `-p observed_path FILE` says what that observation and that version do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from chronik_lab.checker.counts import outcome, outcome_sentence
from chronik_lab.notebook.evidence import plural as _n
from chronik_lab.sim.causes import ranking_row
from chronik_lab.sim.splits import short_split

__all__ = ["explanation", "observation"]

IDS_SHOWN = 40  # observed ids written out; the rest are counted


def observation(
    observed: Sequence[int] | pd.DataFrame, sent: int, workload: Mapping[str, Any] | None = None
) -> str:
    """A sentence on an observation (what a consumer received: its ids, or a dump with offsets,
    which tell a record read again from an id written twice) against the messages sent, in
    `outcome_sentence`'s words.

    With `workload` (`observations.observed_workload`), also the workload it is explained
    under and where that comes from: the recording (observations.json), naming each parameter
    that does not apply to it, or the parameters, for a user's own dump; then the ids received.
    """
    if isinstance(observed, pd.DataFrame):
        ids, o = observed["message_id"].tolist(), outcome(observed, sent)
    else:
        ids, o = list(observed), outcome(list(observed), sent)
    text = f"The observation: {outcome_sentence(sent, o)}."
    if workload is None:
        return text
    return f"{text} {_workload_story(workload)}\n\n{_ids_text(ids)}"


def _workload_story(workload: Mapping[str, Any]) -> str:
    f = workload["scenario"]
    sent = f"{_n(f['messages'], 'message')} {_requests(f['batch_sizes'], f['messages'])}"
    flush = (
        f"the lab's broker flushing at {_n(f['flush_batches'], 'pending batch', 'pending batches')}"
    )
    if not workload["recorded_on"]:
        return (
            "It is not a recorded observation (no `observations.json` beside it lists it), so "
            f"the parameters describe its workload: {sent}, acks={f['acks']}, {flush}."
        )
    text = (
        f"It was recorded on chronik {workload['recorded_on']} with {sent}, acks={f['acks']}, "
        f"and is explained under that workload, with {flush}, as `observations.json` lists it."
    )
    differs = [f"`{name}={_value(v)}`" for name, v in workload["not_applied"].items()]
    if differs:
        many = len(differs) > 1
        text += (
            f" The parameter{'s' if many else ''} {_and(differs)} {'do' if many else 'does'} "
            "not apply to a recorded observation."
        )
    return text


def _requests(sizes: Sequence[int] | None, messages: int) -> str:
    """'in requests of 4 and 6', 'in one request of 10', 'in single-message requests', 'in
    20,000 requests ((4+6)×10,000)'."""
    if sizes is None:
        return "in single-message requests"
    if len(sizes) == 1:
        return f"in one request of {sizes[0]:,}"
    short = short_split(sizes, messages)
    if isinstance(short, list):
        return "in requests of " + _and([f"{size:,}" for size in short])
    return f"in {len(sizes):,} requests ({short})"


def _value(value: Any) -> str:
    return str(short_split(value, sum(value)) if isinstance(value, list | tuple) else value)


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _ids_text(ids: Sequence[int]) -> str:
    ids = list(ids)
    if not ids:
        return "The consumer received no record."
    shown = " ".join(str(i) for i in ids[:IDS_SHOWN])
    more = f" … ({len(ids) - IDS_SHOWN:,} more)" if len(ids) > IDS_SHOWN else ""
    return f"The ids, in the order received: `{shown}`{more}."


def explanation(
    ranking: pd.DataFrame, version: str | None = None, recorded_on: str | None = None
) -> str:
    """What a ranking (`cl.explain`) found, in words: how many combinations reproduce the
    observation exactly, the minimal ones, and the switch every minimal one shares; with
    `version` (the page's `bugs`: the version under investigation) what that version gives on
    the observation's workload, and with `recorded_on` whether the version the observation was
    recorded on reproduces it -- each read from the ranking's own rows."""
    exact = ranking[ranking["exact"].to_numpy(bool)]
    minimal = ranking[ranking["minimal"].to_numpy(bool)]
    if exact.empty:
        best = int(ranking["distance"].min()) if len(ranking) else 0
        text = (
            f"No combination of {len(ranking):,} reproduces the observation exactly; the closest "
            f"is {best:,} edits away. The lab's switches do not explain it as it stands."
        )
    else:
        sets = [set(b) for b in minimal["bugs"]]
        shared = sorted(set.intersection(*sets)) if sets else []
        names = "; ".join(" + ".join(f"`{b}`" for b in sorted(s)) or "(no switch)" for s in sets)
        text = (
            f"**{len(exact):,}** of {len(ranking):,} combinations reproduce the observation "
            f"exactly; **{len(minimal):,}** of them are minimal: {names}."
        )
        if shared:
            text += " Every minimal one has " + ", ".join(f"`{b}`" for b in shared) + "."
    story = _versions_story(ranking, version, recorded_on)
    return f"{text}\n\n{' '.join(story)}" if story else text


def _versions_story(
    ranking: pd.DataFrame, version: str | None, recorded_on: str | None
) -> list[str]:
    out = []
    row = None if version is None else ranking_row(ranking, version)
    sent = ranking.attrs.get("sent")
    if row is not None:
        own = " (the version it was recorded on)" if version == recorded_on else ""
        out.append(
            f"The version under investigation (`bugs`), {version}{own}, on this workload: "
            f"{_result(row, sent)}; {_match(row)}. Its single fixes are tried at the end of "
            "this page."
        )
    row = None if recorded_on in (None, version) else ranking_row(ranking, recorded_on)
    if row is not None:
        out.append(
            f"The observation was recorded on {recorded_on}, which here gives "
            f"{_result(row, sent)}; {_match(row)}."
        )
    return out


def _result(row: pd.Series, sent: int | None) -> str:
    """A ranking row's outcome in `outcome_sentence`'s words ('10 sent, 20 received: 10
    duplicated'); without the messages sent, from 'received' on."""
    counts = {key: int(row[key]) for key in ("received", "duplicates", "redelivered", "lost")}
    if sent is None:  # a ranking made without its attrs (a table read back from a file)
        sent = counts["received"] - counts["duplicates"] - counts["redelivered"] + counts["lost"]
    return outcome_sentence(sent, counts)


def _match(row: pd.Series) -> str:
    if row["minimal"]:
        return "exactly the observation, and a minimal cause"
    if row["exact"]:
        return "exactly the observation"
    return f"**not** the observation ({_n(int(row['distance']), 'edit')} away)"
