"""One notebook run in a Jupyter kernel (papermill), and the kill switch for Ctrl-C.

Kernels start in their own session (jupyter_client does so), so the terminal's SIGINT never
reaches them: without `kill_running()` a Ctrl-C on the report would leave them running their
notebooks to the end, and the report waiting for them.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import papermill
from jupyter_client import AsyncKernelManager

__all__ = ["execute_notebook", "kill_running"]

# ipykernel warns on stderr about unencrypted local TCP at every start; the warning is noise in
# a progress bar, and a real kernel failure still surfaces as a papermill error.
_QUIET_KERNEL = ["--IPKernelApp.log_level=ERROR"]
# papermill's parameter regex warns "Unable to parse line" at any line holding two "=", as a
# fault spec default does (08_faults: "drop-response:api=produce,at=3"); the pre-flight reads
# the parameters cell with ast instead (preflight.declared_parameters), so the warning is noise.
logging.getLogger("papermill.translators").setLevel(logging.ERROR)


class _TrackedKernelManager(AsyncKernelManager):
    """papermill's kernel manager, remembering its running kernels so that they can be killed."""

    _running: set[_TrackedKernelManager] = set()
    _lock = threading.Lock()

    async def start_kernel(self, **kwargs: Any) -> None:
        self.clients: list[Any] = []
        await super().start_kernel(**kwargs)
        with self._lock:
            self._running.add(self)

    def client(self, **kwargs: Any) -> Any:
        client = super().client(**kwargs)
        self.clients.append(client)
        return client

    async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        with self._lock:
            self._running.discard(self)
        await super().shutdown_kernel(now=now, restart=restart)


def kill_running() -> int:
    """Kill every kernel a notebook run started and has not shut down; how many were killed.
    Their papermill calls then end at once with a dead-kernel error."""
    with _TrackedKernelManager._lock:
        running = list(_TrackedKernelManager._running)
        _TrackedKernelManager._running.clear()
    killed = 0
    for manager in running:
        process = getattr(manager.provisioner, "process", None)
        if process is not None and process.poll() is None:
            process.kill()
            killed += 1
        # The channels' sockets linger 1 s each for messages the dead kernel will never take:
        # closed now, the process can exit at once instead of waiting for them.
        for context in [c.context for c in getattr(manager, "clients", [])] + [manager.context]:
            context.destroy(linger=0)
    return killed


def execute_notebook(
    notebook: Path, executed: Path, parameters: dict[str, Any], kernel: str
) -> None:
    """Run `notebook` with `parameters` into `executed` (papermill's errors propagate)."""
    papermill.execute_notebook(
        str(notebook),
        str(executed),
        parameters=parameters,
        kernel_name=kernel,
        # The kernel starts in the notebook's folder (relative paths work as in JupyterLab).
        # Not papermill's cwd=: that chdir()s this whole process, which races between
        # threads and can start another notebook's kernel in the wrong folder.
        resources={"metadata": {"path": str(notebook.parent)}},
        progress_bar=False,
        extra_arguments=_QUIET_KERNEL,
        # The outputs are all in by then; a graceful shutdown only waits (up to 5 s on a
        # loaded machine) for atexit hooks the notebooks do not use.
        shutdown_kernel="immediate",
        kernel_manager_class=_TrackedKernelManager,
    )
