"""Single-bit flips in a data_dir: every outcome is an exact prefix of the log or a
CorruptSegmentError -- never a silently different record, never a crash of the interpreter.

The log has two segments (a sealed one and the active one of a crashed broker, with no end
marker), several record batches each, keys, nulls and timestamps. Each trial flips one bit,
opens a broker, fetches everything and compares with the original. Trials run in batches inside
child processes, so a SIGSEGV or SIGBUS is counted as a crash of the trial it happened in (the
child is restarted after it). The small sample runs in the edit loop; every bit is `slow`.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import chronik_lab as cl

T = "flip"
CHILD = r"""
import json, sys, warnings
from pathlib import Path
import chronik_lab as cl

data_dir, expected = Path(sys.argv[1]), json.loads(sys.argv[2])
names = json.loads(sys.argv[3])
pristine = {name: (data_dir / name).read_bytes() for name in names}
warnings.simplefilter("ignore")
for line in sys.stdin:
    file_index, bit = map(int, line.split())
    for name, data in pristine.items():  # a repair may have cut the last trial's file
        (data_dir / name).write_bytes(data)
    target = data_dir / names[file_index]
    flipped = bytearray(pristine[names[file_index]])
    flipped[bit // 8] ^= 1 << (bit % 8)
    target.write_bytes(bytes(flipped))
    try:
        with cl.Broker(data_dir) as b:
            got = b.fetch("flip", 0).records
            rows = [
                [o, t, None if k is None else k.hex(), v.hex()]
                for o, t, k, v in zip(*(got.column(c).to_pylist()
                                        for c in ("offset", "timestamp", "key", "value")))
            ]
        outcome = "prefix" if rows == expected[: len(rows)] else "different"
    except cl.CorruptSegmentError:
        outcome = "corrupt"
    except Exception as exc:
        outcome = f"error:{type(exc).__name__}:{exc}"
    print(outcome, flush=True)
"""


def build_log(data_dir: Path) -> tuple[list[str], list[list]]:
    """Two segments: a sealed one, and a crashed broker's active one. Returns the files
    (relative to data_dir) and the records as [offset, timestamp, key hex, value hex]."""
    live = data_dir.with_name(data_dir.name + "-live")
    clock = cl.SimClock()
    b = cl.Broker(live, flush_batches=1, segment_bytes=2000, clock=clock)
    n = 0
    for i, size in enumerate([2, 1, 3, 2, 1]):
        keys = [None if (n + j) % 3 == 0 else f"k{n + j}" for j in range(size)]
        b.produce(T, 0, [f"value-{n + j}" for j in range(size)], keys=keys)
        n += size
        clock.advance(7 + i)
    shutil.copytree(live, data_dir)  # what a SIGKILL leaves: no end marker on the active one
    got = b.fetch(T, 0).records
    columns = (got.column(c).to_pylist() for c in ("offset", "timestamp", "key", "value"))
    expected = [
        [o, t, None if k is None else k.hex(), v.hex()] for o, t, k, v in zip(*columns, strict=True)
    ]
    b.close()
    names = sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*.arrows"))
    return names, expected


def run_trials(tmp_path: Path, trials: list[tuple[int, int]], children: int = 2) -> Counter:
    """Run `trials` (file index, bit) in `children` child processes; count the outcomes."""
    outcomes: Counter = Counter()
    chunks = [trials[i::children] for i in range(children)]
    for c, chunk in enumerate(chunks):
        data_dir = tmp_path / f"data{c}"
        names, expected = build_log(tmp_path / f"data{c}")
        assert len(names) == 2 and len(expected) == 9
        outcomes += _run_chunk(data_dir, names, expected, chunk)
    return outcomes


def _run_chunk(data_dir: Path, names: list[str], expected: list, chunk: list) -> Counter:
    outcomes: Counter = Counter()
    todo = list(chunk)
    while todo:
        args = [sys.executable, "-c", CHILD, str(data_dir), json.dumps(expected), json.dumps(names)]
        feed = "".join(f"{f} {bit}\n" for f, bit in todo)
        done = subprocess.run(args, input=feed, capture_output=True, text=True, timeout=900)
        lines = done.stdout.splitlines()
        outcomes.update(line.split(":")[0] for line in lines)  # "error:<type>:..." -> "error"
        todo = todo[len(lines) :]
        if done.returncode:  # the child died in trial todo[0]: a crash
            outcomes["crash"] += 1
            todo = todo[1:]
    return outcomes


def all_bits(tmp_path: Path) -> list[tuple[int, int]]:
    names, _ = build_log(tmp_path / "sizes")
    sizes = [(tmp_path / "sizes" / name).stat().st_size for name in names]
    return [(f, bit) for f, size in enumerate(sizes) for bit in range(size * 8)]


def assert_only_prefixes_and_corruption(outcomes: Counter, trials: int) -> None:
    print(f"bit flips: {trials} trials, {dict(outcomes)}")
    assert sum(outcomes.values()) == trials
    assert set(outcomes) <= {"prefix", "corrupt"}, outcomes  # no "different", "crash", "error"


@pytest.mark.slow
def test_a_seeded_sample_of_bit_flips_is_a_prefix_or_corrupt_never_silent(tmp_path) -> None:
    trials = random.Random(7).sample(all_bits(tmp_path), 400)
    outcomes = run_trials(tmp_path, trials)
    assert_only_prefixes_and_corruption(outcomes, len(trials))


@pytest.mark.slow
def test_every_single_bit_flip_is_a_prefix_or_corrupt_never_silent(tmp_path) -> None:
    trials = all_bits(tmp_path)
    assert len(trials) >= 2_000
    outcomes = run_trials(tmp_path, trials)
    assert_only_prefixes_and_corruption(outcomes, len(trials))
