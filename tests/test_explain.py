"""explain (its pruning, early stop, executors, progress), single_fixes, edit_distance, sweep;
and what notebook 05 says of an explanation (explain_prose, digest, the index's note)."""

from __future__ import annotations

import contextlib
import html
import json
import re
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chronik_lab as cl
from chronik_lab.checker.counts import outcome
from chronik_lab.errors import ChronikLabError, InvalidArgumentError
from chronik_lab.notebook import digest, explain_prose
from chronik_lab.sim import observations
from chronik_lab.sim.causes import edit_distance
from chronik_lab.sim.combinations import mask_of
from chronik_lab.sim.levenshtein import bit_parallel, by_rows
from chronik_lab.sim.scenario import received_ids
from chronik_lab.sim.switch_reads import ALL, names_by_mask, names_of, run_combination
from chronik_lab.validate import listed

OBSERVED = Path(__file__).resolve().parents[1] / "data" / "observed" / "chronik_v0.7.5_seed.csv"


@pytest.fixture(scope="module")
def seed_observation() -> list[int]:
    return pd.read_csv(OBSERVED)["message_id"].tolist()


@pytest.fixture(scope="module")
def seed_explained(seed_observation) -> pd.DataFrame:
    return cl.explain(seed_observation, cl.SEED)


# -- explain ----------------------------------------------------------------------------------
def test_explain_ranks_every_combination_of_the_switches(seed_explained):
    combinations = 2 ** len(cl.BUGS)
    assert len(seed_explained) == combinations == seed_explained.attrs["combinations"]
    assert seed_explained["bugs"].map(frozenset).nunique() == combinations
    assert seed_explained["rank"].tolist() == list(range(1, combinations + 1))


def test_explain_ranks_exact_matches_first_then_by_distance_then_by_fewer_bugs(seed_explained):
    key = list(
        zip(
            ~seed_explained["exact"],
            seed_explained["distance"],
            seed_explained["n_bugs"],
            strict=True,
        )
    )
    assert key == sorted(key)
    assert seed_explained["exact"].iloc[0]


def test_explain_breaks_ties_by_the_combinations_mask(seed_explained):
    # The whole order is total: exact first, then distance, fewer bugs, and the mask (bit i:
    # the i-th switch of cl.BUGS), so a table is the same however it was computed.
    masks = sum(seed_explained[name].to_numpy(np.int64) << i for i, name in enumerate(cl.BUGS))
    keys = [seed_explained[c].to_numpy() for c in ("distance", "n_bugs")]
    order = np.lexsort((masks, *keys[::-1], ~seed_explained["exact"].to_numpy()))
    assert (order == np.arange(len(seed_explained))).all()
    assert len(np.unique(masks)) == len(masks)


@pytest.mark.parametrize("early_stop", [False, True])
def test_the_preset_columns_have_the_dtype_pandas_gives_their_names(seed_explained, early_stop):
    # Both are gathered from each class's name rather than built from 2^n objects: they must
    # hold what a column built from every row's name (or None) would, dtype included.
    tables = [seed_explained] if not early_stop else []
    tables.append(cl.explain([0, 1, 2], cl.SEED, switches="v0.7.5", early_stop=early_stop))
    for table in tables:
        for column in ("preset", "same_as_preset"):
            missing = table[column].isna().to_numpy()
            names = np.where(missing, None, table[column].to_numpy(object))
            pd.testing.assert_series_equal(table[column], pd.Series(names, name=column))


def test_explain_names_the_cumulative_update_in_every_minimal_cause(seed_explained):
    minimal = seed_explained[seed_explained["minimal"]]
    assert len(minimal) >= 1
    assert all("cumulative_update_buffer" in bugs for bugs in minimal["bugs"])
    assert minimal["exact"].all()


def has_exact_proper_subset(table: pd.DataFrame) -> np.ndarray:
    """Per row: another row that reproduces the observation exactly has a proper subset of its
    switches. Over the 2^n masks, one numpy pass per switch (comparing every row with every
    exact one took minutes at 17 switches): `below[m]` is "some exact mask is a subset of m",
    and a proper one is a subset of m without one of its switches."""
    n = len(cl.BUGS)
    masks = sum(table[name].to_numpy(np.int64) << i for i, name in enumerate(cl.BUGS))
    below = np.zeros(1 << n, bool)
    below[masks[table["exact"].to_numpy(bool)]] = True
    every = np.arange(1 << n)
    for i in range(n):
        with_i = every[every >> i & 1 == 1]
        below[with_i] |= below[with_i ^ (1 << i)]
    proper = np.zeros(1 << n, bool)
    for i in range(n):
        with_i = every[every >> i & 1 == 1]
        proper[with_i] |= below[with_i ^ (1 << i)]
    return proper[masks]


