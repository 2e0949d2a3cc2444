"""The Kafka wire protocol over the engine (`cl.serve`) and real-client workloads.

Importing this package registers the real-client drivers of `cl.run(scenario, client=...)`.
It stays light: the codec (kafka-python's protocol structs, about a second to import) loads
only when a server starts or a driver runs; the names below load their module on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from chronik_lab.sim import drivers
from chronik_lab.wire.workload import CLIENTS  # the real clients: their drivers are registered

_LAZY = {
    "Server": "chronik_lab.wire.server",
    "ServerError": "chronik_lab.wire.server",
    "serve_until_interrupted": "chronik_lab.wire.foreground",
    "Recording": "chronik_lab.wire.workload",
    "record": "chronik_lab.wire.workload",
    "record_history": "chronik_lab.wire.workload",
    "run_with_client": "chronik_lab.wire.runs",
}
__all__ = ["CLIENTS", "serve", *_LAZY]


def serve(bugs: Any = "fixed", port: int = 0, **options: Any) -> Any:
    """Start the engine over the Kafka protocol (see `chronik_lab.wire.server.serve`):
    `with cl.serve(bugs="v0.7.5", port=0) as server: server.bootstrap, server.broker`."""
    from chronik_lab.wire.server import serve as start

    return start(bugs=bugs, port=port, **options)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _driver(client: str) -> Any:
    def run(scenario: Any, **options: Any) -> Any:
        from chronik_lab.wire.runs import run_with_client

        return run_with_client(scenario, client, **options)

    run.__name__ = f"run_with_{client.replace('-', '_')}"
    return run


for _client in CLIENTS:
    drivers.register(_client, _driver(_client))
