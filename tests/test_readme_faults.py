"""The README's section "Faults on the wire" runs as written, and its fault matrix is the
benchmark's (tests/test_readme.py runs the rest of the README; this section has its own tests
because its blocks start servers, a proxy and a broker that the recorder kills).

Shell blocks run as a new user runs them (tests/readme_blocks.py: a fresh shell, free ports for
the fixed ones, each command's stated exit code and words checked); a block here must also leave
no process behind.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from readme_blocks import commands, run_shell_block

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "README.md").read_text(encoding="utf-8")
START = TEXT.index("## Faults on the wire")
SECTION = TEXT[START : TEXT.index("\n## ", START + 1)]
PYTHON = re.findall(r"```python\n(.*?)```", SECTION, re.S)
SHELL = re.findall(r"```sh\n(.*?)```", SECTION, re.S)
BLOCK_TIMEOUT_S = 300


def _matrix_module():
    spec = importlib.util.spec_from_file_location(
        "fault_matrix", ROOT / "benchmarks" / "fault_matrix.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_section_has_its_examples():
    assert len(PYTHON) == 1 and len(SHELL) == 2
    for block in SHELL:
        for command, _ in commands(block):
            assert not command.startswith("chronik-lab"), f"not on a fresh shell's PATH: {command}"


@pytest.mark.slow
def test_the_python_example_prints_what_its_comment_says(tmp_path, monkeypatch):
    (block,) = PYTHON
    monkeypatch.chdir(tmp_path)
    printed: list[str] = []
    exec(
        compile(block, "README.md", "exec"),
        {"print": lambda *a: printed.append(" ".join(map(str, a)))},
    )
    stated = [
        line.split("  # ", 1)[1].strip() for line in block.splitlines() if line.startswith("print(")
    ]
    assert printed == stated


@pytest.mark.slow
def test_the_proxy_and_lost_ack_block_runs_as_written(tmp_path):
    block = next(b for b in SHELL if "chronik-lab proxy" in b)
    run = run_shell_block(block, tmp_path, BLOCK_TIMEOUT_S)
    run.check(block)
    assert run.left_nothing, "the block left a process running"
    held = re.findall(
        r"delay connection \d+ produce #\d+: held the request 200 ms", run.done.stdout
    )
    assert held, run.done.stdout  # the proxy's log, as grep printed it
    assert (tmp_path / "clone" / "through.parquet").exists()
    checked = run.outputs[len(commands(block)) - 2]  # check lost.parquet
    # duplicates, at times a nonmonotonic-send too (a retried batch split, its first id resent last)
    assert re.match(r"history check: \d+ anomalies: duplicate \d+[,\n]", checked), checked


@pytest.mark.slow
def test_the_kill_block_runs_as_written_and_kills_the_broker_it_started(tmp_path):
    block = next(b for b in SHELL if "--broker-cmd" in b)
    run = run_shell_block(block, tmp_path, BLOCK_TIMEOUT_S)
    run.check(block)
    assert run.left_nothing, "the block left a process running"
    record = run.outputs[0]
    assert re.search(
        r"2000 sent \(\d+ ok, \d+ info, 0 fail\), 2 faults applied, 2000 distinct", record
    ), record


# -- the fault matrix ---------------------------------------------------------------------------


def _matrix_table() -> tuple[list[str], list[list[str]]]:
    lines = [line for line in SECTION.splitlines() if line.startswith("| ")]
    start = next(i for i, line in enumerate(lines) if line.startswith("| broker | client |"))
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[start:]]
    return rows[0], [r for r in rows[1:] if r[0] in ("lab", "tansu")]


def test_the_fault_matrix_is_the_benchmarks_table_cell_for_cell():
    matrix = _matrix_module()
    header, rows = _matrix_table()
    assert header == matrix.HEADER
    expected = [
        [broker, client, "on" if idempotence else "off", fault]
        for broker, fault, client, idempotence in matrix.cells(
            ["lab", "tansu"], list(matrix.FAULTS), matrix.CLIENTS
        )
    ]
    assert [row[:4] for row in rows] == expected
    for row in rows:  # every send has an outcome: ok + info + fail = the messages sent
        assert sum(int(x) for x in row[4:7]) == matrix.MESSAGES, row
    described = re.search(
        r"measured by `benchmarks/fault_matrix.py` \(.*?(\d+) messages", SECTION, re.S
    )
    assert described and int(described.group(1)) == matrix.MESSAGES


def test_the_prose_after_the_matrix_quotes_its_cells():
    _, rows = _matrix_table()
    by_cell = {tuple(row[:4]): row for row in rows}
    quoted = re.search(r"the checker's (\d+) `inconsistent offsets`", SECTION)
    for fault in ("drop-response", "reset-after"):
        row = by_cell[("tansu", "confluent-kafka", "on", fault)]
        assert row[9] == quoted.group(1), row
    for row in rows:  # the kill rows: nothing acknowledged lost, nothing unread
        if row[3] == "kill":
            assert row[8] == row[10] == "0", row
