"""The generated prose: what the heading and the "why" say follows the run, for every preset
and at sizes where nothing, or everything, comes back -- never the seed's text by default."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

import chronik_lab as cl
from chronik_lab.checker.counts import outcome, outcome_sentence, outcome_word
from chronik_lab.notebook import digest, explain_prose, narrative
from chronik_lab.sim import scenario as scenario_module
from chronik_lab.sim import tables
from chronik_lab.viz import steps


@pytest.fixture(scope="module")
def preset_runs() -> dict[str, cl.Run]:
    return {name: cl.run(cl.SEED.with_bugs(name)) for name in cl.PRESETS}


# What each preset returns on the seed's workload (README's table; notebook 4 measures it).
SEED_HEADINGS = {
    "v0.7.4": "## v0.7.4: 10 sent, 10 received: each exactly once",
    "v0.7.5": "## v0.7.5: 10 sent, 20 received: 10 duplicated",
    "v0.7.6": "## v0.7.6: 10 sent, 6 received: 4 lost",
    "v1.0": "## v1.0: 10 sent, 10 received: each exactly once",
    "fixed": "## fixed: 10 sent, 10 received: each exactly once",
}


@pytest.mark.parametrize("preset", list(cl.PRESETS))
def test_heading_counts_what_this_preset_returned(preset_runs, preset):
    assert narrative.heading(preset_runs[preset]) == SEED_HEADINGS[preset]


def test_heading_says_when_every_message_was_lost():
    # 600 messages: the buffer, holding each record twice, passes v0.7.5's 1000-record cap
    big = cl.Scenario(messages=600, batch_sizes="auto", acks=-1, bugs="v0.7.5", flush_batches=2)
    assert narrative.heading(cl.run(big), 3) == "### v0.7.5: 600 sent, 0 received: all 600 lost"


@pytest.mark.parametrize("preset", list(cl.PRESETS))
def test_why_names_only_the_switches_that_are_on(preset_runs, preset):
    run = preset_runs[preset]
    text = narrative.why(run)
    for name in cl.BUGS:
        assert (f"`{name}`" in text) == (name in run.scenario.bug_set), name
    if not run.scenario.bug_set:
        assert "No bug switch is on" in text


def test_seed_why_gives_the_buffer_fetch_read_and_the_switches_that_mattered(preset_runs):
    text = narrative.why(preset_runs["v0.7.5"])
    assert "10 sent, 20 received: 10 duplicated" in text
    assert "`[0..3] + [0..9] + [4..9]` in buffer order" in text
    assert "**20** records from the buffer and **0** from segments" in text
    made = [line for line in text.splitlines() if "made the difference" in line]
    made = {line.split("`")[1] for line in made}
    assert {"cumulative_update_buffer", "blind_append_buffer", "no_mark_flushed"} <= made
    assert not made & {"active_segment_invisible", "buffer_first_fetch"}
    # Without renumbering the client sees the broker's offsets: the same 20 records, 10 of them
    # read again at their own offset (redelivered, as cl.check counts it), none duplicated.
    assert "without it: 10 sent, 20 received: 10 redelivered (**made the difference**)" in text


def test_v076_why_says_fetch_read_only_what_re_entered_the_buffer(preset_runs):
    text = narrative.why(preset_runs["v0.7.6"])
    assert "10 sent, 6 received: 4 lost" in text
    assert "the buffer held `[4..9]` in buffer order" in text  # 0-3 cleared by mark_flushed
    assert "**6** records from the buffer and **0** from segments" in text
    assert "[0..3]" not in text  # none of the seed's v0.7.5 story
    made = {line.split("`")[1] for line in text.splitlines() if "made the difference" in line}
    assert made == {"active_segment_invisible"}


def test_a_run_that_received_nothing_says_the_buffer_was_empty():
    run = cl.run(cl.Scenario(messages=10, batch_sizes=[4, 6], flush_batches=1, bugs="v0.7.6"))
    text = narrative.why(run)
    assert "10 sent, 0 received: all 10 lost" in text
    assert "the buffer was **empty**" in text
    assert "**0** records from the buffer and **0** from segments" in text


def test_a_fetch_past_the_log_end_is_named_when_chronik_answered_it_empty(preset_runs):
    text = narrative.why(preset_runs["v0.7.5"])
    assert "from past the log end (the first from offset 20, the log ending at 10)" in text


def test_fixed_why_reads_every_record_from_segments(preset_runs):
    text = narrative.why(preset_runs["fixed"])
    assert "each exactly once" in text and "**10** from segments" in text


def test_a_big_run_says_it_did_not_rerun_each_switch():
    scenario = cl.Scenario(messages=6_000, batch_sizes=[3_000, 3_000], bugs="v0.7.5")
    run = cl.run(scenario)
    text = narrative.why(run)
    assert narrative.counterfactuals(run) is None
    assert "does not rerun the workload" in text
    assert "6,000 sent, 0 received: all 6,000 lost" in text  # past v0.7.5's 1000-record cap


@pytest.mark.parametrize("bugs", ["v0.7.5", "v0.7.4", "v0.7.6"])
def test_thinned_snapshots_tell_the_first_fetch_exactly(bugs, monkeypatch):
    # the first fetch comes mid-run (poll_every), after the recorder has thinned its snapshots
    scenario = cl.Scenario(
        messages=600, batch_sizes="auto", acks=-1, bugs=bugs, flush_batches=2, poll_every=40
    )
    monkeypatch.setattr(scenario_module, "SNAPSHOT_ROW_LIMIT", 10**12)
    full = cl.run(scenario)
    monkeypatch.setattr(scenario_module, "SNAPSHOT_ROW_LIMIT", 200)
    thin = cl.run(scenario)
    assert thin.snapshots_stride > 1 and full.snapshots_stride == 1
    assert narrative.at_first_fetch(thin) == narrative.at_first_fetch(full)
    assert "not recorded" not in narrative.why(thin)
    if bugs == "v0.7.5":
        said = narrative.switch_evidence(thin)["blind_append_buffer"]
        assert f"(in the states recorded: the state at every {thin.snapshots_stride:,}th" in said


def test_a_state_between_kept_snapshots_is_said_to_be_unrecorded(preset_runs):
    run = preset_runs["v0.7.5"]
    first_fetch = tables.fetch_reads(run, 0)["first_fetch_step"]
    off = run.offsets_snapshots.copy()
    off.loc[off.index[-1], "held_until"] = first_fetch - 1  # it changed again, unrecorded
    thinned = cl.Run(**{**run.__dict__, "offsets_snapshots": off, "snapshots_stride": 4})
    assert tables.buffer_at(thinned, 0, first_fetch) is None
    assert tables.segments_at(thinned, 0, first_fetch) is None
    text = narrative.why(thinned)
    assert "The snapshots keep the state at every 4th step" in text and "not recorded" in text


def test_max_buffer_copies_counts_overlaps_not_touching_entries():
    touching = pd.DataFrame(
        {"partition": 0, "step_index": 1, "first_offset": [0, 4], "last_offset": [3, 9]}
    )
    assert tables.max_buffer_copies(touching) == 1
    overlapping = touching.assign(first_offset=[0, 3])
    assert tables.max_buffer_copies(overlapping) == 2
    assert tables.max_buffer_copies(touching.iloc[:0]) == 0


def test_read_spans_joins_entries_that_continue_each_other():
    held = pd.DataFrame({"first_offset": [0, 0, 4, 4], "last_offset": [3, 3, 9, 9]})
    assert tables.read_spans(held) == [(0, 3), (0, 9), (4, 9)]


def test_distinct_offsets_counts_each_offset_the_entries_cover_once():
    def covered(*entries):
        first, last = zip(*entries, strict=True)
        return tables.distinct_offsets(pd.DataFrame({"first_offset": first, "last_offset": last}))

    assert covered((0, 3), (0, 9), (4, 9)) == 10  # the seed's buffer
    assert covered((4, 9), (0, 3)) == 10  # touching, in any order
    assert covered((0, 1), (5, 6), (6, 8)) == 6
    assert covered((7, 7)) == 1


@pytest.mark.parametrize(
    ("preset", "expected"), [("v0.7.5", "duplicates"), ("v0.7.6", "loss"), ("fixed", "exact")]
)
def test_the_outcome_word_names_what_went_wrong(preset_runs, preset, expected):
    run = preset_runs[preset]
    assert outcome_word(outcome(run.received, len(run.sent))) == expected


# -- the tables a page shows, and the facts it states --------------------------------------


def test_trace_table_of_produce_steps_has_no_poll_column(preset_runs):
    steps = digest.trace_steps(preset_runs["v0.7.5"], "update_buffer")
    assert "poll" not in steps.columns and "request" in steps.columns
    assert not steps.isna().any().any()


def test_trace_table_of_mixed_steps_leaves_missing_values_blank(preset_runs):
    steps = digest.trace_steps(preset_runs["v0.7.5"], ["update_buffer", "poll"])
    poll = steps[steps["step"] == "poll"].iloc[0]
    buffer = steps[steps["step"] == "update_buffer"].iloc[0]
    assert poll["request"] == "" and buffer["poll"] == ""
    assert "<NA>" not in steps.to_string()


def test_buffer_facts_come_from_the_tables_alone():
    buffer_snapshots = pd.DataFrame(
        {
            "partition": 0,
            "step_index": [3, 9, 9],
            "first_offset": [0, 0, 2],
            "last_offset": [3, 3, 5],
        }
    )
    segment_snapshots = pd.DataFrame(
        {"partition": [0, 0, 1], "step_index": [4, 8, 8], "visible": [False, True, False]}
    )
    tables = SimpleNamespace(buffer_snapshots=buffer_snapshots, segment_snapshots=segment_snapshots)
    facts = digest.buffer_facts(tables)
    assert facts == {"max_buffer_copies": 2, "segments": 2, "visible_segments": 1}


def test_seed_buffer_facts(preset_runs):
    assert digest.buffer_facts(preset_runs["v0.7.5"]) == {
        "max_buffer_copies": 2,
        "segments": 1,
        "visible_segments": 0,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, []), ([], []), ("v1.0", ["v1.0"]), (("v1.0", "fixed"), ["v1.0", "fixed"])],
)
def test_compare_with_follows_the_labs_one_list_rule(value, expected):
    assert digest.versions("v0.7.5", value) == ["v0.7.5", *expected]


@pytest.mark.parametrize("value", [3, b"v1.0", {"v1.0": 1}])
def test_a_compare_with_that_is_not_a_list_is_refused_by_name(value):
    with pytest.raises(cl.InvalidArgumentError, match="compare_with must be a list"):
        digest.versions("v0.7.5", value)


# -- the other generated sentences ---------------------------------------------------------


def test_heading_names_the_version_and_the_outcome(preset_runs):
    assert narrative.heading(preset_runs["v0.7.6"]) == "## v0.7.6: 10 sent, 6 received: 4 lost"
    assert narrative.heading(preset_runs["fixed"], 3).startswith("### fixed: 10 sent, 10 received")


def test_at_first_fetch_states_segments_and_their_visibility(preset_runs):
    assert "1 segment (offsets 0–9), not visible to fetch." in narrative.at_first_fetch(
        preset_runs["v0.7.6"]
    )
    assert "1 segment (offsets 0–9), visible to fetch." in narrative.at_first_fetch(
        preset_runs["fixed"]
    )


def test_one_of_a_thing_is_said_in_the_singular():
    one = cl.run(cl.Scenario(messages=1000, acks=-1, bugs="v0.7.6", flush_batches=2))
    text = narrative.at_first_fetch(one)
    assert "the buffer held `[999]` in buffer order: 1 record for 1 offset (999)." in text
    assert "Over 1 fetch (segments first), fetch read **1** record from the buffer" in text
    assert steps.buffer_order(one, 0)[1].startswith("1 entry, 1 record, at the first fetch")


def test_observation_counts_duplicates_and_losses():
    seed = [0, 1, 2, 3, *range(10), *range(4, 10)]
    assert (
        explain_prose.observation(seed, 10)
        == "The observation: 10 sent, 20 received: 10 duplicated."
    )
    assert explain_prose.observation([], 10) == "The observation: 10 sent, 0 received: all 10 lost."


def test_observation_with_offsets_tells_a_record_read_again_from_a_duplicate():
    read_twice = pd.DataFrame({"offset": [0, 1, 0, 1], "message_id": [0, 1, 0, 1]})
    assert explain_prose.observation(read_twice, 3) == (
        "The observation: 3 sent, 4 received: 2 redelivered, 1 lost."
    )


def test_explanation_names_the_minimal_causes_or_says_there_are_none():
    seed = [0, 1, 2, 3, *range(10), *range(4, 10)]
    text = explain_prose.explanation(cl.explain(seed, cl.SEED))
    assert "are minimal" in text and "`cumulative_update_buffer`" in text
    assert "Every minimal one has" in text
    none = explain_prose.explanation(cl.explain([5, 5, 5], cl.SEED))
    assert none.startswith("No combination") and "reproduces the observation exactly" in none


@pytest.mark.parametrize(
    ("preset", "received", "distinct", "duplicates", "lost"),
    [("v0.7.5", 20, 10, 10, 0), ("v0.7.6", 6, 6, 0, 4), ("fixed", 10, 10, 0, 0)],
)
def test_every_summary_carries_the_runs_outcome(
    preset_runs, preset, received, distinct, duplicates, lost
):
    summary = digest.notebook_summary("01_reproduce", {"bugs": preset}, preset_runs[preset])
    assert (summary["notebook"], summary["parameters"]) == ("01_reproduce", {"bugs": preset})
    clean = preset == "fixed"  # the checker finds nothing only there
    assert (summary["sent"], summary["received"], summary["ok"]) == (10, received, clean)
    assert summary["outcome"] == {
        "received": received,
        "distinct": distinct,
        "duplicates": duplicates,
        "redelivered": 0,
        "lost": lost,
    }


def test_sweep_story_gives_each_versions_cells_and_the_parameters_cell():
    grid = cl.sweep(10, [None, [4, 6]], [1, 2], ["v0.7.5", "fixed"])
    text = narrative.sweep_story(grid, digest.sweep_cell([4, 6], 10, 2))
    v075, fixed = text.splitlines()
    assert (
        v075.startswith("- `v0.7.5`: duplicates in ")
        and "(split `4+6`, flush at 2): 100% duplicated" in v075
    )
    assert fixed == (
        "- `fixed`: duplicates in 0 of 4 cells (at worst 0%), loss in 0 (at worst 0%); "
        "this workload (split `4+6`, flush at 2): 0% duplicated, 0% lost."
    )
    missing = narrative.sweep_story(grid, digest.sweep_cell([5, 5], 10, 2))
    assert "this workload is not in the grid" in missing


KAFKA_RANGE = sorted(cl.PRESETS["v0.7.5"] - {"chronik_fetch_range"})  # resets past the log end


def test_a_reread_after_a_reset_is_redelivered_not_duplicated():
    run = cl.run(cl.SEED.with_bugs(KAFKA_RANGE))
    o = run.report.counts  # the checker's own words
    assert o["duplicate"] == 10
    said = outcome_sentence(len(run.sent), outcome(run.received, len(run.sent)))
    assert said == "10 sent, 80 received: 10 duplicated, 60 redelivered"
    assert said in narrative.heading(run) and said in narrative.why(run)
    assert outcome_word(digest.run_digest(run)["outcome"]) == "duplicates"
    assert digest.run_digest(run)["outcome"]["redelivered"] == 60


@pytest.mark.parametrize(
    ("bugs", "says", "never"),
    [
        ("v0.7.5", ["ended at **20**, past the 10 records", "`chronik_fetch_range`"], ["again"]),
        ("fixed", ["ended at **10**, at the end of the 10 records"], ["`chronik_fetch_range`"]),
        (KAFKA_RANGE, ["60 records **again**", "(3 resets)", "stopped at its cap"], []),
    ],
)
def test_stopped_says_where_the_consumer_ended_and_what_put_it_there(bugs, says, never):
    text = narrative.stopped(cl.run(cl.SEED.with_bugs(bugs)))
    assert all(s in text for s in says), text
    assert not any(s in text for s in never), text


def test_stopped_says_nothing_came_back_and_names_rotations():
    big = cl.Scenario(messages=600, batch_sizes="auto", acks=-1, bugs="v0.7.5", flush_batches=2)
    assert narrative.stopped(cl.run(big)).startswith("The consumer received **nothing**")
    # a run whose trace shows segment rotations (a real client's run ages in real time)
    run = cl.run(cl.SEED)
    rotated = run.trace.copy()
    rotated.loc[len(rotated) - 1, "step"] = "rotation"
    text = narrative.stopped(SimpleNamespace(**{**vars(run), "trace": rotated}))
    assert "1 segment rotation happened during the run" in text
    assert "`active_segment_invisible`" in text
    shorter = SimpleNamespace(**{**vars(run), "trace": rotated, "segment_ms": 1_500})
    assert "(a segment is sealed at 1,500 ms of age" in narrative.stopped(shorter)


def test_stopped_says_the_rotations_of_a_run_whose_clock_moved_at_the_brokers_segment_age():
    # linger_ms moves the simulated clock 20 s a request: segments age past 30 s and rotate
    run = cl.run(cl.Scenario(messages=10, linger_ms=20_000, bugs="v0.7.5"))
    assert run.segment_ms == 30_000
    text = narrative.stopped(run)
    assert "3 segment rotations happened during the run (a segment is sealed at 30 s of age" in text


def test_presets_story_counts_each_versions_switches_from_the_presets():
    lines = narrative.presets_story().splitlines()
    assert lines[1] == (
        "- **v0.7.5**, 12 of the 18 switches on; it turned 2 off (`flush_every_request`, "
        "`hw_only_acks_all`) and 2 on (`ack_before_durable`, `active_segment_invisible`) — "
        "10 sent, 20 received: 10 duplicated."
    )
    assert lines[2] == (
        "- **v0.7.6**, 9 of the 18 switches on; it turned 4 off (`blind_append_buffer`, "
        "`buffer_first_fetch`, `cumulative_update_buffer`, `no_mark_flushed`) and 1 on "
        "(`mark_flushed_clears_all`) — 10 sent, 6 received: 4 lost."
    )
    # the counts follow the presets, whatever they are
    for version, line in zip(("v0.7.4", "v0.7.5", "v0.7.6", "v1.0"), lines, strict=True):
        assert f"**{version}**, {len(cl.PRESETS[version])} of the {len(cl.BUGS)} " in line


def test_measured_table_gives_rates_as_words_in_the_order_measured():
    from chronik_lab.sim.versions import measure_versions

    measured = measure_versions()
    table = digest.measured_table(measured)
    assert list(table.columns) == ["v0.7.4", "v0.7.5", "v0.7.6", "v1.0"]
    assert list(table.index) == list(measured["workload"].unique())
    seed = table.loc["seed (4+6, acks=-1, flush at 2 batches)"].tolist()
    assert seed == ["exact", "100% duplicated", "40% lost", "exact"]
    assert table.iloc[-1].tolist() == ["exact", "100% lost", "49% lost", "49% lost"]


def test_compare_hint_never_suggests_the_version_the_page_ran(preset_runs):
    assert narrative.compare_hint(preset_runs["v0.7.6"], ("v0.7.5", "v0.7.6")) == (
        'This page ran v0.7.6; `-p bugs v0.7.5` (or `bugs = "v0.7.5"` in the parameters cell) '
        "runs it under that version."
    )
    assert narrative.compare_hint(preset_runs["v0.7.5"], ("v0.7.5", "v0.7.6", "v1.0")) == (
        'This page ran v0.7.5; `-p bugs v0.7.6` or `-p bugs v1.0` (or `bugs = "v1.0"` in the '
        "parameters cell) runs it under those versions."
    )
