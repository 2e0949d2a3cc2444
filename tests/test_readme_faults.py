"""The README's section "Faults on the wire" runs as written, and its fault matrix is the
benchmark's (tests/test_readme.py runs the rest of the README; this section has its own tests
because its blocks start servers, a proxy and a broker that the recorder kills).

Shell blocks run as a new user runs them: `bash` in a fresh shell (no `.venv/bin` on the PATH, a
scratch HOME) from a scratch directory with the clone's `.venv` linked. The fixed ports the
section names become free ones (so tests never clash with each other or a running service);
each command's exit code is the one its comment states (0 when none), and "exit N: WORD N"
is found in that command's output. A block must leave no process behind.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from served import free_port

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "README.md").read_text(encoding="utf-8")
START = TEXT.index("## Faults on the wire")
SECTION = TEXT[START : TEXT.index("\n## ", START + 1)]
PYTHON = re.findall(r"```python\n(.*?)```", SECTION, re.S)
SHELL = re.findall(r"```sh\n(.*?)```", SECTION, re.S)
PORTS = ("9092", "9093", "9094")  # fixed in the section; free ones here
BLOCK_TIMEOUT_S = 300


def _matrix_module():
    spec = importlib.util.spec_from_file_location(
        "fault_matrix", ROOT / "benchmarks" / "fault_matrix.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commands(block: str) -> list[tuple[str, int | None]]:
    """Each command line with the exit code its comment states (None: not a chronik-lab
    command in the foreground, whose code is not the example's point)."""
    out = []
    for line in block.splitlines():
        command = line.split("  #")[0].strip()
        if not command or command.startswith("#"):
            continue
        stated = re.search(r"#.*\bexit (\d+)", line)
        checked = command.startswith(".venv/bin/chronik-lab") and not command.endswith("&")
        out.append((command, int(stated.group(1)) if stated else 0 if checked else None))
    return out


def _script(block: str, logs: Path) -> str:
    """The block as bash, each checked command's output in `logs`/N.out and code in N.rc."""
    lines = []
    for i, (command, expected) in enumerate(_commands(block)):
        if expected is None:
            lines.append(command)
        else:
            lines.append(f"{command} > {logs}/{i}.out 2>&1; echo $? > {logs}/{i}.rc")
    script = "\n".join(lines) + "\n"
    for port in PORTS:
        script = script.replace(port, str(free_port()))
    return script


def _session_gone(pid: int, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def _run_block(block: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path, bool]:
    clone, logs = tmp_path / "clone", tmp_path / "logs"
    clone.mkdir()
    logs.mkdir()
    (clone / ".venv").symlink_to(ROOT / ".venv")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    proc = subprocess.Popen(
        ["bash", "-c", _script(block, logs)], cwd=clone, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=BLOCK_TIMEOUT_S)
        left_nothing = _session_gone(proc.pid, 15)
    finally:  # whatever the block left is stopped: SIGTERM, then SIGKILL
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            _session_gone(proc.pid, 10)
        if proc.poll() is None:
            proc.kill()
            out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), logs, left_nothing


def _check_codes_and_words(block: str, logs: Path, done: subprocess.CompletedProcess) -> None:
    for i, (command, expected) in enumerate(_commands(block)):
        if expected is None:
            continue
        output = (logs / f"{i}.out").read_text()
        assert (logs / f"{i}.rc").read_text().strip() == str(expected), (
            command,
            output,
            done.stderr,
        )
        line = next(raw for raw in block.splitlines() if raw.strip().startswith(command))
        stated = re.search(r"#.*\bexit \d+[:,] ([a-z-]+ \d+)\b", line)
        if stated:
            assert stated.group(1) in output, (command, output)


def test_the_section_has_its_examples():
    assert len(PYTHON) == 1 and len(SHELL) == 2
    for block in SHELL:
        for command, _ in _commands(block):
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
    done, logs, left_nothing = _run_block(block, tmp_path)
    _check_codes_and_words(block, logs, done)
    assert left_nothing, "the block left a process running"
    held = re.findall(r"delay connection \d+ produce #\d+: held the request 200 ms", done.stdout)
    assert held, done.stdout  # the proxy's log, as grep printed it
    assert (tmp_path / "clone" / "through.parquet").exists()
    checked = (logs / f"{len(_commands(block)) - 2}.out").read_text()  # check lost.parquet
    # duplicates, at times a nonmonotonic-send too (a retried batch split, its first id resent last)
    assert re.match(r"history check: \d+ anomalies: duplicate \d+[,\n]", checked), checked


@pytest.mark.slow
def test_the_kill_block_runs_as_written_and_kills_the_broker_it_started(tmp_path):
    block = next(b for b in SHELL if "--broker-cmd" in b)
    done, logs, left_nothing = _run_block(block, tmp_path)
    _check_codes_and_words(block, logs, done)
    assert left_nothing, "the block left a process running"
    record = (logs / "0.out").read_text()
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
