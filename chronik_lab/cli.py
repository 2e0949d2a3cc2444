"""`chronik-lab`: a thin command line over the library.

Each command gathers its arguments, makes one call into chronik_lab and prints the result. Exit
codes, one meaning each (also in `chronik-lab --help`):

    0    done, nothing wrong found
    1    anomalies found (check)
    2    bad input: a usage error, or a library error (any ChronikLabError) as one `Error:` line
    3    a notebook failed (report)
    4    internal error: a bug in chronik_lab; the traceback is printed, please report it
    130  interrupted (Ctrl-C), as a shell reports a process stopped by SIGINT
    141  the output pipe was closed (e.g. `| head`): the command stops quietly, as on SIGPIPE
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import shutil
import sys
import textwrap
import traceback
from collections.abc import Callable
from typing import Any

import click
import yaml

import chronik_lab as cl
from chronik_lab.errors import ChronikLabError, one_line
from chronik_lab.sim.observations import read_observed, recorded_workload
from chronik_lab.sim.splits import AUTO, seed_sizes, split_label
from chronik_lab.wire import CLIENTS

__all__ = ["main"]

EXIT_ANOMALIES = 1
EXIT_BAD_INPUT = 2  # the same code click uses for usage errors
EXIT_NOTEBOOK_FAILED = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE
EXIT_FOUND = EXIT_ANOMALIES  # the older name

EXIT_CODES_HELP = """\b
Exit codes:
  0    done, nothing wrong found
  1    anomalies found (check)
  2    bad input (a usage error or a one-line Error: message)
  3    a notebook failed (report)
  4    internal error (a bug: the traceback is printed)
  130  interrupted (Ctrl-C)
  141  output pipe closed (e.g. | head)"""

# Kafka's partition, size and time fields are int32; the lab holds every message in memory, so
# nothing near these bounds runs anyway, but beyond them numpy would overflow with a traceback.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
# -p values: a notebook parameter is a scalar or a short list, never a document.
PARAMETER_MAX_CHARS = 10_000
PARAMETER_MAX_DEPTH = 8
# What simulate prints of the long parts unless --full.
SPANS_SHOWN = 12
ROWS_SHOWN = 20
# check: anomalies of each type the report keeps, and the longest line printed.
SAMPLE_KEPT = 1_000
LINE_MAX = 2_000


class BadInput(click.ClickException):
    """A one-line `Error: ...` and exit code 2, without click's usage text."""

    exit_code = EXIT_BAD_INPUT


