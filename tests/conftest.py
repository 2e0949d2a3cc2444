"""Shared fixtures: a tmp data directory and a fresh broker over it (closed after the test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import chronik_lab as cl


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
