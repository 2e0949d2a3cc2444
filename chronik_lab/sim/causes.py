"""Which bug combinations explain an observation: run the workload under them, rank.

`explain(observed_ids, scenario)` ranks every combination of the bug switches (2^n for the n
switches of `cl.BUGS`; every preset is one of them) by how closely the message ids the consumer
received match the observed ones: exact matches first, then by edit distance (Levenshtein over
the id sequences), then by fewer bugs. A combination is *minimal* when it reproduces the
observation exactly and none of its proper subsets does: those are the candidate causes, and
each switch in all of them is necessary.

It does not run all 2^n: a run records the switches the engine read, and every combination that
agrees with it on those switches runs identically (combinations.py, switch_reads.py), so a
switch the workload never reaches costs nothing. `early_stop=True` also skips the combinations
that have an exact proper subset (they cannot be minimal); the rest run through any
`concurrent.futures.Executor` or a dask.distributed Client (executors.py).

`single_fixes(observed_ids, scenario, preset)` asks the investigator's next question: which single
fix, applied to that version, removes the duplication (or the loss)?
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from chronik_lab.bugs import PRESETS, resolve_bugs
from chronik_lab.checker.counts import outcome
from chronik_lab.errors import InvalidArgumentError
from chronik_lab.sim.combinations import Explored, explore, mask_of
from chronik_lab.sim.levenshtein import edit_distance
from chronik_lab.sim.scenario import Scenario, received_records
from chronik_lab.sim.switch_reads import ALL, SWITCHES, names_by_mask, switches_on

__all__ = ["COLUMNS", "edit_distance", "explain", "ranking_row", "single_fixes"]

BUG_NAMES = SWITCHES
COLUMNS = ["rank", "bugs", "n_bugs", "preset", "received_ids", "received", "duplicates"]
COLUMNS += ["redelivered", "lost", "distance", "exact", "minimal", "same_as_preset"]
_COUNTED = ("received", "duplicates", "redelivered", "lost", "distance")


def explain(
    observed_ids: Sequence[int],
    scenario: Scenario,
    *,
    early_stop: bool = False,
    executor: object = None,
    max_workers: int | None = None,
    progress: bool = False,
    prune: bool = True,
    switches: str | Iterable[str] | None = None,
) -> pd.DataFrame:
    """Bug combinations, ranked by how well their runs reproduce `observed_ids`.

    Columns: rank, bugs (sorted tuple of names), n_bugs, preset (the preset this combination
    is, else missing), received_ids, received, duplicates, redelivered, lost (the `outcome`
    words of checker/counts.py, from the ids and offsets received), distance, exact, minimal,
    same_as_preset (the first preset of cl.PRESETS, among those made of `switches`, whose run
    received exactly these ids, else missing), then one bool column per switch of cl.BUGS
    (True: on in this combination).
    `table.attrs` holds sent (the workload's messages), runs (simulations run), combinations
    (2^n, or 2^k for k `switches`)
    and switches_read (those some run read; the others never changed a thing).

    early_stop: skip the combinations that have an exact proper subset. The table then has one
        row per combination none of whose proper subsets reproduces the observation exactly;
        the minimal ones are the same as without it.
    executor: None (automatic: a thread pool for quick work, a process pool when the work
        left looks long), "serial", "processes", any concurrent.futures.Executor, or a
        dask.distributed Client (its get_executor() runs the simulations on its cluster); see
        chronik_lab.sim.executors. The table is the same whichever runs it.
    max_workers: the size of the pool explain starts (default: the CPU count).
    progress: show a tqdm bar of the combinations settled (on stderr).
    prune: False runs every combination, without recording reads (the exhaustive baseline).
    switches: combine only these switches (bug names, or a preset's name for its switches);
        the others stay off. None: every switch of cl.BUGS. k switches bound the work to 2^k
        runs, whatever the pruning finds.
    """
    observed = np.asarray(validate_ids(observed_ids), dtype=np.int64)
    workload = _workload(scenario)
    for name, flag in (("early_stop", early_stop), ("prune", prune)):
        if not isinstance(flag, bool):
            raise InvalidArgumentError(f"{name} must be True or False, not {flag!r}")
    found = explore(
        workload,
        observed,
        prune=prune,
        early_stop=early_stop,
        executor=executor,
        max_workers=max_workers,
        progress=progress,
        allowed=ALL if switches is None else mask_of(resolve_bugs(switches)),
    )
    shown = found.owner >= 0
    if early_stop:
        shown &= ~found.dominated
    table = _table(found, np.flatnonzero(shown), observed, workload.messages)
    table.attrs.update(
        sent=workload.messages,
        runs=found.runs,
        combinations=int(np.count_nonzero(found.inside)),
        switches_read=found.switches_read,
    )
    return table


def _table(found: Explored, masks: np.ndarray, observed: np.ndarray, sent: int) -> pd.DataFrame:
    """One row per combination in `masks`, ranked; each class's figures computed once."""
    keys = [ids.tobytes() for ids in found.ids]
    per_key: dict[bytes, dict] = {}  # runs that received the same ids share one entry
    for key, ids in zip(keys, found.ids, strict=True):
        if key not in per_key:
            per_key[key] = {"received_ids": ids.tolist(), "distance": edit_distance(observed, ids)}
    alike = _preset_by_ids(found, keys)
    # Per class once, then gathered per combination by numpy (2^n rows: no Python loop).
    # the outcome is each class's own: the same ids at other offsets may be redeliveries
    rows = [per_key[key] | counts for key, counts in zip(keys, found.counts, strict=True)]
    per_class = {col: np.array([r[col] for r in rows]) for col in _COUNTED}
    ids = np.empty(len(rows), object)
    ids[:] = [r["received_ids"] for r in rows]
    alike_class = np.array([alike.get(key) for key in keys], object)
    # Ranked before any column is built, so that each is gathered once, already in rank order:
    # exact first, then by distance, by fewer bugs, by mask (unique: the order is total).
    n_bugs = switches_on(masks)
    distance = per_class["distance"][found.owner[masks]]
    ranked = np.lexsort((masks, n_bugs, distance, distance != 0))
    masks, n_bugs, exact = masks[ranked], n_bugs[ranked], distance[ranked] == 0
    classes = found.owner[masks]
    presets = _preset_names()
    preset = np.zeros(len(masks), np.int64)  # an index into [None, *presets.values()]
    for code, mask in enumerate(presets, start=1):
        preset[masks == mask] = code
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(masks) + 1),
            "bugs": names_by_mask(masks),
            "n_bugs": n_bugs,
            "preset": _gathered(np.array([None, *presets.values()], object), preset),
            "received_ids": ids[classes],
            **{col: per_class[col][classes] for col in _COUNTED},
            "exact": exact,
            "minimal": _minimal(masks, exact),
            "same_as_preset": _gathered(alike_class, classes),
            **{name: (masks >> i & 1).astype(bool) for i, name in enumerate(SWITCHES)},
        },
        copy=False,  # every column is an array made above for this table alone: no second copy
    )


