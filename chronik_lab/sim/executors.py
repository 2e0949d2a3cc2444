"""Where explain and sweep run their simulations: in this process or through an Executor.

`executor` (the parameter of `cl.explain` and `cl.sweep`) is one of:
- None: automatic. The first run happens in this process and is timed; when the runs left
  would take `AUTO_PARALLEL_SECONDS` or more at that pace (the caller estimates how many are
  left), the rest go to a process pool of `max_workers` (default: the CPU count) that the call
  starts and shuts down. Less work than that goes to a thread pool of as many threads: starting
  processes and pickling results would cost more than they save, while threads overlap the
  runs' file-system work (each run's broker makes, writes and removes its own directory, and
  the GIL is released meanwhile). On small workloads that gains nothing (the runs are cheap):
  `benchmarks/bench_explain.py --quick` on a quiet machine gave serial 0.81-0.89x
  the default's time at 10 messages and 0.85-1.03x at 1,000.
  With one CPU or `max_workers=1`, everything runs in this process.
- "serial": every run in this process, one after the other.
- "processes": a process pool of `max_workers`, started and shut down by the call.
- any `concurrent.futures.Executor` (a ProcessPoolExecutor, a ThreadPoolExecutor, ...): used as
  it is and left running -- the caller owns it.
- a `dask.distributed.Client` (anything with a `get_executor()` method): its executor (a
  `concurrent.futures.Executor`) runs the simulations on the client's cluster, so a local
  `Client(processes=False)` and a remote scheduler work the same way. The runs' functions are
  module-level in chronik_lab, so the workers need chronik_lab installed.

Results never depend on the executor: each run is deterministic and the caller orders them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from tqdm import tqdm

from chronik_lab.errors import InvalidArgumentError

__all__ = ["AUTO_PARALLEL_SECONDS", "InProcess", "Pool", "progress_bar", "resolve_executor"]

AUTO_PARALLEL_SECONDS = 0.25  # work left, at the first run's pace, worth a process pool
NAMED = ("serial", "processes")


class InProcess(Executor):
    """An Executor that runs each call in this process when it is submitted."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)
        return future


class Pool:
    """The executor one call uses, resolved from the `executor` parameter (see the module doc).

    `window` is how many runs to keep submitted at once: twice the workers, so a worker never
    waits for the caller to hand it the next run. Use it as a context manager: a pool the call
    started is shut down on leaving, pending runs cancelled.
    """

    def __init__(self, executor: object, max_workers: object) -> None:
        spec = resolve_executor(executor)
        self.workers = _max_workers(max_workers)
        self._owned: Executor | None = None
        self.executor: Executor | None = spec if isinstance(spec, Executor) else None
        if spec == "serial":
            self.executor = InProcess()
        elif spec == "processes":
            self.executor = self._own()

    @property
    def decided(self) -> bool:
        """False while the automatic choice waits for the first run's time."""
        return self.executor is not None

    @property
    def window(self) -> int:
        return 1 if isinstance(self.executor, InProcess) else 2 * self.workers

    def time_first(self, fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
        """Automatic mode: run `fn(*args)` here; return its result and how long it took."""
        start = time.perf_counter()
        result = fn(*args)
        return result, time.perf_counter() - start

    def decide(self, seconds_left: float) -> None:
        """Automatic mode: a process pool when the runs left would take at least
        `AUTO_PARALLEL_SECONDS` here, else a thread pool (see the module doc); this process
        alone with one CPU or one worker."""
        if (os.cpu_count() or 1) == 1 or self.workers == 1:
            self.executor = InProcess()
        elif seconds_left >= AUTO_PARALLEL_SECONDS:
            self.executor = self._own()
        else:
            self._owned = self.executor = ThreadPoolExecutor(max_workers=self.workers)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self.executor is None:
            raise RuntimeError("Pool.submit before the automatic choice was made")
        return self.executor.submit(fn, *args)

    def _own(self) -> Executor:
        self._owned = ProcessPoolExecutor(max_workers=self.workers)
        return self._owned

    def close(self) -> None:
        if self._owned is not None:
            self._owned.shutdown(wait=True, cancel_futures=True)
            self._owned = None

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resolve_executor(executor: object) -> Executor | str | None:
    """Validate the `executor` parameter; a dask Client becomes its Executor."""
    if executor is None or isinstance(executor, Executor):
        return executor
    if isinstance(executor, str):
        if executor not in NAMED:
            raise InvalidArgumentError(
                f"executor {executor!r} is not known: give None (automatic), "
                f"{' or '.join(map(repr, NAMED))}, a concurrent.futures.Executor "
                "or a dask.distributed Client"
            )
        return executor
    get_executor = getattr(executor, "get_executor", None)
    if callable(get_executor):  # a dask.distributed Client
        inner = get_executor()
        if isinstance(inner, Executor):
            return inner
    raise InvalidArgumentError(
        "executor must be None, 'serial', 'processes', a concurrent.futures.Executor or a "
        f"dask.distributed Client, not {type(executor).__name__}"
    )


def _max_workers(value: object) -> int:
    if value is None:
        return os.cpu_count() or 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"max_workers must be None or an int >= 1, not {value!r}")
    return value


@contextlib.contextmanager
def progress_bar(enabled: object, total: int, what: str) -> Iterator[tqdm]:
    """A tqdm bar on stderr when `enabled` (a bool), a silent one otherwise."""
    if not isinstance(enabled, bool):
        raise InvalidArgumentError(f"progress must be True or False, not {enabled!r}")
    bar = tqdm(total=total, unit=f" {what}", desc=what, disable=not enabled, file=sys.stderr)
    try:
        yield bar
    finally:
        bar.close()
