"""Every outcome a page states for a run it did not show -- a switch's "without it", a single
fix, a version in the explain ranking -- is what `cl.check` counts on that same run, in
checker/counts.py's words (received = distinct + duplicates + redelivered).

Each expectation is built from `cl.check(cl.run(...).history)`'s own stats, never from `outcome`,
so a counterfactual counted from the ids alone (a re-read counted as a duplicate: "80 received,
70 duplicated" where the checker says 10 duplicated, 60 redelivered) fails here.
"""

from __future__ import annotations

import re

import pytest

import chronik_lab as cl
from chronik_lab.checker.counts import outcome_sentence
from chronik_lab.notebook import explain_prose, narrative

WORKLOADS = {"seed": cl.SEED, "compat": cl.COMPAT}
VERSIONS = ("v0.7.4", "v0.7.5", "v0.7.6", "v1.0")


def checked_counts(scenario: cl.Scenario) -> dict[str, int]:
    """What cl.check counts on the run of `scenario`, under counts.py's keys."""
    stats = cl.check(cl.run(scenario).history).stats
    assert stats["acknowledged"] == stats["sent"]  # so the checker's lost is every lost id
    return {
        "received": stats["received"],
        "duplicates": stats["duplicated"],
        "redelivered": stats["redelivered"],
        "lost": stats["lost"],
    }


def checked_sentence(scenario: cl.Scenario) -> str:
    return outcome_sentence(scenario.messages, checked_counts(scenario))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_each_switchs_without_it_is_the_checkers_count_of_that_run(workload, version):
    scenario = WORKLOADS[workload].with_bugs(version)
    stated = dict(
        re.findall(
            r"^- `(\w+)` .*; without it: (.+?) \((?:same outcome|\*\*made)",
            narrative.why(cl.run(scenario)),
            re.M,
        )
    )
    on = scenario.bug_set
    assert set(stated) == on
    for name, sentence in stated.items():
        assert sentence == checked_sentence(scenario.with_bugs(sorted(on - {name}))), name


def test_the_seeds_fetch_range_counterfactual_counts_re_reads_as_redelivered():
    why = narrative.why(cl.run(cl.SEED))
    assert "without it: 10 sent, 80 received: 10 duplicated, 60 redelivered" in why


@pytest.mark.parametrize("version", ["v0.7.5", "v0.7.6"])
def test_each_single_fix_row_is_the_checkers_count_of_that_run(version):
    observed = cl.run(cl.SEED).received_ids
    fixes = cl.single_fixes(observed, cl.SEED, version)
    for row in fixes.itertuples():
        stated = {k: getattr(row, k) for k in ("received", "duplicates", "redelivered", "lost")}
        assert stated == checked_counts(cl.SEED.with_bugs(row.bugs)), row.fixed_bug


@pytest.mark.slow
def test_the_explain_rankings_outcomes_are_the_checkers_counts_of_those_runs():
    observed = cl.run(cl.SEED).received_ids
    ranking = cl.explain(observed, cl.SEED)
    # every preset, and every combination whose re-reads the ids alone would miscount
    rows = ranking[ranking["preset"].notna() | (ranking["redelivered"] > 0)]
    assert (rows["redelivered"] > 0).any() and rows["preset"].notna().sum() >= len(VERSIONS)
    for row in rows.head(40).itertuples():
        stated = {k: getattr(row, k) for k in ("received", "duplicates", "redelivered", "lost")}
        assert stated == checked_counts(cl.SEED.with_bugs(row.bugs)), row.bugs
    text = explain_prose.explanation(ranking, "v0.7.6", "v0.7.5")
    assert f"v0.7.6, on this workload: {checked_sentence(cl.SEED.with_bugs('v0.7.6'))};" in text
    assert f"which here gives {checked_sentence(cl.SEED)};" in text