def test_minimal_combinations_have_no_exact_proper_subset(seed_explained):
    expected = seed_explained["exact"].to_numpy(bool) & ~has_exact_proper_subset(seed_explained)
    assert (seed_explained["minimal"].to_numpy(bool) == expected).all()
    assert expected.any()


def test_explain_labels_the_presets_and_v075_reproduces_the_seed(seed_explained):
    by_preset = seed_explained.dropna(subset=["preset"]).set_index("preset")
    assert set(by_preset.index) == set(cl.PRESETS)
    assert by_preset.loc["v0.7.5", "exact"]
    assert not by_preset.loc["v1.0", "exact"] and by_preset.loc["v1.0", "distance"] == 10
    # 0-9 flushed invisibly; the second request's 4-9 re-enter the cleared buffer
    assert by_preset.loc["v0.7.6", "lost"] == 4


def test_explain_of_a_clean_observation_puts_the_fixed_broker_first():
    table = cl.explain(list(range(10)), cl.SEED)
    assert table.iloc[0]["bugs"] == () and table.iloc[0]["minimal"]


@pytest.mark.slow
def test_explain_accepts_numpy_and_pandas_ids(seed_observation):
    a = cl.explain(np.array(seed_observation), cl.SEED)
    b = cl.explain(pd.Series(seed_observation), cl.SEED)
    assert a.equals(b)


@pytest.mark.parametrize(
    "observed", ["0 1 2", [0, "1"], [0, 1.5], [True, False], [-1, 0], None, {"id": 1}]
)
def test_explain_rejects_observations_that_are_not_lists_of_ids(observed):
    with pytest.raises(InvalidArgumentError):
        cl.explain(observed, cl.SEED)


def test_explain_needs_a_scenario(seed_observation):
    with pytest.raises(ChronikLabError):
        cl.explain(seed_observation, "v0.7.5")  # type: ignore[arg-type]


# -- single fixes ----------------------------------------------------------------------------
def test_single_fixes_of_v075_show_which_fix_removes_the_duplication(seed_observation):
    fixes = cl.single_fixes(seed_observation, cl.SEED, "v0.7.5").set_index("fixed_bug")
    assert set(fixes.index) == cl.PRESETS["v0.7.5"]
    assert fixes.loc["cumulative_update_buffer", "removes_duplication"]
    assert fixes.loc["cumulative_update_buffer", "correct"]
    assert fixes.loc["blind_append_buffer", "removes_duplication"]
    # Renumbering only changes the offsets the client sees, not which records come back: at the
    # broker's own offsets, each of the 10 records read a second time is a redelivery (cl.check's
    # count), not an id written twice -- renumbering is what made them look like duplicates.
    renumber = fixes.loc["renumber_response_offsets"]
    assert (renumber["received"], renumber["duplicates"], renumber["redelivered"]) == (20, 0, 10)
    assert renumber["distance"] == 0
    # Dropping no_mark_flushed alone trades the duplicates for a loss.
    assert fixes.loc["no_mark_flushed", "lost"] > 0


def test_single_fixes_of_v076_show_which_fix_removes_the_loss():
    fixes = cl.single_fixes([], cl.COMPAT, "v0.7.6").set_index("fixed_bug")
    assert fixes.loc["active_segment_invisible", "removes_loss"]
    assert not fixes.loc["renumber_response_offsets", "removes_loss"]


# -- edit distance ---------------------------------------------------------------------------
def reference_distance(a: list[int], b: list[int]) -> int:
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        for j in range(len(b) + 1):
            if i == 0 or j == 0:
                d[i][j] = i + j
            else:
                d[i][j] = min(
                    d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])
                )
    return d[-1][-1]


@given(st.lists(st.integers(0, 5), max_size=25), st.lists(st.integers(0, 5), max_size=25))
def test_edit_distance_matches_the_textbook_dynamic_programme(a, b):
    assert edit_distance(a, b) == reference_distance(a, b)


def test_edit_distance_of_the_seed_to_the_clean_sequence_is_ten(seed_observation):
    assert edit_distance(seed_observation, list(range(10))) == 10


def test_outcome_counts_duplicates_and_losses():
    assert outcome([0, 1, 1, 3, 3, 3], 5) == {
        "received": 6, "distinct": 3, "duplicates": 3, "redelivered": 0, "lost": 2,
    }  # fmt: skip


