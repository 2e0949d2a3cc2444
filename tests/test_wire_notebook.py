"""notebooks/07_real_client.ipynb run end to end with papermill: a real kafka-python client
against an in-process server, in a real kernel."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill
import pytest

pytest.importorskip("kafka")
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "07_real_client.ipynb"


def _execute(tmp_path: Path, **parameters) -> dict:
    summary = tmp_path / "07.json"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "07.ipynb"),
        parameters={**parameters, "summary_path": str(summary)},
        kernel_name="python3",
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
    )
    outputs = [
        o
        for c in nbformat.read(tmp_path / "07.ipynb", as_version=4).cells
        for o in c.get("outputs", [])
    ]
    assert any("image/svg+xml" in o.get("data", {}) for o in outputs)  # the offline chart
    return json.loads(summary.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_real_client_notebook_shows_10_sent_20_received_under_v075(tmp_path):
    s = _execute(tmp_path)
    assert (s["client"], s["sent"], s["received"]) == ("kafka-python", 10, 20)
    keys = ("received", "distinct", "duplicates", "redelivered", "lost")
    assert s["outcome"] == dict(zip(keys, (20, 10, 10, 0, 0), strict=True))
    assert not s["ok"]


@pytest.mark.slow
def test_real_client_notebook_with_confluent_kafka_on_the_fixed_broker(tmp_path):
    pytest.importorskip("confluent_kafka")
    s = _execute(tmp_path, client="confluent-kafka", bugs="fixed")
    assert (s["sent"], s["received"], s["ok"]) == (10, 10, True)
