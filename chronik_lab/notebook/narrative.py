"""The prose of a run's page, generated from the run it describes: heading, "why", the switches.

A notebook's fixed Markdown says only what is true for every parameter (what chronik's code did,
how to read a chart). Everything that depends on the run -- how many records came back, what the
buffer held when fetch read it, what fetch read, which switch made the difference -- is stated
here from the run's own tables, so a page run with `-p bugs v0.7.6` or `-p messages 100000` says
what that run did. Notebooks show it with `IPython.display.Markdown`.

Each statement comes from the trace and the snapshots, never from the preset's name: a switch
that is on but left no trace in this workload is said to have done nothing here. For runs up to
`COUNTERFACTUAL_LIMIT` messages, "made the difference" is also tested by rerunning the workload
without each switch (cheap: ids only, no trace). The explain page's prose, about an
observation rather than a run, is in explain_prose.py.
"""

from __future__ import annotations

import pandas as pd

from chronik_lab.bugs import BUGS, PRESETS
from chronik_lab.checker.counts import outcome, outcome_sentence
from chronik_lab.notebook.evidence import (
    COUNTERFACTUAL_LIMIT,
    counterfactuals,
    switch_evidence,
)
from chronik_lab.notebook.evidence import plural as _n
from chronik_lab.notebook.evidence import span_text as _range
from chronik_lab.sim.clients import MAX_RESETS, poll_cap
from chronik_lab.sim.scenario import SEED, VERSIONS, Scenario, received_records
from chronik_lab.sim.tables import (
    RunTables,
    buffer_at,
    distinct_offsets,
    fetch_reads,
    read_spans,
    sampling_text,
    segments_at,
)

__all__ = [
    "COUNTERFACTUAL_LIMIT",
    "at_first_fetch",
    "compare_hint",
    "counterfactuals",
    "delivery",
    "heading",
    "presets_story",
    "stopped",
    "sweep_story",
    "switch_evidence",
    "why",
]

ENTRIES_SHOWN = 6  # buffer entries written out in full; the rest are counted
PARTITIONS_SHOWN = 4


# -- the outcome ------------------------------------------------------------------------------


def heading(run: RunTables, level: int = 2) -> str:
    """A Markdown heading for the run: '## v0.7.5: 10 sent, 20 received: 10 duplicated'."""
    return f"{'#' * level} {_version(run)}: {_sentence(run)}"


def _sentence(run: RunTables) -> str:
    """The run's outcome sentence (checker/counts.py): '10 sent, 20 received: 10 duplicated'."""
    return outcome_sentence(len(run.sent), _own(run))


def at_first_fetch(run: RunTables) -> str:
    """Markdown: per partition, what the buffer held when the consumer first fetched, what
    fetch read, and the segments then (how many, which offsets, visible or not)."""
    parts = sorted(set(run.sent["partition"]) | set(run.received["partition"])) or [0]
    out = []
    for p in parts[:PARTITIONS_SHOWN]:
        prefix = f"Partition {p}: " if len(parts) > 1 else ""
        out.append(prefix + _fetch_story(run, int(p)) + " " + _segments_story(run, int(p)))
    return "\n\n".join(out)


def _segments_story(run: RunTables, partition: int) -> str:
    step = fetch_reads(run, partition)["first_fetch_step"]
    last = segments_at(run, partition, step) if step >= 0 else None
    if last is None:  # never fetched, or that state is not in the snapshots
        return ""
    if last.empty:
        return "No segment had been written by then."
    visible = int(last["visible"].sum())
    lo, hi = int(last["base_offset"].min()), int(last["last_offset"].max())
    if len(last) == 1:
        seen = "visible to fetch" if visible else "not visible to fetch"
    else:
        seen = f"{visible:,} of them visible to fetch"
    return f"The log then had {_n(len(last), 'segment')} (offsets {_range(lo, hi)}), {seen}."


# -- the "why" text ---------------------------------------------------------------------------


def why(run: RunTables) -> str:
    """Markdown: per partition what the buffer held at the first fetch and what fetch read,
    then each switch that is on, what it did in this run, and whether it made the difference."""
    parts = sorted(set(run.sent["partition"]) | set(run.received["partition"])) or [0]
    out = [f"**This run** ({_version(run)}): {_sentence(run)}."]
    for p in parts[:PARTITIONS_SHOWN]:
        prefix = f"Partition {p}: " if len(parts) > 1 else ""
        out.append(prefix + _fetch_story(run, int(p)))
    if len(parts) > PARTITIONS_SHOWN:
        out.append(f"({len(parts) - PARTITIONS_SHOWN} more partitions not described.)")
    out.append(_switch_story(run))
    return "\n\n".join(out)