# -- sweep -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def swept() -> pd.DataFrame:
    return cl.sweep()


def test_sweep_has_one_row_per_cell_with_the_heatmap_columns(swept):
    assert list(swept.columns) == [
        "preset",
        "batch_split",
        "flush_batches",
        "sent",
        "received",
        "duplicates",
        "redelivered",
        "lost",
        "duplication_rate",
        "loss_rate",
    ]
    assert len(swept) == 3 * 5 * 5
    assert set(swept["batch_split"]) == {"1×10", "10", "5+5", "4+6", "2+8"}


def test_sweep_finds_the_seed_duplication_and_the_v076_ninety_percent_loss(swept):
    cell = swept.set_index(["preset", "batch_split", "flush_batches"])
    assert cell.loc[("v0.7.5", "4+6", 2), "duplication_rate"] == 1.0
    # chronik's notes: "v0.7.6: 90% loss" -- single acks=-1 sends, a flush every tenth batch:
    # 0-9 are flushed invisibly and only the last request's record re-enters the buffer.
    assert cell.loc[("v0.7.6", "1×10", 10), "loss_rate"] == pytest.approx(0.9)


def test_sweep_of_the_fixed_broker_is_all_zero(swept):
    fixed = swept[swept["preset"] == "v1.0"]
    assert (fixed[["duplicates", "lost"]] == 0).all().all()
    assert (fixed["received"] == fixed["sent"]).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_splits": [(4, 5)]},
        {"flush_thresholds": [0]},
        {"presets": ["v9"]},
        {"batch_splits": []},
        {"flush_thresholds": 3},
    ],
)
def test_sweep_rejects_bad_grids(kwargs):
    with pytest.raises(ChronikLabError):
        cl.sweep(**kwargs)


# -- pruning: one run settles every combination that agrees on the switches it read ---------
@st.composite
def workloads(draw: st.DrawFn) -> cl.Scenario:
    """Small random workloads over every Scenario knob that changes which guards are reached."""
    messages = draw(st.integers(1, 8))
    cuts = draw(st.sets(st.integers(1, messages - 1), max_size=3)) if messages > 1 else set()
    bounds = [0, *sorted(cuts), messages]
    split = [b - a for a, b in zip(bounds, bounds[1:], strict=False)]
    return cl.Scenario(
        messages=messages,
        batch_sizes=draw(st.sampled_from([None, split])),
        acks=draw(st.sampled_from([-1, 0, 1])),
        flush_batches=draw(st.integers(1, 4)),
        partitions=draw(st.integers(1, 2)),
        poll_every=draw(st.sampled_from([None, 1, 2])),
        linger_ms=draw(st.sampled_from([None, 0, 5])),
        flush_ms=draw(st.sampled_from([0, 7])),
        max_records=draw(st.integers(1, 6)),
        keyed=draw(st.booleans()),
    )


@given(workloads(), st.integers(0, ALL), st.integers(0, ALL))
def test_a_run_settles_every_combination_that_agrees_on_the_switches_it_read(scenario, mask, flips):
    read, ids, counts = run_combination(scenario, mask)
    # Recording the reads changes nothing in the run.
    assert ids.tolist() == received_ids(scenario.with_bugs(names_of(mask)))
    # Flip any switches the run never read: the same reads, the same ids and outcome, as a
    # plain run too.
    other = mask ^ (flips & ~read & ALL)
    read_other, ids_other, counts_other = run_combination(scenario, other)
    assert read_other == read
    assert ids_other.tolist() == ids.tolist() and counts_other == counts
    assert received_ids(scenario.with_bugs(names_of(other))) == ids.tolist()


def _observations(scenario: cl.Scenario, switches: set[str]) -> st.SearchStrategy[list[int]]:
    """Random ids, or exactly what a combination of `switches` received (so exact rows
    exist)."""
    combination = st.sets(st.sampled_from(sorted(switches)))
    produced = combination.map(lambda bugs: received_ids(scenario.with_bugs(sorted(bugs))))
    return st.one_of(produced, st.lists(st.integers(0, scenario.messages), max_size=12))


