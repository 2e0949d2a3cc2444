"""Which bug combinations explain an observation: run the workload under all of them, rank.

`explain(observed_ids, scenario)` runs the scenario's workload under each of the 2^8 = 256
combinations of the bug switches (every preset is one of them) and ranks the combinations by how
closely the message ids the consumer received match the observed ones: exact matches first, then
by edit distance (Levenshtein over the id sequences), then by fewer bugs. A combination is
*minimal* when it reproduces the observation exactly and none of its proper subsets does: those
are the candidate causes, and each switch in all of them is necessary.

`single_fixes(observed_ids, scenario, preset)` asks the investigator's next question: which single
fix, applied to that version, removes the duplication (or the loss)?
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

import numpy as np
import pandas as pd

from chronik_lab.bugs import BUGS, PRESETS, resolve_bugs
from chronik_lab.checker.counts import outcome
from chronik_lab.errors import InvalidArgumentError
from chronik_lab.sim.scenario import Scenario, received_ids

__all__ = ["edit_distance", "explain", "single_fixes"]

BUG_NAMES: tuple[str, ...] = tuple(BUGS)


def explain(observed_ids: Sequence[int], scenario: Scenario) -> pd.DataFrame:
    """Every bug combination, ranked by how well its run reproduces `observed_ids`.

    Columns: rank, bugs (sorted tuple of names), n_bugs, preset (the preset it equals, or
    None), received_ids, received, duplicates, lost, distance, exact, minimal.
    """
    observed = validate_ids(observed_ids)
    workload = _workload(scenario)
    sent = workload.messages
    rows = []
    for mask in range(1 << len(BUG_NAMES)):
        bugs = _bugs_of(mask)
        ids = received_ids(workload.with_bugs(bugs))
        rows.append(
            {
                "mask": mask,
                "bugs": bugs,
                "n_bugs": len(bugs),
                "preset": _preset_name(frozenset(bugs)),
                "received_ids": ids,
                **outcome(ids, sent),
                "distance": edit_distance(observed, ids),
            }
        )
    table = pd.DataFrame(rows)
    table["preset"] = table["preset"].astype("str")
    table["exact"] = table["distance"] == 0
    table["minimal"] = _minimal(table["mask"].to_numpy(), table["exact"].to_numpy())
    table = table.sort_values(["exact", "distance", "n_bugs", "mask"], ascending=[False, 1, 1, 1])
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    columns = ["rank", "bugs", "n_bugs", "preset", "received_ids", "received", "duplicates"]
    columns += ["lost", "distance", "exact", "minimal"]
    return table[columns].reset_index(drop=True)


def single_fixes(
    observed_ids: Sequence[int], scenario: Scenario, preset: str | Iterable[str] | None = None
) -> pd.DataFrame:
    """For each bug of `preset` (default: the scenario's bugs), the run without that one bug.

    Columns: fixed_bug, bugs (what is left), received, duplicates, lost, distance (to the
    observation), removes_duplication, removes_loss, correct (ids exactly 0..n-1 in order, on
    one partition; all ids once, on several).
    """
    observed = validate_ids(observed_ids)
    workload = _workload(scenario)
    version = resolve_bugs(scenario.bugs if preset is None else preset)
    before = outcome(received_ids(workload.with_bugs(sorted(version))), workload.messages)
    rows = []
    for bug in sorted(version):
        rest = tuple(sorted(version - {bug}))
        ids = received_ids(workload.with_bugs(rest))
        after = outcome(ids, workload.messages)
        rows.append(
            {
                "fixed_bug": bug,
                "bugs": rest,
                "received_ids": ids,
                **after,
                "distance": edit_distance(observed, ids),
                "removes_duplication": before["duplicates"] > 0 and after["duplicates"] == 0,
                "removes_loss": before["lost"] > 0 and after["lost"] == 0,
                "correct": _correct(ids, workload),
            }
        )
    columns = ["fixed_bug", "bugs", "received_ids", "received", "duplicates", "lost", "distance"]
    columns += ["removes_duplication", "removes_loss", "correct"]
    return pd.DataFrame(rows, columns=columns)


def edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance between two id sequences (insert, delete, substitute: cost 1)."""
    x = np.asarray(a, dtype=np.int64)
    y = np.asarray(b, dtype=np.int64)
    if len(x) < len(y):
        x, y = y, x
    if len(y) == 0:
        return len(x)
    # One row of the DP table per element of x, each row computed with numpy: substitution
    # and deletion elementwise, then insertion (a running minimum along the row) as
    # new[j] = j + min_{k<=j}(t[k] - k), which np.minimum.accumulate does in one pass.
    cols = np.arange(len(y) + 1, dtype=np.int64)
    prev = cols.copy()
    for i, xi in enumerate(x, start=1):
        t = np.empty_like(prev)
        t[0] = i
        t[1:] = np.minimum(prev[1:] + 1, prev[:-1] + (y != xi))
        prev = np.minimum.accumulate(t - cols) + cols
    return int(prev[-1])


def validate_ids(ids: object) -> list[int]:
    """Observed message ids: a list (tuple, array, Series) of non-negative ints."""
    if isinstance(ids, (str, bytes, dict)) or not isinstance(ids, Iterable):
        raise InvalidArgumentError(
            f"observed_ids must be a list of message ids (ints), not {type(ids).__name__}"
        )
    out = []
    for i, value in enumerate(ids):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise InvalidArgumentError(f"observed_ids[{i}] is {value!r}: message ids must be ints")
        if value < 0:
            raise InvalidArgumentError(f"observed_ids[{i}] is {value}: message ids are >= 0")
        out.append(int(value))
    return out


def _workload(scenario: object) -> Scenario:
    if not isinstance(scenario, Scenario):
        raise InvalidArgumentError(f"scenario must be a cl.Scenario, not {type(scenario).__name__}")
    return scenario


def _bugs_of(mask: int) -> tuple[str, ...]:
    return tuple(sorted(name for i, name in enumerate(BUG_NAMES) if mask >> i & 1))


@cache
def _preset_name(bugs: frozenset[str]) -> str | None:
    # The first name wins, so the alias "fixed" labels nothing that "v1.0" already labels.
    return next((name for name, members in PRESETS.items() if members == bugs), None)


def _minimal(masks: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Exact combinations with no exact proper subset."""
    exact_masks = masks[exact]
    minimal = np.zeros(len(masks), dtype=bool)
    for i in np.flatnonzero(exact):
        m = masks[i]
        subsets = (exact_masks & m) == exact_masks
        minimal[i] = np.count_nonzero(subsets) == 1  # only itself
    return minimal


def _correct(ids: Sequence[int], scenario: Scenario) -> bool:
    if scenario.partitions == 1:
        return list(ids) == list(range(scenario.messages))
    return sorted(ids) == list(range(scenario.messages))
