"""`chronik-lab`: a thin command line over the library.

Each command gathers its arguments, makes one call into chronik_lab and prints the result. A
library error (any `ChronikLabError`) becomes a one-line message and exit code 2; exit code 1
means the command worked and found something wrong (anomalies, a failed notebook).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

import chronik_lab as cl
from chronik_lab.errors import ChronikLabError

__all__ = ["main"]

EXIT_FOUND = 1  # anomalies found, or a notebook failed
EXIT_BAD_INPUT = 2  # the same code click uses for usage errors


class BadInput(click.ClickException):
    """A one-line `Error: ...` and exit code 2, without click's usage text."""

    exit_code = EXIT_BAD_INPUT


def _library_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into one-line CLI errors, so no traceback reaches the user."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ChronikLabError as exc:
            raise BadInput(_one_line(exc)) from exc
        except OSError as exc:  # unreadable or unwritable paths
            raise BadInput(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from exc

    return functools.update_wrapper(wrapper, func)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(cl.__version__, prog_name="chronik-lab")
def main() -> None:
    """Reproduce, see and explain message duplication and loss in a Kafka-style broker.

    Exit codes: 0 ok, 1 anomalies found (check) or a notebook failed (report), 2 bad input.
    """


# --- report -----------------------------------------------------------------------------------


def parse_parameter_value(name: str, text: str) -> Any:
    """A `-p NAME VALUE` value as papermill reads it: a YAML literal (10, [4, 6], true), or text."""
    if not text.strip():  # -p bugs "" means the empty text, not YAML's null
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        if text.lstrip()[:1] in "[{":  # meant as a list or a mapping, so a typo, not text
            raise BadInput(f"-p {name}: cannot parse {text!r}: {_one_line(exc)}") from None
        return text
    if text.strip() == "None":  # papermill's spelling of None
        return None
    # YAML also reads dates and the like; a notebook parameter only takes JSON-like values.
    return value if _json_like(value) else text


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
    "--jobs", type=int, default=None, help="Notebooks run at a time (default: 2, or 1 on one core)."
)
@_library_errors
def report(out_dir, parameters, notebooks_dir, only, no_progress, kernel, jobs) -> None:
    """Run every notebook through papermill into an offline HTML report.

    Writes OUT/index.html (a table of each notebook's summary), OUT/<notebook>.html, the
    executed notebooks in OUT/notebooks/ and OUT/summary.json. Exits 1 if a notebook failed.
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
        raise click.exceptions.Exit(EXIT_FOUND)


# --- scenario options shared by simulate and explain ------------------------------------------


def _scenario_options(with_bugs: bool = True) -> Callable[..., Any]:
    """The scenario flags; explain leaves out --bugs, since it runs every bug combination."""
    options = [
        click.option("--messages", type=int, help="Messages the producer sends [seed: 10]."),
        click.option(
            "--batch-sizes",
            help='Messages per produce request, e.g. "4,6", or "none" '
            "for one request per message [seed: 4,6; none when --messages is given].",
        ),
        click.option(
            "--acks", type=click.Choice(["-1", "0", "1", "all"]), help="Producer acks [seed: -1]."
        ),
        click.option(
            "--flush-batches",
            type=int,
            help="The broker flushes when this many batches are pending [seed: 2].",
        ),
        click.option("--partitions", type=int, help="Partitions of the topic [1]."),
        click.option(
            "--poll-every",
            type=int,
            help="The consumer also polls after every N requests [only at the end].",
        ),
        click.option("--linger-ms", type=int, help="Flush after this many ms [off]."),
        click.option(
            "--flush-ms", type=int, help="How long a flush's segment write takes, in ms [0]."
        ),
        click.option("--seed", type=int, help="Where round-robin partitioning starts [0]."),
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
    given = {k: v for k, v in flags.items() if v is not None}
    if "batch_sizes" in given:
        given["batch_sizes"] = _batch_sizes(given["batch_sizes"])
    elif "messages" in given:  # the seed's 4+6 split fits only its 10 messages
        given["batch_sizes"] = None
    if "acks" in given:
        given["acks"] = -1 if given["acks"] == "all" else int(given["acks"])
    return dataclasses.replace(cl.SEED, snapshots=False, **given)


def _batch_sizes(text: str) -> tuple[int, ...] | None:
    if text.strip().lower() in ("", "none", "each"):
        return None
    try:
        return tuple(int(part) for part in re.split(r"[,\s]+", text.strip()))
    except ValueError:
        raise BadInput(
            f'--batch-sizes must be ints separated by commas, e.g. "4,6", not {text!r}'
        ) from None


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


# --- simulate ---------------------------------------------------------------------------------


@main.command()
@_scenario_options()
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON.")
@_library_errors
def simulate(as_json: bool, **flags: Any) -> None:
    """Run a scenario and print what the consumer received and the anomalies.

    With no flags it runs the seed: 10 messages in requests of 4 and 6, acks=-1, broker
    v0.7.5 flushing every 2 batches, which returns 20 records.
    """
    run = cl.run(scenario_from_flags(**flags))
    if as_json:
        _echo_json(run.summary())
        return
    click.echo(_scenario_line(run.scenario))
    click.echo(
        f"sent {len(run.sent)}, received {len(run.received)} "
        f"({run.received['message_id'].nunique()} distinct)"
    )
    click.echo(f"received (offset ↦ id): {run.report.pattern_text()}")
    if not run.report.pattern.empty:
        click.echo(run.report.pattern.to_string(index=False))
    click.echo("anomalies:")
    for name, count in run.report.counts.items():
        click.echo(f"  {name:<22}{count}")


def _scenario_line(s: cl.Scenario) -> str:
    fields = ["messages", "batch_sizes", "acks", "bugs", "flush_batches", "partitions"]
    text = {f: getattr(s, f) for f in fields}
    for name, value in text.items():
        if isinstance(value, tuple):
            text[name] = ",".join(map(str, value))
    return "scenario: " + " ".join(f"{f}={v}" for f, v in text.items())


# --- check ------------------------------------------------------------------------------------


@main.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print ok, counts, stats, pattern as JSON.")
@_library_errors
def check(path: str, as_json: bool) -> None:
    """Check a history file (.csv, .parquet, .jsonl) for duplicates, losses and the rest.

    Columns: op_index, process, f (send|poll), type (ok|fail|info), partition, offset, value.
    Exits 1 when anomalies are found, 0 when the history is clean, 2 when it cannot be read.
    """
    # From the modules, not `cl.`: `chronik_lab.checker.verdict` is also the name of the submodule.
    from chronik_lab.checker.history import read_history
    from chronik_lab.checker.verdict import check as check_history

    result = check_history(read_history(path))
    if as_json:
        _echo_json(result.to_dict())
    else:
        click.echo(result.summary())
    if not result.ok:
        raise click.exceptions.Exit(EXIT_FOUND)


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
@click.option("--top", type=int, default=10, show_default=True, help="Rows of the ranking shown.")
@click.option("--json", "as_json", is_flag=True, help="Print the ranking as JSON.")
@_library_errors
def explain(
    observed: str | None, observed_file: str | None, top: int, as_json: bool, **flags: Any
) -> None:
    """Rank the bug combinations that reproduce the OBSERVED message ids.

    OBSERVED is the ids in the order the consumer received them, e.g. the seed's
    "0,1,2,3,0,1,2,3,4,5,6,7,8,9,4,5,6,7,8,9". The workload comes from the scenario flags (the
    seed's by default); every one of the 256 bug combinations is run on it.
    """
    ids = _observed_ids(observed, observed_file)
    if top < 1:
        raise BadInput(f"--top must be >= 1, not {top}")
    scenario = scenario_from_flags(**flags)
    table = cl.explain(ids, scenario)
    minimal = [list(bugs) for bugs in table.loc[table["minimal"], "bugs"]]
    shown = table.head(top)
    if as_json:
        # pandas' own JSON writer: a missing preset becomes null, not NaN (which is not JSON).
        rows = json.loads(shown.drop(columns=["received_ids"]).to_json(orient="records"))
        _echo_json(
            {"observed": ids, "scenario": scenario.to_dict(), "ranking": rows, "minimal": minimal}
        )
        return
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


def _observed_ids(observed: str | None, observed_file: str | None) -> list[int]:
    if (observed is None) == (observed_file is None):
        raise BadInput("give the observed ids either as an argument or with --observed-file")
    if observed_file and observed_file.lower().endswith(".csv"):
        from chronik_lab.notebook.digest import (
            read_observed,  # a consumer dump, as in data/observed/
        )

        return read_observed(observed_file)["message_id"].tolist()
    text = Path(observed_file).read_text() if observed_file else observed
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise BadInput("observed ids must be ints separated by commas or spaces") from None


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
    width = max(map(len, cl.BUGS))
    click.echo(f"{'bug':<{width}}  introduced  fixed   commit   summary")
    for b in cl.BUGS.values():
        click.echo(
            f"{b.name:<{width}}  {b.introduced_in:<10}  {b.fixed_in:<6}  "
            f"{b.chronik_commit:<7}  {b.summary}"
        )
    click.echo("\npresets:")
    for name, members in cl.PRESETS.items():
        click.echo(f"  {name:<7} {', '.join(sorted(members)) or '(no bugs)'}")
