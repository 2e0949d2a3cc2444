"""The command line under hostile input and at scale: numbers too large, binary files, YAML bombs,
one exit code per outcome (Ctrl-C and a closed pipe included), output that leads with the verdict
and cuts long lists, `bugs` wrapped to the terminal, and consumer dumps checked with --sent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from served import default_sigint

import chronik_lab as cl
from chronik_lab.cli import common, main
from chronik_lab.cli.workload import scenario_from_flags
from chronik_lab.errors import InvalidArgumentError
from chronik_lab.report.preflight import parse_parameter_value

REPO = Path(__file__).resolve().parents[1]
SEED_DUMP = REPO / "data" / "observed" / "chronik_v0.7.5_seed.csv"
HUGE = "99999999999999999999999"
# A "billion laughs": nine levels of ten aliases each, 10**9 strings once expanded.
LAUGHS = "[" + ", ".join(
    ["&a0 ['lol']"] + [f"&a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
) + "]"  # fmt: skip


def invoke(*args: str, **kwargs):
    return CliRunner().invoke(main, list(args), **kwargs)


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def run_cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "chronik_lab", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        **kwargs,
    )


# --- numbers too large and binary files: one line, exit 2 ----------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["simulate", "--messages", HUGE],
        ["simulate", "--partitions", HUGE],
        ["simulate", "--flush-batches", HUGE],
        ["simulate", "--batch-sizes", f"4,{HUGE}"],
        ["explain", HUGE],
        ["explain", "0,1", "--top", HUGE],
        ["check", str(SEED_DUMP), "--sent", HUGE + "0000"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_numbers_too_large_are_one_error_line(args):
    assert "too large" in one_error_line(invoke(*args))


def test_a_binary_observed_file_is_one_error_line(tmp_path):
    binary = tmp_path / "ls"
    binary.write_bytes(
        Path("/bin/ls").read_bytes() if Path("/bin/ls").exists() else b"\x7fELF\xd0\xff"
    )
    assert "not UTF-8" in one_error_line(invoke("explain", "--observed-file", str(binary)))


def test_a_latin1_history_is_one_error_line(tmp_path):
    path = tmp_path / "latin1.csv"
    header = "op_index,process,f,type,partition,offset,value"
    path.write_bytes(f"{header}\n0,caf\xe9,send,ok,0,0,0\n".encode("latin-1"))
    assert "not UTF-8" in one_error_line(invoke("check", str(path)))


def test_a_header_only_history_is_one_error_line(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("op_index,process,f,type,partition,offset,value\n")
    assert "no rows" in one_error_line(invoke("check", str(path)))


# --- -p values: plain values only -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("&a [*a]", "anchors, aliases"),
        (LAUGHS, "anchors, aliases"),
        ("!!python/object:os.system x", "anchors, aliases and tags"),
        ("[" * 9 + "]" * 9, "nested deeper than 8"),
        ("[" + "1, " * 5000 + "1]", "at most 10,000"),
    ],
    ids=["self-alias", "billion-laughs", "tag", "deep", "long"],
)
def test_unsafe_parameter_values_are_refused(text, message):
    with pytest.raises(InvalidArgumentError, match=message):
        parse_parameter_value("bugs", text)


def test_a_recursive_yaml_alias_in_report_is_one_error_line(tmp_path):
    line = one_error_line(invoke("report", "--out", str(tmp_path / "r"), "-p", "bugs", "&a [*a]"))
    assert "-p bugs" in line
    assert not (tmp_path / "r").exists()


def test_plain_nested_lists_within_the_limit_are_still_values():
    assert parse_parameter_value("x", "[[1, 2], [3]]") == [[1, 2], [3]]
    assert parse_parameter_value("x", "{acks: -1, sizes: [4, 6]}") == {"acks": -1, "sizes": [4, 6]}


# --- exit codes -------------------------------------------------------------------------------


def test_exit_codes_are_listed_in_the_group_help():
    out = invoke("--help").output
    for code, meaning in ((1, "anomalies"), (2, "bad input"), (3, "notebook failed"),
                          (4, "internal error"), (5, "partial history"), (130, "interrupted"),
                          (141, "pipe")):  # fmt: skip
        assert any(line.split()[:1] == [str(code)] and meaning in line for line in out.splitlines())


def test_exit_code_constants_are_distinct():
    codes = [common.EXIT_ANOMALIES, common.EXIT_BAD_INPUT, common.EXIT_NOTEBOOK_FAILED,
             common.EXIT_INTERNAL, common.EXIT_PARTIAL, common.EXIT_INTERRUPTED,
             common.EXIT_PIPE_CLOSED]  # fmt: skip
    assert len(set(codes)) == len(codes) and 0 not in codes


def test_an_unexpected_exception_exits_4_with_its_traceback(monkeypatch):
    # A bug inside the library (here: one injected into cl.run) is not the user's bad input.
    def broken(scenario):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cl, "run", broken)
    result = invoke("simulate")
    assert result.exit_code == 4
    assert "internal error" in result.stderr and "ZeroDivisionError: a bug" in result.stderr


@pytest.mark.slow  # waits 10 s for the child to be inside the run
def test_ctrl_c_exits_130_without_a_traceback():
    with run_cli(
        "simulate", "--messages", "5000000", "--batch-sizes", "none", preexec_fn=default_sigint
    ) as child:
        try:
            # Past the imports (about 2 s of CPU) and inside cl.run (minutes of CPU for
            # 5,000,000 one-message requests), with margins for a loaded machine.
            time.sleep(10)
            assert child.poll() is None, "the run ended before the interrupt"
            child.send_signal(signal.SIGINT)
            out, err = child.communicate(timeout=120)
        finally:
            child.kill()  # nothing left running if an assertion failed (no-op once it exited)
    assert child.returncode == 130, (out, err)
    assert "Traceback" not in err and "Interrupted" in err


def test_a_closed_pipe_ends_quietly_with_141():
    # v0.7.5 without its buffer cap, so that the duplication shows: ~120 KB, beyond a pipe buffer
    uncapped = ",".join(sorted(cl.PRESETS["v0.7.5"] - {"buffer_keeps_last_1000"}))
    with run_cli(
        "simulate", "--messages", "2000", "--batch-sizes", "none", "--full", "--bugs", uncapped
    ) as child:
        assert child.stdout.readline().startswith("scenario:")
        child.stdout.close()
        err = child.stderr.read()
        assert child.wait(timeout=60) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err


# --- simulate: verdict and counts first, long lists cut ---------------------------------------


MANY = dict(messages=300, batch_sizes="none", flush_batches=2)  # v0.7.5, one request each


@pytest.fixture(scope="module")
def many_runs():
    """300 messages under v0.7.5, one request each (below the 1000-record buffer cap, so the
    duplication shows): hundreds of runs in the pattern, the counts taken from the run itself."""
    out = invoke("simulate", "--messages", "300", "--batch-sizes", "none", "--flush-batches", "2")
    out = out.output
    return out, cl.run(scenario_from_flags(**MANY)).report


def test_simulate_prints_the_verdict_and_counts_before_the_lists(many_runs):
    out, report = many_runs
    lines = out.splitlines()
    counts = report.counts
    assert counts["duplicate"] > 100  # the workload really shows the duplication
    assert lines[1].startswith("verdict: ") and f"duplicate {counts['duplicate']:,}" in lines[1]
    stats = report.stats
    assert lines[2].startswith(f"sent {stats['sent']:,}, received {stats['received']:,}")
    assert f"{counts['duplicate']:,} duplicated" in lines[2]
    assert lines[3] == "anomalies:"
    assert lines[4].split() == ["duplicate", f"{counts['duplicate']:,}"]


def test_simulate_cuts_long_lists_with_a_count_of_what_is_left_out(many_runs):
    out, report = many_runs
    lines = out.splitlines()
    assert len(lines) < 60
    pattern = next(line for line in lines if line.startswith("received (offset ↦ id)"))
    shown = pattern.count("↦") - 1  # the label's own arrow
    assert pattern.endswith(f"… {len(report.pattern) - shown:,} more spans")
    assert lines[-1].startswith("… ") and lines[-1].endswith("(--full or --json for everything)")


def test_simulate_full_prints_every_row():
    full = invoke("simulate", "--messages", "2000", "--flush-batches", "2", "--full").output
    report = cl.run(scenario_from_flags(messages=2000, flush_batches=2)).report
    assert "more rows" not in full and "more spans" not in full
    assert report.pattern_text() in full
    assert len(full.splitlines()) > len(report.pattern)


def test_the_seed_is_short_enough_to_print_whole():
    out = invoke("simulate").output
    assert "more" not in out and "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9" in out


# --- bugs: wrapped to the terminal ------------------------------------------------------------


@pytest.mark.parametrize("columns", [60, 100, 200])
def test_bugs_wraps_to_the_terminal_width(columns):
    out = invoke("bugs", env={"COLUMNS": str(columns)}).output
    assert max(len(line) for line in out.splitlines()) <= columns
    words = " ".join(out.split())
    for bug in cl.BUGS.values():
        assert bug.name in out and " ".join(bug.summary.split()) in words


@pytest.mark.parametrize("columns", [140, 200])
def test_bugs_table_keeps_every_switchs_fields_under_their_headers(columns):
    # the catalogue's longer sources ("kafka clients", "librdkafka#4953") pushed their rows'
    # fixed, commit and summary columns right of the headers
    lines = invoke("bugs", env={"COLUMNS": str(columns)}).output.splitlines()
    header = lines[0]
    starts = [header.index(word) for word in ("introduced", "fixed", "commit", "summary")]
    for bug in cl.BUGS.values():
        line = next(line for line in lines if line.startswith(bug.name + " "))
        fields = (bug.introduced_in, bug.fixed_in, bug.chronik_commit, bug.summary.split()[0])
        for start, field in zip(starts, fields, strict=True):
            assert line[start:].startswith(field + " "), line


# --- check: a consumer dump, with and without the sends ---------------------------------------


def test_the_readme_example_checks_the_shipped_seed_dump():
    # README: chronik-lab check data/observed/chronik_v0.7.5_seed.csv
    result = invoke("check", str(SEED_DUMP))
    assert result.exit_code == 1, result.output
    assert "duplicate 10" in result.output
    assert "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9" in result.output


def test_check_sent_counts_the_ids_never_received():
    clean = invoke("check", str(SEED_DUMP), "--sent", "10")
    assert "lost 0 (sent, never received)" in clean.output
    lost = invoke("check", str(SEED_DUMP), "--sent", "12", "--json")
    assert lost.exit_code == 1 and json.loads(lost.output)["lost_ids"] == [10, 11]


def test_check_sent_file_reads_the_ids(tmp_path):
    ids = tmp_path / "sent.txt"
    ids.write_text("0 1 2 3 4 5 6 7 8 9 42")
    result = invoke("check", str(SEED_DUMP), "--sent-file", str(ids))
    assert result.exit_code == 1
    assert "lost (sent, never received): 1: ids 42" in result.output


def test_a_clean_dump_with_every_sent_id_received_exits_0(tmp_path):
    dump = tmp_path / "clean.csv"
    dump.write_text("partition,offset,message_id\n0,0,0\n0,1,1\n0,2,2\n")
    result = invoke("check", str(dump), "--sent", "3")
    assert result.exit_code == 0, result.output


def test_check_refuses_sent_and_sent_file_together(tmp_path):
    (tmp_path / "s.txt").write_text("0")
    one_error_line(
        invoke("check", str(SEED_DUMP), "--sent", "1", "--sent-file", str(tmp_path / "s.txt"))
    )


def test_one_line_collapses_lines_hides_control_characters_and_is_bounded():
    from chronik_lab.errors import ONE_LINE_MAX, one_line

    assert one_line(ValueError("a\n  b\tc")) == "a b c"
    assert one_line(ValueError("bell\x07 esc\x1b[31m")) == "bell? esc?[31m"
    assert len(one_line(ValueError("x" * 10_000))) == ONE_LINE_MAX
    assert one_line(KeyError()) == "KeyError"


def test_a_binary_file_named_csv_is_one_printable_error_line(tmp_path):
    path = tmp_path / "ls.csv"
    path.write_bytes(bytes(range(256)) * 40 + b"\n,\n")
    line = one_error_line(invoke("check", str(path)))
    assert line.isprintable() and len(line) < 600


@given(st.text(max_size=60) | st.from_regex(r"[\[\]{}&*!:, a-z0-9-]{0,40}", fullmatch=True))
def test_any_parameter_text_is_a_json_like_value_or_one_bad_input(text):
    try:
        value = parse_parameter_value("x", text)
    except InvalidArgumentError as e:
        assert "\n" not in str(e) and str(e).startswith("-p x")
    else:
        text_form = json.dumps(value)  # JSON-like: survives a round trip (NaN included)
        assert json.dumps(json.loads(text_form)) == text_form


def test_check_full_prints_every_anomaly_and_lost_id(tmp_path):
    dump = tmp_path / "dump.csv"
    rows = "".join(f"0,{2 * i},{i}\n0,{2 * i + 1},{i}\n" for i in range(30))  # 30 duplicates
    dump.write_text("partition,offset,message_id\n" + rows)
    cut = invoke("check", str(dump), "--sent", "60").output
    full = invoke("check", str(dump), "--sent", "60", "--full").output
    assert "… 20 more" in cut and "… 18 more" in cut
    assert "more" not in full
    assert full.count("duplicate  ") == 30 and "ids " + ", ".join(map(str, range(30, 60))) in full


def test_check_with_sent_says_what_was_sent_once_and_never_contradicts_it():
    lines = invoke("check", str(SEED_DUMP), "--sent", "12").output.splitlines()
    assert lines[1] == (
        "sent 12 (--sent), received 20 (10 distinct), duplicated 10, redelivered 0, "
        "lost 2 (sent, never received)"
    )  # the dump holds no sends: it said "sent 0 ... lost: not checked", then "lost ...: 0"
    assert lines[-1] == "lost (sent, never received): 2: ids 10, 11"
    assert not any("not checked" in line or line.startswith("sent 0") for line in lines)
    clean = invoke("check", str(SEED_DUMP), "--sent", "10").output
    assert "lost 0 (sent, never received)" in clean and "lost (sent" not in clean


def test_check_headline_says_what_each_count_counts(tmp_path):
    dump = tmp_path / "four_times.csv"  # ids 0-9, each at 4 offsets: 10 anomalies, 30 extra
    dump.write_text(
        "partition,offset,message_id\n" + "".join(f"0,{o},{o % 10}\n" for o in range(40))
    )
    lines = invoke("check", str(dump), "--sent", "10").output.splitlines()
    assert lines[0] == "history check: 10 anomalies: duplicate 10 (30 extra offsets)"
    assert lines[1].startswith("sent 10 (--sent), received 40 (10 distinct), duplicated 30,")
