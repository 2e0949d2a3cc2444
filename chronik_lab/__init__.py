"""chronik_lab: reproduce, see and explain message duplication and loss in a Kafka-style broker."""

from .broker import Broker
from .bugs import BUGS, PRESETS, Bug
from .clock import SimClock
from .errors import (
    BrokerClosedError,
    ChronikLabError,
    CorruptSegmentError,
    InvalidArgumentError,
    InvalidTopicError,
    OffsetOutOfRangeError,
    UnknownBugError,
    UnknownTopicOrPartitionError,
)
from .explain import explain, single_fixes
from .fetch import FetchResult
from .produce import ProduceResult
from .scenario import COMPAT, SEED, Run, Scenario, run, run_presets
from .sweep import sweep

__version__ = "0.1.0"

__all__ = [
    "BUGS",
    "COMPAT",
    "PRESETS",
    "Broker",
    "BrokerClosedError",
    "Bug",
    "ChronikLabError",
    "CorruptSegmentError",
    "FetchResult",
    "InvalidArgumentError",
    "InvalidTopicError",
    "OffsetOutOfRangeError",
    "ProduceResult",
    "Run",
    "SEED",
    "Scenario",
    "SimClock",
    "UnknownBugError",
    "UnknownTopicOrPartitionError",
    "run",
    "run_presets",
    "explain",
    "single_fixes",
    "sweep",
]
