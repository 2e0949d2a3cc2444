"""build_report: real papermill runs of stand-in notebooks (and of notebooks/ once it has any)
into executed copies, offline HTML pages, index.html and summary.json."""

from __future__ import annotations

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from standins import (
    chart_notebook,
    failing_notebook,
    plain_notebook,
    real_report,
    silent_notebook,
    write_notebook,
)

from chronik_lab.errors import ChronikLabError, InvalidArgumentError, NotebookError
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


def index_rows(html: str) -> list[str]:
    """The body rows of the index's summary table."""
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.S).group(1)
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def svg_outputs(executed: Path) -> int:
    nb = nbformat.read(executed, as_version=4)
    return sum(
        "image/svg+xml" in out.get("data", {})
        for cell in nb.cells
        for out in cell.get("outputs", [])
    )


CWD_BEFORE: list[str] = []


@pytest.fixture(scope="module")
def standin_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    chart_notebook(notebooks / "01_chart.ipynb")
    failing_notebook(notebooks / "02_fail.ipynb")
    plain_notebook(notebooks / "03_plain.ipynb")
    silent_notebook(notebooks / "04_silent.ipynb")
    chart_notebook(notebooks / "05_chart.ipynb")
    params = {"messages": 6, "bugs": "v0.7.6"}
    CWD_BEFORE.append(os.getcwd())
    return build_report(root / "out", notebooks, params, progress=False, jobs=2)


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
    rows = index_rows(html)
    assert len(rows) == len(standin_report.notebooks)
    chart_row = next(r for r in rows if "01_chart.html" in r)
    # status, sent, received, anomalies and pattern from the notebook's own summary
    assert '"ok">ok<' in chart_row
    assert ">6<" in chart_row and ">12<" in chart_row
    assert "duplicate 6" in chart_row and "0–5 ↦ 0–5" in chart_row


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
    row = next(r for r in index_rows(standin_report.index.read_text()) if "02_fail.html" in r)
    assert '"failed">failed<' in row and "boom in the notebook" in row


def test_kernels_run_in_the_notebooks_folder_and_this_process_keeps_its_cwd(standin_report):
    # two at a time: a process-wide chdir per notebook would race between the threads
    charts = [nb for nb in standin_report.notebooks if "chart" in nb.name]
    assert len(charts) == 2
    for nb in charts:
        assert nb.summary["cwd"] == str(nb.source.parent), nb.name
    assert os.getcwd() == CWD_BEFORE[0]


def test_build_report_never_moves_this_process_to_another_folder(tmp_path, monkeypatch):
    # Notebooks run two at a time in threads; a chdir() (papermill's cwd=) is process-wide,
    # so one notebook restoring the old cwd could start another's kernel in the wrong folder.
    # (papermill's file reader chdir()s into the current folder and back: harmless.)
    here = os.getcwd()
    targets = []
    real_chdir = os.chdir
    monkeypatch.setattr(os, "chdir", lambda path: (targets.append(str(path)), real_chdir(path)))
    (tmp_path / "nb").mkdir()
    chart_notebook(tmp_path / "nb" / "01_chart.ipynb")
    result = build_report(tmp_path / "out", tmp_path / "nb", progress=False)
    assert result.ok and result.notebooks[0].summary["cwd"] == str(tmp_path / "nb")
    assert set(targets) <= {here}


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


# --- the project's own notebooks ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not REAL_NOTEBOOKS, reason="notebooks/ has no notebooks yet")
def test_the_real_notebooks_build_a_complete_offline_report(tmp_path_factory):
    result = real_report(tmp_path_factory)
    assert [nb.name for nb in result.notebooks] == [p.stem for p in REAL_NOTEBOOKS]
    assert result.ok, [(nb.name, nb.error) for nb in result.failed]
    index = parse(result.index.read_text())
    assert len(index_rows(result.index.read_text())) == len(REAL_NOTEBOOKS)
    for nb in result.notebooks:
        assert f"{nb.name}.html" in index.hrefs
        assert nb.summary is not None and {"sent", "received", "counts"} <= set(nb.summary)
        html = nb.html.read_text()
        assert not NETWORK_REFERENCE.findall(html), nb.name
        assert len(SVG_OUTPUT.findall(html)) == svg_outputs(nb.executed) > 0, nb.name


@pytest.mark.slow
@pytest.mark.skipif(not REAL_NOTEBOOKS, reason="notebooks/ has no notebooks yet")
def test_the_real_reproduce_notebook_reports_the_seeds_duplication(tmp_path_factory):
    result = real_report(tmp_path_factory)
    reproduce = next(nb for nb in result.notebooks if "reproduce" in nb.name)
    assert reproduce.summary["sent"] == 10 and reproduce.summary["received"] == 20
    assert reproduce.summary["counts"]["duplicate"] == 10
    assert reproduce.summary["pattern"] == "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9"


@pytest.mark.slow
@pytest.mark.skipif(not REAL_NOTEBOOKS, reason="notebooks/ has no notebooks yet")
def test_a_p_parameter_reaches_the_real_reproduce_notebook(tmp_path):
    # -p bugs v1.0 as `chronik-lab report` passes it: the fixed broker returns ids 0-9 once
    reproduce = next(p for p in REAL_NOTEBOOKS if "reproduce" in p.name)
    (tmp_path / "nb").mkdir()
    shutil.copy(reproduce, tmp_path / "nb" / reproduce.name)
    result = build_report(tmp_path / "out", tmp_path / "nb", {"bugs": "v1.0"}, progress=False)
    assert result.ok, result.failed
    summary = result.notebooks[0].summary
    assert summary["sent"] == summary["received"] == 10
    assert not any(summary["counts"].values())
    assert summary["pattern"] == "0–9 ↦ 0–9"
