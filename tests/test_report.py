"""build_report: real papermill runs of stand-in notebooks (and of notebooks/ once it has any)
into executed copies, offline HTML pages, index.html and summary.json."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from served import default_sigint
from standins import chart_notebook, sleeping_notebook, write_notebook

from chronik_lab.errors import ChronikLabError, InvalidArgumentError, NotebookError
from chronik_lab.notebook.params import ParameterError
from chronik_lab.report.build import build_report, declared_parameters, default_notebooks_dir

ROOT = Path(__file__).resolve().parents[1]
REAL_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# Anything that makes a browser fetch from the network: a script, stylesheet, image or frame
# with an http(s) address, a CSS @import or url(), or a JavaScript module import.
NETWORK_REFERENCE = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|@import\s+(?:url\()?\s*["']?https?:"""
    r"""|url\(\s*["']?https?:"""
    r"""|import\(\s*["']https?:""",
    re.IGNORECASE,
)
# An SVG output of the page: nbconvert's lab template puts the chart in the page itself, as a
# base64 data: image (or as inline <svg> markup when told not to encode it).
SVG_OUTPUT = re.compile(
    r'<div class="jp-RenderedSVG[^"]*"[^>]*data-mime-type="image/svg\+xml"[^>]*>\s*'
    r'(?:<img\b[^>]*?\bsrc="data:image/svg\+xml;base64,[A-Za-z0-9+/=]{100,}"|<svg\b)'
)


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tables: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.hrefs.append(attrs.get("href", ""))
        if tag == "table":
            self.tables.append(attrs.get("id", ""))


def parse(html: str) -> Links:
    links = Links()
    links.feed(html)
    return links


def table_rows(html: str, table: str = "summary") -> list[str]:
    """The body rows of one of the index's tables: "summary" (the findings, one row per
    version of each) or "notebooks" (one row per notebook: whether it ran)."""
    body = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)


def finding_rows(html: str) -> list[str]:
    """The findings' first rows (a finding's later versions and its note have no link)."""
    return [r for r in table_rows(html) if "<a href=" in r]


def svg_outputs(executed: Path) -> int:
    nb = nbformat.read(executed, as_version=4)
    return sum(
        "image/svg+xml" in out.get("data", {})
        for cell in nb.cells
        for out in cell.get("outputs", [])
    )


def test_every_notebook_is_executed_and_gets_a_page(standin_report):
    names = [nb.name for nb in standin_report.notebooks]
    assert names == ["01_chart", "02_fail", "03_plain", "04_silent", "05_chart"]
    for nb in standin_report.notebooks:
        assert nb.executed.exists() and nb.executed.parent == standin_report.out_dir / "notebooks"
        assert nb.html.exists() and nb.html.parent == standin_report.out_dir
    assert standin_report.index.exists() and standin_report.summary_json.exists()


def test_index_links_every_page_and_tabulates_every_summary(standin_report):
    html = standin_report.index.read_text()
    page = parse(html)
    assert "summary" in page.tables
    for nb in standin_report.notebooks:
        assert f"{nb.name}.html" in page.hrefs
    ran = table_rows(html, "notebooks")
    assert len(ran) == len(standin_report.notebooks)
    assert '"ok">ok<' in next(r for r in ran if "01_chart.html" in r)
    # sent, received, anomalies and pattern from the notebook's own summary; the two chart
    # notebooks ran the same workload and found the same: one row names both
    chart_row = next(r for r in finding_rows(html) if "01_chart.html" in r)
    assert "05_chart.html" in chart_row
    assert ">6<" in chart_row and ">12<" in chart_row
    assert "duplicate 6" in chart_row and "0–5 ↦ 0–5" in chart_row
    assert 'class="outcome-duplicates">duplicates<' in chart_row
    assert len(finding_rows(html)) == 2  # the charts' row and 03_plain's (the others failed)


