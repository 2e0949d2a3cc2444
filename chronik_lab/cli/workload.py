"""The scenario flags simulate and explain share, and batch sizes as typed (record's too)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import click

import chronik_lab as cl
from chronik_lab.cli.common import INT32_MAX, BadInput, BoundedInt
from chronik_lab.sim.splits import AUTO, seed_sizes, split_label

__all__ = [
    "given_flags", "parse_batch_sizes", "record_sizes", "scenario_from_flags", "scenario_line",
    "scenario_options",
]  # fmt: skip


def scenario_options(with_bugs: bool = True) -> Callable[..., Any]:
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
    given = {"batch_sizes": AUTO, **given_flags(flags)}
    return dataclasses.replace(cl.SEED, snapshots=False, **given)


def given_flags(flags: dict[str, Any]) -> dict[str, Any]:
    """The flags given, as Scenario values: --batch-sizes parsed, --acks all as -1."""
    given = {k: v for k, v in flags.items() if v is not None}
    if "batch_sizes" in given:
        given["batch_sizes"] = parse_batch_sizes(given["batch_sizes"])
    if "acks" in given:
        given["acks"] = -1 if given["acks"] == "all" else int(given["acks"])
    return given


def parse_batch_sizes(text: str) -> tuple[int, ...] | str | None:
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


def record_sizes(text: str, messages: int) -> tuple[int, ...] | None:
    """record's --batch-sizes, with "auto" resolved for its workload as for a Scenario's."""
    sizes = parse_batch_sizes(text)
    if sizes != AUTO:
        return sizes  # type: ignore[return-value]
    if isinstance(messages, int) and messages >= 1:
        return seed_sizes(messages)
    return None  # a bad --messages: record_history reports it under its own name


def scenario_line(s: cl.Scenario) -> str:
    fields = ["messages", "batch_sizes", "acks", "bugs", "flush_batches", "partitions"]
    text = {f: getattr(s, f) for f in fields}
    for name, value in text.items():
        if name == "batch_sizes" and value is not None:
            text[name] = split_label(value, s.messages)  # (4+6)×10,000, not 20,000 numbers
        elif isinstance(value, tuple):
            text[name] = ",".join(map(str, value))
    return "scenario: " + " ".join(f"{f}={v}" for f, v in text.items())
