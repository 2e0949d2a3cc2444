"""The README runs as written: its Python examples, every shell example, and its figures.

Python blocks run in this process, in a scratch directory. Shell blocks run as a new user runs
them (tests/readme_blocks.py: a fresh shell, a scratch copy of the clone's root, each command's
stated exit code and words checked; free ports for the fixed ones). The `make` block is checked
with `make -n`: `make test` inside the test suite would run it again, and `make report` runs
every notebook, which the notebook tests do once per session already.

The figures are held to the code that makes them: the presets table to `cl.PRESETS`, the
measured table to `measure_versions()`, explain's runs and combinations to `cl.explain`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from readme_blocks import commands, run_shell_block

import chronik_lab as cl

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")
# "Faults on the wire" has its own tests (tests/test_readme_faults.py): the rest is run here.
_FAULTS = TEXT.index("## Faults on the wire")
REST = TEXT[:_FAULTS] + TEXT[TEXT.index("\n## ", _FAULTS + 1) :]
BLOCKS = re.findall(r"```python\n(.*?)```", REST, re.S)
SHELL = re.findall(r"```sh\n(.*?)```", REST, re.S)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 2


def _stated_outputs(block: str) -> dict[int, str]:
    """The output each `print(...)  # comment` line states, by line number: the comment up to
    its first ": " when it reads as printed output (a number, a list, True/False, a verdict),
    "..." standing for what the comment leaves out. Other comments describe, and are skipped."""
    stated = {}
    for number, line in enumerate(block.splitlines(), 1):
        if not line.lstrip().startswith("print(") or "  # " not in line:
            continue
        head = line.split("  # ", 1)[1].strip().split(": ", 1)[0]
        if re.match(r"[\[\d(]|(True|False|ok)\b", head):
            stated[number] = head
    return stated


# a block whose consumer waits out its timeout takes seconds: make test only
SLOW_BLOCKS = [
    pytest.param(b, marks=pytest.mark.slow) if "consumer_timeout_ms" in b else b for b in BLOCKS
]


@pytest.mark.parametrize("block", SLOW_BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs_and_prints_what_its_comments_say(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    printed: dict[int, list[str]] = {}

    def recording_print(*args: object, **kwargs: object) -> None:
        line = sys._getframe(1).f_lineno  # the block's line that called print
        printed.setdefault(line, []).append(" ".join(map(str, args)))

    exec(compile(block, str(README), "exec"), {"print": recording_print})
    for number, head in _stated_outputs(block).items():
        pattern = ".*".join(map(re.escape, head.split("...")))
        assert [re.fullmatch(pattern, out) is not None for out in printed[number]] == [True], (
            block.splitlines()[number - 1],
            printed[number],
        )


# -- shell examples ------------------------------------------------------------------------------


def test_every_shell_example_calls_the_cli_as_a_fresh_shell_finds_it():
    assert len(SHELL) >= 4
    for block in SHELL:
        for line, _ in commands(block):
            words = line.split()
            assert words[0] != "chronik-lab", f"not on a fresh shell's PATH: {line}"


def test_the_make_block_names_targets_make_knows():
    (block,) = [b for b in SHELL if b.lstrip().startswith("make ")]
    for line, _ in commands(block):
        target = line.split()[1]
        dry = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, timeout=60)
        assert dry.returncode == 0, (target, dry.stderr)


@pytest.mark.slow
@pytest.mark.parametrize(
    "block",
    [b for b in SHELL if not b.lstrip().startswith("make ")],
    ids=lambda b: re.sub(r"\W+", "-", b.split("\n")[0].removeprefix(".venv/bin/"))[:40],
)
def test_shell_example_runs_as_written(block, tmp_path):
    run = run_shell_block(block, tmp_path)
    run.check(block)
    if "record" in block and "serve --bugs v0.7.5" in block:  # the seed, through a real client
        assert "duplicate 10" in run.done.stdout, run.done.stdout
        assert (tmp_path / "clone" / "history.parquet").exists()


# -- figures ----------------------------------------------------------------------------------


def _table(start: str) -> list[list[str]]:
    """The body rows (cells) of the first Markdown table at or after `start`."""
    lines = TEXT[TEXT.index(start) :].split("\n")
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[first + 2 :]:  # past the header and its --- line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_the_presets_table_lists_each_presets_switches():
    v10 = sorted(cl.PRESETS["v1.0"])
    assert len(v10) == 7
    for name, _, switches in _table("## Versions: the presets"):
        listed = {s.strip() for s in switches.split(",")} - {"—", "+ the seven of v1.0"}
        if "+ the seven of v1.0" in switches:
            listed |= set(v10)
        assert listed == set(cl.PRESETS[name.strip("`")]), name


def test_the_switches_in_no_preset_are_named_and_counted():
    outside = set(cl.BUGS) - set().union(*cl.PRESETS.values())
    intro = TEXT[TEXT.index("## Versions: the presets") : TEXT.index("| preset |")]
    words = {1: "One switch is", 2: "Two switches are", 3: "Three switches are"}
    assert f"{words[len(outside)]} in no preset" in " ".join(intro.split())
    assert set(re.findall(r"`([a-z0-9_]+)`:", intro)) == outside


def test_the_reports_notebooks_are_listed_with_their_titles():
    import nbformat

    listed = re.findall(r"^- `(\d\d_\w+)`: (.+)$", TEXT, re.M)
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    titles = []
    for path in notebooks:
        first = next(c for c in nbformat.read(path, 4).cells if c.cell_type == "markdown")
        titles.append((path.stem, re.sub(r"^# \d+\. ", "", first.source.splitlines()[0])))
    assert listed == titles


def test_the_measured_table_is_measure_versions():
    from chronik_lab.notebook.digest import measured_table
    from chronik_lab.sim.versions import measure_versions

    measured = measure_versions()
    table = measured_table(measured)
    rows = _table("| workload | v0.7.4")
    assert [row[0] for row in rows] == list(table.index)
    assert [row[1:] for row in rows] == table.values.tolist()
    release = measured.set_index(["workload", "version"]).loc[
        ("99 requests of 20, acks=1, flush at 100", "v1.0")
    ]
    said = f"{release['lost']:,} of {release['sent']:,} lost"
    assert f"(99 requests of 20 under the release flush policy: {said.replace(',', '')})" in TEXT


def test_explains_figures_are_what_explain_does():
    ranking = cl.explain(cl.run(cl.SEED).received_ids, cl.SEED, executor="serial")
    runs, combinations = ranking.attrs["runs"], ranking.attrs["combinations"]
    assert combinations == 2 ** len(cl.BUGS)
    assert f"takes {runs} runs (one at a time) for {combinations:,} combinations" in TEXT


@pytest.mark.slow
def test_the_html_renderers_bundle_is_the_size_said():
    import altair as alt

    from chronik_lab.viz import interactive, render

    seed, before = cl.run(cl.SEED), alt.renderers.active
    try:
        render.use_renderer("html")  # a new page: its first chart carries the bundle
        renderer = alt.renderers.get()
        first, second = (renderer(interactive.explore_spec(seed))["text/html"] for _ in "12")
    finally:
        alt.renderers.enable(before)
    bundle_mb = (len(first.encode()) - len(second.encode())) / 1e6
    assert f"inlines the Vega bundle once per\npage, about +{bundle_mb:.1f} MB" in TEXT


def test_the_figures_in_the_prose_are_the_codes():
    from chronik_lab.checker.dataset import BYTES_PER_ROW
    from chronik_lab.checker.dispatch import LOST_SHOWN
    from chronik_lab.cli.checking import LINE_MAX, SAMPLE_KEPT
    from chronik_lab.sim.clients import MAX_RESETS, poll_cap
    from chronik_lab.sim.scenario import SNAPSHOT_ROW_LIMIT, received_records

    assert f"{len(cl.seed_sizes(100_000)):,} requests at 100,000" in TEXT
    assert "a poll cap (10 × messages + 100)" in TEXT and poll_cap(7) == 10 * 7 + 100
    assert f"at most {MAX_RESETS} out-of-range resets" in TEXT
    assert f"every state while they fit in\n{SNAPSHOT_ROW_LIMIT:,} rows" in TEXT
    assert f"cut at {LINE_MAX:,} characters" in TEXT
    assert f"the first {LOST_SHOWN:,} listed" in TEXT
    assert f"the first {SAMPLE_KEPT:,} anomalies of" in TEXT
    assert f"the memory limit (about {BYTES_PER_ROW} bytes per history row)" in TEXT
    # the durability and idempotent-producer sections
    from chronik_lab.engine.buffer import BUFFER_CAP
    from chronik_lab.engine.producer_state import NUM_BATCHES_TO_RETAIN, SEQUENCE_MOD
    from chronik_lab.wire import logs, service

    assert f"the last {NUM_BATCHES_TO_RETAIN} batches' sequence" in TEXT
    assert SEQUENCE_MOD == 2**31 and "sequences wrap at 2^31" in TEXT
    assert f"logged once per {logs.INTERVAL_S:g} s" in TEXT
    codes = (service.OUT_OF_ORDER_SEQUENCE_NUMBER, service.DUPLICATE_SEQUENCE_NUMBER,
             service.INVALID_PRODUCER_EPOCH)  # fmt: skip
    assert "checks Produce batches' fields (errors {}, {}, {})".format(*codes) in TEXT
    assert f"chronik's {BUFFER_CAP}-record buffer cap" in TEXT
    # the explain page's workload under v0.7.5: each id twice up to 250, nothing from 501 on
    assert "every id twice up to\n250 messages (500 records, one poll)" in TEXT
    assert "from 501 messages on nothing\ncomes back" in TEXT

    def received(n: int) -> pd.DataFrame:
        workload = cl.Scenario(messages=n, batch_sizes="auto", acks=-1, flush_batches=2)
        return received_records(workload.with_bugs("v0.7.5"))

    at_250, at_500, at_501 = received(250), received(500), received(501)
    assert len(at_250) == 500 and at_250["message_id"].value_counts().eq(2).all()
    assert len(at_500) > 0 and at_501.empty