def _version(run: RunTables) -> str:
    bugs = run.scenario.bugs
    if not bugs:
        return "no bug switch on"
    return bugs if isinstance(bugs, str) else "+".join(bugs)


def _fetch_story(run: RunTables, partition: int) -> str:
    reads = fetch_reads(run, partition)
    if reads["first_fetch_step"] < 0:
        return "The consumer never fetched."
    held = buffer_at(run, partition, reads["first_fetch_step"])
    if held is None:
        buffer = (
            f"The snapshots keep {sampling_text(run)}, not the first fetch's (step "
            f"{reads['first_fetch_step']:,}): what the buffer held then is not recorded."
        )
    elif held.empty:
        buffer = "When the consumer first fetched, the buffer was **empty**."
    else:
        buffer = "When the consumer first fetched, the buffer held " + _entries(held) + "."
    order = "the buffer first, then segments" if reads["buffer_first"] else "segments first"
    return (
        f"{buffer} Over {_n(reads['fetches'], 'fetch', 'fetches')} ({order}), fetch read "
        f"{_bold(reads['from_buffer'], 'record')} from the buffer and "
        f"**{reads['from_segments']:,}** from segments."
    )


def _entries(held: pd.DataFrame) -> str:
    spans = read_spans(held)
    shown = [f"[{_range(lo, hi, '..')}]" for lo, hi in spans[:ENTRIES_SHOWN]]
    if len(spans) > ENTRIES_SHOWN:
        shown.append(f"… {len(spans) - ENTRIES_SHOWN:,} more spans")
    records = int(held["count"].sum())
    lo, hi = int(held["first_offset"].min()), int(held["last_offset"].max())
    distinct = distinct_offsets(held)
    extra = records - distinct
    twice = f", {extra:,} of them extra {'copy' if extra == 1 else 'copies'}" if extra else ""
    return (
        f"`{' + '.join(shown)}` in buffer order: {_n(records, 'record')} for "
        f"{_n(distinct, 'offset')} ({_range(lo, hi)}){twice}"
    )


def _bold(count: int, word: str) -> str:
    """'**20** records', '**1** record'."""
    return f"**{count:,}** {word if count == 1 else word + 's'}"


def _switch_story(run: RunTables) -> str:
    evidence = switch_evidence(run)
    if not evidence:
        return "No bug switch is on: the engine is a correct Kafka-style log."
    changes = counterfactuals(run)
    lines = ["**The switches that are on, and what each did in this run:**", ""]
    for name, seen in evidence.items():
        text = seen or "nothing visible in this run's trace"
        if changes is not None:
            text += f"; without it: {outcome_sentence(len(run.sent), changes[name])}"
            text += (
                " (**made the difference**)" if changes[name] != _own(run) else " (same outcome)"
            )
        lines.append(f"- `{name}` ({BUGS[name].introduced_in}): {text}.")
    if changes is None:
        lines += [
            "",
            f"(Above {COUNTERFACTUAL_LIMIT:,} messages this page does not rerun the "
            "workload without each switch; notebook 5 ranks every combination.)",
        ]
    return "\n".join(lines)


# -- faults, and which side a duplicate is -----------------------------------------------------

FAULTS_SHOWN = 6


def delivery(run: RunTables) -> str:
    """Markdown: the faults the scenario's schedule applied (the trace's nemesis rows), then
    which side each extra copy is: **duplicated** -- the same id at a new offset, written twice:
    the producer side -- or **redelivered** -- the same offset read again: the consumer side."""
    t = run.trace
    t = t[(t["actor"] == "nemesis").to_numpy(bool)].drop_duplicates(["step", "request", "poll"])
    out = []
    if len(t):
        said = [f"{d} (step {i:,})" for d, i in zip(t["detail"], t["step_index"], strict=True)]
        more = f"; … {len(said) - FAULTS_SHOWN:,} more" if len(said) > FAULTS_SHOWN else ""
        out.append("**Faults applied:** " + "; ".join(said[:FAULTS_SHOWN]) + more + ".")
    else:
        out.append("**No fault was scheduled** in this run.")
    out += [_producer_side(run, t), _consumer_side(run, t)]
    return "\n\n".join(x for x in out if x)


