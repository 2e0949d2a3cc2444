"""Run every notebook through papermill into an offline HTML report.

`build_report(out_dir)` executes each `notebooks/*.ipynb` (in name order) into
`out_dir/notebooks/`, converts each executed copy to a standalone `out_dir/<name>.html`, and
writes `out_dir/index.html` (links and a table of each notebook's JSON summary) and
`out_dir/summary.json`.

Invariants of a report folder:
- the pages load nothing from the network: charts are SVG images inside the page, and the
  nbconvert template's CDN scripts (require.js, MathJax, mermaid) are left out;
- a notebook that fails still gets its page (papermill saves the partial notebook with the
  error), is marked failed in the index, and makes the whole report fail (`ok` is False);
- each notebook receives only the parameters its `parameters` cell declares, so one `-p bugs ...`
  applies to every notebook that has a `bugs` parameter and is ignored by the others.
"""

from __future__ import annotations

import ast
import io
import json
import os
import sys
import time
import tokenize
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import papermill
from jinja2 import DictLoader
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbconvert import HTMLExporter
from tqdm import tqdm

from chronik_lab.bugs import resolve_bugs
from chronik_lab.errors import InvalidArgumentError, NotebookError
from chronik_lab.report.index import error_page, relative, render_index

__all__ = ["NotebookResult", "ReportResult", "build_report", "default_notebooks_dir"]

SUMMARY_PARAMETER = "summary_path"

# The lab template with its network-loaded scripts removed. require.js only serves JavaScript
# outputs and MathJax only TeX in markdown; the charts here are SVG, so neither is needed, and a
# report must open offline without a single request.
_OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""

# ipykernel warns on stderr about unencrypted local TCP at every start; the warning is noise in
# a progress bar, and a real kernel failure still surfaces as a papermill error.
_QUIET_KERNEL = ["--IPKernelApp.log_level=ERROR"]


@dataclass(frozen=True)
class NotebookResult:
    """One notebook's run: where its copies are, its summary, and whether it ran to the end."""

    name: str
    source: Path
    executed: Path
    html: Path
    summary_path: Path
    summary: dict[str, Any] | None
    ok: bool
    duration_s: float
    error: str | None = None

    def to_dict(self, out_dir: Path) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": "ok" if self.ok else "failed",
            "duration_s": round(self.duration_s, 2),
            "html": relative(self.html, out_dir),
            "notebook": relative(self.executed, out_dir),
            "summary": self.summary,
            "error": self.error,
        }


@dataclass(frozen=True)
class ReportResult:
    """A finished report folder. `ok` is False when any notebook failed."""

    out_dir: Path
    index: Path
    summary_json: Path
    notebooks: tuple[NotebookResult, ...]
    parameters: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return all(nb.ok for nb in self.notebooks)

    @property
    def failed(self) -> list[NotebookResult]:
        return [nb for nb in self.notebooks if not nb.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "parameters": self.parameters,
            "duration_s": round(self.duration_s, 2),
            "notebooks": [nb.to_dict(self.out_dir) for nb in self.notebooks],
        }


def default_notebooks_dir() -> Path:
    """The repository's notebooks/: beside the package (a source checkout), else in the cwd."""
    for candidate in (Path(__file__).resolve().parents[1] / "notebooks", Path.cwd() / "notebooks"):
        if candidate.is_dir():
            return candidate
    raise NotebookError(
        "no notebooks/ directory found beside the chronik_lab package or in the current "
        "directory; pass the notebooks directory explicitly (--notebooks DIR)"
    )


def find_notebooks(notebooks_dir: Path) -> list[Path]:
    """The notebooks of a directory in name order (01_..., 02_...), checkpoints left out."""
    if not notebooks_dir.is_dir():
        raise NotebookError(f"notebooks directory {notebooks_dir} does not exist")
    found = sorted(p for p in notebooks_dir.glob("*.ipynb") if not p.name.startswith("."))
    if not found:
        raise NotebookError(f"no notebooks (*.ipynb) in {notebooks_dir}")
    return found


