"""notebooks/08_faults.ipynb: stored clean with a documented parameters cell, its parameters
checked before any kernel, and its run in the session's report (conftest.real_report): a lost
acknowledgement duplicates with idempotence off, not with it on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import papermill
import pytest

from chronik_lab.notebook.params import ParameterError

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "08_faults.ipynb"


def test_stored_clean_with_one_documented_parameters_cell_and_a_weight():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", [])
    assert 'render.use_renderer("auto")' in code[1].source
    assert "parameters = params.setup(globals())" in code[1].source
    lines = [ln for ln in code[0].source.splitlines() if ln.strip()]
    declared = papermill.inspect_notebook(str(NOTEBOOK))  # every line parsed, typed, helped
    assert len(declared) == len(lines)
    assert set(declared) == {"broker", "client", "idempotence", "faults", "messages", "seed",
                             "summary_path"}  # fmt: skip
    assert all(p["help"].strip() and p["inferred_type_name"] != "None" for p in declared.values())
    assert nb.metadata["chronik_lab"]["weight"] >= 1


def _first_cells(**given) -> dict:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    namespace: dict = {}
    here = os.getcwd()
    os.chdir(NOTEBOOK.parent)
    try:
        exec(code[0], namespace)
        namespace.update(given)
        exec(code[1], namespace)
    finally:
        os.chdir(here)
    return namespace


@pytest.mark.parametrize(
    "given, says",
    [
        ({"faults": ["bogus"]}, "faults = ['bogus']: bad fault 'bogus': unknown kind 'bogus'"),
        ({"faults": "lost-ack"}, "faults = 'lost-ack': must be a list of fault specs"),
        ({"idempotence": ["yes"]}, "idempotence = ['yes']: must be true, false or a non-empty"),
        ({"broker": "nowhere"}, "broker = 'nowhere': must be 'embedded'"),
        ({"seed": -1}, "seed = -1: must be an int >= 0"),
        ({"faults": ["kill:every=1s"]}, "faults = ['kill:every=1s']: bad fault 'kill:every=1s'"),
    ],
)
def test_a_bad_parameter_is_refused_in_its_first_cell_naming_it(given, says):
    with pytest.raises(ParameterError) as raised:
        _first_cells(**given)
    assert str(raised.value).startswith(says), str(raised.value)


def test_good_parameters_pass():
    ns = _first_cells(faults=["lost-acks", "delay:api=fetch,ms=50"], idempotence=True)
    assert ns["faults"] == ["lost-acks", "delay:api=fetch,ms=50"]


def _summary(real_report) -> dict:
    nb = next(n for n in real_report.notebooks if n.name == "08_faults")
    assert nb.ok, nb.error
    return json.loads(nb.summary_path.read_text(encoding="utf-8"))


def test_without_idempotence_the_lost_ack_is_a_duplicate_caused_by_the_drop(real_report):
    off = _summary(real_report)["versions"]["kafka-python, idempotence off"]
    assert off["faults"] == 1 and off["counts"]["duplicate"] >= 1
    assert off["outcome"]["duplicates"] == off["counts"]["duplicate"]
    assert {c["cause"] for c in off["causes"]} == {"drop-response"}


def test_with_idempotence_the_same_lost_ack_leaves_no_duplicate(real_report):
    on = _summary(real_report)["versions"]["kafka-python, idempotence on"]
    assert on["faults"] == 1 and on["counts"]["duplicate"] == 0 and on["ok"]