def _gathered(values: np.ndarray, index: np.ndarray) -> object:
    """`values[index]` as a DataFrame column holds it, its dtype inferred from the values
    gathered (a str column, under pandas' string inference, for names and missing ones) --
    but from each of them once rather than from 2^n objects, which took a tenth of an explain."""
    used = np.bincount(index, minlength=len(values)) > 0
    at = np.cumsum(used) - 1  # a used value's place among the used ones
    return pd.Series(values[used]).array.take(at[index])


def _preset_by_ids(found: Explored, keys: list[bytes]) -> dict[bytes, str]:
    """The received ids of each preset's run -> the first preset (cl.PRESETS order)."""
    out: dict[bytes, str] = {}
    for name, members in PRESETS.items():
        owner = found.owner[mask_of(members)]
        if owner >= 0:  # settled even under early stop; not when outside `switches`
            out.setdefault(keys[owner], name)
    return out


def ranking_row(ranking: pd.DataFrame, bugs: str | Iterable[str]) -> pd.Series | None:
    """The row of an `explain` table for a version (a preset or bug names), or None when the
    table left that combination out (early stop, or `switches`)."""
    wanted = resolve_bugs(bugs)
    rows = ranking[[frozenset(b) == wanted for b in ranking["bugs"]]]
    return None if rows.empty else rows.iloc[0]


