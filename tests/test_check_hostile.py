"""`chronik-lab check` on hostile files and absurd counts (issue 19, items 6 and 9): a clean exit 2
with one `Error:` line, never a signal or a traceback, never unbounded work or output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chronik_lab.cli import main
from chronik_lab.cli.checking import LINE_MAX

REPO = Path(__file__).resolve().parents[1]
HEADER = "op_index,process,f,type,partition,offset,value"
GOOD = f"{HEADER}\n0,0,send,ok,0,0,0\n1,0,send,ok,0,1,1\n2,1,poll,ok,0,0,0\n2,1,poll,ok,0,1,1\n"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def check_in_a_process(path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "chronik_lab", "check", str(path), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def assert_clean_refusal(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])  # < 0: a signal
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("Error: ") and len(done.stderr.splitlines()) == 1


# --- pyarrow's JSON reader crashed the process on these ------------------------------------


def test_a_null_line_is_refused_not_a_segfault(tmp_path):
    path = tmp_path / "n.jsonl"
    path.write_text("null\n")
    done = check_in_a_process(path)
    assert_clean_refusal(done)
    assert "a JSON null, not an object" in done.stderr


@pytest.mark.slow
def test_a_100000_deep_nested_line_is_refused_not_a_segfault(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    assert_clean_refusal(check_in_a_process(path))
    inner = tmp_path / "deep-inner.jsonl"
    inner.write_text('{"op_index": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    assert_clean_refusal(check_in_a_process(inner))


HOSTILE_LINES = st.one_of(
    st.just("null"), st.just("[]"), st.just('"text"'), st.just("42"), st.just("{"),
    st.integers(1, 3000).map(lambda d: "[" * d + "]" * d),
    st.integers(1, 3000).map(lambda d: '{"value": ' + "{" * d + "}" * d + "}"),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    st.dictionaries(st.sampled_from(["op_index", "f", "x"]),
                    st.one_of(st.none(), st.lists(st.integers(), max_size=2), st.text(max_size=4)),
                    max_size=3).map(json.dumps),
)  # fmt: skip


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(lines=st.lists(HOSTILE_LINES, min_size=1, max_size=4), suffix=st.sampled_from(
    [".jsonl", ".csv", ".parquet"]))  # fmt: skip
def test_hostile_history_files_end_in_a_clean_exit_2_never_a_signal(tmp_path, lines, suffix):
    path = tmp_path / f"hostile{suffix}"
    body = "\n".join(lines) + "\n"
    if suffix == ".jsonl":
        path.write_text(body, encoding="utf-8", errors="surrogatepass")
    elif suffix == ".csv":  # a history's header over hostile rows
        path.write_bytes(f"{HEADER}\n".encode() + body.encode("utf-8", "surrogatepass"))
    else:  # a Parquet file cut short and its bytes overwritten
        good = tmp_path / "good.parquet"
        pd.read_csv(pd.io.common.StringIO(GOOD)).to_parquet(good)
        data = bytearray(good.read_bytes())
        data[len(data) // 3 : len(data) // 3 + len(body)] = body.encode("utf-8", "replace")
        path.write_bytes(bytes(data[: max(len(data) - len(lines), 8)]))
    assert_clean_refusal(check_in_a_process(path))


# --- absurd counts and unbounded output --------------------------------------------------


def test_sent_three_billion_counts_the_lost_ids_without_holding_them(tmp_path):
    path = tmp_path / "good.csv"
    path.write_text(GOOD)
    result = invoke("check", str(path), "--sent", "3000000000", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["lost"] == 2_999_999_998 and data["lost_ids"][:3] == [2, 3, 4]
    assert len(data["lost_ids"]) == 1_000


def test_an_endless_sent_file_is_refused_at_once(tmp_path):
    path = tmp_path / "good.csv"
    path.write_text(GOOD)
    result = invoke("check", str(path), "--sent-file", "/dev/zero")
    assert result.exit_code == 2 and "not a message id" in result.output


def test_a_csv_of_20000_columns_is_refused_from_its_header(tmp_path):
    path = tmp_path / "wide.csv"
    names = [*HEADER.split(","), *(f"c{i}" for i in range(20_000))]
    path.write_text(",".join(names) + "\n" + ",".join(["0"] * len(names)) + "\n")
    result = invoke("check", str(path))
    assert result.exit_code == 2 and "20,007 columns" in result.output


def test_a_header_line_without_end_is_refused_after_a_megabyte(tmp_path):
    path = tmp_path / "endless.csv"
    path.write_text("a" * (3 << 20))
    result = invoke("check", str(path))
    assert result.exit_code == 2 and "header line is longer" in result.output


def test_every_printed_line_is_cut_even_an_id_received_100000_times(tmp_path):
    path = tmp_path / "dump.csv"
    rows = pd.DataFrame({"partition": 0, "offset": range(100_000), "message_id": 0})
    rows.to_csv(path, index=False)
    result = invoke("check", str(path))
    assert result.exit_code == 1
    # The anomaly's own detail is bounded (anomalies.LIST_SHOWN offsets and a count) ...
    assert "offsets: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, … (99990 more)" in result.output
    assert max(len(line) for line in result.output.splitlines()) < 200
    # ... and a line that is long by nature (every one of 100,000 spans) is cut when printed.
    full = invoke("check", str(path), "--full")
    longest = max(len(line) for line in full.output.splitlines())
    assert longest <= LINE_MAX + 40, longest
    assert "more characters)" in full.output
