"""`chronik-lab check`: a history or a consumer dump, checked in memory, out of core (DuckDB) or
on a Dask cluster, with the lost ids against what was sent."""

from __future__ import annotations

import sys
from typing import Any

import click

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

__all__ = ["LINE_MAX", "check"]

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
    client = _dask_client(dask_address, engine)
    try:
        run = run_check(
            path, "dask" if client is not None else engine, memory_limit, client, sample,
            sys.stderr.isatty() if progress is None else progress, sent, anomalies_out,
        )  # fmt: skip
    finally:
        if client is not None:
            client.close()
    _print_check(run, as_json, full)
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


def _print_check(run: Any, as_json: bool, full: bool) -> None:
    result, lost = run.report, run.lost
    if as_json:
        data = result.to_dict()
        data["engine"] = run.engine
        if lost is not None:
            data["lost"] = lost.count
            data["lost_ids"] = lost.first.tolist()
            data["ok"] = data["ok"] and not lost.count
        echo_json(data)
        return
    text = result.summary(len(result.anomalies), None) if full else result.summary()
    for line in text.splitlines():
        click.echo(_cut(line))
    if lost is not None:
        click.echo(_cut(_lost_line(lost, None if full else SPANS_SHOWN)))


def _cut(line: str) -> str:
    """A printed line, cut at LINE_MAX characters with a count of what was left out."""
    if len(line) <= LINE_MAX:
        return line
    return f"{line[:LINE_MAX]}… ({len(line) - LINE_MAX:,} more characters)"


def _lost_line(lost: Any, limit: int | None) -> str:
    if not lost.count:
        return "lost (sent, never received): 0"
    shown = lost.first if limit is None else lost.first[:limit]
    hidden = lost.count - len(shown)
    more = f", … {hidden:,} more" if hidden else ""
    return f"lost (sent, never received): {lost.count:,}: ids {', '.join(map(str, shown))}{more}"
