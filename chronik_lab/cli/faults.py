"""`chronik-lab proxy`, and `record`'s flags for a run under faults (issue 20).

`record` runs under faults when any of `fault_options` is given: the workload goes through the
fault proxy (wire/faultrun.py) with the client's own retry and idempotence settings, heals, reads
everything back, and writes a history with the faults as `nemesis` rows. A run that met faults
is not an error; only a broker that never became reachable is.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import click

from chronik_lab.cli.common import BadInput, BoundedInt, library_errors, main

__all__ = ["fault_options", "proxy", "record_under_faults", "under_faults"]


def fault_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The fault recorder's flags, added to a command."""
    options = [
        click.option("--fault", "faults", multiple=True, metavar="SPEC",
                     help="A fault, KIND[:key=value,...], e.g. drop-response:api=produce,every=20 "
                     "or kill:every=2s (repeatable; `chronik-lab proxy --help` lists them)."),
        click.option("--seed", type=BoundedInt(), default=0, show_default=True,
                     help="Seeds the faults' p= draws."),
        click.option("--producers", type=BoundedInt(), default=1, show_default=True,
                     help="Producer threads (each its own client)."),
        click.option("--consumers", type=BoundedInt(), default=None,
                     help="Consumers polling while the producers send [1 under faults]."),
        click.option("--producer-config", multiple=True, metavar="KEY=VALUE",
                     help="A producer setting in the client's own names, e.g. "
                     "enable_idempotence=true (kafka-python), enable.idempotence=true "
                     "(confluent-kafka)."),
        click.option("--consumer-config", multiple=True, metavar="KEY=VALUE",
                     help="A consumer setting in the client's own names."),
        click.option("--broker-cmd", metavar="COMMAND",
                     help="Start the broker with this command (and stop it at the end): "
                     "kill and pause faults act on it."),
        click.option("--broker-ready", metavar="HOST:PORT",
                     help="The address the started broker listens on (waited for at the start "
                     "and after each restart); the default for --bootstrap."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def under_faults(flags: dict[str, Any]) -> bool:
    """Whether `record`'s flags ask for a run through the fault proxy."""
    return bool(
        flags["faults"] or flags["producer_config"] or flags["consumer_config"]
        or flags["broker_cmd"] or flags["producers"] != 1 or flags["consumers"] is not None
    )  # fmt: skip


def record_under_faults(
    output: str, bootstrap: str | None, workload: dict[str, Any], flags: dict[str, Any]
) -> None:
    """`record` through the fault proxy: a history whatever the faults did."""
    from chronik_lab.wire.configs import parse_pairs
    from chronik_lab.wire.faultrun import record_faults

    if flags["broker_cmd"] and not (flags["broker_ready"] or bootstrap):
        raise BadInput("--broker-cmd needs --broker-ready HOST:PORT (where the broker listens)")
    previous = _interrupt_once()
    try:
        rec = record_faults(
            bootstrap,
            faults=list(flags["faults"]),
            seed=flags["seed"],
            producers=flags["producers"],
            consumers=1 if flags["consumers"] is None else flags["consumers"],
            producer_config=parse_pairs(flags["producer_config"], "--producer-config"),
            consumer_config=parse_pairs(flags["consumer_config"], "--consumer-config"),
            broker_cmd=flags["broker_cmd"],
            broker_ready=flags["broker_ready"],
            history_path=output,
            **workload,
        )
    finally:
        _restore(previous)
    kinds = rec.sent["type"].value_counts()
    finals = rec.received[rec.received["final"]]
    click.echo(
        f"{len(rec.sent)} sent ({kinds.get('ok', 0)} ok, {kinds.get('info', 0)} info, "
        f"{kinds.get('fail', 0)} fail), {len(rec.faults)} faults applied, "
        f"{finals['message_id'].nunique()} distinct ids read back; history in {output}"
    )
    for note in rec.notes[:5]:
        click.echo(f"note: {note}", err=True)


@main.command()
@click.option("--upstream", required=True, help="HOST:PORT of the broker to stand in front of.")
@click.option("--port", type=BoundedInt(65_535), default=0, show_default=True,
              help="0 picks a free port.")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--fault", "faults", multiple=True, metavar="SPEC", help="A fault (repeatable).")
@click.option("--seed", type=BoundedInt(), default=0, show_default=True, help="Seeds p= draws.")
@library_errors
def proxy(upstream, port, host, faults, seed) -> None:
    """A Kafka-aware fault proxy in front of a broker, until Ctrl-C; prints each fault applied.

    \b
    A fault is KIND[:key=value,...]:
      drop-response, reset-before, reset-after, delay (ms, on=request|response), blackhole (ms,
      then=release|reset), latency (ms, jitter), bandwidth (rate KB/s), slice (bytes, ms);
      when: api=NAME|NUMBER, at=N|3s, every=N|2s, for=1s, p=0.1, seed=N;
      or a name: lost-ack, lost-acks, reset-produce (kill-restart needs record --broker-cmd).
    e.g. --fault drop-response:api=produce,every=20 --fault delay:api=produce,ms=300,p=0.1"""
    from chronik_lab.wire.proxy import Proxy

    def show(event: Any) -> None:
        api = "" if event.api is None else f" {event.api} #{event.correlation_id}"
        where = "" if event.connection is None else f" connection {event.connection}"
        click.echo(f"{event.time_s:9.3f} s  {event.kind}{where}{api}: {event.action}")

    p = Proxy(upstream, list(faults), seed, port=port, host=host, on_event=show)
    previous = _interrupt_once()
    try:
        p.start()
        click.echo(f"chronik-lab proxy on {p.bootstrap} -> {upstream} ({len(p.faults)} faults)")
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        p.stop()
        _restore(previous)


def _interrupt_once() -> dict[int, Any]:
    """Make the first Ctrl-C or SIGTERM a KeyboardInterrupt, and ignore any later one while the
    command cleans up, so that a second signal cannot cut short the stopping of the broker the
    lab started (it would be left running). Returns the handlers replaced."""

    def handler(signum: int, frame: Any) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt

    # A SIGINT ignored on entry (a background job of a script) stays ignored, as Python leaves it.
    signals = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) != signal.SIG_IGN]
    return {sig: signal.signal(sig, handler) for sig in signals}


def _restore(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