def test_a_failing_notebook_is_marked_failed_and_the_others_still_run(standin_report):
    by_name = {nb.name: nb for nb in standin_report.notebooks}
    failed = by_name["02_fail"]
    assert not failed.ok and "RuntimeError: boom in the notebook" in failed.error
    assert standin_report.ok is False and [nb.name for nb in standin_report.failed] == [
        "02_fail",
        "04_silent",
    ]
    assert by_name["01_chart"].ok and by_name["03_plain"].ok
    # the failed page shows the partial run with the error
    assert "boom in the notebook" in failed.html.read_text()
    row = next(
        r for r in table_rows(standin_report.index.read_text(), "notebooks") if "02_fail" in r
    )
    assert '"failed">failed<' in row and "boom in the notebook" in row


def test_kernels_run_in_the_notebooks_folder_and_this_process_keeps_its_cwd(standin_report):
    # two at a time: a process-wide chdir per notebook would race between the threads
    charts = [nb for nb in standin_report.notebooks if "chart" in nb.name]
    assert len(charts) == 2
    for nb in charts:
        assert nb.summary["cwd"] == str(nb.source.parent), nb.name
    assert os.getcwd() == standin_report.cwd_before


def test_build_report_never_moves_this_process_to_another_folder(standin_report):
    # Notebooks run two at a time in threads; a chdir() (papermill's cwd=) is process-wide,
    # so one notebook restoring the old cwd could start another's kernel in the wrong folder.
    # (papermill's file reader chdir()s into the current folder and back: harmless.)
    chart = standin_report.notebooks[0]
    assert chart.ok and chart.summary["cwd"] == str(chart.source.parent)
    assert set(standin_report.chdir_calls) <= {standin_report.cwd_before}


def test_a_notebook_that_writes_no_summary_fails(standin_report):
    silent = next(nb for nb in standin_report.notebooks if nb.name == "04_silent")
    assert not silent.ok and silent.summary is None
    assert "no summary" in silent.error


def test_each_notebook_gets_only_the_parameters_it_declares(standin_report):
    by_name = {nb.name: nb for nb in standin_report.notebooks}
    assert by_name["01_chart"].summary["bugs"] == "v0.7.6"
    assert by_name["01_chart"].summary["sent"] == 6
    # 03_plain declares no `bugs`: it ran (papermill would inject it otherwise, harmlessly,
    # but a notebook must never see parameters it did not ask for)
    assert by_name["03_plain"].ok and by_name["03_plain"].summary["sent"] == 6
    executed = nbformat.read(by_name["03_plain"].executed, as_version=4)
    injected = next(
        c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])
    )
    assert "bugs" not in injected.source and "messages = 6" in injected.source


def test_summary_json_records_status_and_summaries(standin_report):
    data = json.loads(standin_report.summary_json.read_text())
    assert data["ok"] is False
    assert data["parameters"] == {"messages": 6, "bugs": "v0.7.6"}
    statuses = {nb["name"]: nb["status"] for nb in data["notebooks"]}
    assert statuses == {
        "01_chart": "ok",
        "02_fail": "failed",
        "03_plain": "ok",
        "04_silent": "failed",
        "05_chart": "ok",
    }
    chart = next(nb for nb in data["notebooks"] if nb["name"] == "01_chart")
    assert chart["summary"]["received"] == 12 and chart["html"] == "01_chart.html"


def test_pages_load_nothing_from_the_network(standin_report):
    pages = [nb.html for nb in standin_report.notebooks] + [standin_report.index]
    for page in pages:
        found = NETWORK_REFERENCE.findall(page.read_text())
        assert not found, f"{page.name} references the network: {found[:3]}"


def test_charts_are_inline_svg_images(standin_report):
    chart = next(nb for nb in standin_report.notebooks if nb.name == "01_chart")
    expected = svg_outputs(chart.executed)
    assert expected == 1
    assert len(SVG_OUTPUT.findall(chart.html.read_text())) == expected


def test_the_network_pattern_catches_what_it_must():
    # the pattern is the whole offline check: pin that it matches the usual CDN references
    for bad in (
        '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>',
        "<link rel='stylesheet' href='http://x/y.css'>",
        '<script src="//cdnjs.cloudflare.com/x.js"></script>',
        "@import url(https://fonts.googleapis.com/css)",
        'await import("https://cdn.jsdelivr.net/npm/mermaid.mjs")',
    ):
        assert NETWORK_REFERENCE.search(bad), bad
    for fine in ('<img src="data:image/svg+xml;base64,AAAA">', '<a href="01_chart.html">'):
        assert not NETWORK_REFERENCE.search(fine), fine


