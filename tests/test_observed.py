"""Chronik's recorded observations (data/observed/) against the lab: each workload under its
version's preset gives what was observed, and cl.explain ranks the presets for each; and the
workload notebook 05 explains an observation under: the recorded one for a file that
observations.json lists, the parameters' for a user's dump (whose ids the pre-flight checks)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import chronik_lab as cl
from chronik_lab.errors import ChronikLabError
from chronik_lab.notebook import params
from chronik_lab.sim import observations

OBSERVED = Path(__file__).resolve().parents[1] / "data" / "observed"
INDEX = json.loads((OBSERVED / "observations.json").read_text())
IDS = [entry["file"] for entry in INDEX]


def scenario(entry: dict) -> cl.Scenario:
    return cl.Scenario(**entry["scenario"], bugs=entry["version"])


def observed(entry: dict) -> pd.DataFrame:
    return pd.read_csv(OBSERVED / entry["file"])


def test_every_observation_file_is_indexed_with_its_source():
    files = {p.name for p in OBSERVED.glob("*.csv")}
    assert files == set(IDS)
    readme = (OBSERVED / "README.md").read_text()
    for entry in INDEX:
        assert entry["version"] in cl.PRESETS and entry["source"]
        assert f"`{entry['file']}`" in readme


@pytest.mark.parametrize("entry", INDEX, ids=IDS)
def test_each_observation_is_reproduced_by_its_versions_preset(entry):
    run = cl.run(scenario(entry))
    got = run.received[["partition", "offset", "message_id"]].reset_index(drop=True)
    want = observed(entry)[["partition", "offset", "message_id"]]
    assert got.astype("int64").equals(want.astype("int64"))
    assert run.offsets_snapshots["high_watermark"].iloc[-1] == entry["facts"].get(
        "high_watermark", run.scenario.messages
    )


@pytest.mark.parametrize("entry", [e for e in INDEX if e["facts"]], ids=lambda e: e["file"])
def test_each_observations_broker_facts_hold_at_the_consumers_fetch(entry):
    # Replay the producer on a broker alone, then look at what the consumer's fetch met.
    s = scenario(entry)
    with cl.Broker(bugs=s.bugs, flush_batches=s.flush_batches) as broker:
        for i in range(s.messages):  # single sends (batch_sizes None)
            broker.produce(s.topic, 0, [b'{"id": %d}' % i], acks=s.acks)
        fetched = broker.fetch(s.topic, 0, 0)
        facts = {
            "high_watermark": fetched.high_watermark,
            "visible_segments": int(broker.segments(s.topic, 0)["visible"].sum()),
            "buffered": broker.buffer(s.topic, 0).num_rows,
        }
    assert {k: facts[k] for k in entry["facts"]} == entry["facts"]
    assert len(fetched) == len(observed(entry))


@pytest.mark.slow  # 2^11 bug combinations per observation
@pytest.mark.parametrize("entry", INDEX, ids=IDS)
def test_explain_ranks_the_observations_version_among_the_exact_presets(entry):
    table = cl.explain(observed(entry)["message_id"].tolist(), scenario(entry))
    presets = table.dropna(subset=["preset"]).set_index("preset")
    presets = presets[presets.index != "None"]
    assert set(presets.index) == set(cl.PRESETS)
    assert presets.loc[entry["version"], "exact"]
    # the fixed engine never reproduces a buggy observation
    assert not presets.loc["fixed", "exact"]


# --- the workload an observation is explained under (notebook 05) --------------------------------

SEED_FILE = OBSERVED / "chronik_v0.7.5_seed.csv"
SEED_WORKLOAD = {"messages": 10, "batch_sizes": [4, 6], "acks": -1, "flush_batches": 2}
DEFAULTS = {"messages": 10, "batch_sizes": "auto", "acks": -1, "flush_batches": 2}


def test_a_recorded_observation_keeps_its_own_workload_whatever_the_parameters_say():
    workload = observations.observed_workload(SEED_FILE, {**DEFAULTS, "messages": 100_000})
    assert workload["scenario"] == SEED_WORKLOAD
    assert (workload["from"], workload["recorded_on"]) == ("observations.json", "v0.7.5")
    assert workload["source"].startswith("DUPLICATION_FIX_TRACKING.md")
    # "auto" batch sizes at the recording's own 10 messages are its [4, 6]: they apply
    assert workload["not_applied"] == {"messages": 100_000}


def test_a_recorded_observation_at_the_defaults_has_no_parameter_that_does_not_apply():
    assert observations.observed_workload(SEED_FILE, DEFAULTS)["not_applied"] == {}


def test_every_parameter_that_differs_from_the_recording_is_named():
    v076 = OBSERVED / "chronik_v0.7.6_verification.csv"
    workload = observations.observed_workload(v076, DEFAULTS)
    assert workload["scenario"] == {
        "messages": 5,
        "batch_sizes": None,
        "acks": 1,
        "flush_batches": 5,
    }
    # "auto" at 5 messages is [4, 1], not the recording's one request per message
    assert workload["not_applied"] == DEFAULTS


@pytest.mark.parametrize("entry", INDEX, ids=IDS)
def test_each_recorded_workload_is_the_scenario_its_reproduction_test_runs(entry):
    workload = observations.observed_workload(OBSERVED / entry["file"], DEFAULTS)
    want = scenario(entry)
    assert cl.Scenario(**workload["scenario"], bugs=entry["version"]) == want
    assert workload["recorded_on"] == entry["version"]


def test_a_users_dump_is_explained_under_the_parameters_workload(tmp_path):
    dump = tmp_path / "mine.csv"
    shutil.copy(SEED_FILE, dump)  # the same ids, but no observations.json lists this file
    workload = observations.observed_workload(dump, {**DEFAULTS, "messages": 20, "acks": 1})
    assert workload["scenario"] == {
        "messages": 20,
        "batch_sizes": [4, 6, 4, 6],  # "auto", resolved at the parameters' 20 messages
        "acks": 1,
        "flush_batches": 2,
    }
    assert (workload["from"], workload["recorded_on"], workload["not_applied"]) == (
        "parameters",
        None,
        {},
    )


def test_a_dump_beside_an_index_that_does_not_list_it_is_a_users_dump(tmp_path):
    shutil.copy(OBSERVED / "observations.json", tmp_path / "observations.json")
    shutil.copy(SEED_FILE, tmp_path / "renamed.csv")
    assert observations.recorded_observation(tmp_path / "renamed.csv") is None
    shutil.copy(SEED_FILE, tmp_path / SEED_FILE.name)
    assert observations.recorded_observation(tmp_path / SEED_FILE.name)["version"] == "v0.7.5"


@pytest.mark.parametrize(
    ("index", "message"),
    [
        ("not json", "cannot read the observation index"),
        ('{"file": "x.csv"}', "must hold a list of observations"),
        ('[{"file": "x.csv", "version": "v0.7.5", "scenario": {"sent": 3}}]', "its workload"),
        ('[{"file": "x.csv", "version": "v9", "scenario": {"messages": 3}}]', "v9"),
        ('[{"file": "x.csv", "scenario": {"messages": 3}}]', "names no version"),
    ],
)
def test_a_broken_index_entry_is_a_clear_error(tmp_path, index, message):
    (tmp_path / "observations.json").write_text(index)
    (tmp_path / "x.csv").write_text("message_id\n0\n")
    with pytest.raises(ChronikLabError, match=message):
        observations.recorded_observation(tmp_path / "x.csv")


# --- the pre-flight: a user's dump must fit the workload the parameters describe ------------------


def _problems(**values):
    return [str(p) for p in params.problems({**DEFAULTS, "bugs": "v0.7.5", **values})]


def _dump(tmp_path, ids) -> str:
    path = tmp_path / "dump.csv"
    path.write_text("message_id\n" + "".join(f"{i}\n" for i in ids))
    return str(path)


def test_the_pre_flight_refuses_a_users_dump_with_ids_the_parameters_never_sent(tmp_path):
    path = _dump(tmp_path, [0, 15, 3])
    assert _problems(observed_path=path) == [
        f"observed_path = {path!r}: holds message id 15, but messages is 10"
    ]
    assert _problems(observed_path=path, messages=16, batch_sizes=None) == []


def test_the_pre_flight_takes_a_recorded_observations_workload_from_the_index():
    # the seed holds ids up to 9: messages=5 would refuse a user's dump, not a recording
    assert _problems(observed_path=str(SEED_FILE), messages=5) == []


def test_the_pre_flight_names_only_messages_when_messages_is_bad(tmp_path):
    path = _dump(tmp_path, [0, 15])
    found = _problems(observed_path=path, messages="ten")
    assert [p.split(" = ")[0] for p in found] == ["messages"]


def test_the_pre_flight_refuses_an_unreadable_observation_naming_observed_path(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("offset,id\n0,0\n")
    [line] = _problems(observed_path=str(bad))
    assert line.startswith(f"observed_path = {str(bad)!r}: observation ") and "message_id" in line


def test_the_pre_flight_checks_a_recorded_observation_against_its_recorded_messages(tmp_path):
    entry = {"file": "x.csv", "version": "v0.7.5", "scenario": {"messages": 3}, "source": "s"}
    (tmp_path / "observations.json").write_text(json.dumps([entry]))
    (tmp_path / "x.csv").write_text("message_id\n0\n7\n")
    [line] = _problems(observed_path=str(tmp_path / "x.csv"), messages=100)
    assert line.endswith("holds message id 7, but observations.json records 3 messages sent for it")
