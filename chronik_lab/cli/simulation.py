"""`chronik-lab simulate`, `explain` and `bugs`: the engine and its switches, in this process."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import sys
import textwrap
from typing import Any

import click

import chronik_lab as cl
from chronik_lab.cli.common import (
    INT64_MAX,
    SPANS_SHOWN,
    BadInput,
    BoundedInt,
    echo_json,
    library_errors,
    main,
)
from chronik_lab.cli.workload import (
    given_flags,
    scenario_from_flags,
    scenario_line,
    scenario_options,
)
from chronik_lab.sim.observations import read_observed, recorded_workload

__all__ = ["bugs", "explain", "ranking_lines", "simulate", "simulate_lines"]

ROWS_SHOWN = 20


@main.command()
@scenario_options()
@click.option("--json", "as_json", is_flag=True, help="Print the run's whole summary as JSON.")
@click.option("--full", is_flag=True, help="Print every span and pattern row, not the first ones.")
@library_errors
def simulate(as_json: bool, full: bool, **flags: Any) -> None:
    """Run a scenario and print the verdict, the counts, then what the consumer received.

    With no flags it runs the seed: 10 messages in requests of 4 and 6, acks=-1, broker
    v0.7.5 flushing every 2 batches, which returns 20 records. Long lists are cut with a count
    of what is left out; --full or --json print everything.
    """
    run = cl.run(scenario_from_flags(**flags))
    if as_json:
        echo_json(run.summary())
        return
    for line in simulate_lines(run, full):
        click.echo(line)


def simulate_lines(run: Any, full: bool = False) -> list[str]:
    """What `simulate` prints: scenario, verdict, counts first; the long parts last, cut."""
    from chronik_lab.checker.counts import outcome

    report = run.report
    o = outcome(run.received, len(run.sent))
    lines = [
        scenario_line(run.scenario),
        f"verdict: {report.verdict}",
        f"sent {len(run.sent):,}, received {o['received']:,} ({o['distinct']:,} distinct): "
        f"{o['duplicates']:,} duplicated, {o['redelivered']:,} redelivered, {o['lost']:,} lost",
        "anomalies:",
    ]
    lines += [f"  {name:<22}{count:,}" for name, count in report.counts.items()]
    lines.append(f"received (offset ↦ id): {report.pattern_text(None if full else SPANS_SHOWN)}")
    pattern = report.pattern if full else report.pattern.head(ROWS_SHOWN)
    if not pattern.empty:
        lines += pattern.to_string(index=False).splitlines()
    hidden = len(report.pattern) - len(pattern)
    if hidden:
        lines.append(f"… {hidden:,} more rows (--full or --json for everything)")
    return lines


@main.command()
@click.argument("observed", required=False)
@click.option(
    "--observed-file",
    type=click.Path(dir_okay=False),
    help="A file of observed message ids: a CSV with a message_id column (as in "
    "data/observed/), or ids separated by commas or whitespace.",
)
@scenario_options(with_bugs=False)
@click.option(
    "--top", type=BoundedInt(), default=10, show_default=True, help="Rows of the ranking shown."
)
@click.option("--json", "as_json", is_flag=True, help="Print the ranking as JSON.")
@click.option(
    "--wide", is_flag=True, help="Every column of the ranking: the counts and a column a switch."
)
@click.option("--progress/--no-progress", default=None, help="Progress on stderr [on a terminal].")
@library_errors
def explain(
    observed: str | None, observed_file: str | None, top: int, as_json: bool, wide: bool,
    progress: bool | None, **flags: Any,
) -> None:  # fmt: skip
    """Rank the bug combinations that reproduce the OBSERVED message ids.

    OBSERVED is the ids in the order the consumer received them, e.g. the seed's
    "0,1,2,3,0,1,2,3,4,5,6,7,8,9,4,5,6,7,8,9". The workload comes from the scenario flags (the
    seed's by default) or, for a recorded observation (--observed-file listed in the
    observations.json beside it, as in data/observed/), from its recording: a workload flag
    that differs from the recording does not apply, and is named as such (notebook 05's rule).
    Every combination of the bug switches is settled on it (most by a shared run).
    """
    ids = _observed_ids(observed, observed_file)
    if top < 1:
        raise BadInput(f"--top must be >= 1, not {top}")
    scenario, origin, not_applied = _explain_workload(observed_file, flags)
    table = cl.explain(
        ids, scenario, progress=sys.stderr.isatty() if progress is None else progress
    )
    minimal = [list(bugs) for bugs in table.loc[table["minimal"], "bugs"]]
    shown = table.head(top)
    if as_json:
        # pandas' own JSON writer: a missing preset becomes null, not NaN (which is not JSON).
        rows = json.loads(shown.drop(columns=["received_ids"]).to_json(orient="records"))
        echo_json(
            {
                "observed": ids,
                "scenario": scenario.to_dict(),
                "workload_from": origin,
                "not_applied": not_applied,
                "ranking": rows,
                "minimal": minimal,
            }
        )
        return
    columns = shutil.get_terminal_size((100, 24)).columns
    line = scenario_line(scenario).removeprefix("scenario: ").split(" ")
    workload = " ".join(part for part in line if not part.startswith("bugs="))  # all are run
    click.echo(_wrapped(f"workload ({origin}): ", workload, columns))
    if not_applied:
        named = " ".join(f"--{k.replace('_', '-')} {_flag_text(v)}" for k, v in not_applied.items())
        verb = "does" if len(not_applied) == 1 else "do"
        click.echo(f"{named} {verb} not apply to a recorded observation")
    if wide:
        view = shown.drop(columns=["received_ids"]).assign(
            bugs=shown["bugs"].map(_bug_list), preset=shown["preset"].fillna("")
        )
        click.echo(view.to_string(index=False))
    else:
        for line in ranking_lines(shown, columns):
            click.echo(line)
    if minimal:
        click.echo("minimal combinations (reproduce it exactly; no smaller subset does):")
        for bugs in minimal:
            click.echo(_wrapped("  ", " + ".join(bugs) or "(none)", columns))
    else:
        click.echo("no bug combination reproduces the observation exactly")


def ranking_lines(ranking: Any, columns: int) -> list[str]:
    """The ranking, narrow: rank, distance (0: the observation exactly), what the combination
    is (a minimal cause, an exact match), the preset it is or receives the same ids as, and its
    switches, wrapped to `columns` under their own column (`--wide` prints every column)."""
    head = f"{'rank':>4}  {'distance':>8}  {'result':<13}  {'preset':<17}  switches"
    out = [head]
    for row in ranking.itertuples(index=False):
        result = "minimal cause" if row.minimal else "exact" if row.exact else ""
        preset = row.preset if isinstance(row.preset, str) else ""
        if not preset and isinstance(row.same_as_preset, str):
            preset = f"same as {row.same_as_preset}"
        start = f"{row.rank:>4}  {row.distance:>8,}  {result:<13}  {preset:<17}  "
        names = " + ".join(row.bugs) if len(row.bugs) else "(none)"
        out.append(_wrapped(start, f"{len(row.bugs)}: {names}", columns))
    return out


def _explain_workload(
    observed_file: str | None, flags: dict[str, Any]
) -> tuple[cl.Scenario, str, dict[str, Any]]:
    """The scenario to explain under, where its workload comes from, and the workload flags
    that do not apply. sim/observations.py's rule (notebook 05's too): a recorded observation
    is explained under its recorded workload, whatever the flags say; anything else under the
    flags, on the seed's workload."""
    scenario = scenario_from_flags(**flags)
    given = given_flags(flags)
    recorded = None if observed_file is None else recorded_workload(observed_file, given)
    if recorded is None:
        return scenario, "flags" if given else "the seed's", {}
    workload = dataclasses.replace(scenario, **recorded["scenario"])
    return workload, "as recorded, observations.json", recorded["not_applied"]