# Each example of the two tests below runs every combination of up to six switches (drawn:
# the argument for pruning is the same for any set of switches, and 2^6 runs stay cheap
# however many switches the catalogue grows to) or two explains: a tenth of the profile's
# examples (ci: 10, thorough: 100); the one above takes them all.
EXPENSIVE = settings(max_examples=max(3, settings().max_examples // 10))
SWITCH_SETS = st.sets(st.sampled_from(sorted(cl.BUGS)), min_size=1, max_size=6)


@pytest.mark.slow
@EXPENSIVE
@given(st.data())
def test_pruned_explain_gives_the_exhaustive_table_on_random_workloads(data):
    scenario = data.draw(workloads())
    switches = data.draw(SWITCH_SETS)
    observed = data.draw(_observations(scenario, switches))
    pruned = cl.explain(observed, scenario, switches=switches)
    exhaustive = cl.explain(observed, scenario, switches=switches, prune=False)
    pd.testing.assert_frame_equal(pruned, exhaustive)
    assert pruned.attrs["runs"] <= exhaustive.attrs["runs"] == 2 ** len(switches)


# The delivery switches act only with an idempotent producer or a fault schedule, and
# ack_before_durable only when a broker recovers its write-ahead log: the seed and compat
# workloads have none of these, so no run of theirs reads them (an unread switch changes no
# row: test_a_switch_no_run_reads_costs_no_run), and each would double the exhaustive runs.
UNREAD_BY_THE_SEED = {
    "no_producer_dedup",
    "dedup_last_sequence_only",
    "producer_state_lost_on_restart",
    "retry_on_ambiguous_error",
    "epoch_bump_on_out_of_order",
    "ack_before_durable",
}
BUFFER_SWITCHES = sorted(set(cl.BUGS) - UNREAD_BY_THE_SEED)


# v0.7.5's switches that the seed's and compat's runs read (the others never matter at 10
# messages): 2^7 runs, for the edit loop; all the buffer switches (2^12 runs each) are slow.
SEED_READ_SWITCHES = sorted(
    cl.PRESETS["v0.7.5"] - {"buffer_keeps_last_1000", "crc32_ieee_batches"} - UNREAD_BY_THE_SEED
)


@pytest.mark.parametrize(
    "switches",
    [SEED_READ_SWITCHES, pytest.param(BUFFER_SWITCHES, marks=pytest.mark.slow)],
    ids=["v075-read", "all"],
)
@pytest.mark.parametrize("scenario", [cl.SEED, cl.COMPAT], ids=["seed", "compat"])
def test_pruned_explain_gives_the_exhaustive_table_on_the_seed_and_compat(
    scenario, switches, seed_observation
):
    pruned = cl.explain(seed_observation, scenario, executor="serial", switches=switches)
    exhaustive = cl.explain(seed_observation, scenario, switches=switches, prune=False)
    pd.testing.assert_frame_equal(pruned, exhaustive)
    assert pruned.attrs["runs"] < exhaustive.attrs["runs"]


@pytest.mark.slow
def test_a_switch_no_run_reads_costs_no_run():
    table = cl.explain([], cl.SEED, executor="serial")
    read = table.attrs["switches_read"]
    unread = set(cl.BUGS) - set(read)
    # One serial run per class: at most one per value of the switches read, and exactly as
    # many as when the unread switches are left out of the search altogether.
    assert table.attrs["runs"] <= 2 ** len(read)
    assert (
        cl.explain([], cl.SEED, executor="serial", switches=read).attrs["runs"]
        == (table.attrs["runs"])
    )
    # An unread switch changes no row: with it on, each combination received what it did off.
    received = dict(zip(table["bugs"].map(frozenset), table["received_ids"], strict=True))
    for switch in unread:
        for bugs, ids in received.items():
            if switch in bugs:
                assert ids == received[bugs - {switch}]


# -- early stop ------------------------------------------------------------------------------
def _without_exact_subsets(table: pd.DataFrame) -> pd.DataFrame:
    keep = ~has_exact_proper_subset(table)
    kept = table[keep].drop(columns="rank").reset_index(drop=True)
    return kept


@pytest.mark.slow
def test_early_stop_finds_the_same_minimal_causes_on_the_seed(seed_observation, seed_explained):
    early = cl.explain(seed_observation, cl.SEED, early_stop=True)
    assert early.loc[early["minimal"], "bugs"].tolist() == (
        seed_explained.loc[seed_explained["minimal"], "bugs"].tolist()
    )
    assert early["rank"].tolist() == list(range(1, len(early) + 1))
    # It shows the combinations none of whose proper subsets is exact, each as without it.
    pd.testing.assert_frame_equal(
        early.drop(columns="rank"), _without_exact_subsets(seed_explained)
    )
    assert len(early) < len(seed_explained)


@EXPENSIVE
@given(st.data())
def test_early_stop_finds_the_same_minimal_causes_on_random_workloads(data):
    scenario = data.draw(workloads())
    switches = data.draw(SWITCH_SETS)
    observed = data.draw(_observations(scenario, switches))
    full = cl.explain(observed, scenario, switches=switches)
    early = cl.explain(observed, scenario, switches=switches, early_stop=True)
    assert set(early.loc[early["minimal"], "bugs"]) == set(full.loc[full["minimal"], "bugs"])
    pd.testing.assert_frame_equal(early.drop(columns="rank"), _without_exact_subsets(full))


# -- executors and progress ------------------------------------------------------------------
def _dask_client():
    distributed = pytest.importorskip("distributed")
    # a dashboard address, not None: with None the scheduler's HTTP server takes 8787, where two
    # clusters at once collide and tornado leaves the failed bind's socket open
    return distributed.Client(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address="127.0.0.1:0"
    )


EXECUTORS = {
    "serial": lambda: contextlib.nullcontext("serial"),
    "processes (named)": lambda: contextlib.nullcontext("processes"),
    "process pool": lambda: ProcessPoolExecutor(max_workers=2),
    "thread pool": lambda: ThreadPoolExecutor(max_workers=2),
    "dask local client": _dask_client,
}


@pytest.mark.parametrize("make", EXECUTORS.values(), ids=EXECUTORS.keys())
def test_every_executor_gives_the_same_explain_table(make, seed_observation, seed_explained):
    with make() as executor:
        table = cl.explain(seed_observation, cl.SEED, executor=executor, max_workers=2)
    pd.testing.assert_frame_equal(table, seed_explained)


@pytest.mark.parametrize("make", EXECUTORS.values(), ids=EXECUTORS.keys())
def test_every_executor_gives_the_same_sweep_table(make, swept):
    with make() as executor:
        table = cl.sweep(executor=executor, max_workers=2)
    pd.testing.assert_frame_equal(table, swept)


def test_a_users_executor_is_left_running():
    with ThreadPoolExecutor(max_workers=1) as executor:
        cl.explain([0], cl.SEED, executor=executor)
        assert executor.submit(int, "7").result() == 7


@pytest.mark.slow
def test_progress_shows_the_combinations_settled_on_stderr_only_when_asked(capsys):
    cl.explain([0, 1], cl.SEED)
    assert capsys.readouterr().err == ""
    cl.explain([0, 1], cl.SEED, progress=True)
    err = capsys.readouterr().err
    total = 2 ** len(cl.BUGS)
    assert "combinations" in err and f"{total}/{total}" in err


def test_sweep_progress_counts_the_cells(capsys):
    cl.sweep(flush_thresholds=[2], progress=True)
    assert "15/15" in capsys.readouterr().err


class _NotAClient:
    def get_executor(self) -> None:
        return None

    def __repr__(self) -> str:  # a stable test id: pytest-xdist workers must collect alike
        return "_NotAClient()"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"executor": "gpu"},
        {"executor": 4},
        {"executor": ThreadPoolExecutor},  # the class, not an executor
        {"executor": _NotAClient()},
        {"max_workers": 0},
        {"max_workers": 1.5},
        {"max_workers": True},
        {"progress": "yes"},
        {"early_stop": 1},
        {"prune": "no"},
    ],
    ids=repr,
)
def test_explain_rejects_bad_options(kwargs):
    with pytest.raises(InvalidArgumentError):
        cl.explain([0], cl.SEED, **kwargs)