def test_unknown_parameter_is_rejected_before_anything_runs(tmp_path):
    chart_notebook(tmp_path / "01_chart.ipynb")
    with pytest.raises(NotebookError, match="no notebook declares parameter 'mesages'"):
        build_report(tmp_path / "out", tmp_path, {"mesages": 3}, progress=False)
    assert not (tmp_path / "out").exists()


def test_unknown_bug_is_rejected_before_anything_runs(tmp_path):
    chart_notebook(tmp_path / "01_chart.ipynb")
    with pytest.raises(ChronikLabError, match="unknown bug"):
        build_report(tmp_path / "out", tmp_path, {"bugs": "v9"}, progress=False)


def test_bad_values_are_one_problem_each_before_any_kernel_starts(tmp_path):
    (tmp_path / "nb").mkdir()
    chart_notebook(tmp_path / "nb" / "01_chart.ipynb")
    with pytest.raises(ParameterError) as raised:
        build_report(tmp_path / "out", tmp_path / "nb", {"messages": "ten", "bugs": "v9"})
    messages, bugs = raised.value.problems
    assert (messages.parameter, messages.value, messages.notebooks) == (
        "messages",
        "ten",
        ("01_chart",),
    )
    assert str(messages) == "messages = 'ten': must be an int >= 1, not 'ten' (in 01_chart)"
    assert (bugs.parameter, bugs.value) == ("bugs", "v9")
    assert bugs.message.startswith("unknown bug or preset 'v9'")
    assert str(bugs).endswith("(in 01_chart)")
    assert not (tmp_path / "out").exists()


def test_a_declared_type_is_checked_for_a_parameter_without_a_rule(tmp_path):
    cell = "rounds: int = 3  # how many rounds\nlabel: str | None = None  # a label\n"
    write_notebook(tmp_path / "01_x.ipynb", parameters=cell)
    with pytest.raises(ParameterError, match=r"rounds = 'x': must be int, not str \(in 01_x\)"):
        build_report(tmp_path / "out", tmp_path, {"rounds": "x", "label": None}, progress=False)
    with pytest.raises(ParameterError, match="label = 3: must be None or str, not int"):
        build_report(tmp_path / "out", tmp_path, {"label": 3}, progress=False)


def test_notebooks_named_must_exist(tmp_path):
    chart_notebook(tmp_path / "01_chart.ipynb")
    with pytest.raises(NotebookError, match="no notebook named '02_x'; notebooks: 01_chart"):
        build_report(tmp_path / "out", tmp_path, notebooks=["02_x"], progress=False)


@pytest.mark.slow  # a process whose kernel starts, then is interrupted
def test_ctrl_c_kills_the_running_kernels_and_stops_the_report(tmp_path):
    psutil = pytest.importorskip("psutil")
    (tmp_path / "nb").mkdir()
    sleeping_notebook(tmp_path / "nb" / "01_sleep.ipynb")
    code = (
        "from chronik_lab.report.build import build_report; "
        f"build_report({str(tmp_path / 'out')!r}, {str(tmp_path / 'nb')!r}, progress=False)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, preexec_fn=default_sigint
    ) as proc:
        try:
            deadline = time.monotonic() + 120
            while not (tmp_path / "nb" / "started").exists():  # the kernel is running the cell
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.1)
            kernels = psutil.Process(proc.pid).children(recursive=True)
            assert kernels
            interrupted = time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
            stopped = time.monotonic() - interrupted
        finally:
            proc.kill()
        assert b"KeyboardInterrupt" in proc.stderr.read()
    # the notebook sleeps 120 s: the report did not wait for it (2 s on a quiet machine; the
    # bound leaves room for a loaded one), and no kernel outlives it
    assert stopped < 15
    psutil.wait_procs(kernels, timeout=10)
    assert not [k for k in kernels if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]
    # the index is still written, and says which notebook did not finish
    row = table_rows((tmp_path / "out" / "index.html").read_text(), "notebooks")[0]
    assert '"failed">failed<' in row and "interrupted (Ctrl-C)" in row


