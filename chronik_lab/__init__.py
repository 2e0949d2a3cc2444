"""chronik_lab: reproduce, see and explain message duplication and loss in a Kafka-style broker."""

from .broker import Broker
from .bugs import BUGS, PRESETS, Bug
from .check import ANOMALY_TYPES, LogReport, Report, check, check_log
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
from .history import read_history, write_history
from .produce import ProduceResult
from .scenario import COMPAT, SEED, Run, Scenario, run, run_presets
from .sweep import sweep

__version__ = "0.1.0"

__all__ = [
    "ANOMALY_TYPES",
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
    "LogReport",
    "OffsetOutOfRangeError",
    "ProduceResult",
    "Report",
    "Run",
    "SEED",
    "Scenario",
    "SimClock",
    "UnknownBugError",
    "UnknownTopicOrPartitionError",
    "check",
    "check_log",
    "run",
    "run_presets",
    "explain",
    "single_fixes",
    "sweep",
    "read_history",
    "write_history",
]
