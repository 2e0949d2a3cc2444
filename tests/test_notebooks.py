"""The notebooks: stored clean, parameterised the papermill way, and run end to end.

Each papermill run starts a kernel and imports altair (a few seconds), so every notebook runs
once with the seed's (or small) parameters, plus one run per kind of bad parameter; the
before/after notebook's summary covers v0.7.6 and v1.0. The summary JSON a notebook writes
is what the tests assert on -- the same file the report tabulates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import numpy as np
import papermill
import pytest
from jupyter_client.kernelspec import KernelSpecManager

import chronik_lab as cl
from chronik_lab.errors import InvalidArgumentError, NotebookError, UnknownBugError
from chronik_lab.notebook import digest as summary

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = [
    "01_reproduce",
    "02_offset_ranges",
    "03_buffer_contents",
    "04_before_after",
    "05_explain",
    "06_sweep",
    "07_real_client",
]
COMMON = {"messages", "batch_sizes", "acks", "bugs", "flush_batches", "summary_path"}
SEED_DEFAULTS = {
    "messages": "10",
    "batch_sizes": "[4, 6]",
    "acks": "-1",
    "bugs": '"v0.7.5"',
    "flush_batches": "2",
    "summary_path": '""',
}


def _execute(name: str, tmp_path: Path, **parameters) -> dict:
    """Run one notebook with papermill into tmp_path; return the summary it wrote."""
    summary_path = tmp_path / f"{name}.json"
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(tmp_path / f"{name}.ipynb"),
        parameters={**parameters, "summary_path": str(summary_path)},
        kernel_name="python3",
        cwd=str(NOTEBOOKS),  # as the report and JupyterLab run them: relative paths work
        progress_bar=False,
    )
    _assert_charts_are_svg(tmp_path / f"{name}.ipynb")
    return json.loads(summary_path.read_text(encoding="utf-8"))


def _assert_charts_are_svg(executed: Path) -> None:
    """Every chart output is an SVG image; none is a vega-lite spec that needs JavaScript."""
    outputs = [o for c in nbformat.read(executed, as_version=4).cells for o in c.get("outputs", [])]
    kinds = [kind for o in outputs for kind in o.get("data", {})]
    assert "image/svg+xml" in kinds
    assert not [k for k in kinds if "vegalite" in k or "javascript" in k]


# -- the stored notebooks -----------------------------------------------------------------


def test_every_notebook_is_listed():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_stored_notebook_has_no_outputs_and_one_documented_parameters_cell(name):
    path = NOTEBOOKS / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert all(c.get("id") for c in nb.cells)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    # Every assignment line is one parameter papermill can parse (a second "=" on the line,
    # even in the comment, makes papermill skip it), with a type and a comment.
    lines = [ln for ln in tagged[0].source.splitlines() if ln.strip()]
    declared = papermill.inspect_notebook(str(path))
    assert len(declared) == len(lines)
    assert set(declared) >= COMMON
    for parameter in declared.values():
        assert parameter["inferred_type_name"] != "None", parameter["name"]
        assert parameter["help"].strip(), parameter["name"]
    assert {k: declared[k]["default"] for k in SEED_DEFAULTS} == SEED_DEFAULTS


@pytest.mark.parametrize("name", NAMES)
def test_first_code_cell_after_parameters_enables_the_offline_renderer(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert "charts.use_offline_renderer()" in code[1].source


def test_python3_kernel_is_this_environment():
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()


# -- running them -------------------------------------------------------------------------


def test_reproduce_under_v075_reports_20_received_and_10_duplicates(tmp_path):
    s = _execute("01_reproduce", tmp_path)
    assert s["notebook"] == "01_reproduce"
    assert s["parameters"]["bugs"] == "v0.7.5"
    assert (s["sent"], s["received"]) == (10, 20)
    assert s["counts"]["duplicate"] == 10
    assert s["pattern"] == "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9"


def test_offset_ranges_reports_the_invisible_segment(tmp_path):
    s = _execute("02_offset_ranges", tmp_path)
    assert (s["segments"], s["visible_segments"]) == (1, 0)
    assert s["received"] == 20


def test_buffer_contents_reports_two_copies_under_v075(tmp_path):
    s = _execute("03_buffer_contents", tmp_path)
    assert s["max_buffer_copies"] == 2
    assert s["counts"]["duplicate"] == 10


def test_before_after_reports_all_four_versions_measured(tmp_path):
    s = _execute("04_before_after", tmp_path)
    outcomes = {v: d["outcome"] for v, d in s["versions"].items()}
    assert list(outcomes) == ["v0.7.5", "v0.7.4", "v0.7.6", "v1.0"]
    keys = ("received", "distinct", "duplicates", "redelivered", "lost")
    assert outcomes["v0.7.4"] == dict(zip(keys, (10, 10, 0, 0, 0), strict=True))
    assert outcomes["v0.7.5"] == dict(zip(keys, (20, 10, 10, 0, 0), strict=True))
    assert outcomes["v0.7.6"] == dict(zip(keys, (6, 6, 0, 0, 4), strict=True))
    assert outcomes["v1.0"] == dict(zip(keys, (10, 10, 0, 0, 0), strict=True))
    # v1.0: the checker finds nothing; v0.7.6: the first request's ids lost (4-9 re-buffered).
    assert s["versions"]["v1.0"]["ok"] is True
    assert not any(s["versions"]["v1.0"]["counts"].values())
    assert s["versions"]["v1.0"]["pattern"] == "0–9 ↦ 0–9"
    assert s["versions"]["v0.7.6"]["counts"]["lost-write"] == 4


def test_explain_finds_the_cumulative_update_buffer_in_every_minimal_cause(tmp_path):
    s = _execute("05_explain", tmp_path, top=5)
    assert (s["sent"], s["received"]) == (10, 20)
    assert s["pattern"] == "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9"
    assert s["minimal"] and all("cumulative_update_buffer" in m for m in s["minimal"])
    assert "cumulative_update_buffer" in s["fixes_removing_duplication"]


def test_sweep_reports_the_seed_cell_per_version(tmp_path):
    s = _execute(
        "06_sweep",
        tmp_path,
        compare_with=["v1.0"],
        batch_splits=[[4, 6], None],
        flush_thresholds=[2, 10],
    )
    assert s["sweep"]["v0.7.5"]["cell"]["duplication_rate"] == 1.0
    assert s["sweep"]["v1.0"]["cell"] == {
        "batch_split": "4+6",
        "flush_batches": 2,
        "duplication_rate": 0.0,
        "loss_rate": 0.0,
    }


@pytest.mark.parametrize(
    ("name", "parameters", "error"),
    [
        ("01_reproduce", {"messages": -1}, "ScenarioError"),
        ("04_before_after", {"bugs": "no_such_bug"}, "UnknownBugError"),
    ],
)
def test_bad_parameter_fails_with_a_chronik_lab_error(tmp_path, name, parameters, error):
    with pytest.raises(papermill.PapermillExecutionError) as raised:
        _execute(name, tmp_path, **parameters)
    assert raised.value.ename == error
    assert str(next(iter(parameters.values()))) in raised.value.evalue


# -- summary.py, which the notebooks call -------------------------------------------------


def test_write_summary_with_empty_path_writes_nothing(tmp_path):
    assert summary.write_summary("", {"a": 1}) is None
    assert list(tmp_path.iterdir()) == []


def test_write_summary_turns_numpy_values_into_json(tmp_path):
    path = tmp_path / "deep" / "s.json"
    data = {"n": np.int64(3), "rate": np.float64(0.5), "ids": np.arange(3), "bad": float("nan")}
    assert summary.write_summary(str(path), data) == path
    assert json.loads(path.read_text()) == {"n": 3, "rate": 0.5, "ids": [0, 1, 2], "bad": None}


def test_write_summary_rejects_a_non_string_path():
    with pytest.raises(NotebookError, match="summary_path"):
        summary.write_summary(3, {})


def test_versions_put_bugs_first_and_drop_repeats():
    assert summary.versions("v1.0", ["v0.7.5", "v1.0"]) == ["v1.0", "v0.7.5"]
    with pytest.raises(UnknownBugError):
        summary.versions("v0.7.5", ["v9"])


def test_read_observed_reads_the_seed_observation():
    observed = summary.read_observed(
        Path(__file__).parents[1] / "data/observed/chronik_v0.7.5_seed.csv"
    )
    assert observed["message_id"].tolist() == [0, 1, 2, 3, *range(10), *range(4, 10)]
    assert summary.observed_pattern(observed) == "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9"


def test_read_observed_names_a_missing_file_or_column(tmp_path):
    with pytest.raises(InvalidArgumentError, match="no observation file"):
        summary.read_observed(tmp_path / "nope.csv")
    (tmp_path / "bad.csv").write_text("offset,id\n0,0\n")
    with pytest.raises(InvalidArgumentError, match="message_id"):
        summary.read_observed(tmp_path / "bad.csv")


def test_trace_steps_lists_the_update_buffer_calls_of_the_seed():
    steps = summary.trace_steps(cl.run(cl.SEED), "update_buffer")
    assert steps["source"].tolist() == ["produce", "flush", "produce"]
    assert steps["detail"].tolist() == ["0-3", "0-3, 4-9", "4-9"]