def _producer_side(run: RunTables, faults: pd.DataFrame) -> str:
    rec = run.received
    offsets = rec.drop_duplicates(["partition", "offset", "message_id"])
    twice = offsets[offsets.duplicated(["partition", "message_id"], keep=False)]
    extra = len(offsets) - len(offsets.drop_duplicates(["partition", "message_id"]))
    sends = run.history[(run.history["f"] == "send").to_numpy(bool)]
    unknown = int((sends["type"] == "info").sum())
    out = []
    if unknown:
        out.append(
            f"{_n(unknown, 'record')} were sent with no answer the producer could wait for: "
            "their outcome is unknown (`info`), never counted acknowledged nor lost."
        )
    if not extra:
        out.insert(0, "**Producer side:** no id was written twice.")
        return " ".join(out)
    lost = set(faults.loc[faults["step"] == "lost_ack", "request"].dropna().astype(int))
    keys = ["partition", "message_id"]
    sent = run.sent.drop_duplicates(keys)[[*keys, "request"]]
    requests = set(twice.drop_duplicates(keys).merge(sent, on=keys)["request"].astype(int))
    after = bool(lost) and requests <= lost
    idempotent = bool(run.scenario.idempotence)
    head = (
        f"**Producer side:** {_n(extra, 'record')} duplicated -- the same id at a new offset, "
        "written to the log twice"
    )
    if after:
        why = (
            "the broker appended a retry it should have recognised (the idempotent producer "
            "was on: a broker switch that loses or ignores its sequence numbers)"
            if idempotent
            else "the producer retried after each lost response, and without idempotence the "
            "broker appended the retry again; `idempotence=True` makes it answer the retry with "
            "the original offsets"
        )
        head += f", all from requests whose response was lost: {why}."
    else:
        head += ", not (only) after a lost response: the broker itself wrote them twice."
    return " ".join([head, *out])


def _consumer_side(run: RunTables, faults: pd.DataFrame) -> str:
    rec = run.received
    again = int(rec.duplicated(["partition", "offset", "message_id"]).sum())
    crashes = faults[faults["step"].isin(["consumer_crash", "rebalance"]).to_numpy(bool)]
    commit = run.scenario.commit
    if not again and crashes.empty:
        return ""
    said = (
        f"{_n(again, 'record')} redelivered -- the same offsets read again, not written twice"
        if again
        else "nothing was read again"
    )
    out = [f"**Consumer side:** {said}"]
    if len(crashes):
        out[0] += (
            f", after {_n(len(crashes), 'crash or rebalance', 'crashes and rebalances')} between "
            f"a poll and its commit (commit={commit!r}): the partition restarted at the "
            "committed offset"
        )
    out[0] += "."
    if commit == "before" and len(crashes):
        out.append(
            "Under commit='before' a crash comes after the commit and before the records were "
            "processed: they are lost to the application, never read again."
        )
    return " ".join(out)


def compare_hint(run: RunTables, versions: tuple[str, ...] = ("v0.7.5", "v0.7.6", "v1.0")) -> str:
    """How to see this page under the other `versions`: 'This page ran v0.7.5; `-p bugs v0.7.6`
    or `-p bugs v1.0` (or `bugs = "v1.0"` in the parameters cell) runs it under the others.'
    Never suggests the version the page ran."""
    ran = _version(run)
    others = [v for v in versions if v != ran]
    if not others:
        return f"This page ran {ran}."
    flags = " or ".join(f"`-p bugs {v}`" for v in others)
    return (
        f'This page ran {ran}; {flags} (or `bugs = "{others[-1]}"` in the parameters cell) '
        f"runs it under {'that version' if len(others) == 1 else 'those versions'}."
    )


def presets_story(workload: Scenario = SEED, versions: tuple[str, ...] = VERSIONS) -> str:
    """Markdown, one line per chronik version, oldest first, counted from `cl.PRESETS`: how
    many of the lab's switches it has on, which it turned off and on against the version before,
    and what it gives on `workload` (`outcome_sentence` of a run of it)."""
    lines, before = [], None
    for version in versions:
        on = PRESETS[version]
        text = f"- **{version}**, {len(on)} of the {len(BUGS)} switches on"
        if before is not None:
            turned = [
                f"{len(names)} {way} ({', '.join(f'`{n}`' for n in sorted(names))})"
                for names, way in ((before - on, "off"), (on - before, "on"))
                if names
            ]
            text += "; it turned " + " and ".join(turned) if turned else "; no switch changed"
        run = workload.with_bugs(version)
        said = outcome_sentence(run.messages, outcome(received_records(run), run.messages))
        lines.append(f"{text} — {said}.")
        before = on
    return "\n".join(lines)


