"""The `chronik-lab` command line: help everywhere, one-line errors, exit codes, real outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from standins import chart_notebook, failing_notebook

import chronik_lab as cl
from chronik_lab.cli import main
from chronik_lab.report.preflight import parse_parameter_value

ROOT = Path(__file__).resolve().parents[1]

SEED_PATTERN = "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9"
SEED_IDS = "0,1,2,3,0,1,2,3,4,5,6,7,8,9,4,5,6,7,8,9"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def histories(tmp_path_factory):
    """The seed's history (10 duplicates) and the fixed broker's (clean) in every file format."""
    root = tmp_path_factory.mktemp("histories")
    for label, bugs in (("dup", "v0.7.5"), ("clean", "v1.0")):
        history = cl.run(cl.SEED.with_bugs(bugs)).history
        history.to_csv(root / f"{label}.csv", index=False)
        history.to_parquet(root / f"{label}.parquet", index=False)
        history.to_json(root / f"{label}.jsonl", orient="records", lines=True)
    return root


# --- help -------------------------------------------------------------------------------------


def test_group_help_lists_every_command():
    result = invoke("--help")
    assert result.exit_code == 0
    for name in ("report", "simulate", "check", "explain", "bugs"):
        assert name in main.commands
        assert name in result.output


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_has_help_text_and_every_option_a_description(name):
    command = main.commands[name]
    result = invoke(name, "--help")
    assert result.exit_code == 0
    first_line = command.help.strip().split("\n")[0]
    assert first_line and " ".join(first_line.split()) in " ".join(result.output.split())
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"{name} {param.opts} has no help text"


def test_python_dash_m_runs_the_same_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "chronik_lab", "bugs", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert {b["name"] for b in json.loads(done.stdout)["bugs"]} == set(cl.BUGS)


# --- bad input: one line, exit 2, no traceback ------------------------------------------------


# "{tmp}" is a fresh folder holding notebooks/ (one stand-in), garbage.parquet and ids.txt.
BAD_INPUTS = {
    "unknown bug": ["simulate", "--bugs", "v9.9"],
    "negative messages": ["simulate", "--messages", "-5"],
    "batch sizes not ints": ["simulate", "--batch-sizes", "4,x"],
    "batch sizes not summing": ["simulate", "--batch-sizes", "3,3"],
    "zero partitions": ["simulate", "--partitions", "0"],
    "missing history": ["check", "{tmp}/missing.csv"],
    "unreadable history": ["check", "{tmp}/garbage.parquet"],
    "unknown history type": ["check", "{tmp}/ids.txt"],
    "explain without ids": ["explain"],
    "explain with bad ids": ["explain", "0,1,x"],
    "explain with a bad ids file": ["explain", "--observed-file", "{tmp}/ids.txt"],
    "explain with a missing ids file": ["explain", "--observed-file", "{tmp}/no.txt"],
    "explain with top 0": ["explain", SEED_IDS, "--top", "0"],
    "report: unknown parameter": ["report", "--notebooks", "{tmp}/nb", "-p", "mesages", "3"],
    "report: unparsable -p": ["report", "--notebooks", "{tmp}/nb", "-p", "bugs", "[v0,"],
    "report: unknown bug": ["report", "--notebooks", "{tmp}/nb", "-p", "bugs", "v9"],
    "report: summary_path": ["report", "--notebooks", "{tmp}/nb", "-p", "summary_path", "x"],
    "report: unknown kernel": ["report", "--notebooks", "{tmp}/nb", "--kernel", "nope"],
    "report: out inside notebooks": ["report", "--notebooks", "{tmp}/nb", "--out", "{tmp}/nb/r"],
    "report: missing notebooks": ["report", "--notebooks", "{tmp}/nowhere"],
    "report: no notebooks": ["report", "--notebooks", "{tmp}"],
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_error_line_and_exit_code_2(case, tmp_path):
    (tmp_path / "nb").mkdir()
    chart_notebook(tmp_path / "nb" / "01_chart.ipynb")
    (tmp_path / "garbage.parquet").write_bytes(b"not parquet at all")
    (tmp_path / "ids.txt").write_text("0, 1, two")
    result = invoke(*[arg.format(tmp=tmp_path) for arg in BAD_INPUTS[case]])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output


def test_report_rejects_bad_input_before_creating_the_report_folder(tmp_path):
    notebooks = tmp_path / "nb"
    notebooks.mkdir()
    chart_notebook(notebooks / "01_chart.ipynb")
    out = tmp_path / "out"
    result = invoke("report", "--notebooks", str(notebooks), "--out", str(out), "-p", "x", "1")
    assert result.exit_code == 2
    assert not out.exists()


def test_usage_errors_exit_2_without_traceback():
    for args in (["simulate", "--acks", "2"], ["report", "-p", "bugs"], ["nonsense"]):
        result = invoke(*args)
        assert result.exit_code == 2
        assert "Traceback" not in result.output


# --- -p values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10", 10),
        ("0.5", 0.5),
        ("[4, 6]", [4, 6]),
        ("v0.7.6", "v0.7.6"),
        ("v1.0", "v1.0"),
        ("true", True),
        ("True", True),
        ("None", None),
        ("null", None),
        ("", ""),
        ("2024-01-01", "2024-01-01"),  # YAML would make it a date; a notebook wants text
        ("{acks: -1}", {"acks": -1}),
        ("a: b: c", "a: b: c"),  # not YAML: plain text, as papermill's -p would keep it
    ],
)
def test_parameter_values_are_read_as_yaml_literals(text, value):
    assert parse_parameter_value("x", text) == value


# --- simulate ---------------------------------------------------------------------------------


def test_simulate_with_no_flags_reproduces_the_seed():
    result = invoke("simulate")
    assert result.exit_code == 0, result.output
    assert f"received (offset ↦ id): {SEED_PATTERN}" in result.output
    assert "sent 10, received 20 (10 distinct)" in result.output
    assert "duplicate             10" in result.output
    # the pattern table: one row per run of the received sequence
    assert "offset_start" in result.output and "value_end" in result.output


def test_simulate_json_is_the_runs_summary():
    result = invoke("simulate", "--json")
    assert result.exit_code == 0
    summary = json.loads(result.output)
    assert summary["sent"] == 10 and summary["received"] == 20
    assert summary["counts"]["duplicate"] == 10
    assert summary["pattern"] == SEED_PATTERN
    assert summary["scenario"]["batch_sizes"] == [4, 6]


def test_simulate_flags_replace_the_seeds_fields():
    fixed = json.loads(invoke("simulate", "--bugs", "v1.0", "--json").output)
    assert fixed["received"] == 10 and fixed["ok"] is True
    assert fixed["pattern"] == "0–9 ↦ 0–9"
    # --messages alone continues the seed's requests: 4, 6, then the 2 left
    more = json.loads(invoke("simulate", "--messages", "12", "--acks", "all", "--json").output)
    assert more["scenario"]["messages"] == 12 and more["scenario"]["batch_sizes"] == [4, 6, 2]
    each = invoke("simulate", "--messages", "12", "--batch-sizes", "none", "--json").output
    assert json.loads(each)["scenario"]["batch_sizes"] is None
    assert more["scenario"]["acks"] == -1


# --- check ------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl"])
def test_check_exits_1_on_duplicates_and_0_on_a_clean_history(histories, suffix):
    dup = invoke("check", str(histories / f"dup.{suffix}"))
    assert dup.exit_code == 1, dup.output
    assert "duplicate 10" in dup.output
    assert SEED_PATTERN in dup.output
    clean = invoke("check", str(histories / f"clean.{suffix}"))
    assert clean.exit_code == 0, clean.output
    assert "ok, no anomalies" in clean.output


def test_check_json_parses_and_keeps_the_exit_code(histories):
    result = invoke("check", "--json", str(histories / "dup.csv"))
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False and report["counts"]["duplicate"] == 10


# --- explain ----------------------------------------------------------------------------------


def test_explain_finds_the_seeds_causes_inside_v075():
    result = invoke("explain", SEED_IDS, "--top", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["ranking"]) == 3
    assert data["ranking"][0]["exact"] is True and data["ranking"][0]["distance"] == 0
    assert data["minimal"], "the seed is reproducible, so some combination is minimal"
    for bugs in data["minimal"]:
        assert set(bugs) <= cl.PRESETS["v0.7.5"]


@pytest.mark.slow
def test_explain_reads_ids_from_a_file_as_from_the_argument(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text(SEED_IDS.replace(",", " "))
    from_file = invoke("explain", "--observed-file", str(path), "--top", "2")
    from_arg = invoke("explain", SEED_IDS, "--top", "2")
    assert from_file.exit_code == from_arg.exit_code == 0
    assert from_file.output == from_arg.output
    assert "minimal combinations" in from_arg.output


@pytest.mark.slow
def test_explain_prints_a_narrow_ranking_and_the_grid_only_with_wide():
    narrow = CliRunner(env={"COLUMNS": "80"}).invoke(main, ["explain", SEED_IDS, "--top", "3"])
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.output.splitlines()
    # it printed a ~400-character table with 12 True/False columns repeating the bugs column
    assert max(map(len, lines)) <= 80
    assert "True" not in narrow.output and "False" not in narrow.output
    header = next(i for i, line in enumerate(lines) if line.startswith("rank"))
    assert lines[header].split() == ["rank", "distance", "result", "preset", "switches"]
    first = lines[header + 1].split()
    assert first[:4] == ["1", "0", "minimal", "cause"] and first[4:7] == ["same", "as", "v0.7.5"]
    wide = invoke("explain", SEED_IDS, "--top", "3", "--wide").output
    assert all(name in wide for name in cl.BUGS) and "True" in wide


@pytest.mark.slow
def test_explain_shows_progress_when_asked_and_not_by_default_off_a_terminal():
    shown = invoke("explain", SEED_IDS, "--top", "1", "--progress")
    assert shown.exit_code == 0 and "combinations" in shown.stderr
    assert "combinations" not in invoke("explain", SEED_IDS, "--top", "1").stderr


# --- bugs -------------------------------------------------------------------------------------


def test_bugs_json_lists_every_bug_and_the_presets():
    data = json.loads(invoke("bugs", "--json").output)
    assert len(data["bugs"]) == len(cl.BUGS)
    assert {b["name"] for b in data["bugs"]} == set(cl.BUGS)
    assert all(b["chronik_commit"] for b in data["bugs"])
    assert set(data["presets"]) >= {"v0.7.5", "v0.7.6", "v1.0"}
    assert data["presets"]["fixed"] == []
    assert data["presets"]["v1.0"] == sorted(cl.PRESETS["v1.0"])


def test_bugs_table_names_every_bug():
    result = invoke("bugs")
    assert result.exit_code == 0
    for name in cl.BUGS:
        assert name in result.output


# --- report (real papermill runs of two small stand-in notebooks) -----------------------------


@pytest.mark.slow
def test_report_exits_3_when_a_notebook_fails_and_passes_p_values(tmp_path):
    notebooks = tmp_path / "nb"
    notebooks.mkdir()
    chart_notebook(notebooks / "01_chart.ipynb")
    failing_notebook(notebooks / "02_fail.ipynb")
    out = tmp_path / "out"
    args = ["report", "--notebooks", str(notebooks), "--out", str(out), "--no-progress"]
    result = invoke(*args, "-p", "messages", "3", "-p", "bugs", "v0.7.6")
    assert result.exit_code == 3, result.output
    assert "02_fail" in result.output and "FAILED" in result.output
    assert "RuntimeError: boom in the notebook" in result.output
    summary = json.loads((out / "notebooks" / "01_chart.json").read_text())
    assert summary["sent"] == 3 and summary["bugs"] == "v0.7.6"
    assert (out / "index.html").exists()


@pytest.mark.slow
def test_explain_takes_a_recorded_observations_own_workload_whatever_the_flags_say():
    recorded = str(ROOT / "data" / "observed" / "chronik_v0.7.6_verification.csv")
    out = json.loads(invoke("explain", "--observed-file", recorded, "--json").output)
    assert out["workload_from"] == "as recorded, observations.json"
    assert (out["scenario"]["messages"], out["scenario"]["acks"]) == (5, 1)
    assert out["minimal"] == [["active_segment_invisible"]] and out["not_applied"] == {}
    # notebook 05's rule: a flag that contradicts the recording is named, never used
    flags = ("--messages", "7", "--batch-sizes", "3,4", "--acks", "1")
    flagged = json.loads(invoke("explain", "--observed-file", recorded, *flags, "--json").output)
    assert (flagged["scenario"]["messages"], flagged["minimal"]) == (5, out["minimal"])
    assert flagged["not_applied"] == {"messages": 7, "batch_sizes": [3, 4]}  # acks=1 agrees
    text = invoke("explain", "--observed-file", recorded, "--top", "1", *flags).output
    lines = text.splitlines()
    assert lines[0].startswith("workload (as recorded, observations.json): messages=5 ")
    assert "bugs=" not in text.split("rank")[0]  # the workload line(s): every version is run
    assert "--messages 7 --batch-sizes 3,4 do not apply to a recorded observation" in lines
    # a file no observations.json lists is explained under the flags
    ids = invoke("explain", "0,1,2,3,4,5,6", "--messages", "7", "--json").output
    assert json.loads(ids)["scenario"]["messages"] == 7 and json.loads(ids)["not_applied"] == {}
