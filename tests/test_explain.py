"""explain, single_fixes, edit_distance and sweep."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chronik_lab as cl
from chronik_lab.checker.counts import outcome
from chronik_lab.errors import ChronikLabError, InvalidArgumentError
from chronik_lab.sim.causes import edit_distance

OBSERVED = Path(__file__).resolve().parents[1] / "data" / "observed" / "chronik_v0.7.5_seed.csv"


@pytest.fixture(scope="module")
def seed_observation() -> list[int]:
    return pd.read_csv(OBSERVED)["message_id"].tolist()


@pytest.fixture(scope="module")
def seed_explained(seed_observation) -> pd.DataFrame:
    return cl.explain(seed_observation, cl.SEED)


# -- explain ----------------------------------------------------------------------------------
def test_explain_tries_every_combination_of_the_switches(seed_explained):
    combinations = 2 ** len(cl.BUGS)
    assert len(seed_explained) == combinations
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


def test_explain_names_the_cumulative_update_in_every_minimal_cause(seed_explained):
    minimal = seed_explained[seed_explained["minimal"]]
    assert len(minimal) >= 1
    assert all("cumulative_update_buffer" in bugs for bugs in minimal["bugs"])
    assert minimal["exact"].all()


def test_minimal_combinations_have_no_exact_proper_subset(seed_explained):
    exact = [frozenset(b) for b in seed_explained.loc[seed_explained["exact"], "bugs"]]
    for bugs, is_minimal in zip(seed_explained["bugs"], seed_explained["minimal"], strict=True):
        bugs = frozenset(bugs)
        has_exact_subset = any(other < bugs for other in exact)
        assert is_minimal == (bugs in exact and not has_exact_subset)


def test_explain_labels_the_presets_and_v075_reproduces_the_seed(seed_explained):
    by_preset = seed_explained.dropna(subset=["preset"]).set_index("preset")
    assert set(by_preset.index) == set(cl.PRESETS)
    assert by_preset.loc["v0.7.5", "exact"]
    assert not by_preset.loc["v1.0", "exact"] and by_preset.loc["v1.0", "distance"] == 10
    assert by_preset.loc["v0.7.6", "lost"] == 10


def test_explain_of_a_clean_observation_puts_the_fixed_broker_first():
    table = cl.explain(list(range(10)), cl.SEED)
    assert table.iloc[0]["bugs"] == () and table.iloc[0]["minimal"]


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
    # Renumbering only changes the offsets the client sees, not which records come back.
    assert not fixes.loc["renumber_response_offsets", "removes_duplication"]
    assert fixes.loc["renumber_response_offsets", "distance"] == 0
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
    assert outcome([0, 1, 1, 3, 3, 3], 5) == {"received": 6, "duplicates": 3, "lost": 2}


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
        "lost",
        "duplication_rate",
        "loss_rate",
    ]
    assert len(swept) == 3 * 5 * 5
    assert set(swept["batch_split"]) == {"1×10", "10", "5+5", "4+6", "2+8"}


def test_sweep_finds_the_seed_duplication_and_the_v076_ninety_percent_loss(swept):
    cell = swept.set_index(["preset", "batch_split", "flush_batches"])
    assert cell.loc[("v0.7.5", "4+6", 2), "duplication_rate"] == 1.0
    # chronik's notes: "v0.7.6: 90% loss" -- single sends, a flush every third batch.
    assert cell.loc[("v0.7.6", "1×10", 3), "loss_rate"] == pytest.approx(0.9)


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
