"""The notebooks: stored clean, parameterised the papermill way, and run end to end.

Each papermill run starts a kernel and imports altair (a few seconds), so the real notebooks
run once per session, all together, as the report runs them (conftest.real_report), and the
tests here assert on the summary JSON each one wrote -- the same file the report tabulates.
Bad parameters are checked in this process, by the report's pre-flight and by each notebook's
own first cells run here without a kernel; one kernel-level case pins that a notebook run alone
by papermill refuses a bad parameter too.
"""

from __future__ import annotations

import json
import os
import re
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
from chronik_lab.notebook import params
from chronik_lab.notebook.params import ParameterError
from chronik_lab.report.preflight import check_parameters, declared_parameters
from chronik_lab.sim import observations

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = [
    "01_reproduce",
    "02_offset_ranges",
    "03_buffer_contents",
    "04_before_after",
    "05_explain",
    "06_sweep",
    "07_real_client",
    "09_delivery",
]
COMMON = {"messages", "batch_sizes", "acks", "bugs", "flush_batches", "summary_path"}
SEED_DEFAULTS = {
    "messages": "10",
    "batch_sizes": '"auto"',  # [4, 6] at 10 messages: chronik_lab.notebook.params
    "acks": "-1",
    "bugs": '"v0.7.5"',
    "flush_batches": "2",
    "summary_path": '""',
}
# A page whose subject is not chronik's buffer runs on the fixed broker by default.
OWN_DEFAULTS = {"09_delivery": {"bugs": '"fixed"'}}


def _summary(report, name: str) -> dict:
    """The summary a notebook of the session's report wrote, after checking its charts."""
    nb = next(n for n in report.notebooks if n.name == name)
    assert nb.ok, nb.error
    _assert_charts_are_svg(nb.executed)
    return json.loads(nb.summary_path.read_text(encoding="utf-8"))


def _execute(name: str, tmp_path: Path, **parameters) -> dict:
    """Run one notebook alone with papermill into tmp_path; return the summary it wrote."""
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
    # 00_start_here (interactive: its first cell picks a renderer), the ones checked here, and
    # 08_faults (no Scenario parameters: tests/test_faults_notebook.py)
    found = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert found == sorted(["00_start_here", *NAMES, "08_faults"])


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
    expected = SEED_DEFAULTS | OWN_DEFAULTS.get(name, {})
    assert {k: declared[k]["default"] for k in SEED_DEFAULTS} == expected


# "six of them on", "turned three off, one on": a count of switches typed into prose
_NUMBER = r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_SWITCH_COUNT = re.compile(
    rf"\b{_NUMBER}(?: of them| of the \w+ switches| switches) (?:on|off)\b"
    rf"|\bturned {_NUMBER} (?:on|off)\b",
    re.I,
)


