"""chronik_lab: reproduce, see and explain message duplication and loss in a Kafka-style broker."""

from chronik_lab.bugs import BUGS, PRESETS, Bug
from chronik_lab.checker.history import read_history, write_history
from chronik_lab.checker.verdict import ANOMALY_TYPES, CheckReport, LogReport, check, check_log
from chronik_lab.checker.writer import HistoryWriter
from chronik_lab.engine.broker import Broker
from chronik_lab.engine.clock import SimClock
from chronik_lab.engine.fetch import FetchResult
from chronik_lab.engine.produce import ProduceResult
from chronik_lab.errors import (
    BrokerClosedError,
    BrokerCloseError,
    ChronikLabError,
    CorruptSegmentError,
    DataDirError,
    DataDirLockedError,
    InvalidArgumentError,
    InvalidTopicError,
    OffsetOutOfRangeError,
    SegmentWriteError,
    UnknownBugError,
    UnknownTopicOrPartitionError,
)
from chronik_lab.notebook.switchboard import Switchboard, switchboard
from chronik_lab.sim.causes import explain, single_fixes
from chronik_lab.sim.scenario import COMPAT, SEED, Run, Scenario, run, run_presets
from chronik_lab.sim.splits import seed_sizes
from chronik_lab.sim.sweeps import sweep
from chronik_lab.wire import serve

__version__ = "0.1.0"

__all__ = [
    "ANOMALY_TYPES",
    "BUGS",
    "COMPAT",
    "PRESETS",
    "Broker",
    "BrokerCloseError",
    "BrokerClosedError",
    "Bug",
    "ChronikLabError",
    "CorruptSegmentError",
    "DataDirError",
    "DataDirLockedError",
    "FetchResult",
    "HistoryWriter",
    "InvalidArgumentError",
    "InvalidTopicError",
    "LogReport",
    "OffsetOutOfRangeError",
    "ProduceResult",
    "CheckReport",
    "Run",
    "SEED",
    "Scenario",
    "SegmentWriteError",
    "SimClock",
    "Switchboard",
    "UnknownBugError",
    "UnknownTopicOrPartitionError",
    "check",
    "check_log",
    "run",
    "run_presets",
    "seed_sizes",
    "serve",
    "explain",
    "single_fixes",
    "sweep",
    "switchboard",
    "read_history",
    "write_history",
]
