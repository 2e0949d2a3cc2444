"""`chronik-lab report`: every notebook through papermill into the offline HTML report."""

from __future__ import annotations

import click

from chronik_lab.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_NOTEBOOK_FAILED,
    BoundedInt,
    library_errors,
    main,
)
from chronik_lab.report.preflight import parse_parameter_value

__all__ = ["report"]


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
@library_errors
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
    n = len(result.notebooks)
    for nb in result.notebooks:
        status = "ok" if nb.ok else f"FAILED: {nb.error}"
        click.echo(f"{nb.name:<28} {nb.duration_s:6.1f} s  {status}")
    click.echo(
        f"report: {result.index} ({n} notebook{'' if n == 1 else 's'}, {result.duration_s:.1f} s)"
    )
    if not result.ok:
        raise click.exceptions.Exit(EXIT_NOTEBOOK_FAILED)