@pytest.mark.parametrize(
    "kwargs", [{"executor": "gpu"}, {"max_workers": -1}, {"progress": None}], ids=repr
)
def test_sweep_rejects_bad_options(kwargs):
    with pytest.raises(InvalidArgumentError):
        cl.sweep(**kwargs)


def test_an_error_inside_a_run_reaches_the_caller_through_any_executor(monkeypatch):
    with ThreadPoolExecutor(max_workers=2) as executor, pytest.raises(ChronikLabError):
        # 0 is not a message count: every cell's Scenario is refused before any run.
        cl.sweep(messages=0, executor=executor)


# -- the table's columns ---------------------------------------------------------------------
@pytest.mark.slow
def test_one_bool_column_per_switch_says_whether_it_is_on(seed_explained):
    for name in cl.BUGS:
        on = seed_explained["bugs"].map(lambda bugs, name=name: name in bugs)
        assert seed_explained[name].dtype == bool
        assert seed_explained[name].tolist() == on.tolist()


def test_same_as_preset_names_the_preset_whose_run_received_the_same_ids(seed_explained):
    exact = seed_explained[seed_explained["exact"]]
    assert (exact["same_as_preset"] == "v0.7.5").all()
    ids_of = {
        row.preset: row.received_ids
        for row in seed_explained.dropna(subset=["preset"]).itertuples()
    }
    # two columns of 2^18 rows zipped: itertuples would build a 25-field tuple per row
    columns = seed_explained["received_ids"], seed_explained["same_as_preset"]
    for ids, alike in zip(*columns, strict=True):
        if pd.isna(alike):
            assert ids not in ids_of.values()
        else:
            assert ids == ids_of[alike]
    assert seed_explained["same_as_preset"].notna().sum() > len(ids_of)


