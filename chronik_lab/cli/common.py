"""What every command shares: the `main` group, the exit codes (the package docstring lists
them), bounded int flags, and library errors as one `Error:` line."""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

import chronik_lab as cl
from chronik_lab.errors import ChronikLabError, one_line

__all__ = [
    "EXIT_ANOMALIES", "EXIT_BAD_INPUT", "EXIT_INTERNAL", "EXIT_INTERRUPTED",
    "EXIT_NOTEBOOK_FAILED", "EXIT_PARTIAL", "EXIT_PIPE_CLOSED", "INT32_MAX", "INT64_MAX",
    "SPANS_SHOWN", "BadInput", "BoundedInt", "echo_json", "library_errors", "main",
]  # fmt: skip

EXIT_ANOMALIES = 1
EXIT_BAD_INPUT = 2  # the same code click uses for usage errors
EXIT_NOTEBOOK_FAILED = 3
EXIT_INTERNAL = 4
EXIT_PARTIAL = 5  # record: the broker stopped answering during the run; the history is partial
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE

EXIT_CODES_HELP = """\b
Exit codes:
  0    done, nothing wrong found
  1    anomalies found (check)
  2    bad input (a usage error or a one-line Error: message)
  3    a notebook failed (report)
  4    internal error (a bug: the traceback is printed)
  5    a partial history (record: the broker stopped answering mid-run)
  130  interrupted (Ctrl-C)
  141  output pipe closed (e.g. | head)"""

# Kafka's partition, size and time fields are int32; the lab holds every message in memory, so
# nothing near these bounds runs anyway, but beyond them numpy would overflow with a traceback.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
# What a command prints of a long list unless asked for all of it.
SPANS_SHOWN = 12


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


def library_errors(func: Callable[..., Any]) -> Callable[..., Any]:
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


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group(
    cls=_Group, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP
)
@click.version_option(cl.__version__, prog_name="chronik-lab")
def main() -> None:
    """Reproduce, see and explain message duplication and loss in a Kafka-style broker."""
