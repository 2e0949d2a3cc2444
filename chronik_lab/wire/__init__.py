"""The Kafka wire protocol over the engine (`cl.serve`) and real-client workloads."""

from chronik_lab.wire.server import Server, ServerError, serve

__all__ = ["Server", "ServerError", "serve"]