def declared_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """The parameters a notebook's `parameters` cell declares: name -> {name,
    inferred_type_name, default, help}, the fields of papermill's inspection.

    Read with `ast`, not papermill's line regex, which skips any line with a second "=" (as in
    `# None = one request per message`) and would leave that parameter undeclared.
    """
    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types on a bad file
        raise NotebookError(f"cannot read notebook {notebook}: {exc}") from exc
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        return {}
    source = cells[0].source
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise NotebookError(f"{notebook.name}: the parameters cell is not Python: {exc}") from exc
    lines = source.splitlines()
    params = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            annotation = getattr(node, "annotation", None)
            for target in (t for t in targets if isinstance(t, ast.Name)):
                params[target.id] = {
                    "name": target.id,
                    "inferred_type_name": ast.unparse(annotation) if annotation else "None",
                    "default": ast.unparse(node.value),
                    "help": _comment(lines[node.end_lineno - 1]),
                }
    return params


def _comment(line: str) -> str:
    """The trailing `# comment` of a line of code (a '#' inside a string is not one)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line).readline))
    except (tokenize.TokenError, SyntaxError):
        return ""
    comments = [t.string for t in tokens if t.type == tokenize.COMMENT]
    return comments[-1].lstrip("#").strip() if comments else ""


def build_report(
    out_dir: str | Path,
    notebooks_dir: str | Path | None = None,
    parameters: Mapping[str, Any] | None = None,
    progress: bool = True,
    kernel: str = "python3",
    jobs: int | None = None,
) -> ReportResult:
    """Execute every notebook into `out_dir` and write its HTML pages, index.html, summary.json.

    Raises NotebookError before running anything when the notebooks are missing or a parameter
    is declared by no notebook (a typo would otherwise be silently ignored). `jobs` notebooks
    run at a time (default: 2, or 1 on a single core).
    """
    started = time.perf_counter()
    source_dir = Path(notebooks_dir) if notebooks_dir is not None else default_notebooks_dir()
    notebooks = find_notebooks(source_dir)
    params = dict(parameters or {})
    declared = {nb: declared_parameters(nb) for nb in notebooks}
    _check_parameters(params, declared)

    _check_kernel(kernel)
    workers = jobs if jobs is not None else min(2, os.cpu_count() or 1)
    if workers < 1:
        raise InvalidArgumentError(f"jobs must be >= 1, not {workers}")
    out = Path(out_dir).resolve()
    if out.is_relative_to(source_dir.resolve()):  # executed copies never go back to notebooks/
        raise NotebookError(f"the report folder {out} must not be inside {source_dir}")
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    exporter = _exporter()
    bar = tqdm(
        total=len(notebooks), desc="notebooks", unit="nb", file=sys.stderr, disable=not progress
    )
    done: dict[Path, NotebookResult] = {}
    # Threads are enough: each notebook runs in its own kernel process, and the thread only
    # waits on it. Two at a time overlap one kernel's start-up with another's work. Measured on
    # 2 cores: 6 stand-in notebooks in 13 s instead of 23 s; the 6 real ones in 22-24 s instead
    # of 25-26 s (with other work on the machine). More than 2 only adds contention.
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = {
            pool.submit(_execute, nb, out, _given(params, declared[nb], out, nb), kernel): nb
            for nb in notebooks
        }
        for future in as_completed(futures):
            nb = futures[future]
            duration, error = future.result()
            # nbconvert's exporter is not documented as thread-safe: pages are written here.
            done[nb] = _finish(nb, out, declared[nb], exporter, duration, error)
            bar.set_postfix_str(nb.stem)
            bar.update()
    finally:
        # On Ctrl-C, the notebooks not yet started are dropped (the running ones finish).
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    results = [done[nb] for nb in notebooks]

    result = ReportResult(
        out_dir=out,
        index=out / "index.html",
        summary_json=out / "summary.json",
        notebooks=tuple(results),
        parameters=params,
        duration_s=time.perf_counter() - started,
    )
    result.summary_json.write_text(
        json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str)
    )
    result.index.write_text(render_index(result), encoding="utf-8")
    return result


def _check_parameters(params: dict[str, Any], declared: dict[Path, dict[str, Any]]) -> None:
    if SUMMARY_PARAMETER in params:
        raise NotebookError(f"{SUMMARY_PARAMETER} is set by the report for each notebook")
    known = set().union(*declared.values()) - {SUMMARY_PARAMETER}
    unknown = sorted(set(params) - known)
    if unknown:
        raise NotebookError(
            f"no notebook declares parameter {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(known)) or 'none'}"
        )
    # A bad bug name would fail every notebook one by one; say it once, before running anything.
    if "bugs" in params:
        resolve_bugs(params["bugs"])


def _check_kernel(kernel: str) -> None:
    """A missing kernel would fail every notebook one by one; say it once."""
    try:
        KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        known = ", ".join(sorted(KernelSpecManager().find_kernel_specs())) or "none"
        raise NotebookError(f"no Jupyter kernel named {kernel!r}; installed: {known}") from None


def _paths(notebook: Path, out: Path) -> tuple[Path, Path, Path]:
    """Where a notebook's executed copy, page and summary go."""
    stem = notebook.stem
    return (
        out / "notebooks" / notebook.name,
        out / f"{stem}.html",
        out / "notebooks" / f"{stem}.json",
    )