# -- edit distance on long sequences ---------------------------------------------------------
@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=90),
    st.lists(st.integers(0, 6), min_size=1, max_size=90),
)
def test_both_ways_of_the_edit_distance_match_the_textbook_one(a, b):
    x, y = (np.array(a), np.array(b)) if len(a) >= len(b) else (np.array(b), np.array(a))
    expected = reference_distance(a, b)
    assert by_rows(x, y) == expected
    assert bit_parallel(x, y) == expected
    assert edit_distance(a, b) == expected


def test_edit_distance_of_a_scaled_seed_observation_is_the_extra_copy():
    # The seed's shape at 10^5: 0..39999, then 0..99999 again, then 40000..99999.
    observed = np.concatenate([np.arange(40_000), np.arange(100_000), np.arange(40_000, 100_000)])
    assert edit_distance(observed, np.arange(100_000)) == 100_000
    assert edit_distance(observed[::-1], observed[::-1]) == 0


# -- the list rule ---------------------------------------------------------------------------
def test_listed_takes_iterables_and_a_name_as_one_item():
    assert listed((1, 2), "x") == [1, 2] and listed(range(2), "x") == [0, 1]
    assert listed("v0.7.5", "presets", str_is_one=True) == ["v0.7.5"]
    assert listed(None, "compare_with", may_be_empty=True) == []
    assert listed((), "compare_with", may_be_empty=True) == []


@pytest.mark.parametrize("values", ["ab", b"ab", None, [], 3, {"a": 1}], ids=repr)
def test_listed_refuses_what_is_not_a_non_empty_list(values):
    with pytest.raises(InvalidArgumentError, match="batch_splits"):
        listed(values, "batch_splits")


# -- switches: a bound the caller sets -------------------------------------------------------
def test_switches_limits_explain_to_their_combinations(seed_observation, seed_explained):
    table = cl.explain(seed_observation, cl.SEED, switches="v0.7.5")
    allowed = cl.PRESETS["v0.7.5"]
    assert len(table) == table.attrs["combinations"] == 2 ** len(allowed) >= table.attrs["runs"]
    assert all(set(bugs) <= allowed for bugs in table["bugs"])
    # Each combination's figures are those of the full table; the ranking is among them.
    full = seed_explained.set_index("bugs")
    mine = table.set_index("bugs")
    columns = ["received_ids", "distance", "exact"]  # (same_as_preset: presets inside only)
    pd.testing.assert_frame_equal(mine[columns], full.loc[mine.index, columns])
    # Every switch of v0.7.5 in play: the same minimal causes as with all switches.
    assert set(table.loc[table["minimal"], "bugs"]) == set(
        seed_explained.loc[seed_explained["minimal"], "bugs"]
    )


@pytest.mark.parametrize("switches", ["no_such_bug", ["cumulative_update_buffer", 3]], ids=repr)
def test_explain_rejects_unknown_switches(switches):
    with pytest.raises(ChronikLabError):
        cl.explain([0], cl.SEED, switches=switches)


# -- what notebook 05 says of an explanation: the observation's own workload ------------------

RECORDED = {
    "scenario": {"messages": 10, "batch_sizes": [4, 6], "acks": -1, "flush_batches": 2},
    "from": "observations.json",
    "recorded_on": "v0.7.5",
    "source": "DUPLICATION_FIX_TRACKING.md",
    "not_applied": {},
}


def _recorded(**not_applied) -> dict:
    return {**RECORDED, "not_applied": not_applied}


def test_the_observation_says_it_is_explained_under_its_recorded_workload(seed_observation):
    text = explain_prose.observation(seed_observation, 10, _recorded())
    assert text.startswith("The observation: 10 sent, 20 received: 10 duplicated.")
    assert (
        "It was recorded on chronik v0.7.5 with 10 messages in requests of 4 and 6, acks=-1, and "
        "is explained under that workload, with the lab's broker flushing at 2 pending batches, "
        "as `observations.json` lists it."
    ) in text
    assert "apply" not in text
    assert text.endswith("`0 1 2 3 0 1 2 3 4 5 6 7 8 9 4 5 6 7 8 9`.")


