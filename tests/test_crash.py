"""A broker killed at any instant loses nothing it acknowledged and serves nothing twice.

A child process produces and flushes in a loop, printing the last offset of every produce that
returned (acknowledged: in the write-ahead log) and of every completed flush; the parent kills
it (SIGKILL after varied delays, or SIGXFSZ at an exact byte of a write to the log or to a
segment), reopens the data_dir and requires exactly the sequence 0..N-1, with N at least the
last acknowledged offset + 1, and the next produce at N.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

import chronik_lab as cl

pytestmark = pytest.mark.slow

T = "crash"
CHILD = r"""
import random, resource, signal, sys
import chronik_lab as cl

data_dir, seed, file_limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
# small segments, so that kills also land in rotations and in segment creation
b = cl.Broker(data_dir, flush_batches=10**6, segment_bytes=48 * 1024)
if file_limit:
    # the write that would take a file past file_limit bytes is cut there, and the kernel
    # kills the process with SIGXFSZ (Python ignores it by default): a torn tail at an exact byte
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))
n = 0
print("ready", flush=True)
while True:
    for _ in range(rng.randint(1, 4)):
        k = rng.randint(1, 300)
        b.produce("crash", 0, [str(i) for i in range(n, n + k)], acks=rng.choice([0, 1, -1]))
        n += k
        print(n - 1, flush=True)  # acknowledged: in the write-ahead log
    b.flush()
    print(n - 1, flush=True)
"""
DELAYS = [0.0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.35, 0.6]


def start_child(tmp_path: Path, seed: int, file_limit: int = 0) -> tuple[subprocess.Popen, Path]:
    out = tmp_path / "child.out"
    with open(out, "w") as stdout, open(tmp_path / "child.err", "w") as stderr:
        args = [sys.executable, "-c", CHILD, str(tmp_path / "data"), str(seed), str(file_limit)]
        child = subprocess.Popen(args, stdout=stdout, stderr=stderr)
    return child, out


def wait_until_ready(child: subprocess.Popen, out: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not out.read_text().startswith("ready\n"):
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            err = (out.parent / "child.err").read_text()
            pytest.fail(f"the child did not start (exit {child.returncode}): {err}")
        time.sleep(0.002)


def last_acknowledged(out: Path) -> int:
    """The last offset the child reported as acknowledged (-1 if none)."""
    lines = out.read_text().split("\n")[1:-1]  # skip "ready"; a cut last line has no newline
    return int(lines[-1]) if lines else -1


def assert_exact_recovery(data_dir: Path, acknowledged: int) -> int:
    with warnings.catch_warnings():
        # a torn tail is cut with a RuntimeWarning: expected here, any other warning is not
        # (filters added later take precedence)
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", ".*cut a torn tail", RuntimeWarning)
        warnings.filterwarnings("ignore", ".*no complete record batch", RuntimeWarning)
        b = cl.Broker(data_dir)
    with b:
        n = b.high_watermark(T, 0) if b.partitions() else 0
        assert n >= acknowledged + 1, "an acknowledged record was lost"
        if n:
            records = b.fetch(T, 0, 0).records
            assert records.column("offset").to_pylist() == list(range(n))
            values = [v.decode() for v in records.column("value").to_pylist()]
            assert values == [str(i) for i in range(n)], "duplicated, lost or reordered records"
        assert b.produce(T, 0, ["next"]).base_offset == n
    with cl.Broker(data_dir) as again:  # the repaired log reopens cleanly
        assert again.high_watermark(T, 0) == n + 1
    return n


@pytest.mark.parametrize("delay", DELAYS)
def test_sigkill_at_any_moment_keeps_exactly_the_written_sequence(tmp_path, delay) -> None:
    child, out = start_child(tmp_path, seed=int(delay * 1000))
    wait_until_ready(child, out)
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL, (tmp_path / "child.err").read_text()
    assert_exact_recovery(tmp_path / "data", last_acknowledged(out))


@pytest.mark.parametrize("file_limit", [700, 9_001, 30_017, 47_999])
def test_kill_in_the_middle_of_a_write_cuts_only_the_torn_batch(tmp_path, file_limit) -> None:
    child, out = start_child(tmp_path, seed=file_limit, file_limit=file_limit)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGXFSZ, (tmp_path / "child.err").read_text()
    written = (tmp_path / "data" / f"{T}-0").iterdir()  # segments and the write-ahead log
    assert file_limit in {path.stat().st_size for path in written}  # cut at that very byte
    acknowledged = last_acknowledged(out)
    n = assert_exact_recovery(tmp_path / "data", acknowledged)
    # a torn append was never acknowledged; a torn flush's batches are in the log: exact
    assert n == acknowledged + 1
