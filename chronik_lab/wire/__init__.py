"""The Kafka wire protocol over the engine (`cl.serve`) and real-client workloads.

Importing it registers the real-client drivers of `cl.run(scenario, client=...)`.
"""

from chronik_lab.wire.runs import run_with_client
from chronik_lab.wire.server import Server, ServerError, serve, serve_until_interrupted
from chronik_lab.wire.workload import CLIENTS, Recording, record, record_history

__all__ = [
    "CLIENTS",
    "Recording",
    "Server",
    "ServerError",
    "record",
    "record_history",
    "run_with_client",
    "serve",
    "serve_until_interrupted",
]