def test_missing_or_empty_notebooks_dir_is_a_clear_error(tmp_path):
    with pytest.raises(NotebookError, match="does not exist"):
        build_report(tmp_path / "out", tmp_path / "nowhere", progress=False)
    with pytest.raises(NotebookError, match=r"no notebooks \(\*\.ipynb\)"):
        build_report(tmp_path / "out", tmp_path, progress=False)


def test_unknown_kernel_is_rejected_before_anything_runs(tmp_path):
    chart_notebook(tmp_path / "01_chart.ipynb")
    with pytest.raises(NotebookError, match="no Jupyter kernel named 'nope'; installed: .*python3"):
        build_report(tmp_path / "out", tmp_path, kernel="nope", progress=False)


def test_the_report_folder_may_not_be_inside_the_notebooks_folder(tmp_path):
    chart_notebook(tmp_path / "01_chart.ipynb")
    for out in (tmp_path, tmp_path / "reports"):
        with pytest.raises(NotebookError, match="must not be inside"):
            build_report(out, tmp_path, progress=False)
    assert not (tmp_path / "reports").exists()


def test_jobs_below_one_is_rejected(tmp_path):
    chart_notebook(tmp_path / "01_chart.ipynb")
    with pytest.raises(InvalidArgumentError, match="jobs"):
        build_report(tmp_path / "out", tmp_path, jobs=0, progress=False)


def test_declared_parameters_reads_the_parameters_cell_with_types_and_help(tmp_path):
    params = declared_parameters(chart_notebook(tmp_path / "n.ipynb"))
    assert list(params) == ["messages", "bugs", "summary_path"]
    assert params["messages"]["inferred_type_name"] == "int"
    assert params["messages"]["help"] == "how many messages the producer sends"


def test_declared_parameters_survive_an_equals_sign_in_the_help_comment(tmp_path):
    # papermill's own inspection skips such lines; the report must still pass these parameters
    cell = (
        "batch_sizes: list | None = [4, 6]  # None = one request per message\n"
        'summary_path: str = ""  # empty = no summary\n'
        'label = "a#b"  # a "#" inside a string is not a comment\n'
    )
    params = declared_parameters(write_notebook(tmp_path / "n.ipynb", parameters=cell))
    assert list(params) == ["batch_sizes", "summary_path", "label"]
    assert params["batch_sizes"]["inferred_type_name"] == "list | None"
    assert params["batch_sizes"]["default"] == "[4, 6]"
    assert params["batch_sizes"]["help"] == "None = one request per message"
    assert params["label"]["help"] == 'a "#" inside a string is not a comment'


def test_default_notebooks_dir_is_the_repositorys():
    assert default_notebooks_dir() == ROOT / "notebooks"


# --- the project's own notebooks (built once per session: conftest.real_report) -------------


@pytest.mark.slow
@pytest.mark.skipif(not REAL_NOTEBOOKS, reason="notebooks/ has no notebooks yet")
def test_the_real_notebooks_build_a_complete_offline_report(real_report):
    result = real_report
    assert [nb.name for nb in result.notebooks] == [p.stem for p in REAL_NOTEBOOKS]
    assert result.ok, [(nb.name, nb.error) for nb in result.failed]
    index = parse(result.index.read_text())
    assert len(table_rows(result.index.read_text(), "notebooks")) == len(REAL_NOTEBOOKS)
    for nb in result.notebooks:
        assert f"{nb.name}.html" in index.hrefs
        assert nb.summary is not None, nb.name
        # a run's figures, (06) the sweep's, or (08) each compared setting's
        figures = {"sent", "received", "counts"}
        compared = nb.summary.get("versions", {}).values()
        assert (
            figures <= set(nb.summary)
            or "sweep" in nb.summary
            or (compared and all(figures <= set(v) for v in compared))
        ), nb.name
        html = nb.html.read_text()
        assert not NETWORK_REFERENCE.findall(html), nb.name
        assert len(SVG_OUTPUT.findall(html)) == svg_outputs(nb.executed) > 0, nb.name