def single_fixes(
    observed_ids: Sequence[int], scenario: Scenario, preset: str | Iterable[str] | None = None
) -> pd.DataFrame:
    """For each bug of `preset` (default: the scenario's bugs), the run without that one bug.

    Columns: fixed_bug, bugs (what is left), received, duplicates, redelivered, lost (the
    `outcome` of what that run received, checker/counts.py), distance (to the observation),
    removes_duplication, removes_loss, correct (ids exactly 0..n-1 in order, on one partition;
    all ids once, on several).
    """
    observed = validate_ids(observed_ids)
    workload = _workload(scenario)
    version = resolve_bugs(scenario.bugs if preset is None else preset)
    before = outcome(received_records(workload.with_bugs(sorted(version))), workload.messages)
    rows = []
    for bug in sorted(version):
        rest = tuple(sorted(version - {bug}))
        records = received_records(workload.with_bugs(rest))
        ids = records["message_id"].tolist()
        after = outcome(records, workload.messages)
        rows.append(
            {
                "fixed_bug": bug,
                "bugs": rest,
                "received_ids": ids,
                **{key: after[key] for key in ("received", "duplicates", "redelivered", "lost")},
                "distance": edit_distance(observed, ids),
                "removes_duplication": before["duplicates"] > 0 and after["duplicates"] == 0,
                "removes_loss": before["lost"] > 0 and after["lost"] == 0,
                "correct": _correct(ids, workload),
            }
        )
    columns = ["fixed_bug", "bugs", "received_ids", "received", "duplicates", "redelivered"]
    columns += ["lost", "distance", "removes_duplication", "removes_loss", "correct"]
    return pd.DataFrame(rows, columns=columns)


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


def _preset_names() -> dict[int, str]:
    """Combination mask -> the preset it is. The first name wins, so an alias labels nothing
    that an earlier preset already labels."""
    out: dict[int, str] = {}
    for name, bugs in PRESETS.items():
        out.setdefault(mask_of(bugs), name)
    return out


def _minimal(masks: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Exact combinations with no exact proper subset among `masks`.

    Over every mask of the switches' bits (2^18 at most) rather than pair by pair, whose cost
    grew with the square of the exact rows (150,000 of them took 30 s): `below[m]` says some
    exact mask is a subset of m, spread one bit at a time (the sum-over-subsets recurrence),
    and m has an exact proper subset when below[m without one of its bits] holds."""
    if not len(masks):
        return np.zeros(0, dtype=bool)
    bits = max(int(masks.max()).bit_length(), 1)
    below = np.zeros(1 << bits, dtype=bool)
    below[masks[exact]] = True
    for b in range(bits):  # masks with bit b set inherit from the same mask without it
        pairs = below.reshape(-1, 2, 1 << b)
        pairs[:, 1, :] |= pairs[:, 0, :]
    strictly = np.zeros_like(below)
    for b in range(bits):
        pairs, from_below = strictly.reshape(-1, 2, 1 << b), below.reshape(-1, 2, 1 << b)
        pairs[:, 1, :] |= from_below[:, 0, :]
    return exact & ~strictly[masks]


def _correct(ids: Sequence[int], scenario: Scenario) -> bool:
    if scenario.partitions == 1:
        return list(ids) == list(range(scenario.messages))
    return sorted(ids) == list(range(scenario.messages))
