"""Workload drivers beyond the simulated clients: `run(scenario, client=NAME)` looks NAME up here.

A higher layer registers its drivers when it is imported (chronik_lab.wire registers
"kafka-python", "confluent-kafka" and "aiokafka", which run the scenario through that real
client library against an in-process Kafka-protocol server). This module knows nothing of them:
a driver is any callable taking the scenario (and keyword options) and returning a Run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chronik_lab.errors import InvalidArgumentError

__all__ = ["lookup", "names", "register"]

Driver = Callable[..., Any]
_DRIVERS: dict[str, Driver] = {}


def register(name: str, driver: Driver) -> None:
    """Make `run(scenario, client=name)` call `driver(scenario, **options)`."""
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"a driver needs a name, not {name!r}")
    _DRIVERS[name] = driver


def lookup(name: str) -> Driver:
    try:
        return _DRIVERS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(_DRIVERS)) or "none (import chronik_lab.wire)"
        raise InvalidArgumentError(f"unknown client {name!r}; known clients: {known}") from None


def names() -> list[str]:
    return sorted(_DRIVERS)