@pytest.mark.slow
@pytest.mark.skipif(not REAL_NOTEBOOKS, reason="notebooks/ has no notebooks yet")
def test_the_real_reproduce_notebook_reports_the_seeds_duplication(real_report):
    reproduce = next(nb for nb in real_report.notebooks if "reproduce" in nb.name)
    assert reproduce.summary["sent"] == 10 and reproduce.summary["received"] == 20
    assert reproduce.summary["counts"]["duplicate"] == 10
    assert reproduce.summary["pattern"] == "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9"


def outcome_sentences(html: str) -> list[str]:
    """The index's opening list: one outcome sentence per version."""
    outcomes = re.search(r'<ul id="outcomes">(.*?)</ul>', html, re.S).group(1)
    return re.findall(r"<li>(.*?)</li>", outcomes)


@pytest.mark.slow
@pytest.mark.skipif(not REAL_NOTEBOOKS, reason="notebooks/ has no notebooks yet")
def test_the_index_opens_with_one_outcome_sentence_per_version(real_report):
    html = real_report.index.read_text()
    sentences = outcome_sentences(html)
    # 08: a lost acknowledgement through the fault proxy, kafka-python against the lab: the
    # retried request's records are duplicated, as many as kafka-python put in it (9 or 10:
    # its sender may send a chunk's first record alone)
    retried = re.fullmatch(
        r"kafka-python, idempotence off: 60 sent, (\d+) received: (\d+) duplicated\.", sentences[4]
    )
    assert retried and int(retried[1]) == 60 + int(retried[2]) and int(retried[2]) in (9, 10)
    assert sentences[:4] + sentences[5:] == [
        "v0.7.5: 10 sent, 20 received: 10 duplicated.",
        "v0.7.4: 10 sent, 10 received: each exactly once.",
        "v0.7.6: 10 sent, 6 received: 4 lost.",
        "v1.0: 10 sent, 10 received: each exactly once.",
        "kafka-python, idempotence on: 60 sent, 60 received: each exactly once.",
        # 09: the fixed broker, the simulated producer and consumer
        "fixed, idempotence off: 10 sent, 14 received: 4 duplicated.",
        "fixed, idempotence on: 10 sent, 10 received: each exactly once.",
        "fixed, a consumer crash before its commit: 10 sent, 14 received: 4 redelivered.",
    ]
    assert html.index('id="outcomes"') < html.index('id="summary"')


@pytest.mark.slow
@pytest.mark.skipif(not REAL_NOTEBOOKS, reason="notebooks/ has no notebooks yet")
def test_the_index_gives_each_result_once_with_an_outcome_apart_from_ran(real_report):
    html = real_report.index.read_text()
    rows = table_rows(html)
    # 01, 02 and 03 ran the same workload: one row names the three of them; 06 ran a sweep
    same = [r for r in finding_rows(html) if "01_reproduce.html" in r]
    assert len(same) == 1
    for name in ("02_offset_ranges", "03_buffer_contents"):
        assert f"{name}.html" in same[0]
    assert sum("run: " in r for r in rows) == 1
    (sweep,) = [r for r in finding_rows(html) if "06_sweep.html" in r]
    assert sweep.startswith('<td rowspan="1">sweep<')
    # the before/after finding shows every version it compared, each with its outcome word
    start = next(i for i, r in enumerate(rows) if "04_before_after.html" in r)
    versions = rows[start : start + 4]
    compared = (
        ("v0.7.5", "duplicates"),
        ("v0.7.4", "exact"),
        ("v0.7.6", "loss"),
        ("v1.0", "exact"),
    )
    for version, word in compared:
        assert any(f"<td>{version}</td>" in r and f">{word}<" in r for r in versions), version
    # "ran" is its own column, in the notebooks table, never in the findings
    assert all('"ok">ok<' not in r for r in rows)
    assert all('"ok">ok<' in r for r in table_rows(html, "notebooks"))


@pytest.mark.slow
@pytest.mark.skipif(not REAL_NOTEBOOKS, reason="notebooks/ has no notebooks yet")
def test_the_index_labels_an_observations_numbers_as_observed(real_report):
    rows = table_rows(real_report.index.read_text())
    observed = next(r for r in rows if "05_explain.html" in r)
    assert "observation chronik_v0.7.5_seed.csv" in observed
    assert observed.count('<span class="tag">observed</span>') == 2  # sent and received
    assert "<td>observed</td>" in observed