def test_the_observation_names_each_parameter_that_does_not_apply(seed_observation):
    one = explain_prose.observation(seed_observation, 10, _recorded(messages=100_000))
    assert "The parameter `messages=100000` does not apply to a recorded observation." in one
    assert "99,990" not in one  # nothing is said against the report's 100,000 messages
    two = explain_prose.observation(seed_observation, 10, _recorded(messages=7, acks=1))
    assert "The parameters `messages=7` and `acks=1` do not apply" in two


def test_the_observation_of_a_users_dump_says_the_parameters_describe_its_workload():
    workload = {
        **RECORDED,
        "scenario": {"messages": 100_000, "batch_sizes": list(cl.seed_sizes(100_000))},
        "from": "parameters",
        "recorded_on": None,
    }
    workload["scenario"].update(acks=1, flush_batches=3)
    text = explain_prose.observation(list(range(100)), 100_000, workload)
    assert "100,000 sent, 100 received: 99,900 lost." in text
    assert (
        "the parameters describe its workload: 100,000 messages in 20,000 requests "
        "((4+6)×10,000), acks=1, the lab's broker flushing at 3 pending batches."
    ) in text
    assert "… (60 more)." in text  # the ids are written out up to 40


def test_the_observation_of_single_message_requests_and_of_nothing_received():
    workload = {**RECORDED, "recorded_on": "v0.7.6"}
    workload["scenario"] = {"messages": 5, "batch_sizes": None, "acks": 1, "flush_batches": 5}
    text = explain_prose.observation([], 5, workload)
    assert "5 sent, 0 received: all 5 lost." in text
    assert "with 5 messages in single-message requests, acks=1" in text
    assert "1 pending batch" in explain_prose.observation(
        [0], 1, {**RECORDED, "scenario": {**RECORDED["scenario"], "flush_batches": 1}}
    )
    assert text.endswith("The consumer received no record.")


def test_explanation_says_what_the_version_under_investigation_gives(seed_explained):
    text = explain_prose.explanation(seed_explained, "v0.7.6", "v0.7.5")
    assert (
        "The version under investigation (`bugs`), v0.7.6, on this workload: 10 sent, 6 "
        "received: 4 lost; **not** the observation (14 edits away)."
    ) in text
    assert (
        "recorded on v0.7.5, which here gives 10 sent, 20 received: 10 duplicated; exactly" in text
    )
    own = explain_prose.explanation(seed_explained, "v0.7.5", "v0.7.5")
    assert (
        "v0.7.5 (the version it was recorded on), on this workload: 10 sent, 20 received: "
        "10 duplicated;" in own
    )
    assert "which gives" not in own
    cause = "cumulative_update_buffer,blind_append_buffer,no_mark_flushed,buffer_first_fetch"
    assert "exactly the observation, and a minimal cause" in explain_prose.explanation(
        seed_explained, cause
    )
    # without a version: the ranking alone, as before
    assert "investigation" not in explain_prose.explanation(seed_explained)


def test_explain_digest_carries_the_observations_own_numbers_and_workload(
    seed_observation, tmp_path
):
    observed = observations.read_observed(OBSERVED)
    scenario = cl.Scenario(**RECORDED["scenario"], bugs="v0.7.6")
    ranking = cl.explain(seed_observation, scenario)
    fixes = cl.single_fixes(seed_observation, scenario)
    s = digest.explain_digest(observed, _recorded(messages=100_000), ranking, fixes, "v0.7.6")
    assert (s["sent"], s["received"], s["counts"]) == (10, 20, {"duplicate": 10, "lost": 0})
    assert s["pattern"] == "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9"
    assert s["workload"] == RECORDED["scenario"] and s["recorded_on"] == "v0.7.5"
    assert (s["workload_from"], s["not_applied"]) == ("observations.json", {"messages": 100_000})
    assert (s["combinations"], s["exact"]) == (2 ** len(cl.BUGS), int(ranking["exact"].sum()))
    assert s["investigated"] == {
        "bugs": "v0.7.6",
        **{"rank": s["investigated"]["rank"], "received": 6, "duplicates": 0, "lost": 4},
        "redelivered": 0,
        **{"distance": 14, "exact": False, "minimal": False},
    }
    assert s["fixes_removing_duplication"] == []
    assert s["fixes_removing_loss"] == ["active_segment_invisible"]
    # ...and the summary file the report reads keeps them, as plain JSON
    summary = digest.notebook_summary("05_explain", {"bugs": "v0.7.6"}, **s)
    written = json.loads(digest.write_summary(tmp_path / "05.json", summary).read_text())
    assert written.keys() == summary.keys()
    assert (written["sent"], written["received"]) == (10, 20)
    assert written["counts"] == {"duplicate": 10, "lost": 0}
    assert written["workload"] == RECORDED["scenario"]
    assert written["investigated"] == s["investigated"]
    assert written["fixes_removing_loss"] == ["active_segment_invisible"]