def stopped(run: RunTables) -> str:
    """Markdown: where the consumer's position ended against the log, and what in this run put
    it there -- the fetch-range rule, resets to the earliest offset, segment rotations (a real
    client's run is in real time, so a long one sees segments age and rotate)."""
    sent, rec = len(run.sent), run.received
    o = _own(run)
    switches = run.scenario.bug_set
    written = sent  # the records in the log: more than sent when retries wrote ids twice
    off = run.offsets_snapshots
    if len(off) and off["partition"].nunique() == 1:
        written = max(sent, int(off["log_end_offset"].iloc[-1]))
    if rec.empty:
        out = [
            "The consumer received **nothing**: every fetch from where it started came back "
            "empty, so its position stayed at 0."
        ]
    else:
        end = int(rec["offset"].max()) + 1
        where = (
            "past"
            if end > written
            else "at the end of"
            if end == written
            else "short of the end of"
        )
        out = [
            f"The consumer's position ended at **{end:,}**, {where} the {written:,} records the "
            f"producer wrote (offsets 0–{written - 1:,})."
        ]
        if end > written and "chronik_fetch_range" in switches:
            out.append(
                "This version answers a fetch at or above the high watermark with an "
                "empty response however far past the log end (`chronik_fetch_range`), "
                "so the client saw nothing more there and stopped."
            )
    if o["redelivered"] and run.offset_resets:
        resets = run.offset_resets
        times = f" ({_n(resets, 'reset')})" if resets else ""
        out.append(
            f"It received {o['redelivered']:,} records **again**: past the log end the broker "
            f"answered OFFSET_OUT_OF_RANGE (Kafka's rule) and the client went back to the "
            f"earliest offset{times}."
        )
    if run.consumer_capped:
        out.append(
            f"The simulated consumer then stopped at its cap ({poll_cap(sent):,} polls for "
            f"{sent:,} messages, or {MAX_RESETS} resets a partition), not because the log had "
            "nothing more."
        )
    rotations = int((run.trace["step"] == "rotation").sum()) if len(run.trace) else 0
    if rotations:
        seen = (
            " and, under `active_segment_invisible`, made what they held visible to fetch"
            if "active_segment_invisible" in switches
            else ""
        )
        out.append(
            f"{_n(rotations, 'segment rotation')} happened during the run (a segment is "
            f"sealed at {_duration(run.segment_ms)} of age){seen}: a longer or slower run can "
            "read more."
        )
    return " ".join(out)


def _duration(ms: int) -> str:
    """'30 s' for 30,000 ms; '1,500 ms' when not a whole number of seconds."""
    return f"{ms // 1000:,} s" if ms % 1000 == 0 else f"{ms:,} ms"


def _own(run: RunTables) -> dict[str, int]:
    return outcome(run.received, len(run.sent))


def sweep_story(grid: pd.DataFrame, cell: dict) -> str:
    """Per version of a sweep (`cl.sweep`): in how many of its cells messages came back twice
    or not at all, the worst rates, and the rates in `cell` (the parameters' workload)."""
    lines = []
    for preset, rows in grid.groupby("preset", sort=False):
        dup = int((rows["duplication_rate"] > 0).sum())
        lost = int((rows["loss_rate"] > 0).sum())
        here = rows[
            (rows["batch_split"].astype(str) == str(cell["batch_split"]))
            & (rows["flush_batches"] == cell["flush_batches"])
        ]
        at = "; this workload is not in the grid"
        if len(here):
            dup_here, lost_here = here["duplication_rate"].iloc[0], here["loss_rate"].iloc[0]
            at = (
                f"; this workload (split `{cell['batch_split']}`, flush at "
                f"{cell['flush_batches']}): "
                f"{dup_here:.0%} duplicated, {lost_here:.0%} lost"
            )
        lines.append(
            f"- `{preset}`: duplicates in {dup} of {len(rows)} cells (at worst "
            f"{rows['duplication_rate'].max():.0%}), loss in {lost} (at worst "
            f"{rows['loss_rate'].max():.0%}){at}."
        )
    return "\n".join(lines)
