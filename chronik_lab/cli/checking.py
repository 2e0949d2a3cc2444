"""`chronik-lab check`: a history or a consumer dump, checked in memory, out of core (DuckDB) or
on a Dask cluster, with the lost ids against what was sent."""

from __future__ import annotations

import sys
from typing import Any

import click
import numpy as np

from chronik_lab.cli.common import (
    EXIT_ANOMALIES,
    INT64_MAX,
    SPANS_SHOWN,
    BadInput,
    BoundedInt,
    echo_json,
    library_errors,
    main,
)

__all__ = ["COUNTED", "LINE_MAX", "check", "check_lines", "verdict_text"]

# check: anomalies of each type the report keeps, and the longest line printed.
SAMPLE_KEPT = 1_000
LINE_MAX = 2_000


@main.command()
@click.argument("path", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print ok, counts, stats, pattern as JSON.")
@click.option(
    "--sent",
    "sent_count",
    type=BoundedInt(INT64_MAX),
    help="Ids 0..N-1 were sent: also count the lost ones (sent, never received).",
)
@click.option(
    "--sent-file",
    type=click.Path(dir_okay=False),
    help="The ids that were sent (a CSV with a message_id column, or ints separated by "
    "commas or whitespace): also count the lost ones.",
)
@click.option("--full", is_flag=True, help="Print every anomaly and run kept, not the first ones.")
@click.option(
    "--engine",
    type=click.Choice(["auto", "memory", "duckdb", "dask"]),
    default="auto",
    show_default=True,
    help="Where to check: in memory, out of core (DuckDB), on a Dask cluster; auto picks by size.",
)
@click.option(
    "--memory-limit",
    metavar="SIZE",
    help="Memory the check may use, e.g. 2GB or 512MiB [a quarter of this machine's].",
)
@click.option("--dask", "dask_address", metavar="ADDRESS", help="A Dask scheduler to check on.")
@click.option(
    "--anomalies-out",
    type=click.Path(dir_okay=False),
    help="Write every anomaly (not only those kept in the report) to this .parquet file.",
)
@click.option(
    "--sample",
    type=BoundedInt(),
    default=SAMPLE_KEPT,
    show_default=True,
    help="Anomalies of each type (and spans of each stream) the report keeps; counts stay exact.",
)
@click.option("--progress/--no-progress", default=None, help="Progress on stderr [on a terminal].")
@library_errors
def check(
    path: str, as_json: bool, sent_count: int | None, sent_file: str | None, full: bool,
    engine: str, memory_limit: str | None, dask_address: str | None, anomalies_out: str | None,
    sample: int, progress: bool | None,
) -> None:  # fmt: skip
    """Check a history (.csv, .parquet, .jsonl, or a directory of Parquet files) for
    duplicates, losses and the rest.

    Columns: op_index, process, f (send|poll), type (ok|fail|info), partition, offset, value.
    A consumer dump (partition, offset, message_id, optionally poll) is read as a poll-only
    history: duplicates, redeliveries, offsets and order are checked; give --sent or
    --sent-file to count losses too. A history larger than the memory limit is checked out of
    core (DuckDB); --dask checks it on a cluster. Exits 1 when anomalies (or lost ids) are
    found, 0 when the history is clean, 2 when it cannot be read.
    """
    from chronik_lab.checker.dispatch import run_check
    from chronik_lab.checker.sent import read_sent_ids

    if sent_count is not None and sent_file is not None:
        raise BadInput("give either --sent or --sent-file, not both")
    if sent_count is not None and sent_count < 0:
        raise BadInput(f"--sent must be >= 0, not {sent_count}")
    if sample < 0:
        raise BadInput(f"--sample must be >= 0, not {sample}")
    sent = sent_count if sent_count is not None else None
    if sent_file is not None:
        sent = read_sent_ids(sent_file)
    given = None if sent is None else _sent_given(sent, sent_count is not None)
    client = _dask_client(dask_address, engine)
    try:
        run = run_check(
            path, "dask" if client is not None else engine, memory_limit, client, sample,
            sys.stderr.isatty() if progress is None else progress, sent, anomalies_out,
        )  # fmt: skip
    finally:
        if client is not None:
            client.close()
    _print_check(run, as_json, full, given)
    if not run.report.ok or (run.lost is not None and run.lost.count):
        raise click.exceptions.Exit(EXIT_ANOMALIES)


def _dask_client(address: str | None, engine: str) -> Any:
    if address is None:
        if engine == "dask":
            raise BadInput("--engine dask needs --dask ADDRESS (a Dask scheduler)")
        return None
    if engine not in ("auto", "dask"):
        raise BadInput(f"--dask checks on a cluster; it cannot go with --engine {engine}")
    from chronik_lab.checker.distributed import connect_client

    return connect_client(address)


def _sent_given(sent: Any, by_count: bool) -> tuple[int, str]:
    """How many ids --sent or --sent-file says were sent, and which flag said it."""
    if by_count:
        return int(sent), "--sent"
    return len(np.unique(np.asarray(sent))), "--sent-file"


# What a type's count counts where it is not its anomalies (checker/counts.py's definitions).
COUNTED = {"duplicate": "extra offsets"}


def verdict_text(report: Any) -> str:
    """The verdict with what is counted: '14 anomalies: duplicate 10 (30 extra offsets),
    inconsistent-offsets 4' -- each type's anomalies, and its count where that differs (an
    id received at 4 offsets is one duplicate anomaly and 3 extra offsets)."""
    if report.ok:
        return "ok, no anomalies"
    rows = report.rows or report.anomalies["type"].value_counts().to_dict()
    parts = []
    for kind, count in report.counts.items():
        if not count:
            continue
        n = int(rows.get(kind, count))
        said = f"{kind} {n:,}"
        if n != count:
            said += f" ({count:,} {COUNTED.get(kind, 'counted')})"
        parts.append(said)
    return f"{report.total_anomalies:,} anomalies: {', '.join(parts)}"


def check_lines(run: Any, full: bool, given: tuple[int, str] | None) -> list[str]:
    """What `check` prints: the report's summary, its first two lines (checker/verdict.py's
    verdict and stats) said with what is counted and, with --sent or --sent-file, what was sent
    and lost -- a dump holds no sends, so the report alone says 'sent 0, lost: not checked'."""
    result, lost = run.report, run.lost
    text = result.summary(len(result.anomalies), None) if full else result.summary()
    lines = text.splitlines()
    lines[0] = f"history check: {verdict_text(result)}"
    if lost is not None and given is not None:
        s, (sent, flag) = result.stats, given
        lines[1] = (
            f"sent {sent:,} ({flag}), received {s['received']:,} ({s['distinct_received']:,} "
            f"distinct), duplicated {s['duplicated']:,}, redelivered {s['redelivered']:,}, "
            f"lost {lost.count:,} (sent, never received)"
        )
        if lost.count:
            lines.append(_lost_line(lost, None if full else SPANS_SHOWN))
    return [_cut(line) for line in lines]


def _print_check(run: Any, as_json: bool, full: bool, given: tuple[int, str] | None) -> None:
    result, lost = run.report, run.lost
    if as_json:
        data = result.to_dict()
        data["engine"] = run.engine
        if lost is not None:
            data["lost"] = lost.count
            data["lost_ids"] = lost.first.tolist()
            data["ok"] = data["ok"] and not lost.count
            if given is not None:
                data["sent_given"] = given[0]
        echo_json(data)
        return
    for line in check_lines(run, full, given):
        click.echo(line)


def _cut(line: str) -> str:
    """A printed line, cut at LINE_MAX characters with a count of what was left out."""
    if len(line) <= LINE_MAX:
        return line
    return f"{line[:LINE_MAX]}… ({len(line) - LINE_MAX:,} more characters)"


def _lost_line(lost: Any, limit: int | None) -> str:
    shown = lost.first if limit is None else lost.first[:limit]
    hidden = lost.count - len(shown)
    more = f", … {hidden:,} more" if hidden else ""
    return f"lost (sent, never received): {lost.count:,}: ids {', '.join(map(str, shown))}{more}"
