"""`chronik-lab serve` and `record`: the lab's broker over the Kafka protocol, and the lab's
workload through a real client against any broker, written as a history."""

from __future__ import annotations

from typing import Any

import click

from chronik_lab.cli.common import library_errors, main
from chronik_lab.cli.workload import record_sizes
from chronik_lab.sim.splits import AUTO
from chronik_lab.wire import CLIENTS

__all__ = ["record", "serve"]


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
@library_errors
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
@library_errors
def record(bootstrap, topic, messages, batch_sizes, acks, client, partitions, output) -> None:
    """Run the lab's workload through a real client against a broker; write its history."""
    from chronik_lab import wire

    rec = wire.record_history(
        output,
        bootstrap,
        topic=topic,
        messages=messages,
        batch_sizes=record_sizes(batch_sizes, messages),
        acks=-1 if acks == "all" else int(acks),
        client=client,
        partitions=partitions,
    )
    if rec.partial:
        raise click.ClickException(f"partial history written to {output}: {rec.error}")
    click.echo(f"{len(rec.sent)} sent, {len(rec.received)} received; history in {output}")