@pytest.mark.parametrize("name", NAMES)
def test_no_markdown_cell_types_a_count_of_switches(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            assert not _SWITCH_COUNT.search(cell.source), _SWITCH_COUNT.search(cell.source)


@pytest.mark.parametrize("name", NAMES)
def test_no_markdown_cell_tells_the_reader_to_rerun_with_a_version(name):
    # "Rerun with bugs = v0.7.6" is wrong on the page that ran v0.7.6: narrative.compare_hint
    # writes it from the run
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            assert not re.search(r"\brerun\b[^.]*\bbugs\b", cell.source, re.I), cell.source


def test_the_start_page_counts_the_switches_from_the_presets():
    nb = nbformat.read(NOTEBOOKS / "00_start_here.ipynb", as_version=4)
    assert any("narrative.presets_story()" in c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("name", NAMES)
def test_first_code_cell_after_parameters_picks_the_renderer_with_the_one_switch(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert 'render.use_renderer("auto")' in code[1].source


def test_python3_kernel_is_this_environment():
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()


# -- running them -------------------------------------------------------------------------


def test_reproduce_under_v075_reports_20_received_and_10_duplicates(real_report):
    s = _summary(real_report, "01_reproduce")
    assert s["notebook"] == "01_reproduce"
    assert s["parameters"]["bugs"] == "v0.7.5"
    assert s["parameters"]["batch_sizes"] == [4, 6]  # "auto" at 10 messages: the seed's split
    assert (s["sent"], s["received"]) == (10, 20)
    assert s["counts"]["duplicate"] == 10
    assert s["pattern"] == "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9"


def test_offset_ranges_reports_the_invisible_segment(real_report):
    s = _summary(real_report, "02_offset_ranges")
    assert (s["segments"], s["visible_segments"]) == (1, 0)
    assert s["received"] == 20


def test_buffer_contents_reports_two_copies_under_v075(real_report):
    s = _summary(real_report, "03_buffer_contents")
    assert s["max_buffer_copies"] == 2
    assert s["counts"]["duplicate"] == 10


def test_before_after_reports_all_four_versions_measured(real_report):
    s = _summary(real_report, "04_before_after")
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


def test_explain_finds_the_cumulative_update_buffer_in_every_minimal_cause(real_report):
    s = _summary(real_report, "05_explain")
    assert (s["sent"], s["received"]) == (10, 20)
    assert s["pattern"] == "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9"
    assert s["minimal"] and all("cumulative_update_buffer" in m for m in s["minimal"])
    assert "cumulative_update_buffer" in s["fixes_removing_duplication"]


def test_sweep_reports_the_seed_cell_per_version(real_report):
    s = _summary(real_report, "06_sweep")
    # "auto" splits at the seed's 10 messages are the seed's own
    assert s["parameters"]["batch_splits"] == [None, [10], [5, 5], [4, 6], [2, 8]]
    assert s["sweep"]["v0.7.5"]["cell"]["duplication_rate"] == 1.0
    assert s["sweep"]["v1.0"]["cell"] == {
        "batch_split": "4+6",
        "flush_batches": 2,
        "duplication_rate": 0.0,
        "loss_rate": 0.0,
    }


def test_delivery_tells_a_lost_ack_duplicate_from_a_re_read_and_shows_the_fix(real_report):
    s = _summary(real_report, "09_delivery")
    assert s["parameters"]["bugs"] == "fixed" and s["parameters"]["lost_ack"] == 1
    off, on, crash = s["delivery"].values()
    # the first request's 4 ids written twice (producer side); none with idempotence
    assert (off["outcome"]["duplicates"], off["outcome"]["redelivered"]) == (4, 0)
    assert off["counts"]["duplicate"] == 4
    assert on["outcome"] == {
        "received": 10,
        "distinct": 10,
        "duplicates": 0,
        "redelivered": 0,
        "lost": 0,
    }
    assert on["ok"] is True
    # the crash re-reads its first poll's 4 records at the same offsets (consumer side)
    assert (crash["outcome"]["duplicates"], crash["outcome"]["redelivered"]) == (0, 4)
    assert crash["ok"] is True


@pytest.mark.slow
def test_a_notebook_run_alone_refuses_a_bad_parameter_in_its_kernel(tmp_path):
    # the one kernel-level case: papermill without the report, so no pre-flight
    with pytest.raises(papermill.PapermillExecutionError) as raised:
        _execute("01_reproduce", tmp_path, messages=-1)
    assert raised.value.ename == "ParameterError"
    assert "messages = -1: must be an int >= 1, not -1" in raised.value.evalue


def _declared() -> dict:
    return {
        NOTEBOOKS / f"{name}.ipynb": declared_parameters(NOTEBOOKS / f"{name}.ipynb")
        for name in NAMES
    }


@pytest.mark.parametrize(
    ("given", "problem", "notebooks"),
    [
        ({"messages": -1}, "messages = -1: must be an int >= 1, not -1", NAMES),
        ({"messages": "ten"}, "messages = 'ten': must be an int >= 1, not 'ten'", NAMES),
        ({"acks": 2}, "acks = 2: must be 0, 1 or -1, not 2", NAMES),
        (
            {"bugs": "no_such_bug"},
            "bugs = 'no_such_bug': unknown bug or preset 'no_such_bug'",
            NAMES,
        ),
        (
            {"messages": 100_000, "batch_sizes": [4, 6]},
            "batch_sizes = [4, 6]: batch_sizes [4, 6] sum to 10, not 100000",
            NAMES,
        ),
        (
            {"compare_with": ["v9"]},
            "compare_with = ['v9']: unknown bug or preset 'v9'",
            ["04_before_after", "06_sweep"],
        ),
        ({"top": 0}, "top = 0: must be an int >= 1, not 0", ["05_explain"]),
        ({"observed_path": "nope.csv"}, "observed_path = 'nope.csv': no file", ["05_explain"]),
        (
            {"flush_thresholds": []},
            "flush_thresholds = []: must be a non-empty list of ints >= 1",
            ["06_sweep"],
        ),
    ],
)
def test_bad_parameters_are_caught_in_process_naming_parameter_and_notebooks(
    given, problem, notebooks
):
    with pytest.raises(ParameterError) as raised:
        check_parameters(given, _declared())
    [found] = raised.value.problems
    assert found.parameter in given and found.value == given[found.parameter]
    assert found.notebooks == tuple(notebooks)
    line = str(found)
    assert line.startswith(problem), line
    assert line.endswith(f"(in {', '.join(notebooks)})"), line


def test_several_bad_parameters_are_one_line_each():
    with pytest.raises(ParameterError) as raised:
        check_parameters({"messages": -5, "acks": 2, "bugs": "v9"}, _declared())
    found = raised.value.problems
    assert [(p.parameter, p.value) for p in found] == [
        ("messages", -5),
        ("acks", 2),
        ("bugs", "v9"),
    ]
    assert str(raised.value) == "; ".join(map(str, found))


@pytest.mark.parametrize(
    "given",
    [
        {"messages": 100_000},  # "auto" batch sizes: the seed's 4, 6 continued
        {"batch_sizes": None},  # 06's "auto" splits need no batch_sizes
        {"messages": 7, "bugs": "v1.0", "acks": 1},
        {"messages": 100_000, "batch_sizes": [40_000, 60_000], "flush_batches": 3},
    ],
)
def test_good_parameters_pass_the_pre_flight_of_every_notebook(given):
    check_parameters(given, _declared())


def _first_cells(name: str, **given) -> dict:
    """Run a notebook's parameters cell, papermill's injected values and its first code cell
    (the one that checks and resolves the parameters) here, without a kernel, in the
    notebook's folder as the kernel would be."""
    here = os.getcwd()
    os.chdir(NOTEBOOKS)
    try:
        return _run_first_cells(name, given)
    finally:
        os.chdir(here)


def _run_first_cells(name: str, given: dict) -> dict:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    namespace: dict = {}
    exec(code[0], namespace)
    namespace.update(given)
    exec(code[1], namespace)
    return namespace


@pytest.mark.parametrize("name", NAMES)
def test_each_notebook_applies_the_auto_rule_itself(name):
    # as when papermill runs it alone with -p messages 100000: the seed's 4, 6 continued
    ns = _first_cells(name, messages=100_000)
    assert ns["batch_sizes"] == [4, 6] * 10_000 == ns["parameters"]["batch_sizes"]
    assert cl.Scenario(**ns["parameters"]).messages == 100_000
    seed = _first_cells(name)
    assert seed["parameters"] == {
        "messages": 10,
        "batch_sizes": [4, 6],
        "acks": -1,
        "bugs": "fixed" if name in OWN_DEFAULTS else "v0.7.5",
        "flush_batches": 2,
    }
    if name == "06_sweep":
        assert ns["batch_splits"] == [
            None,
            [100_000],
            [50_000, 50_000],
            [40_000, 60_000],
            [20_000, 80_000],
            [4, 6] * 10_000,
        ]
        assert _first_cells(name, batch_sizes=None)["batch_splits"][3] == [4, 6]


@pytest.mark.parametrize("name", NAMES)
def test_each_notebook_refuses_a_bad_parameter_in_its_first_cell(name):
    with pytest.raises(ParameterError, match="acks = 2: must be 0, 1 or -1"):
        _first_cells(name, acks=2)


def test_the_auto_rule_matches_simulate_and_scenario_without_batch_sizes():
    # one rule: the notebooks, chronik-lab simulate --messages N and cl.Scenario("auto")
    from chronik_lab.cli.workload import scenario_from_flags

    for n in (1, 7, 12, 100_000):
        derived = params.derive({"messages": n, "batch_sizes": "auto"})["batch_sizes"]
        assert tuple(derived) == scenario_from_flags(messages=n).batch_sizes
        assert tuple(derived) == cl.Scenario(messages=n, batch_sizes="auto").batch_sizes
    assert params.derive({"batch_sizes": "auto"})["batch_sizes"] == list(cl.SEED.batch_sizes)


@pytest.mark.parametrize("messages", [*range(1, 42), 99, 100_000, 100_003])
def test_seed_sizes_continue_the_seeds_requests(messages):
    sizes = cl.seed_sizes(messages)
    assert sum(sizes) == messages and min(sizes) >= 1
    # every request but the last is the seed's 4 or 6, alternating from 4
    assert list(sizes[:-1]) == [(4, 6)[i % 2] for i in range(len(sizes) - 1)]
    assert sizes[-1] <= (4, 6)[(len(sizes) - 1) % 2]
    assert cl.seed_sizes(10) == (4, 6)


def test_scaled_splits_keep_only_splits_with_no_empty_request():
    assert params.scaled_splits(10) == [None, [10], [5, 5], [4, 6], [2, 8]]
    assert params.scaled_splits(1) == [None]  # [1] is one request per message again
    assert params.scaled_splits(13)[-1] == [4, 6, 3]  # the "auto" split joins the sweep
    for n in range(1, 60):
        splits = params.scaled_splits(n)
        assert list(cl.seed_sizes(n)) in splits or cl.seed_sizes(n) == (1,) * n
        for split in splits:
            assert split is None or (sum(split) == n and min(split) >= 1 and split != [1] * n)


# -- notebook/digest.py, which the notebooks call -----------------------------------------------


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
    observed = observations.read_observed(
        Path(__file__).parents[1] / "data/observed/chronik_v0.7.5_seed.csv"
    )
    assert observed["message_id"].tolist() == [0, 1, 2, 3, *range(10), *range(4, 10)]
    assert summary.observed_pattern(observed) == "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9"


def test_read_observed_names_a_missing_file_or_column(tmp_path):
    with pytest.raises(InvalidArgumentError, match="no observation file"):
        observations.read_observed(tmp_path / "nope.csv")
    (tmp_path / "bad.csv").write_text("offset,id\n0,0\n")
    with pytest.raises(InvalidArgumentError, match="message_id"):
        observations.read_observed(tmp_path / "bad.csv")


def test_trace_steps_lists_the_update_buffer_calls_of_the_seed():
    steps = summary.trace_steps(cl.run(cl.SEED), "update_buffer")
    assert steps["source"].tolist() == ["produce", "flush", "produce"]
    assert steps["detail"].tolist() == ["0-3", "0-3, 4-9", "4-9"]


# --- 05_explain: an observation is explained under its own workload ---------------------------


def _page_text(executed: Path) -> str:
    """Every Markdown and HTML output of an executed notebook, one string."""
    cells = nbformat.read(executed, as_version=4).cells
    outputs = [o for c in cells for o in c.get("outputs", [])]
    return "\n".join(
        str(o.get("data", {}).get(kind, ""))
        for o in outputs
        for kind in ("text/markdown", "text/html")
    )


def _assert_no_missing_values_shown(executed: Path) -> None:
    """No table on the page shows NaN, None or <NA>, nor is cut by pandas ("...")."""
    html = "\n".join(
        str(o.get("data", {}).get("text/html", ""))
        for c in nbformat.read(executed, as_version=4).cells
        for o in c.get("outputs", [])
    )
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)
    assert cells, "no table on the page"
    assert not {"NaN", "None", "&lt;NA&gt;", "..."} & {c.strip() for c in cells}


def test_explain_page_at_the_defaults_explains_the_seed_under_its_recorded_workload(real_report):
    s = _summary(real_report, "05_explain")
    assert s["workload"] == {"messages": 10, "batch_sizes": [4, 6], "acks": -1, "flush_batches": 2}
    assert (s["workload_from"], s["recorded_on"], s["not_applied"]) == (
        "observations.json",
        "v0.7.5",
        {},
    )
    assert s["investigated"]["exact"] and s["investigated"]["bugs"] == "v0.7.5"
    nb = next(n for n in real_report.notebooks if n.name == "05_explain")
    text = _page_text(nb.executed)
    assert "It was recorded on chronik v0.7.5 with 10 messages in requests of 4 and 6" in text
    assert "does not apply" not in text
    _assert_no_missing_values_shown(nb.executed)
    assert "NaN" not in nb.html.read_text()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("given", "said", "investigated"),
    [
        (
            {"messages": 100_000},
            "The parameter `messages=100000` does not apply to a recorded observation.",
            (20, 10, 0),
        ),
        (
            {"bugs": "v0.7.6"},
            "The version under investigation (`bugs`), v0.7.6, on this workload: 10 sent, 6 "
            "received: 4 lost; **not** the observation (14 edits away).",
            (6, 0, 4),
        ),
    ],
    ids=["messages-100000", "bugs-v0.7.6"],
)
def test_explain_page_keeps_the_recorded_workload_under_other_parameters(
    tmp_path, given, said, investigated
):
    s = _execute("05_explain", tmp_path, **given)
    assert (s["sent"], s["received"], s["pattern"]) == (
        10,
        20,
        "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9",
    )
    assert s["workload"]["messages"] == 10 and s["recorded_on"] == "v0.7.5"
    assert s["not_applied"] == ({"messages": 100_000} if "messages" in given else {})
    got = s["investigated"]
    assert (got["received"], got["duplicates"], got["lost"]) == investigated
    assert all("cumulative_update_buffer" in m for m in s["minimal"])
    text = _page_text(tmp_path / "05_explain.ipynb")
    assert said in text
    assert "100,000 messages sent" not in text and "never received" not in text
    _assert_no_missing_values_shown(tmp_path / "05_explain.ipynb")


def test_pre_flight_refuses_a_users_dump_holding_ids_the_parameters_never_sent(tmp_path):
    dump = tmp_path / "dump.csv"
    dump.write_text("message_id\n0\n15\n")
    with pytest.raises(ParameterError) as raised:
        check_parameters({"observed_path": str(dump)}, _declared())
    assert list(map(str, raised.value.problems)) == [
        f"observed_path = {str(dump)!r}: holds message id 15, but messages is 10 (in 05_explain)"
    ]
    check_parameters({"observed_path": str(dump), "messages": 16}, _declared())


def test_pre_flight_takes_a_recorded_observations_messages_from_its_index():
    seed = "../data/observed/chronik_v0.7.5_seed.csv"
    check_parameters({"observed_path": seed, "messages": 5}, _declared())  # ids 0-9: fine


def test_explain_page_first_cells_keep_the_parameters_as_given_for_the_workload():
    ns = _first_cells("05_explain", messages=100_000)
    assert ns["given"]["batch_sizes"] == "auto"  # judged at the recording's own 10 messages
