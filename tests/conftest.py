"""Shared fixtures: a tmp data directory and a fresh broker over it (closed after the test).

Hypothesis example counts come from a profile, chosen by HYPOTHESIS_PROFILE: `dev` (the edit
loop, `make test-fast`), `ci` (the default, `make test`) or `thorough` (ten times ci, for a
deliberate search). Tests set only what is theirs (deadline, health checks, step counts).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import chronik_lab as cl

_RELAXED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("dev", max_examples=20, **_RELAXED)
settings.register_profile("ci", max_examples=100, **_RELAXED)
settings.register_profile("thorough", max_examples=1000, **_RELAXED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory that does not exist yet (the broker creates it)."""
    return tmp_path / "data"


@pytest.fixture
def broker(data_dir: Path) -> Iterator[cl.Broker]:
    """A fresh correct (v1.0) broker over `data_dir`, with the default configuration."""
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
