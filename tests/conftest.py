"""Shared fixtures: a tmp data directory and a fresh broker over it (closed after the test),
and the two reports the notebook and report tests read, each built once per session.

Hypothesis example counts come from a profile, chosen by HYPOTHESIS_PROFILE: `dev` (10, the
edit loop, `make test-fast`), `ci` (100, the default, `make test`) or `thorough` (1,000, for a
deliberate search). Tests set only what is theirs (deadline, health checks, step counts); a test
that needs more or fewer examples scales the profile's count (`settings().max_examples * k`).
"""

from __future__ import annotations

import fcntl
import os
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import chronik_lab as cl

_RELAXED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("dev", max_examples=10, **_RELAXED)
settings.register_profile("ci", max_examples=100, **_RELAXED)
settings.register_profile("thorough", max_examples=1000, **_RELAXED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, build):
    """`build(folder)` once per test run, even under pytest-xdist, where each worker has its
    own session (a session fixture would run once per worker): the first worker builds into
    a folder all workers share, under a lock, and the others load its pickled result.
    (`--dist loadgroup` could keep these tests on one worker, but with pytest 9.2 it silently
    stops grouping: pytest-xdist issue #1386.)"""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return build(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent  # the run's folder, above each worker's
    done = shared / f"{name}.pickle"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if done.exists():
            return pickle.loads(done.read_bytes())
        result = build(shared / name)
        done.write_bytes(pickle.dumps(result))
        return result


KERNEL_REPORTS = ("real_report", "standin_report")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of a report built in kernels is slow: the real report runs all the notebooks
    (a minute of CPU), the stand-ins' report starts a kernel per stand-in (10 s of CPU), too
    much for the edit loop (`make test-fast`), which keeps the report's pre-flight tests."""
    for item in items:
        if set(KERNEL_REPORTS) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def real_report(tmp_path_factory: pytest.TempPathFactory):
    """The report of the project's own notebooks on their defaults, built once per test run:
    every real notebook runs in a kernel exactly once, and the notebook, report and browser
    tests all assert on its summaries, executed notebooks and pages. (Its tests are all slow:
    see pytest_collection_modifyitems.)"""
    from chronik_lab.report.build import build_report

    return _once_per_run(
        tmp_path_factory, "real_report", lambda out: build_report(out, progress=False)
    )


@pytest.fixture(scope="session")
def standin_report(tmp_path_factory: pytest.TempPathFactory):
    """A report of the stand-in notebooks (tests/standins.py) with `-p messages 6 -p bugs
    v0.7.6`, built once per test run, two at a time. `chdir_calls` records every os.chdir()
    the build made and `cwd_before` the process's folder before it: the kernels must start in
    the notebooks' folder without moving the process (threads share one cwd). (Its tests are
    slow too: see pytest_collection_modifyitems.)"""
    return _once_per_run(tmp_path_factory, "standin_report", _build_standins)


def _build_standins(root: Path) -> _Built:
    from standins import standin_notebooks

    from chronik_lab.report.build import build_report

    notebooks = standin_notebooks(root / "notebooks")
    calls: list[str] = []
    real_chdir = os.chdir

    def recording_chdir(path):
        calls.append(str(path))
        real_chdir(path)

    before = os.getcwd()
    os.chdir = recording_chdir
    try:
        result = build_report(
            root / "out", notebooks, {"messages": 6, "bugs": "v0.7.6"}, progress=False, jobs=2
        )
    finally:
        os.chdir = real_chdir
    return _Built(result, calls, before)


class _Built:
    """A ReportResult with what its build did to this process (see standin_report)."""

    def __init__(self, result, chdir_calls: list[str], cwd_before: str) -> None:
        self._result = result
        self.chdir_calls = chdir_calls
        self.cwd_before = cwd_before

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "_result":  # pickle probes for dunders
            raise AttributeError(name)
        return getattr(self._result, name)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory that does not exist yet (the broker creates it)."""
    return tmp_path / "data"


@pytest.fixture
def broker(data_dir: Path) -> Iterator[cl.Broker]:
    """A fresh broker over `data_dir` with the default configuration: bugs="fixed", no bug
    switch on (a correct Kafka-style log; "v1.0" keeps switches chronik never fixed)."""
    b = cl.Broker(data_dir)
    yield b
    b.close()


@pytest.fixture
def make_broker(data_dir: Path) -> Iterator[Callable[..., cl.Broker]]:
    """Open brokers over `data_dir` (or another path) with any configuration; all are closed
    after the test, so a failing assertion never leaks open segment files."""
    opened: list[cl.Broker] = []

    def make(**kwargs: object) -> cl.Broker:
        kwargs.setdefault("data_dir", data_dir)
        b = cl.Broker(**kwargs)  # type: ignore[arg-type]
        opened.append(b)
        return b

    yield make
    for b in opened:
        b.close()
