"""Running the README's shell blocks as a new user runs them (tests/test_readme.py and
tests/test_readme_faults.py).

A block runs in `bash` in a fresh shell (no `.venv/bin` on the PATH, a scratch HOME) from a
scratch copy of the clone's root (`.venv`, `data`, `notebooks`, `Makefile`, `pyproject.toml`
linked, so what a block writes stays there). Each command's exit code is checked against the
one its comment states ("# exit 1"), 0 when it states none, and "exit N: WORD N" is found in
that command's output. Two things differ from a user's run, so that tests never clash with each
other or with a running service: the fixed ports the README names become free ports, and when
the block ends every process it left in its session is stopped (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from served import free_port

ROOT = Path(__file__).resolve().parents[1]
PORTS = ("9092", "9093", "9094", "8786")  # fixed in the README; free ones in the tests
LINKED = (".venv", "data", "notebooks", "Makefile", "pyproject.toml")


def commands(block: str) -> list[tuple[str, int | None]]:
    """The block's lines with the exit code each states (None: a line run in the background,
    a loop or a kill, whose code is not the example's point)."""
    out = []
    for line in block.splitlines():
        command = line.split("  #")[0].strip()
        if not command or command.startswith("#"):
            continue
        stated = re.search(r"#.*\bexit (\d+)", line)
        checked = command.startswith(".venv/bin/chronik-lab") and not command.endswith("&")
        out.append((line, int(stated.group(1)) if stated else 0 if checked else None))
    return out


def stated_words(line: str) -> str | None:
    """What a command's comment says it prints after its exit code: "duplicate 10" in
    "# exit 1: duplicate 10, the seed's 20 records"."""
    found = re.search(r"#.*\bexit \d+[:,] ([a-z-]+ \d+)\b", line)
    return found.group(1) if found else None


@dataclass
class BlockRun:
    """What a block did: the shell's own result, each checked command's exit code and output
    (by its index in `commands`), and whether it left no process behind."""

    done: subprocess.CompletedProcess
    codes: dict[int, int]
    outputs: dict[int, str]
    left_nothing: bool

    def check(self, block: str) -> None:
        """Each checked command exited with the code its comment states and printed its
        stated words."""
        expected = {i: code for i, (_, code) in enumerate(commands(block)) if code is not None}
        assert self.codes == expected, (self.codes, self.done.stdout[-3000:],
                                        self.done.stderr[-3000:])  # fmt: skip
        for i, (line, _) in enumerate(commands(block)):
            if (words := stated_words(line)) is not None:
                assert words in self.outputs[i], (line, self.outputs[i])


def _script(block: str, logs: Path) -> str:
    """The block as bash, each checked command's output in `logs`/N.out (printed as well) and
    its exit code in `logs`/N.rc."""
    lines = []
    for i, (line, expected) in enumerate(commands(block)):
        command = line.split("  #")[0].strip()
        if expected is None:
            lines.append(command)
            continue
        lines.append(
            f"{command} 2>&1 | tee {logs}/{i}.out; echo ${{PIPESTATUS[0]}} > {logs}/{i}.rc"
        )
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


def run_shell_block(block: str, tmp_path: Path, timeout_s: float = 600) -> BlockRun:
    clone, logs = tmp_path / "clone", tmp_path / "logs"
    clone.mkdir()
    logs.mkdir()
    for name in LINKED:
        (clone / name).symlink_to(ROOT / name)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    proc = subprocess.Popen(
        ["bash", "-c", _script(block, logs)], cwd=clone, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    left_nothing = False
    try:
        out, err = proc.communicate(timeout=timeout_s)
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
    codes = {int(p.stem): int(p.read_text()) for p in logs.glob("*.rc") if p.read_text().strip()}
    outputs = {int(p.stem): p.read_text() for p in logs.glob("*.out")}
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return BlockRun(done, codes, outputs, left_nothing)