@pytest.mark.slow
@pytest.mark.skipif(not REAL_NOTEBOOKS, reason="notebooks/ has no notebooks yet")
def test_the_index_is_a_view_of_summary_json(real_report):
    from chronik_lab.report.index import render_index

    data = json.loads(real_report.summary_json.read_text())
    assert real_report.index.read_text() == render_index(data)


@pytest.mark.slow
@pytest.mark.skipif(not REAL_NOTEBOOKS, reason="notebooks/ has no notebooks yet")
def test_pages_hide_the_summary_cell_and_local_paths_but_the_notebooks_keep_them(real_report):
    for nb in real_report.notebooks:
        html = nb.html.read_text()
        executed = nbformat.read(nb.executed, as_version=4)
        last = [c for c in executed.cells if c.cell_type == "code"][-1]
        assert "remove-cell" in last.metadata.get("tags", []), nb.name
        assert "write_summary" in last.source and last.outputs, nb.name  # ran, and is kept
        assert "page_summary" not in html and "write_summary" not in html, nb.name
        # papermill's injected cell held the summary's absolute path: not on the page
        assert str(real_report.out_dir) not in html, nb.name
        injected = [c for c in executed.cells if "injected-parameters" in c.metadata["tags"]]
        assert str(real_report.out_dir) in injected[0].source, nb.name


@pytest.mark.slow
@pytest.mark.skipif(not REAL_NOTEBOOKS, reason="notebooks/ has no notebooks yet")
def test_every_chart_has_alt_text_from_its_title(real_report):
    reproduce = next(nb for nb in real_report.notebooks if nb.name == "01_reproduce")
    for nb in real_report.notebooks:
        alts = re.findall(r'<img [^>]*alt="([^"]*)"', nb.html.read_text())
        assert len(alts) == svg_outputs(nb.executed), nb.name
        assert all(a.startswith("Chart") and len(a) > 10 for a in alts), (nb.name, alts)
        assert "No description" not in nb.html.read_text(), nb.name
    [alt] = re.findall(r'<img [^>]*alt="([^"]*)"', reproduce.html.read_text())
    assert "Received vs sent (v0.7.5): 10 sent, 20 received: 10 duplicated" in alt


@pytest.mark.slow
@pytest.mark.skipif(not REAL_NOTEBOOKS, reason="notebooks/ has no notebooks yet")
def test_a_p_parameter_reaches_the_one_real_notebook_named(tmp_path):
    # -p bugs v1.0 --notebook 01_reproduce as `chronik-lab report` passes them: only that
    # notebook runs, and the fixed broker returns ids 0-9 once
    result = build_report(
        tmp_path / "out", None, {"bugs": "v1.0"}, progress=False, notebooks=["01_reproduce"]
    )
    assert [nb.name for nb in result.notebooks] == ["01_reproduce"]
    assert result.ok, result.failed
    summary = result.notebooks[0].summary
    assert summary["sent"] == summary["received"] == 10
    assert not any(summary["counts"].values())
    assert summary["pattern"] == "0–9 ↦ 0–9"
    assert sorted(p.name for p in (tmp_path / "out").glob("*.html")) == [
        "01_reproduce.html",
        "index.html",
    ]


# --- the index from summary.json data (no kernel) ----------------------------------------------


def _nb(name, summary, status="ok"):
    return {"name": name, "status": status, "duration_s": 1.0, "html": f"{name}.html",
            "summary": summary, "error": None}  # fmt: skip


def _run_summary(bugs, received, duplicates, lost, pattern="0–9 ↦ 0–9"):
    return {
        "parameters": {"messages": 10, "batch_sizes": [4, 6], "acks": -1, "bugs": bugs,
                       "flush_batches": 2},
        "sent": 10, "received": received, "counts": {"duplicate": duplicates, "unseen": lost},
        "pattern": pattern,
        "outcome": {"received": received, "duplicates": duplicates, "lost": lost},
    }  # fmt: skip


