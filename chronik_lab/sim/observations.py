"""Observations: what a consumer received from a real broker, and the workload that explains it.

An observation is a CSV, one row per record received (data/observed/: poll, partition, offset,
message_id; only message_id is required). One listed in the `observations.json` beside it is a
*recorded* observation: its entry gives the file, the chronik version it was recorded on, the
workload that produced it (`WORKLOAD_FIELDS`, as cl.Scenario fields) and its source.

The one rule, for notebook 05 and `chronik-lab explain` alike: a recorded observation is
explained under the workload that produced it -- a fact of the recording, whatever parameters
or flags say. A given workload value that differs from the recording does not apply: it is
named (`not_applied`), never used. Any other file is a user's own dump, explained under the
workload given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from chronik_lab.bugs import resolve_bugs
from chronik_lab.errors import InvalidArgumentError
from chronik_lab.sim.scenario import WORKLOAD_FIELDS, Scenario
from chronik_lab.sim.splits import AUTO, seed_sizes

__all__ = [
    "OBSERVATIONS_INDEX",
    "observed_workload",
    "read_observed",
    "recorded_observation",
    "recorded_workload",
]

OBSERVATIONS_INDEX = "observations.json"  # beside the recorded observations (data/observed/)


def read_observed(path: str | Path) -> pd.DataFrame:
    """An observation: what a consumer received from a real broker, one row per record (the
    CSVs in data/observed/: poll, partition, offset, message_id; only message_id is required).
    """
    target = Path(path)
    try:
        table = pd.read_csv(target)
    except FileNotFoundError:
        raise InvalidArgumentError(f"no observation file {target}") from None
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(f"cannot read observation {target}: {exc}") from exc
    if "message_id" not in table.columns:
        raise InvalidArgumentError(
            f"observation {target} has no message_id column; columns: {', '.join(table.columns)}"
        )
    ids = pd.to_numeric(table["message_id"], errors="coerce")
    if ids.isna().any() or (ids < 0).any() or (ids % 1 != 0).any():
        raise InvalidArgumentError(f"observation {target}: message_id must be ints >= 0")
    return table.assign(message_id=ids.astype("int64"))


def recorded_observation(path: str | Path) -> dict[str, Any] | None:
    """The entry for `path` in the observations.json beside it (data/observed/: the file,
    its chronik version, its workload as cl.Scenario fields, its source), or None when no
    index there lists the file: then it is a user's own dump."""
    target = Path(path)
    index = target.parent / OBSERVATIONS_INDEX
    if not index.is_file():
        return None
    try:
        entries = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(f"cannot read the observation index {index}: {exc}") from exc
    if not isinstance(entries, list):
        raise InvalidArgumentError(f"{index} must hold a list of observations")
    listed = [e for e in entries if isinstance(e, dict) and e.get("file") == target.name]
    if not listed:
        return None
    entry = listed[0]
    fields = entry.get("scenario")
    if (
        not isinstance(fields, dict)
        or set(fields) - set(WORKLOAD_FIELDS)
        or "messages" not in fields
    ):
        raise InvalidArgumentError(
            f"{index}: the entry for {target.name} must give its workload as "
            f"{', '.join(WORKLOAD_FIELDS)} (messages at least)"
        )
    if not isinstance(entry.get("version"), str):
        raise InvalidArgumentError(f"{index}: the entry for {target.name} names no version")
    resolve_bugs(entry["version"])  # an unknown version is a broken index
    return entry


def observed_workload(path: str | Path, given: Mapping[str, Any]) -> dict[str, Any]:
    """The workload an observation is explained under, and where it comes from.

    A recorded observation: its recorded workload, whatever `given` says (`recorded_workload`).
    Any other file is a user's dump, whose workload `given` describes (the workload fields, as
    a notebook's parameters cell has them, "auto" included).

    Returns {"scenario": the cl.Scenario fields (batch_sizes resolved: a list or None),
    "from": "observations.json" or "parameters", "recorded_on": the chronik version (None
    for a user's dump), "source": where the recording is from, "not_applied": {field: its
    given value} for each given field that differs from the recording}.
    """
    recorded = recorded_workload(path, given)
    if recorded is not None:
        return recorded
    fields = {k: given[k] for k in WORKLOAD_FIELDS if k in given}
    return {
        "scenario": _fields(Scenario(**fields)),
        "from": "parameters",
        "recorded_on": None,
        "source": None,
        "not_applied": {},
    }


def recorded_workload(path: str | Path, given: Mapping[str, Any]) -> dict[str, Any] | None:
    """A recorded observation's workload, as `observed_workload` returns it, with the `given`
    workload values that differ from the recording in "not_applied"; None for a file no
    observations.json lists. "auto" batch sizes are judged at the recording's own messages:
    the seed's [4, 6] at 10 agree."""
    entry = recorded_observation(path)
    if entry is None:
        return None
    recorded = _fields(Scenario(**entry["scenario"]))
    differs = {}
    for name in WORKLOAD_FIELDS:
        if name not in given:
            continue
        value = given[name]
        if name == "batch_sizes" and value == AUTO:
            value = list(seed_sizes(recorded["messages"]))
        elif name == "batch_sizes" and value is not None:
            value = list(value)
        if value != recorded[name]:
            differs[name] = given[name]
    return {
        "scenario": recorded,
        "from": OBSERVATIONS_INDEX,
        "recorded_on": entry["version"],
        "source": entry.get("source"),
        "not_applied": differs,
    }


def _fields(scenario: Scenario) -> dict[str, Any]:
    fields = {name: getattr(scenario, name) for name in WORKLOAD_FIELDS}
    if fields["batch_sizes"] is not None:
        fields["batch_sizes"] = list(fields["batch_sizes"])
    return fields
