"""`chronik-lab serve`: the server in the foreground until Ctrl-C or SIGTERM.

Both stop it the same way, cleanly: connections closed, pending batches flushed, the broker
closed (SIGTERM used to kill the process where it stood, losing what was pending). A second
SIGTERM while it stops is ignored, so that the flush is not cut short; SIGKILL still kills.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from chronik_lab.wire.server import serve

__all__ = ["serve_until_interrupted"]


def serve_until_interrupted(on_ready: Any = None, **options: Any) -> None:
    """Serve (as `serve(**options)`) in the foreground until Ctrl-C or SIGTERM, then stop
    cleanly: pending batches are flushed, as on Ctrl-C. `on_ready(server)` runs once the port
    is bound (the CLI prints its line there)."""
    previous = _stop_on_sigterm()
    server = None
    try:
        server = serve(**options)
        if on_ready is not None:
            on_ready(server)
        while not server.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stop_on_sigterm() -> Any:
    """Make the first SIGTERM a KeyboardInterrupt in the main thread, and any later one
    ignored while the server stops; the handler it replaced (None off the main thread)."""

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)
