"""Parquet histories that were never finished or were damaged: a writer killed before it wrote
the footer, a file cut short, a directory dataset with one such file, pages overwritten. Every
engine and `chronik-lab check` refuse them with one line naming the file (a CorruptHistoryError,
exit 2), never a crash or a traceback."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import test_check as hand
from click.testing import CliRunner

import chronik_lab as cl
from chronik_lab.checker.dataset import CorruptHistoryError
from chronik_lab.cli import main
from chronik_lab.errors import HistoryError

ENGINES = ("auto", "memory", "duckdb")


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def seed_parquet(path: Path) -> Path:
    """The seed history with 40 more polls behind it, so a cut can land inside a data page."""
    more = [hand.poll(100 + i, list(range(20 * i, 20 * i + 20)), partition=1) for i in range(40)]
    history = pd.concat([hand.seed_history(), hand.frame(*more)], ignore_index=True)
    return cl.write_history(history, path)


def assert_one_line_exit_2(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


@pytest.mark.parametrize("cut", [0, 3, 11, 0.5, -1, -8, -200], ids=str)
def test_a_parquet_file_cut_short_is_refused_naming_it_on_every_engine(cut, tmp_path):
    whole = seed_parquet(tmp_path / "whole.parquet").read_bytes()
    size = int(len(whole) * cut) if isinstance(cut, float) else cut % len(whole)
    path = tmp_path / "cut.parquet"
    path.write_bytes(whole[:size])
    for engine in ENGINES:
        with pytest.raises(CorruptHistoryError) as caught:
            cl.check(path, engine=engine)
        assert caught.value.path == path
    with pytest.raises(CorruptHistoryError):
        cl.read_history(path)
    assert_one_line_exit_2(invoke("check", str(path)), str(path))


KILLED_WRITER = """
import sys, pyarrow as pa, pyarrow.parquet as pq
schema = pa.schema([(c, pa.int64()) for c in ("op_index", "partition", "offset", "value")]
                   + [(c, pa.string()) for c in ("process", "f", "type")])
writer = pq.ParquetWriter(sys.argv[1], schema)
for group in range(1_000_000):
    ids = list(range(group * 100, group * 100 + 100))
    writer.write_table(pa.table({"op_index": ids, "partition": [0] * 100, "offset": ids,
                                 "value": ids, "process": ["p"] * 100, "f": ["send"] * 100,
                                 "type": ["ok"] * 100}, schema))
    if group == 5:
        print("written", flush=True)
"""


def killed_writer_file(path: Path) -> Path:
    """A Parquet history whose writer was SIGKILLed after several row groups: no footer."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(KILLED_WRITER), str(path)],
                            stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert proc.stdout.readline() == b"written\n"
        time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert path.stat().st_size > 0
    return path


def test_a_history_whose_writer_was_killed_is_refused_as_having_no_footer(tmp_path):
    path = killed_writer_file(tmp_path / "killed.parquet")
    for engine in ENGINES:
        with pytest.raises(CorruptHistoryError, match="no Parquet footer") as caught:
            cl.check(path, engine=engine)
        assert caught.value.path == path and "killed" in caught.value.reason
    assert_one_line_exit_2(invoke("check", str(path)), "no Parquet footer", str(path))


def test_a_directory_with_one_killed_file_is_refused_naming_that_file(tmp_path):
    folder = tmp_path / "ds"
    folder.mkdir()
    seed_parquet(folder / "part-0.parquet")
    killed = killed_writer_file(folder / "part-1.parquet")
    seed_parquet(folder / "part-2.parquet")
    for engine in ENGINES:
        with pytest.raises(CorruptHistoryError) as caught:
            cl.check(folder, engine=engine)
        assert caught.value.path == killed
    assert_one_line_exit_2(invoke("check", str(folder), "--engine", "duckdb"), str(killed))
    killed.unlink()  # the finished files alone are a history
    assert cl.check(folder).counts["duplicate"] > 0


def test_overwritten_pages_give_a_report_or_a_history_error_never_a_crash(tmp_path):
    whole = bytearray(seed_parquet(tmp_path / "whole.parquet").read_bytes())
    rng = random.Random(21)
    refused = 0
    for i in range(8):
        damaged = bytearray(whole)
        start = rng.randrange(4, len(whole) // 2)
        damaged[start : start + 64] = bytes(rng.randrange(256) for _ in range(64))
        path = tmp_path / f"damaged-{i}.parquet"
        path.write_bytes(bytes(damaged))
        for engine in ("memory", "duckdb"):
            try:
                cl.check(path, engine=engine)
            except HistoryError:
                refused += 1
        result = invoke("check", str(path), "--engine", "memory")
        assert result.exit_code in (0, 1, 2), result.output
        assert not isinstance(result.exception, Exception) or result.exit_code == 2
        if result.exit_code == 2:
            assert_one_line_exit_2(result)
    assert refused  # the damage was seen at least once: the test reads the damaged pages