def test_the_index_says_each_version_in_the_outcome_words():
    from chronik_lab.report.index import render_index

    summaries = {
        "v0.7.5": (20, 10, 0),
        "v0.7.6": (0, 0, 10),
        "both": (12, 4, 2),
        "v1.0": (10, 0, 0),
    }
    html = render_index({"notebooks": [_nb(f"0{i}_x", _run_summary(v, *n))
                                       for i, (v, n) in enumerate(summaries.items())]})  # fmt: skip
    assert outcome_sentences(html) == [
        "v0.7.5: 10 sent, 20 received: 10 duplicated.",
        "v0.7.6: 10 sent, 0 received: all 10 lost.",
        "both: 10 sent, 12 received: 4 duplicated, 2 lost.",
        "v1.0: 10 sent, 10 received: each exactly once.",
    ]
    words = re.findall(r'<td class="outcome-([a-z-]+)">([a-z ]+)<', html)
    assert words == [("duplicates", "duplicates"), ("loss", "loss"),
                     ("duplicates-loss", "duplicates and loss"), ("exact", "exact")]  # fmt: skip
    no_outcome = render_index({"notebooks": [_nb("01_x", {"sent": 10, "received": None})]})
    assert "<td>—</td>" in no_outcome and '<td class="outcome-' not in no_outcome


def test_delivery_runs_are_said_by_their_fault_not_as_the_brokers_outcome():
    # notebook 09's lost acknowledgement without idempotence made the headline say
    # "fixed: 10 sent, 14 received: 4 duplicated", as if the fixed broker duplicated
    from chronik_lab.report.index import render_index

    off, on, crash = (_run_summary("fixed", *n) for n in ((14, 4, 0), (10, 0, 0), (10, 0, 0)))
    summary = {**off, "delivery": {"idempotence off: the retry is written again": off,
                                   "idempotence on: the same lost response": on,
                                   "a consumer crash before its commit": crash}}  # fmt: skip
    html = render_index({"notebooks": [_nb("09_delivery", summary)]})
    assert outcome_sentences(html) == [
        "fixed, idempotence off: 10 sent, 14 received: 4 duplicated.",
        "fixed, idempotence on: 10 sent, 10 received: each exactly once.",
        "fixed, a consumer crash before its commit: 10 sent, 10 received: each exactly once.",
    ]
    (row,) = finding_rows(html)  # one finding, a line per run
    assert row.startswith('<td rowspan="3">delivery: 10 messages')


def test_a_sweep_without_a_run_is_one_sweep_row():
    from chronik_lab.report.index import render_index

    cell = {"batch_split": "4+6", "flush_batches": 2, "duplication_rate": 1.0, "loss_rate": 0.0}
    sweep = {"v0.7.5": {"max_duplication_rate": 1.0, "max_loss_rate": 0.5, "cell": cell}}
    html = render_index({"notebooks": [_nb("06_sweep", {"parameters": {}, "sweep": sweep})]})
    (row,) = finding_rows(html)
    assert row.startswith('<td rowspan="1">sweep<') and "run: " not in html
    assert "v0.7.5: worst duplication 100%, worst loss 50%" in html
    assert outcome_sentences(html) == ["No notebook reported a run."]


def test_under_another_version_the_explain_row_keeps_the_observation_apart():
    # -p bugs v0.7.6: the runs lose everything, the observation (a v0.7.5 consumer's) has 20
    from chronik_lab.report.index import render_index

    explain = {
        "parameters": {"bugs": "v0.7.6", "observed_path": "../data/observed/seed.csv"},
        "sent": 10, "received": 20, "counts": {"duplicate": 10, "lost": 0},
        "outcome": {"received": 20, "duplicates": 10, "lost": 0}, "pattern": "p",
        "minimal": [["cumulative_update_buffer"]], "fixes_removing_duplication": [],
    }  # fmt: skip
    html = render_index(
        {
            "notebooks": [
                _nb("01_reproduce", _run_summary("v0.7.6", 0, 0, 10)),
                _nb("05_explain", explain),
            ]
        }
    )
    assert outcome_sentences(html) == ["v0.7.6: 10 sent, 0 received: all 10 lost."]
    run_row, observed_row = finding_rows(html)
    assert "<td>v0.7.6</td>" in run_row and 'class="outcome-loss"' in run_row
    assert "<td>observed</td>" in observed_row and "observation seed.csv" in observed_row
    assert '20 <span class="tag">observed</span>' in observed_row
    assert "not a run of this report" in html and "single fixes (from v0.7.6)" in html