def _flag_text(value: Any) -> str:
    """A workload flag's value as it is typed: 4,6 for batch sizes, none for one per message."""
    if value is None:
        return "none"
    return ",".join(map(str, value)) if isinstance(value, tuple | list) else str(value)


def _observed_ids(observed: str | None, observed_file: str | None) -> list[int]:
    if (observed is None) == (observed_file is None):
        raise BadInput("give the observed ids either as an argument or with --observed-file")
    if observed_file and observed_file.lower().endswith(".csv"):  # a dump, as in data/observed/
        return read_observed(observed_file)["message_id"].tolist()
    if observed_file:
        from chronik_lab.checker.dump import read_ids

        return read_ids(observed_file)
    parts = [p for p in re.split(r"[,\s]+", observed.strip()) if p]
    try:
        ids = [int(p) for p in parts]
    except ValueError:
        raise BadInput("observed ids must be ints separated by commas or spaces") from None
    too_large = [i for i in ids if abs(i) > INT64_MAX]
    if too_large:
        raise BadInput(f"observed id {too_large[0]} is too large: at most {INT64_MAX:,}")
    return ids


def _bug_list(bugs: Any) -> str:
    return "+".join(bugs) if len(bugs) else "(none)"


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue and presets as JSON.")
def bugs(as_json: bool) -> None:
    """List the bug switches (with their chronik commits) and the version presets."""
    if as_json:
        echo_json(
            {
                "bugs": [dataclasses.asdict(b) for b in cl.BUGS.values()],
                "presets": {name: sorted(members) for name, members in cl.PRESETS.items()},
            }
        )
        return
    columns = shutil.get_terminal_size((100, 24)).columns
    # Each column as wide as its longest value: the catalogue's sources are not all chronik
    # tags and short commits ("kafka clients", "librdkafka#4953").
    head = ("bug", "introduced", "fixed", "commit")
    rows = [(b.name, b.introduced_in, b.fixed_in, b.chronik_commit) for b in cl.BUGS.values()]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    table = columns - (sum(widths) + 2 * len(widths)) >= 30  # room for the summary beside
    if table:
        click.echo(_cells(head, widths) + "summary")
    for b, row in zip(cl.BUGS.values(), rows, strict=True):
        if table:
            click.echo(_wrapped(_cells(row, widths), b.summary, columns))
        else:  # a narrow terminal: one block per bug
            click.echo(b.name)
            facts = f"introduced {b.introduced_in}, fixed {b.fixed_in}, commit {b.chronik_commit}"
            click.echo(_wrapped("    ", facts, columns))
            click.echo(_wrapped("    ", b.summary, columns))
    click.echo("\npresets:")
    for name, members in cl.PRESETS.items():
        click.echo(_wrapped(f"  {name:<7} ", ", ".join(sorted(members)) or "(no bugs)", columns))


def _cells(values: tuple[str, ...], widths: list[int]) -> str:
    """The values left-aligned in their columns, two spaces after each."""
    return "".join(f"{value:<{width}}  " for value, width in zip(values, widths, strict=True))


def _wrapped(start: str, text: str, columns: int) -> str:
    """`start` then `text` wrapped to the terminal width, continuation lines under the text."""
    indent = " " * len(start)
    lines = textwrap.wrap(text, width=max(columns - len(start), 20)) or [""]
    return start + ("\n" + indent).join(lines)
