"""`chronik-lab serve` and `record`: the lab's broker over the Kafka protocol, and the lab's
workload through a real client against any broker, written as a history.

Their defaults are the seed's (`cl.SEED`: 10 messages in requests of 4 and 6, acks=-1, one
partition, a flush every 2 pending batches), as `simulate`'s are: `serve --bugs v0.7.5` and a
`record` against it reproduce chronik's duplication with no other flag.

`record` writes to a fresh topic per run (`wire.workload.fresh_topic`) unless `--topic` names
one, so a second run never reads the first run's records back (a reused topic mixes them into
the history). Its exits: 0 when every step went through; 2 (an `Error:` line) when the broker
never answered at all; 5 (`EXIT_PARTIAL`) when it stopped answering during the run. Either way
the partial history is written, `fail` / `info` operations and all. With any of the fault flags
(cli/faults.py) it runs through the fault proxy instead, and a run that met faults exits 0.
"""

from __future__ import annotations

from typing import Any

import click

from chronik_lab.cli.common import (
    EXIT_PARTIAL,
    BadInput,
    BoundedInt,
    library_errors,
    main,
)
from chronik_lab.cli.faults import fault_options, record_under_faults, under_faults
from chronik_lab.cli.workload import record_sizes
from chronik_lab.sim.scenario import SEED
from chronik_lab.sim.splits import AUTO
from chronik_lab.wire import CLIENTS
from chronik_lab.wire.workload import fresh_topic

__all__ = ["record", "serve"]

PORT_MAX = 65_535


@main.command()
@click.option("--bugs", default="fixed", show_default=True, help="A preset or bug names (a+b).")
@click.option(
    "--port", type=BoundedInt(PORT_MAX), default=9092, show_default=True, help="0: any free port."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Keep segments here.")
@click.option(
    "--flush-batches",
    type=BoundedInt(),
    default=SEED.flush_batches,
    show_default=True,
    help="Flush a partition at this many pending batches (the seed's).",
)
@click.option("--linger-ms", type=BoundedInt(), default=None, help="Flush after this long.")
@click.option(
    "--partitions",
    type=BoundedInt(),
    default=SEED.partitions,
    show_default=True,
    help="Partitions of a topic created on first use.",
)
@library_errors
def serve(bugs, port, host, data_dir, flush_batches, linger_ms, partitions) -> None:
    """Serve the engine over the Kafka protocol until Ctrl-C (or SIGTERM)."""
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
@click.option("--bootstrap", help="HOST:PORT of any Kafka-compatible broker.")
@click.option(
    "--topic",
    help="Topic to write and read [a fresh one per run, printed: records already in a topic "
    "would be read back into this run's history].",
)
@click.option(
    "--messages", type=BoundedInt(), default=SEED.messages, show_default=True, help="Messages."
)
@click.option(
    "--batch-sizes",
    default=None,
    show_default=AUTO,
    help='Messages per produce request, e.g. "4,6"; "none": one each; "auto": 4,6,4,6,... '
    "(a calm run only: under faults each producer sends chunks of 10).",
)
@click.option(
    "--acks",
    type=click.Choice(["0", "1", "-1", "all"]),
    default="all",
    show_default=True,
    help="The producer's acks (all = -1, the seed's).",
)
@click.option(
    "--client",
    type=click.Choice(list(CLIENTS)),
    default="kafka-python",
    show_default=True,
    help="The client library.",
)
@click.option(
    "--partitions",
    type=BoundedInt(),
    default=SEED.partitions,
    show_default=True,
    help="Partitions written.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="History file (.parquet, .csv, .jsonl) for `chronik-lab check`.",
)
@fault_options
@library_errors
def record(
    bootstrap, topic, messages, batch_sizes, acks, client, partitions, output, **flags
) -> None:
    """Run the lab's workload through a real client against a broker; write its history.

    Exits 0 when every step went through, 2 when the broker never answered, 5 when it stopped
    answering during the run; the history is written in every case.

    With --fault, --broker-cmd, --producers, --consumers or a --producer-config /
    --consumer-config, the workload runs through the fault proxy with the client's own retry
    and idempotence settings, heals, reads everything back, and writes a history with the
    faults as `nemesis` rows: a run that met faults is not an error."""
    from chronik_lab import wire

    if bootstrap is None and not flags["broker_ready"]:
        raise BadInput("give --bootstrap HOST:PORT (or --broker-cmd with --broker-ready)")
    if batch_sizes is not None and under_faults(flags):  # fixed chunks there: refuse, not ignore
        raise BadInput("--batch-sizes applies to a calm run, not with the fault options")
    if topic is None:
        topic = fresh_topic()
        click.echo(f"topic {topic} (a fresh one; --topic NAME to choose)")
    acks_value = -1 if acks == "all" else int(acks)
    if under_faults(flags):
        workload = dict(topic=topic, messages=messages, acks=acks_value, client=client,
                        partitions=partitions)  # fmt: skip
        record_under_faults(output, bootstrap, workload, flags)
        return
    if bootstrap is None:
        raise BadInput("--broker-ready needs --broker-cmd (or give --bootstrap HOST:PORT)")
    rec = wire.record_history(
        output,
        bootstrap,
        topic=topic,
        messages=messages,
        batch_sizes=record_sizes(AUTO if batch_sizes is None else batch_sizes, messages),
        acks=acks_value,
        client=client,
        partitions=partitions,
    )
    if not rec.partial:
        click.echo(f"{len(rec.sent)} sent, {len(rec.received)} received; history in {output}")
        return
    if rec.sent["offset"].isna().all() and rec.received.empty:  # not one answer came back
        raise BadInput(f"no answer from {bootstrap}: {rec.error} (history in {output})")
    click.echo(f"partial history written to {output}: {rec.error}", err=True)
    raise click.exceptions.Exit(EXIT_PARTIAL)