def _given(params: dict[str, Any], declared: dict[str, Any], out: Path, nb: Path) -> dict:
    """The parameters this notebook declares, plus where to write its summary."""
    given = {k: v for k, v in params.items() if k in declared}
    if SUMMARY_PARAMETER in declared:
        given[SUMMARY_PARAMETER] = str(_paths(nb, out)[2])
    return given


def _execute(notebook: Path, out: Path, given: dict[str, Any], kernel: str):
    """Run one notebook with papermill; return (seconds, one-line error or None)."""
    executed, _, summary_path = _paths(notebook, out)
    summary_path.unlink(missing_ok=True)  # a stale summary must not pass for this run's
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook),
            str(executed),
            parameters=given,
            kernel_name=kernel,
            # The kernel starts in the notebook's folder (relative paths work as in JupyterLab).
            # Not papermill's cwd=: that chdir()s this whole process, which races between
            # threads and can start another notebook's kernel in the wrong folder.
            resources={"metadata": {"path": str(notebook.parent)}},
            progress_bar=False,
            extra_arguments=_QUIET_KERNEL,
            # The outputs are all in by then; a graceful shutdown only waits (up to 5 s on a
            # loaded machine) for atexit hooks the notebooks do not use.
            shutdown_kernel="immediate",
        )
    except Exception as exc:  # any failure of one notebook is reported, and the others still run
        return time.perf_counter() - started, _one_line(exc)
    return time.perf_counter() - started, None


def _finish(
    notebook: Path,
    out: Path,
    declared: dict[str, Any],
    exporter: HTMLExporter,
    duration: float,
    error: str | None,
) -> NotebookResult:
    executed, html_path, summary_path = _paths(notebook, out)
    error = _export_html(exporter, executed, html_path, error)
    summary, error = _read_summary(summary_path, declared, error)
    return NotebookResult(
        name=notebook.stem,
        source=notebook,
        executed=executed,
        html=html_path,
        summary_path=summary_path,
        summary=summary,
        ok=error is None,
        duration_s=duration,
        error=error,
    )


def _exporter() -> HTMLExporter:
    return HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"chronik_offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="chronik_offline.html.j2",
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )


def _export_html(exporter: HTMLExporter, executed: Path, html_path: Path, error: str | None):
    """Write the page of an executed (or partially executed) notebook; return the run's error."""
    if not executed.exists():  # papermill failed before writing anything (e.g. no kernel)
        html_path.write_text(error_page(executed.stem, error or "not executed"), encoding="utf-8")
        return error or "the executed notebook was not written"
    try:
        body, _ = exporter.from_filename(str(executed))
    except Exception as exc:  # a page we cannot render is a failed notebook, not a crash
        html_path.write_text(error_page(executed.stem, _one_line(exc)), encoding="utf-8")
        return error or f"HTML export failed: {_one_line(exc)}"
    html_path.write_text(body, encoding="utf-8")
    return error


def _read_summary(path: Path, declared: dict[str, Any], error: str | None):
    if not path.exists():
        missing = SUMMARY_PARAMETER in declared and error is None
        return None, ("the notebook wrote no summary" if missing else error)
    try:
        return json.loads(path.read_text(encoding="utf-8")), error
    except (OSError, ValueError) as exc:
        return None, error or f"unreadable summary {path.name}: {exc}"


def _one_line(exc: BaseException) -> str:
    # papermill's execution error carries the notebook's exception name and value: keep those.
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    text = f"{ename}: {evalue}" if ename else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:500]