def test_a_pattern_of_thousands_of_runs_is_cut_in_the_index():
    from chronik_lab.report.index import render_index

    pattern = ", ".join(f"{i} ↦ {i}" for i in range(100_000))
    html = render_index({"notebooks": [_nb("01_x", _run_summary("v1.0", 10, 0, 0, pattern))]})
    assert "0 ↦ 0, 1 ↦ 1, 2 ↦ 2, 3 ↦ 3, 4 ↦ 4, 5 ↦ 5, … 99,994 more" in html
    assert len(html) < 20_000


# --- the CLI's report command: its options and its pre-flight lines ----------------------------


def test_the_cli_prints_one_error_line_per_bad_parameter_and_exits_2(tmp_path):
    from click.testing import CliRunner

    from chronik_lab.cli import main

    chart_notebook(tmp_path / "01_chart.ipynb")
    args = ["report", "--notebooks", str(tmp_path), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(main, [*args, "-p", "messages", "-5", "-p", "bugs", "v9"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("Error: ") for line in lines)
    assert lines[0] == "Error: messages = -5: must be an int >= 1, not -5 (in 01_chart)"
    assert lines[1].startswith("Error: bugs = 'v9': unknown bug or preset 'v9'")
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()
    unknown = CliRunner().invoke(main, [*args, "--notebook", "02_nope"])
    assert unknown.exit_code == 2
    assert unknown.output.strip() == ("Error: no notebook named '02_nope'; notebooks: 01_chart")


def test_the_heaviest_notebooks_start_first_and_pages_keep_name_order(tmp_path):
    from chronik_lab.report.build import start_order

    paths = [write_notebook(tmp_path / f"{name}.ipynb", "x = 1") for name in ("a", "b", "c", "d")]
    for path, weight in zip(paths, (None, 8, "heavy", 3), strict=True):
        nb = nbformat.read(path, as_version=4)
        if weight is not None:
            nb.metadata["chronik_lab"] = {"weight": weight}
        nbformat.write(nb, path)
    # b (8), d (3), then a and c at the default 1 (a text weight counts as 1), by name
    assert [p.stem for p in start_order(paths)] == ["b", "d", "a", "c"]
    (tmp_path / "e.ipynb").write_text("not json")
    assert [p.stem for p in start_order([*paths, tmp_path / "e.ipynb"])][-1] == "e"


@pytest.mark.slow
def test_a_subset_into_an_earlier_reports_folder_indexes_this_run_only(tmp_path):
    source = tmp_path / "nb"
    source.mkdir()
    chart_notebook(source / "01_chart.ipynb")
    chart_notebook(source / "02_chart.ipynb")
    out = tmp_path / "out"
    whole = build_report(out, source, progress=False)
    assert whole.ok and "all 2 notebooks ran" in whole.index.read_text()
    again = build_report(out, source, notebooks=["01_chart"], progress=False)
    index = again.index.read_text()
    # it said "all notebooks ran" and left 02's page in the folder unmentioned
    assert "1 of the 2 notebooks ran (the others were not asked for)" in index
    rows = table_rows(index, "notebooks")
    assert len(rows) == 2 and "01_chart" in rows[0]
    assert "02_chart" in rows[1] and "from an earlier run, not this one" in rows[1]
    assert all("02_chart" not in row for row in table_rows(index))  # in no finding
    assert json.loads(again.summary_json.read_text())["earlier_pages"] == ["02_chart"]


@pytest.mark.slow
def test_the_report_command_says_one_notebook_in_the_singular(tmp_path):
    from click.testing import CliRunner

    from chronik_lab.cli import main

    (tmp_path / "nb").mkdir()
    chart_notebook(tmp_path / "nb" / "01_chart.ipynb")
    done = CliRunner().invoke(
        main,
        ["report", "--out", str(tmp_path / "out"), "--notebooks", str(tmp_path / "nb"),
         "--no-progress"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "(1 notebook, " in done.output.splitlines()[-1]