class BoundedInt(click.ParamType):
    """An int flag with a bound (Kafka's int32 by default): a number beyond it is one `Error:`
    line, not an OverflowError deep in numpy."""

    name = "integer"

    def __init__(self, maximum: int = INT32_MAX) -> None:
        self.maximum = maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            number = value
        else:
            try:
                number = int(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not an integer", param, ctx)
        if abs(number) > self.maximum:
            name = param.opts[0] if param is not None and param.opts else "value"
            raise BadInput(f"{name} {number} is too large: at most {self.maximum:,}")
        return number


class _Group(click.Group):
    """Maps what escapes a command to its exit code (see the module docstring)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("\nInterrupted.", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            _silence_stdout()
            raise click.exceptions.Exit(EXIT_PIPE_CLOSED) from None
        except Exception:
            traceback.print_exc()
            click.echo(
                "chronik-lab: internal error (a bug in chronik_lab, not in your input); "
                "please report it with the traceback above",
                err=True,
            )
            raise click.exceptions.Exit(EXIT_INTERNAL) from None


def _silence_stdout() -> None:
    """After the reader of stdout went away, point stdout at /dev/null so that the flush at exit
    does not raise a second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (e.g. under a test runner)
        pass


def _library_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into one-line CLI errors, so no traceback reaches the user."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ChronikLabError as exc:
            raise BadInput(one_line(exc)) from exc
        except BrokenPipeError:  # not a bad path: the reader went away (see _Group)
            raise
        except UnicodeDecodeError as exc:  # a binary file where text was expected
            raise BadInput(f"not UTF-8 text: {one_line(exc)}") from exc
        except OSError as exc:  # unreadable or unwritable paths
            raise BadInput(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from exc

    return functools.update_wrapper(wrapper, func)


@click.group(
    cls=_Group, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP
)
@click.version_option(cl.__version__, prog_name="chronik-lab")
def main() -> None:
    """Reproduce, see and explain message duplication and loss in a Kafka-style broker."""


# --- report -----------------------------------------------------------------------------------


def parse_parameter_value(name: str, text: str) -> Any:
    """A `-p NAME VALUE` value as papermill reads it: a YAML literal (10, [4, 6], true), or text.

    Only plain values: at most PARAMETER_MAX_CHARS characters and PARAMETER_MAX_DEPTH levels of
    nesting, and no anchors or aliases (`&a [*a]` recurses forever, a "billion laughs" list
    expands to gigabytes), so that parsing a value is linear in its length."""
    if not text.strip():  # -p bugs "" means the empty text, not YAML's null
        return text
    if len(text) > PARAMETER_MAX_CHARS:
        raise BadInput(f"-p {name}: the value is {len(text):,} characters; at most "
                       f"{PARAMETER_MAX_CHARS:,}")  # fmt: skip
    try:
        _plain_yaml(name, text)
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        if text.lstrip()[:1] in "[{":  # meant as a list or a mapping, so a typo, not text
            raise BadInput(f"-p {name}: cannot parse {text!r}: {one_line(exc)}") from None
        return text
    if text.strip() == "None":  # papermill's spelling of None
        return None
    # YAML also reads dates and the like; a notebook parameter only takes JSON-like values.
    return value if _json_like(value) else text


def _plain_yaml(name: str, text: str) -> None:
    """Refuse anchors, aliases, tags and deep nesting from YAML's token stream (linear time)."""
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, yaml.AnchorToken | yaml.AliasToken | yaml.TagToken):
            raise BadInput(f"-p {name}: YAML anchors, aliases and tags (&, *, !) are not allowed")
        if isinstance(token, yaml.FlowSequenceStartToken | yaml.FlowMappingStartToken
                      | yaml.BlockSequenceStartToken | yaml.BlockMappingStartToken):  # fmt: skip
            depth += 1
            if depth > PARAMETER_MAX_DEPTH:
                raise BadInput(f"-p {name}: nested deeper than {PARAMETER_MAX_DEPTH} levels")
        elif isinstance(token, yaml.FlowSequenceEndToken | yaml.FlowMappingEndToken
                        | yaml.BlockEndToken):  # fmt: skip
            depth -= 1


def _json_like(value: Any) -> bool:
    if isinstance(value, list):
        return all(_json_like(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_like(v) for k, v in value.items())
    return value is None or isinstance(value, str | int | float | bool)


@main.command()
@click.option(
    "--out",
    "out_dir",
    default="reports",
    show_default=True,
    type=click.Path(),
    help="Report folder: index.html, one HTML page per notebook, notebooks/.",
)
@click.option(
    "-p",
    "--parameter",
    "parameters",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help="A notebook parameter, e.g. -p bugs v0.7.6 -p batch_sizes '[4, 6]' "
    "(values are YAML literals); each notebook gets the ones it declares.",
)
@click.option(
    "--notebooks",
    "notebooks_dir",
    type=click.Path(),
    help="Notebooks to run (default: the repository's notebooks/).",
)
@click.option(
    "--notebook",
    "only",
    multiple=True,
    metavar="NAME",
    help="Run only this notebook, e.g. --notebook 01_reproduce (repeatable; default: all).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@click.option("--kernel", default="python3", show_default=True, help="Jupyter kernel name.")
@click.option(
    "--jobs",
    type=BoundedInt(),
    default=None,
    help="Notebooks run at a time (default: 2, or 1 on one core).",
)
@_library_errors
def report(out_dir, parameters, notebooks_dir, only, no_progress, kernel, jobs) -> None:
    """Run every notebook through papermill into an offline HTML report.

    Writes OUT/index.html (a table of each notebook's summary), OUT/<notebook>.html, the
    executed notebooks in OUT/notebooks/ and OUT/summary.json. Exits 3 if a notebook failed.
    """
    from chronik_lab.notebook.params import ParameterError
    from chronik_lab.report.build import (
        build_report,  # papermill and nbconvert load only for this command
    )

    params = {name: parse_parameter_value(name, value) for name, value in parameters}
    try:
        result = build_report(
            out_dir, notebooks_dir, params, not no_progress, kernel, jobs, notebooks=only
        )
    except ParameterError as exc:  # checked before any kernel: one line per problem
        for problem in exc.problems:
            click.echo(f"Error: {problem}", err=True)
        raise click.exceptions.Exit(EXIT_BAD_INPUT) from None
    for nb in result.notebooks:
        status = "ok" if nb.ok else f"FAILED: {nb.error}"
        click.echo(f"{nb.name:<28} {nb.duration_s:6.1f} s  {status}")
    click.echo(
        f"report: {result.index} ({len(result.notebooks)} notebooks, {result.duration_s:.1f} s)"
    )
    if not result.ok:
        raise click.exceptions.Exit(EXIT_NOTEBOOK_FAILED)


# --- scenario options shared by simulate and explain ------------------------------------------


def _scenario_options(with_bugs: bool = True) -> Callable[..., Any]:
    """The scenario flags; explain leaves out --bugs, since it runs every bug combination."""
    options = [
        click.option(
            "--messages", type=BoundedInt(), help="Messages the producer sends [seed: 10]."
        ),
        click.option(
            "--batch-sizes",
            help='Messages per produce request, e.g. "4,6"; "none" for one request per '
            'message; "auto" for the seed\'s requests continued, 4,6,4,6,... [auto].',
        ),
        click.option(
            "--acks", type=click.Choice(["-1", "0", "1", "all"]), help="Producer acks [seed: -1]."
        ),
        click.option(
            "--flush-batches",
            type=BoundedInt(),
            help="The broker flushes when this many batches are pending [seed: 2].",
        ),
        click.option("--partitions", type=BoundedInt(), help="Partitions of the topic [1]."),
        click.option(
            "--poll-every",
            type=BoundedInt(),
            help="The consumer also polls after every N requests [only at the end].",
        ),
        click.option("--linger-ms", type=BoundedInt(), help="Flush after this many ms [off]."),
        click.option(
            "--flush-ms",
            type=BoundedInt(),
            help="How long a flush's segment write takes, in ms [0].",
        ),
        click.option(
            "--seed", type=BoundedInt(), help="Where round-robin partitioning starts [0]."
        ),
    ]
    if with_bugs:
        bugs = click.option(
            "--bugs",
            help="A preset (v0.7.5, v0.7.6, v1.0, fixed) or bug names "
            "joined by commas [seed: v0.7.5].",
        )
        options.insert(3, bugs)  # after --acks, as in the help of simulate

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def scenario_from_flags(**flags: Any) -> cl.Scenario:
    """The seed scenario (cl.SEED) with the given flags replacing its fields."""
    # "auto" (the default) continues the seed's 4+6 requests to any --messages: the rule the
    # notebooks apply too (chronik_lab.notebook.params).
    given = {"batch_sizes": AUTO, **_given(flags)}
    return dataclasses.replace(cl.SEED, snapshots=False, **given)


def _given(flags: dict[str, Any]) -> dict[str, Any]:
    """The flags given, as Scenario values: --batch-sizes parsed, --acks all as -1."""
    given = {k: v for k, v in flags.items() if v is not None}
    if "batch_sizes" in given:
        given["batch_sizes"] = _batch_sizes(given["batch_sizes"])
    if "acks" in given:
        given["acks"] = -1 if given["acks"] == "all" else int(given["acks"])
    return given


def _batch_sizes(text: str) -> tuple[int, ...] | str | None:
    if text.strip().lower() in ("", AUTO):
        return AUTO
    if text.strip().lower() in ("none", "each"):
        return None
    try:
        sizes = tuple(int(part) for part in re.split(r"[,\s]+", text.strip()))
    except ValueError:
        raise BadInput(
            f'--batch-sizes must be ints separated by commas, e.g. "4,6", not {text!r}'
        ) from None
    too_large = [n for n in sizes if abs(n) > INT32_MAX]
    if too_large:
        raise BadInput(f"--batch-sizes {too_large[0]} is too large: at most {INT32_MAX:,}")
    return sizes


def _record_sizes(text: str, messages: int) -> tuple[int, ...] | None:
    """record's --batch-sizes, with "auto" resolved for its workload as for a Scenario's."""
    sizes = _batch_sizes(text)
    if sizes != AUTO:
        return sizes  # type: ignore[return-value]
    if isinstance(messages, int) and messages >= 1:
        return seed_sizes(messages)
    return None  # a bad --messages: record_history reports it under its own name


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


# --- simulate ---------------------------------------------------------------------------------


@main.command()
@_scenario_options()
@click.option("--json", "as_json", is_flag=True, help="Print the run's whole summary as JSON.")
@click.option("--full", is_flag=True, help="Print every span and pattern row, not the first ones.")
@_library_errors
def simulate(as_json: bool, full: bool, **flags: Any) -> None:
    """Run a scenario and print the verdict, the counts, then what the consumer received.

    With no flags it runs the seed: 10 messages in requests of 4 and 6, acks=-1, broker
    v0.7.5 flushing every 2 batches, which returns 20 records. Long lists are cut with a count
    of what is left out; --full or --json print everything.
    """
    run = cl.run(scenario_from_flags(**flags))
    if as_json:
        _echo_json(run.summary())
        return
    for line in simulate_lines(run, full):
        click.echo(line)


def simulate_lines(run: Any, full: bool = False) -> list[str]:
    """What `simulate` prints: scenario, verdict, counts first; the long parts last, cut."""
    from chronik_lab.checker.counts import outcome

    report = run.report
    o = outcome(run.received, len(run.sent))
    lines = [
        _scenario_line(run.scenario),
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


def _scenario_line(s: cl.Scenario) -> str:
    fields = ["messages", "batch_sizes", "acks", "bugs", "flush_batches", "partitions"]
    text = {f: getattr(s, f) for f in fields}
    for name, value in text.items():
        if name == "batch_sizes" and value is not None:
            text[name] = split_label(value, s.messages)  # (4+6)×10,000, not 20,000 numbers
        elif isinstance(value, tuple):
            text[name] = ",".join(map(str, value))
    return "scenario: " + " ".join(f"{f}={v}" for f, v in text.items())


# --- check ------------------------------------------------------------------------------------


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
@_library_errors
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
        _echo_json(data)
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


# --- explain ----------------------------------------------------------------------------------


@main.command()
@click.argument("observed", required=False)
@click.option(
    "--observed-file",
    type=click.Path(dir_okay=False),
    help="A file of observed message ids: a CSV with a message_id column (as in "
    "data/observed/), or ids separated by commas or whitespace.",
)
@_scenario_options(with_bugs=False)
@click.option(
    "--top", type=BoundedInt(), default=10, show_default=True, help="Rows of the ranking shown."
)
@click.option("--json", "as_json", is_flag=True, help="Print the ranking as JSON.")
@_library_errors
def explain(
    observed: str | None, observed_file: str | None, top: int, as_json: bool, **flags: Any
) -> None:
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
    table = cl.explain(ids, scenario)
    minimal = [list(bugs) for bugs in table.loc[table["minimal"], "bugs"]]
    shown = table.head(top)
    if as_json:
        # pandas' own JSON writer: a missing preset becomes null, not NaN (which is not JSON).
        rows = json.loads(shown.drop(columns=["received_ids"]).to_json(orient="records"))
        _echo_json(
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
    line = _scenario_line(scenario).removeprefix("scenario: ").split(" ")
    workload = " ".join(part for part in line if not part.startswith("bugs="))  # all are run
    click.echo(f"workload ({origin}): {workload}")
    if not_applied:
        named = " ".join(f"--{k.replace('_', '-')} {_flag_text(v)}" for k, v in not_applied.items())
        verb = "does" if len(not_applied) == 1 else "do"
        click.echo(f"{named} {verb} not apply to a recorded observation")
    view = shown.drop(columns=["received_ids"]).assign(
        bugs=shown["bugs"].map(_bug_list), preset=shown["preset"].fillna("")
    )
    click.echo(view.to_string(index=False))
    if minimal:
        click.echo("minimal combinations (reproduce it exactly; no smaller subset does):")
        for bugs in minimal:
            click.echo(f"  {_bug_list(bugs)}")
    else:
        click.echo("no bug combination reproduces the observation exactly")


def _explain_workload(
    observed_file: str | None, flags: dict[str, Any]
) -> tuple[cl.Scenario, str, dict[str, Any]]:
    """The scenario to explain under, where its workload comes from, and the workload flags
    that do not apply. sim/observations.py's rule (notebook 05's too): a recorded observation
    is explained under its recorded workload, whatever the flags say; anything else under the
    flags, on the seed's workload."""
    scenario = scenario_from_flags(**flags)
    given = _given(flags)
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


# --- bugs -------------------------------------------------------------------------------------


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue and presets as JSON.")
def bugs(as_json: bool) -> None:
    """List the bug switches (with their chronik commits) and the version presets."""
    if as_json:
        _echo_json(
            {
                "bugs": [dataclasses.asdict(b) for b in cl.BUGS.values()],
                "presets": {name: sorted(members) for name, members in cl.PRESETS.items()},
            }
        )
        return
    columns = shutil.get_terminal_size((100, 24)).columns
    width = max(map(len, cl.BUGS))
    table = columns - (width + 31) >= 30  # room for the summary beside the other columns
    if table:
        click.echo(f"{'bug':<{width}}  introduced  fixed   commit   summary")
    for b in cl.BUGS.values():
        if table:
            start = f"{b.name:<{width}}  {b.introduced_in:<10}  {b.fixed_in:<6}  "
            click.echo(_wrapped(start + f"{b.chronik_commit:<7}  ", b.summary, columns))
        else:  # a narrow terminal: one block per bug
            click.echo(b.name)
            facts = f"introduced {b.introduced_in}, fixed {b.fixed_in}, commit {b.chronik_commit}"
            click.echo(_wrapped("    ", facts, columns))
            click.echo(_wrapped("    ", b.summary, columns))
    click.echo("\npresets:")
    for name, members in cl.PRESETS.items():
        click.echo(_wrapped(f"  {name:<7} ", ", ".join(sorted(members)) or "(no bugs)", columns))


def _wrapped(start: str, text: str, columns: int) -> str:
    """`start` then `text` wrapped to the terminal width, continuation lines under the text."""
    indent = " " * len(start)
    lines = textwrap.wrap(text, width=max(columns - len(start), 20)) or [""]
    return start + ("\n" + indent).join(lines)


# --- the Kafka protocol: serve and record -----------------------------------------------------


@main.command()
@click.option("--bugs", default="fixed", show_default=True, help="A preset or bug names (a+b).")
@click.option("--port", type=int, default=9092, show_default=True, help="0 picks a free port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Keep segments here.")
@click.option(
    "--flush-batches", type=int, default=10, show_default=True, help="Flush at this many batches."
)
@click.option("--linger-ms", type=int, default=None, help="Flush after this long (real time).")
@click.option("--partitions", type=int, default=3, show_default=True, help="Per new topic.")
@_library_errors
def serve(bugs, port, host, data_dir, flush_batches, linger_ms, partitions) -> None:
    """Serve the engine over the Kafka protocol until Ctrl-C."""
    from chronik_lab import wire

    def ready(server: Any) -> None:
        members = "+".join(sorted(server.broker.bugs.names)) or "no bugs"
        click.echo(f"chronik-lab serving {server.bootstrap} as {bugs} ({members})")

    wire.serve_until_interrupted(
        on_ready=ready,
        bugs=bugs,
        port=port,
        host=host,
        data_dir=data_dir,
        flush_batches=flush_batches,
        linger_ms=linger_ms,
        partitions=partitions,
    )


@main.command()
@click.option("--bootstrap", required=True, help="HOST:PORT of any Kafka-compatible broker.")
@click.option("--topic", default="chronik-test", show_default=True, help="Topic to write and read.")
@click.option("--messages", type=int, default=10, show_default=True, help="Messages to send.")
@click.option(
    "--batch-sizes",
    default=AUTO,
    show_default=True,
    help='Messages per produce request, e.g. "4,6"; "none": one each; "auto": 4,6,4,6,...',
)
@click.option(
    "--acks",
    type=click.Choice(["0", "1", "-1", "all"]),
    default="1",
    show_default=True,
    help="The producer's acks.",
)
@click.option(
    "--client",
    type=click.Choice(list(CLIENTS)),
    default="kafka-python",
    show_default=True,
    help="The client library.",
)
@click.option("--partitions", type=int, default=1, show_default=True, help="Partitions written.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="History file (.parquet, .csv, .jsonl) for `chronik-lab check`.",
)
@_library_errors
def record(bootstrap, topic, messages, batch_sizes, acks, client, partitions, output) -> None:
    """Run the lab's workload through a real client against a broker; write its history."""
    from chronik_lab import wire

    rec = wire.record_history(
        output,
        bootstrap,
        topic=topic,
        messages=messages,
        batch_sizes=_record_sizes(batch_sizes, messages),
        acks=-1 if acks == "all" else int(acks),
        client=client,
        partitions=partitions,
    )
    if rec.partial:
        raise click.ClickException(f"partial history written to {output}: {rec.error}")
    click.echo(f"{len(rec.sent)} sent, {len(rec.received)} received; history in {output}")