def _index_note(summary: dict) -> str:
    """The note the report's index writes under an explain notebook's row for `summary`."""
    from chronik_lab.report.index import render_index

    page = render_index({"notebooks": [{"name": "05_explain", "status": "ok", "summary": summary}]})
    [note] = re.findall(r'<tr class="note"><td></td><td colspan="6">(.*?)</td></tr>', page)
    return html.unescape(note)


def test_the_index_row_of_an_observation_gives_its_own_workload_and_version():
    s = {
        "parameters": {"bugs": "v0.7.6", "observed_path": "../data/observed/seed.csv"},
        "sent": 10,
        "workload": RECORDED["scenario"],
        "recorded_on": "v0.7.5",
        "not_applied": {"messages": 100000},
        "minimal": [["a", "b"]],
        "investigated": {"received": 6, "duplicates": 0, "lost": 4, "exact": False},
        "fixes_removing_duplication": [],
        "fixes_removing_loss": ["active_segment_invisible"],
    }
    note = _index_note(s)
    assert note.startswith("what a consumer of chronik v0.7.5 received, not a run of this report")
    recorded = note.split("its own workload (as recorded): ")[1].split(" (messages=")[0]
    assert recorded.startswith("10 messages") and "4+6" in recorded  # the index's words
    assert recorded.endswith("acks=-1, flush every 2 batches")
    assert "(messages=100000 does not apply)" in note
    assert "v0.7.6 on that workload: 10 sent, 6 received: 4 lost (not the observation)" in note
    # v0.7.6 loses and duplicates nothing here: only the fixes of its loss are listed
    assert note.endswith(
        "single fixes (from v0.7.6) that remove the loss: active_segment_invisible"
    )
    users = _index_note({**s, "recorded_on": None, "not_applied": {}})
    assert users.startswith("what a consumer received") and "(as the parameters describe" in users


def test_explain_of_the_seed_settles_every_combination_in_few_runs(seed_explained):
    # bounded: 2^12 combinations, a few dozen runs of 10 messages (well under a second)
    assert seed_explained.attrs["runs"] < 120


def test_the_combination_grid_can_leave_the_presets_to_a_table_of_their_own(seed_explained):
    from chronik_lab.viz.charts import combination_table

    ranked = combination_table(seed_explained, 10, presets=False)
    assert ranked["rank"].tolist() == list(range(1, 11))  # the top 10 hold both minimal ones
    presets = seed_explained[seed_explained["preset"].notna()]
    table = combination_table(presets, len(presets))
    assert sorted(table["preset"]) == sorted({"v0.7.4", "v0.7.5", "v0.7.6", "v1.0", "fixed"})
    assert not table.isna().any().any() and not ranked.isna().any().any()


def test_names_by_mask_gives_each_masks_sorted_names():
    masks = np.random.default_rng(0).integers(0, ALL + 1, 5_000)
    assert names_by_mask(masks).tolist() == [names_of(int(m)) for m in masks]
    assert names_by_mask([0, ALL, 5]).tolist() == [(), names_of(ALL), names_of(5)]
    assert names_by_mask([]).tolist() == []


def test_a_caller_changing_the_names_it_got_does_not_change_the_next_callers():
    got = names_by_mask([3, 5])
    got[0] = ("not", "a", "switch")
    got[1] = None
    assert names_by_mask([3, 5]).tolist() == [names_of(3), names_of(5)]
    table = cl.explain(list(range(10)) * 2, cl.SEED, executor="serial", switches="v0.7.5")
    table.loc[0, "bugs"] = ("changed",)
    again = cl.explain(list(range(10)) * 2, cl.SEED, executor="serial", switches="v0.7.5")
    assert again.loc[0, "bugs"] == names_of(mask_of(frozenset(again.loc[0, "bugs"])))
    assert ("changed",) not in set(again["bugs"])
