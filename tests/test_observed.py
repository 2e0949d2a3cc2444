"""Chronik's recorded observations (data/observed/) against the lab: each workload under its
version's preset gives what was observed, and cl.explain ranks the presets for each."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import chronik_lab as cl

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
    assert run.offsets_history["high_watermark"].iloc[-1] == entry["facts"].get(
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
