"""One notebook run in a Jupyter kernel (papermill), and the kill switch for Ctrl-C.

Kernels start in their own session (jupyter_client does so), so the terminal's SIGINT never
reaches them: without `Kernels.kill_all()` a Ctrl-C on the report would leave them running
their notebooks to the end, and the report waiting for them.

`kill_all()` kills each kernel's whole process group, not only the kernel: a notebook's process
pool (cl.explain and cl.sweep start one) is forked into the kernel's group, and killing only the
kernel left its workers orphaned, holding the report's output pipes. Once it has run, no kernel
of that report starts any more, and a kernel whose launch was under way kills itself as soon as
it exists, so a notebook thread that was about to start one when Ctrl-C came leaves nothing
behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from typing import Any

import papermill
from jupyter_client import AsyncKernelManager

__all__ = ["Kernels", "KernelsStoppedError", "execute_notebook"]

# ipykernel warns on stderr about unencrypted local TCP at every start; the warning is noise in
# a progress bar, and a real kernel failure still surfaces as a papermill error.
_QUIET_KERNEL = ["--IPKernelApp.log_level=ERROR"]


class KernelsStoppedError(RuntimeError):
    """A kernel was asked for after `kill_all()`: the report is stopping."""


class Kernels:
    """The kernels of one report run, from the moment each is launched until it is shut down.
    Invariant: after `kill_all()`, none is running and none starts. Thread-safe: every
    notebook thread launches and shuts down its kernels through it."""

    def __init__(self) -> None:
        self._running: set[_TrackedKernelManager] = set()
        self._lock = threading.Lock()
        self._stopped = False
        # papermill takes a class: one bound to this run
        self.manager_class = type("KernelManager", (_TrackedKernelManager,), {"kernels": self})

    def launching(self, manager: _TrackedKernelManager) -> None:
        with self._lock:
            if self._stopped:
                raise KernelsStoppedError("the report is stopping: no new kernel")
            self._running.add(manager)

    def launched(self, manager: _TrackedKernelManager) -> None:
        with self._lock:
            late = self._stopped
        if late:  # kill_all() came while this kernel was being launched
            _kill(manager)

    def shut_down(self, manager: _TrackedKernelManager) -> None:
        with self._lock:
            self._running.discard(manager)

    def kill_all(self) -> int:
        """Kill every kernel running, with every process it started, and let no more start;
        how many were still running. Their papermill calls then end at once with a
        dead-kernel error."""
        with self._lock:
            self._stopped = True
            running, self._running = list(self._running), set()
        return sum(_kill(manager) for manager in running)


class _TrackedKernelManager(AsyncKernelManager):
    """papermill's kernel manager, reporting to its run's `Kernels` (the `kernels` class
    attribute of the subclass `Kernels` makes)."""

    kernels: Kernels

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        self.clients: list[Any] = []
        self.kernels.launching(self)
        try:
            await super()._async_launch_kernel(kernel_cmd, **kw)
        finally:
            self.kernels.launched(self)

    def client(self, **kwargs: Any) -> Any:
        client = super().client(**kwargs)
        self.clients.append(client)
        return client

    async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        try:
            await super().shutdown_kernel(now=now, restart=restart)
        finally:  # only once it is down: a Ctrl-C during the shutdown still kills it
            self.kernels.shut_down(self)


def _kill(manager: _TrackedKernelManager) -> bool:
    """SIGKILL the kernel's process group (the kernel leads its own session); True when its
    process was still running."""
    provisioner = getattr(manager, "provisioner", None)
    process = getattr(provisioner, "process", None)
    alive = process is not None and process.poll() is None
    if process is not None:
        group = getattr(provisioner, "pgid", None)
        with contextlib.suppress(OSError):
            if group and group != os.getpgrp():  # never this report's own group
                os.killpg(group, signal.SIGKILL)
            else:
                process.kill()
    # The channels' sockets linger 1 s each for messages the dead kernel will never take:
    # closed now, the process can exit at once instead of waiting for them.
    for context in [c.context for c in getattr(manager, "clients", [])] + [manager.context]:
        context.destroy(linger=0)
    return alive


def execute_notebook(
    notebook: Path, executed: Path, parameters: dict[str, Any], kernel: str, kernels: Kernels
) -> None:
    """Run `notebook` with `parameters` into `executed`, its kernel one of `kernels`
    (papermill's errors propagate)."""
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
        kernel_manager_class=kernels.manager_class,
    )
